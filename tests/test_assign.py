import numpy as np
import pytest
import shapely
from conftest import make_events

import psa_geo


def test_each_point_lands_in_exactly_one_lsoa(tiny_areas):
    points = [
        (50, 50),  # inside the left square
        (150, 50),  # inside the middle square
        (100, 50),  # on the edge shared by left and middle
        (200, 100),  # on the vertex shared by middle and right (and the outer edge)
        (0, 0),  # on the outer corner of the left square
        (500, 500),  # outside everything
        None,  # no location
    ]
    events, report = psa_geo.assign_areas(make_events(points), tiny_areas, return_report=True)
    assert list(events["lsoa_code"]) == [
        "E01000002",
        "E01000001",
        "E01000001",
        "E01000001",
        "E01000002",
        None,
        None,
    ]
    assert list(events["area_status"]) == ["inside"] * 5 + ["outside", "no_location"]
    assert (report.inside, report.outside, report.without_location) == (5, 1, 1)
    assert report.events == len(events) == 7


def test_shared_edge_rule_is_lowest_code_whatever_the_row_order(tiny_areas):
    reordered = tiny_areas.iloc[::-1].reset_index(drop=True)
    reordered.attrs = tiny_areas.attrs
    codes = psa_geo.locate_lsoa(make_events([(100, 50), (200, 50)]).geometry, reordered)
    assert list(codes) == ["E01000001", "E01000001"]


def test_area_columns_come_from_the_lookup(tiny_areas):
    events = psa_geo.assign_areas(make_events([(250, 50)]), tiny_areas)
    row = events.iloc[0]
    assert (row.lad_name, row.csp_name, row.ward_name) == ("Villageshire", "Village CSP", "Rural")


def test_published_lsoa_wins_and_agreement_is_reported(tiny_areas):
    events = make_events(
        [(50, 50), (50, 50), (150, 50), (150, 50), (150, 50), None, (150, 50)],
        published=["E01000002", "E01000001", "E01099001", "E01099009", "E09000032", "", ""],
    )
    out, report = psa_geo.assign_areas(events, tiny_areas, return_report=True)
    assert list(out["lsoa_code"]) == [
        "E01000002",  # published, agrees with the point
        "E01000001",  # published, disagrees with the point: published wins
        "E01000002",  # a 2021 split code converted to its 2011 parent
        "E01000001",  # a merged 2021 code: the point decides
        None,  # published in another force's area (Wandsworth)
        None,  # no location, no code
        "E01000001",  # no published code: the point decides
    ]
    assert list(out["assignment_basis"]) == [
        "published",
        "published",
        "published_2021",
        "spatial",
        "published",
        "none",
        "spatial",
    ]
    assert list(out["spatial_lsoa_code"])[:2] == ["E01000002", "E01000002"]
    assert report.converted_from_2021 == 1
    assert (report.published_compared, report.published_agree) == (3, 1)
    assert out["area_status"].tolist()[4:6] == ["outside", "no_location"]


def test_published_code_can_be_ignored(tiny_areas):
    events = make_events([(50, 50)], published=["E01000001"])
    out = psa_geo.assign_areas(events, tiny_areas, use_published_lsoa=False)
    assert out["lsoa_code"].iloc[0] == "E01000002"


def test_inputs_are_not_modified(tiny_areas):
    events = make_events([(50, 50)])
    before = events.copy()
    psa_geo.assign_areas(events, tiny_areas)
    assert list(events.columns) == list(before.columns)


def test_crs_mismatch_names_both(tiny_areas):
    events = make_events([(50, 50)]).set_crs("EPSG:3857", allow_override=True)
    with pytest.raises(ValueError, match="EPSG:27700"):
        psa_geo.assign_areas(events, tiny_areas)


