"""The A38 corridor: synthetic geometry for chainage and links, the real data for the rest."""

from __future__ import annotations

import dataclasses
import html
from pathlib import Path
from types import SimpleNamespace

import browser_support
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import run_cli
from numpy.testing import assert_allclose
from test_profiles import tables_of

from psa_geo.corridor import (
    SETS,
    chainage,
    corridor_links,
    corridor_study,
    link_table,
    load_corridor,
    marker_post_check,
    parse_marker_posts,
    reference_line,
    road_name,
    section_names,
)
from psa_geo.corridor_pages import collision_popup, corridor_job, link_classes, write_corridor
from psa_geo.errors import InputFileError, PsaGeoError

SPEC = load_corridor()


def sections_frame(rows) -> gpd.GeoDataFrame:
    """HAPMS-like sections from (SECTION, LOCATION, DIRECTION, coordinates)."""
    frame = pd.DataFrame(
        [
            {
                "ROAD": "A38", "SECTION": s, "LOCATION": loc, "FUNCTION": "Main Carriageway",
                "DIRECTION": d, "LENGTH_M": shapely.LineString(xy).length, "LADCD": "E06000052",
                "geometry": shapely.LineString(xy),
            }
            for s, loc, d, xy in rows
        ]
    )  # fmt: skip
    return gpd.GeoDataFrame(frame, geometry="geometry", crs="EPSG:27700")


# A straight road along y = 0: S1 0-400 m, a 20 m gap (a roundabout), S2 420-1000 m, and S3
# 1000-1500 m digitised backwards; a westbound S4 beside S2 must be ignored by the chain.
STRAIGHT = sections_frame([
    ("S1", "A38 (A&B) (MAIN) Carminow - Turfdown (MP2/0-2/4)", "EB", [(0, 0), (400, 0)]),
    ("S2", "A38 (B) (MAIN) [N] Turfdown to Jct X (MP2/42-3/0)", "EB", [(420, 0), (1000, 0)]),
    ("S3", "A38 (A&B) (MAIN) Jct X - Tamar (MP3/0-3/5)", "EB", [(1500, 0), (1000, 0)]),
    ("S4", "A38 (A) (MAIN) Jct X - Turfdown (MP3/0-2/42)", "WB", [(1000, 25), (420, 25)]),
])  # fmt: skip
SYNTHETIC = dataclasses.replace(SPEC, start_section="S1", end_section="S3", min_link_m=500)


@pytest.fixture(scope="module")
def study(mirror):
    return corridor_study(mirror)


@pytest.fixture(scope="module")
def written(study, tmp_path_factory):
    out = tmp_path_factory.mktemp("a38")
    write_corridor(study, out)
    return out


# --- Definition and geometry --------------------------------------------------------------


def test_the_definition_file_has_the_documented_defaults():
    assert (SPEC.road, SPEC.road_code, SPEC.lad_codes) == ("A38", (3, 38), ("E06000052",))
    assert (SPEC.buffer_m, SPEC.rule, SPEC.direction) == (50, "attribute_or_location", "EB")
    assert SPEC.min_link_m == 2000 and SPEC.comparison_road == "A30"


def test_a_bad_definition_is_one_line_naming_the_file_and_every_problem(tmp_path):
    path = tmp_path / "bad.toml"
    text = Path(SPEC.source).read_text(encoding="utf-8")
    path.write_text(text.replace("buffer_m = 50", 'buffer_m = "wide"\ncolour = "red"'))
    with pytest.raises(InputFileError) as err:
        load_corridor(path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message
    assert "unknown key 'colour'" in message and "buffer_m should be a number" in message
    path.write_text(text.replace('rule = "attribute_or_location"', 'rule = "nearby"'))
    with pytest.raises(InputFileError, match="rule should be one of"):
        load_corridor(path)


def test_chainage_is_exact_on_a_straight_synthetic_road():
    line = reference_line(STRAIGHT, SYNTHETIC)
    assert line.length == 1500 and line.coords[0] == (0, 0) and line.coords[-1] == (1500, 0)
    xs = np.array([0.0, 12.5, 399.0, 410.0, 731.25, 1000.0, 1499.0, 1500.0])
    points = gpd.GeoSeries(shapely.points(xs, np.full(len(xs), 30.0)), crs="EPSG:27700")
    assert_allclose(chainage(points, line), xs, rtol=0, atol=1e-9)
    assert np.isnan(chainage(np.array([shapely.Point()]), line)[0])
    assert chainage(shapely.Point(100, -7), line) == 100


def test_marker_posts_match_chainage_on_the_synthetic_road():
    line = reference_line(STRAIGHT, SYNTHETIC)
    posts = marker_post_check(STRAIGHT, line, SYNTHETIC)
    assert posts.attrs["offset_m"] == pytest.approx(2000)
    assert_allclose(posts["residual_m"], 0, atol=1e-6)
    assert set(posts["section"]) == {"S1", "S2", "S3", "S4"}  # both directions are checked
    assert parse_marker_posts("A38 (MAIN) Landrake West - Landrake East (MP34/9-35/4)") == (
        34.9, 35.4
    )  # fmt: skip
    assert parse_marker_posts("End Moorswater slip on (MP18/60-17/8)") == (18.6, 17.8)
    assert parse_marker_posts("Saltash (MP42/2)") == (42.2, 42.2)
    assert parse_marker_posts("Trebrown Bridge WB on slip") is None


def test_links_merge_short_sections_and_cover_the_line_exactly():
    line = reference_line(STRAIGHT, SYNTHETIC)
    links = corridor_links(STRAIGHT, line, SYNTHETIC)
    assert list(links["link_id"]) == ["L01", "L02"]
    assert list(links["sections"]) == ["S1 S2", "S3"]
    assert_allclose(links["chainage_from_m"], [0, 1000])
    assert_allclose(links["length_m"], [1000, 500])
    assert list(links["name"]) == ["Carminow to Jct X", "Jct X to Tamar"]
    assert section_names("A38 (B) (MAIN) [N] Havett Road B/O - Start slip off (MP16/2-17/6)") == (
        "Havett Road B/O", "Start slip off"
    )  # fmt: skip


def test_a_break_in_the_road_is_an_error_naming_the_section():
    broken = STRAIGHT.copy()
    broken.loc[1, "geometry"] = shapely.LineString([(700, 0), (1000, 0)])
    with pytest.raises(PsaGeoError, match="break after S1"):
        reference_line(broken, SYNTHETIC)


# --- The real A38 -------------------------------------------------------------------------


@pytest.mark.data
def test_reference_line_and_marker_posts_on_the_real_a38(study):
    assert 39.5 < study.length_km < 40.5  # Carminow MP2/0 to the Tamar Bridge MP42/2
    posts = study.tables["marker_posts"]
    assert len(posts) >= 70
    assert posts.attrs["offset_m"] == pytest.approx(2100, abs=150)
    assert posts["within_tolerance"].all(), posts.loc[~posts["within_tolerance"]]
    assert posts["residual_m"].abs().max() <= SPEC.marker_post_tolerance_m


@pytest.mark.data
def test_every_member_is_on_the_a38_by_attribute_or_within_the_buffer(study):
    m = study.membership
    members = study.members
    a38 = ((members["first_road_class"] == 3) & (members["first_road_number"] == 38)) | (
        (members["second_road_class"] == 3) & (members["second_road_number"] == 38)
    )
    cornwall = members["local_authority_highway"] == "E06000052"
    assert ((a38.fillna(False) & cornwall) | (members["distance_m"] <= SPEC.buffer_m)).all()
    assert (m["in_buffer"] == (m["distance_m"] <= SPEC.buffer_m)).all()
    assert not m.loc[~m["member"], ["on_attribute", "in_buffer"]].any(axis=None)
    # The three sets partition the members.
    counts = members["membership_set"].value_counts()
    assert set(counts.index) <= set(SETS) and counts.sum() == len(members)
    sets = study.tables["membership_sets"].set_index("set")["collisions"]
    assert sets[list(SETS)].sum() == sets["all members"] == len(members)
    assert 90 <= sets["all members"] <= 120


@pytest.mark.data
def test_the_far_a38_coded_collisions_are_listed_not_hidden(study):
    flagged = study.tables["flagged_collisions"]
    assert 10 <= len(flagged) <= 16  # about 13 of the ~100 A38-coded Cornwall collisions
    assert (flagged["distance_m"] > SPEC.buffer_m).all() and flagged["member"].all()
    attribute_only = study.members["membership_set"] == "attribute only"
    assert set(flagged["collision_index"]) == set(study.members.loc[attribute_only,
                                                                    "collision_index"])  # fmt: skip
    assert "A38" in set(flagged["first_road"]) | set(flagged["second_road"])


@pytest.mark.data
def test_link_counts_sum_to_the_corridor_total(study):
    links = study.tables["links"]
    members = study.members
    assert links["collisions"].sum() == len(members)
    assert (members["link_id"].notna()).all()
    ksi = study.casualties["casualty_severity"].isin([1, 2])
    in_corridor = study.casualties["collision_index"].isin(members["collision_index"])
    assert links["ksi_casualties"].sum() == (ksi & in_corridor).sum()
    assert links["casualties"].sum() == in_corridor.sum()
    assert links["ksi_collisions"].sum() == study.casualties.loc[
        ksi & in_corridor, "collision_index"].nunique()  # fmt: skip
    assert links["flagged"].sum() == members["flagged"].sum()


@pytest.mark.data
def test_links_are_contiguous_and_at_least_the_minimum_length(study):
    links = study.tables["links"]
    assert 12 <= len(links) <= 20
    assert (links["length_m"] >= SPEC.min_link_m).all()
    assert links["chainage_from_m"].iloc[0] == 0
    assert_allclose(links["chainage_to_m"].iloc[-1], study.line.length)
    assert_allclose(links["chainage_from_m"].iloc[1:], links["chainage_to_m"].iloc[:-1])
    assert_allclose(links["length_m"].sum(), study.line.length)


@pytest.mark.data
def test_densities_have_intervals_and_only_supported_links_are_ranked(study):
    links = study.tables["links"]
    years = len(study.years)
    assert study.years == [2015, 2017]
    assert_allclose(links["ksi_collisions_per_km_year"],
                    links["ksi_collisions"] / links["length_km"] / years)  # fmt: skip
    for m in ("collisions", "ksi_collisions", "casualties"):
        value = links[f"{m}_per_km_year"]
        assert (links[f"{m}_per_km_year_lower"] <= value).all()
        assert (value <= links[f"{m}_per_km_year_upper"]).all()
    assert (links["rankable"] == (links["collisions"] >= SPEC.min_rank_count)).all()
    assert links.loc[~links["rankable"], "rank"].isna().all()
    ranked = links[links["rankable"]].sort_values("rank")
    assert ranked["collisions_per_km_year"].is_monotonic_decreasing
    assert set(links["vs_corridor"]) <= {"higher", "similar", "lower"}


@pytest.mark.data
def test_traffic_counts_give_a_rate_per_100_million_vehicle_km(study):
    links = study.tables["links"]
    traffic = pd.DataFrame({"link_id": links["link_id"].iloc[:2], "aadt": [20000.0, 15000.0]})
    table = link_table(study.membership, study.casualties, study.links, traffic=traffic)
    first = table.iloc[0]
    vkm = 20000 * 365.25 * 2 * first["length_km"] / 1e8
    assert first["collisions_per_100m_vkm"] == pytest.approx(first["collisions"] / vkm)
    assert table["collisions_per_100m_vkm"].iloc[2:].isna().all()
    with pytest.raises(PsaGeoError, match="do not exist"):
        link_table(study.membership, study.casualties, study.links,
                   traffic=pd.DataFrame({"link_id": ["L99"], "aadt": [1.0]}))  # fmt: skip


@pytest.mark.data
def test_comparison_with_the_a30_and_all_cornwall(study):
    table = study.tables["comparison"].set_index(["area", "basis"])
    corridor = table.loc[("A38 corridor", "rule: attribute or location")]
    assert corridor["collisions"] == len(study.members)
    assert corridor["ksi_collisions_per_km_year"] == pytest.approx(
        corridor["ksi_collisions"] / study.length_km / 2
    )
    a30 = table.loc[("A30 in the same districts", "within 50 m")]
    assert 100 < a30["road_km"] < 120 and a30["collisions"] > 0
    cornwall = table.loc[("All roads in the districts", "all collisions")]
    assert cornwall["ksi_casualties"] == cornwall["ksi_casualties_2015"] + cornwall[
        "ksi_casualties_2017"]  # fmt: skip
    assert cornwall["ksi_casualties"] > corridor["ksi_casualties"] > 0


@pytest.mark.data
def test_priority_groups_and_when_collisions_happen(study):
    groups = study.tables["priority_groups"]
    assert len(groups) == 12 and groups["share_of_collisions_pct"].between(0, 100).all()
    corridor = groups[groups["area"] == "A38 corridor"]
    assert (corridor["collisions"] == len(study.members)).all()
    business = groups[groups["group"] == "Business drivers"]
    assert business["note"].str.contains("not known").all()
    purposes = study.tables["journey_purpose"].set_index("journey_purpose")
    assert purposes.loc["Not known", "area_share_pct"] > 40
    for name in ("time_of_day", "day_of_week", "speed_limit", "road_type"):
        table = study.tables[name]
        assert table["corridor_collisions"].sum() == len(study.members), name
        assert_allclose(table["corridor_share_pct"].sum(), 100)
    assert len(study.tables["day_of_week"]) == 7


# --- Outputs ------------------------------------------------------------------------------


@pytest.mark.data
def test_page_numbers_equal_the_tables(study, written):
    page = tables_of(written / "index.html")
    header, *rows = page["links"]
    links = study.tables["links"]
    assert len(rows) == len(links) + 1  # the corridor total last
    for row, link in zip(rows, links.itertuples(), strict=False):
        assert row[0] == link.link_id
        assert row[header.index("Collisions")] == f"{link.collisions:,}"
        assert row[header.index("KSI collisions")] == f"{link.ksi_collisions:,}"
        i = header.index("KSI collisions per km per year")
        assert row[i] == f"{link.ksi_collisions_per_km_year:.2f}"
        assert row[i + 1] == (f"{link.ksi_collisions_per_km_year_lower:.2f} to "
                              f"{link.ksi_collisions_per_km_year_upper:.2f}")  # fmt: skip
    total = rows[-1]
    assert total[header.index("Collisions")] == f"{links['collisions'].sum():,}"
    assert total[header.index("KSI collisions")] == f"{links['ksi_collisions'].sum():,}"
    membership = {r[0]: r[1] for r in page["membership"][1:]}
    sets = study.tables["membership_sets"].set_index("set")["collisions"]
    assert membership == {k: f"{v:,}" for k, v in sets.items()}
    assert len(page["flagged"]) - 1 == len(study.tables["flagged_collisions"])
    comparison = study.tables["comparison"]
    assert [r[3] for r in page["comparison"][1:]] == [f"{n:,}" for n in comparison["collisions"]]
    groups = study.tables["priority_groups"]
    assert [r[2] for r in page["priority-groups"][1:]] == [
        f"{n:,}" for n in groups["collisions_involving"]
    ]
    for name in ("time-of-day", "day-of-week", "speed-limit", "road-type", "journey-purpose"):
        assert len(page[name]) > 2, name
    text = (written / "index.html").read_text(encoding="utf-8")
    assert "a density, not a risk rate" in text and "injury-based" in text


@pytest.mark.data
def test_files_for_gis_users(study, written):
    links = gpd.read_file(written / "links.gpkg")
    assert links.crs.to_epsg() == 27700 and len(links) == len(study.tables["links"])
    assert (links.geometry.geom_type == "LineString").all()
    csv = pd.read_csv(written / "links.csv", encoding="utf-8-sig")
    assert csv["collisions"].tolist() == study.tables["links"]["collisions"].tolist()
    flagged = pd.read_csv(written / "flagged_collisions.csv", encoding="utf-8-sig", dtype=str)
    assert len(flagged) == len(study.tables["flagged_collisions"])
    membership = pd.read_csv(written / "membership.csv", encoding="utf-8-sig")
    assert membership["member"].sum() == len(study.members)
    for name in ("comparison", "priority_groups", "time_of_day", "marker_posts"):
        assert not pd.read_csv(written / f"{name}.csv", encoding="utf-8-sig").empty


def test_popups_are_escaped():
    row = SimpleNamespace(
        date=pd.Timestamp("2017-05-01 08:30"), category="<b>Serious</b>",
        first_road_class_label="<script>alert(1)</script>", first_road_number=38,
        second_road_class_label=pd.NA, second_road_number=pd.NA, collision_index="X&1",
        link_id="L01", chainage_m=1234.0, distance_m=12.0, membership_set="both", flagged=True,
    )  # fmt: skip
    popup = collision_popup(row, pd.DataFrame({"casualties": [2], "ksi": [1]}, index=["X&1"]))
    assert "<script>" not in popup and "&lt;script&gt;" in popup
    assert "&lt;b&gt;Serious&lt;/b&gt;" in popup and "X&amp;1" in popup
    assert "2 casualties (1 killed or seriously injured)" in popup and "Flagged" in popup
    assert html.unescape(popup).count("<br>") >= 6


def test_road_names_and_link_classes():
    assert road_name("A", 38) == "A38" and road_name("Unclassified", 0) == "Unclassified"
    assert road_name("Motorway", 5) == "M5" and road_name(pd.NA, 38) == ""
    classes, labels = link_classes(pd.Series([0.0, 0.1, 0.2, 0.3, 0.9, 0.0]))
    assert labels[0] == "0 (none recorded)" and list(classes[[0, 5]]) == [0, 0]
    assert (classes[1:5] >= 1).all() and np.all(np.diff(classes[1:5]) >= 0)


@pytest.mark.data
@pytest.mark.browser
def test_corridor_map_in_a_browser(study, written):
    browser_support.require_browser()
    located = study.members[~study.members.geometry.is_empty]
    with browser_support.open_page(written / "corridor_map.html") as session:
        page = session.page
        page.wait_for_selector("path.psa-link")
        assert page.locator("path.psa-link").count() == len(study.links)
        assert page.locator("path.psa-collision").count() == len(located)
        assert page.locator("path.psa-flagged").count() == int(located["flagged"].sum())
        assert session.errors == [] and session.unexpected == []
        legend = page.locator("#psa-legend").inner_text()
        assert "KSI collisions per km per year" in legend and "Flagged" in legend
        page.locator("path.psa-link").first.hover(force=True)
        assert "L01" in page.locator(".leaflet-tooltip").inner_text()
        page.get_by_label("Corridor collisions: Slight", exact=False).uncheck()
        slight = int((located["category"] == "Slight").sum())
        assert page.locator("path.psa-collision").count() == len(located) - slight


@pytest.mark.data
def test_corridor_job_writes_maps_a38(mirror, tmp_path):
    written = corridor_job(mirror, tmp_path, road="A38")
    assert written[-1] == tmp_path / "a38" / "index.html"
    assert (tmp_path / "a38" / "corridor_map.html").is_file()
    with pytest.raises(InputFileError, match="not the A30"):
        corridor_job(mirror, tmp_path, road="A30", spec_path=SPEC.source)


@pytest.mark.data
def test_corridor_command(mirror, tmp_path):
    result = run_cli("corridor", "--road", "A38", "--data-dir", mirror, "--out", tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "a38" / "index.html").is_file()
    assert (tmp_path / "a38" / "links.gpkg").is_file()


@pytest.mark.parametrize(
    ("line", "replacement", "message"),
    [
        (
            "buffer_m = 50",
            "buffer_m = inf",
            "at most 1,000, got inf",
        ),
        (
            "buffer_m = 50",
            "buffer_m = nan",
            "at most 1,000, got nan",
        ),
        ("buffer_m = 50", "buffer_m = 1e9", "buffer_m should be above 0 and at most 1,000"),
        ("buffer_m = 50", "buffer_m = 0", "buffer_m should be above 0"),
        ("max_gap_m = 150", "max_gap_m = -inf", "max_gap_m should be above 0"),
        ("min_link_m = 2000", "min_link_m = 1" + "0" * 400, "min_link_m should be above 0"),
        ("min_rank_count = 10", "min_rank_count = 0", "min_rank_count should be above 0"),
        (
            "marker_post_tolerance_m = 200",
            "marker_post_tolerance_m = 1e6",
            "marker_post_tolerance_m should be above 0 and at most 10,000",
        ),
        ('lad_codes = ["E06000052"]', 'lad_codes = ["Cornwall"]', "lad_codes should be a list"),
    ],
    ids=["inf", "nan", "huge", "zero", "minus-inf", "huge-int", "rank-zero", "tolerance", "lad"],
)
def test_every_number_of_a_definition_is_finite_and_in_range(tmp_path, line, replacement, message):
    path = tmp_path / "spec.toml"
    text = Path(SPEC.source).read_text(encoding="utf-8")
    assert f"\n{line}\n" in text
    path.write_text(text.replace(f"\n{line}\n", f"\n{replacement}\n"), encoding="utf-8")
    with pytest.raises(InputFileError) as err:
        load_corridor(path)
    assert str(err.value).startswith(f"{path}: bad corridor definition: ")
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("encoding", "message"),
    [
        ("utf-8-sig", None),
        ("utf-16", "not UTF-8 text (it is UTF-16; save it as UTF-8 TOML)"),
        ("latin-1", "not UTF-8 text (byte 0xe9 on line 1; save it as UTF-8 TOML)"),
    ],
    ids=["bom", "utf-16", "latin-1"],
)
def test_a_definition_is_utf8_text(tmp_path, encoding, message):
    path = tmp_path / "spec.toml"
    text = Path(SPEC.source).read_text(encoding="utf-8")
    path.write_text("# café\n" + text, encoding=encoding)
    if message is None:
        assert load_corridor(path).buffer_m == SPEC.buffer_m
        return
    with pytest.raises(InputFileError) as err:
        load_corridor(path)
    assert str(err.value) == f"{path}: {message}"