@pytest.mark.data
def test_real_assignment_adds_up_and_agrees_with_police_uk(assigned_2019, events_2019):
    out, report = assigned_2019
    events, _ = events_2019
    assert report.inside + report.outside + report.without_location == len(events)
    assert report.without_location == int(events.geometry.is_empty.sum())
    # PROVENANCE section 1: 96.6% of a sample land in the LSOA police.uk gives.
    assert 0.95 < report.agreement_rate < 0.99
    inside = out[out["area_status"] == "inside"]
    assert inside["csp_name"].notna().all()
    assert inside["lsoa_code"].nunique() == 1034
    # PROVENANCE section 1: 99.9% of police.uk points fall inside an LSOA polygon.
    located = out[~out.geometry.is_empty]
    assert located["spatial_lsoa_code"].notna().mean() > 0.998


def test_repeated_index_and_merged_code_without_point(tiny_areas):
    events = make_events([(50, 50), None], published=["E01000002", "E01099009"])
    events.index = [7, 7]
    out, report = psa_geo.assign_areas(events, tiny_areas, return_report=True)
    assert list(out.index) == [7, 7]
    assert list(out["lsoa_code"]) == ["E01000002", None]
    # A merged 2021 LSOA of the area, with no point: unlocated, not outside.
    assert list(out["area_status"]) == ["inside", "no_location"]
    assert report.without_location == 1


def _lowest_code_join(geoms, areas):
    """The spatial join locate_lsoa must equal: every LSOA a geometry intersects (an
    STRtree query), the lowest code kept."""
    codes = areas["lsoa_code"].to_numpy()
    hits = {}
    tree = shapely.STRtree(areas.geometry.to_numpy())
    for i, j in zip(*tree.query(geoms, predicate="intersects"), strict=True):
        hits[i] = min(hits.get(i, codes[j]), codes[j])
    return [hits.get(i) for i in range(len(geoms))]


def test_locate_lsoa_of_any_geometry_equals_the_join(tiny_areas):
    geoms = [
        shapely.Point(50, 50),
        None,
        shapely.Point(),
        shapely.Point(float("nan"), float("nan")),
        shapely.LineString([(150, 50), (250, 50)]),  # crosses middle and right: lowest code
        shapely.Point(100, 100),  # the corner shared by left and middle (and the outer edge)
        shapely.Point(300, 50),  # on the outer edge of the right square
        shapely.Point(300.000001, 50),
        shapely.Point(50, 50),  # a repeated coordinate
    ]
    located = psa_geo.locate_lsoa(np.array(geoms, dtype=object), tiny_areas)
    assert list(located) == _lowest_code_join(np.array(geoms, dtype=object), tiny_areas)
    assert list(located) == ["E01000002", None, None, None, "E01000001", "E01000001",
                             "E01000003", None, "E01000002"]  # fmt: skip


@pytest.mark.data
def test_locate_lsoa_equals_the_join_on_real_points(assigned_all, areas):
    points = assigned_all.geometry.to_numpy()
    points = points[~shapely.is_empty(points)]
    xy, inverse = np.unique(shapely.get_coordinates(points), axis=0, return_inverse=True)
    expected = np.array(_lowest_code_join(shapely.points(xy), areas), dtype=object)[inverse]
    assert (psa_geo.locate_lsoa(points, areas) == expected).all()


@pytest.mark.data
def test_locate_lsoa_equals_the_join_on_shared_edges_vertices_and_outside(areas):
    rings = shapely.get_coordinates(areas.boundary.to_numpy())
    vertices = np.unique(rings, axis=0)  # every vertex, most shared by two or more LSOAs
    midpoints = (rings[1:] + rings[:-1]) / 2  # on (or a rounding away from) an edge
    rng = np.random.default_rng(7)
    x0, y0, x1, y1 = areas.total_bounds
    scattered = rng.uniform((x0 - 5_000, y0 - 5_000), (x1 + 5_000, y1 + 5_000), (20_000, 2))
    xy = np.concatenate([vertices, midpoints[::3], scattered, [(0, 0), (1e7, 1e7)]])
    points = shapely.points(xy)
    located = psa_geo.locate_lsoa(points, areas)
    expected = _lowest_code_join(points, areas)
    assert list(located) == expected
    on_vertices = np.array(expected[: len(vertices)], dtype=object)
    assert (on_vertices != None).mean() > 0.99  # noqa: E711 (the vertices are inside the area)
    assert sum(code is None for code in expected[-len(scattered) - 2 :]) > 5_000  # the sea