def test_an_empty_or_missing_definition_is_one_line(tmp_path):
    path = tmp_path / "spec.toml"
    path.write_text("\n")
    with pytest.raises(InputFileError, match="the file is empty"):
        load_corridor(path)
    with pytest.raises(InputFileError, match="no such file"):
        load_corridor(tmp_path / "nope.toml")


@pytest.mark.data
def test_membership_csv_defuses_a_formula_in_the_collision_index(study, tmp_path):
    near = study.membership.index[study.membership["membership_set"] != "neither"][0]
    membership = study.membership.copy()
    membership.loc[near, "collision_index"] = '=HYPERLINK("http://x","y")'
    write_corridor(dataclasses.replace(study, membership=membership), tmp_path)
    read = pd.read_csv(tmp_path / "membership.csv", encoding="utf-8-sig", dtype=str)
    assert '\'=HYPERLINK("http://x","y")' in set(read["collision_index"])


@pytest.mark.parametrize(
    "line",
    [
        shapely.LineString([(0, 0), (100, 0), (100, 0), (250, 80), (400, -30)]),
        shapely.MultiLineString([[(0, 0), (100, 50)], [(300, 0), (300, 200), (500, 210)]]),
    ],
    ids=["line with a repeated vertex", "multiline"],
)
def test_distances_to_the_line_are_shapelys(line):
    """Measured segment by segment from a tree of them: the very figures of shapely.distance."""
    from psa_geo.corridor import _distances

    points = shapely.points(np.random.default_rng(5).uniform(-100, 600, (500, 2)))
    np.testing.assert_array_equal(_distances(points, line), shapely.distance(points, line))
