"""No output meant for partners places a sensitive record: whatever the input CRS and rounding,
no coordinate in the HTML, CSV or JSON written for a rough-sleeping file lies within 25 m of a
report, other than the vertices of the standard LSOA boundaries (and the corners of the map's
extent, drawn from them), and no GeoTIFF has a cell with a value within 25 m of one."""

import csv
import json
import re

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import rasterio
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.spatial import cKDTree

import psa_geo
from psa_geo.page_assets import VENDOR_ATTRIBUTE, vendored_texts
from psa_geo.periods import calendar_year
from psa_geo.point_sources import load_point_sources, write_point_sources
from psa_geo.towns import with_towns

pytestmark = pytest.mark.data

TOWN = "Truro"
LEAK_M = 25.0
VERTEX_M = 1.0  # a boundary vertex survives a round trip through WGS84 within this
PAIR = re.compile(r"(?<![\d.])(?=(-?\d+(?:\.\d+)?)\"?\s*[,;\s]\s*\"?(-?\d+(?:\.\d+)?))")
TO_GRID = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True)
TO_LONLAT = pyproj.Transformer.from_crs("EPSG:27700", "EPSG:4326", always_xy=True)


@pytest.fixture(scope="module")
def place(areas):
    towns = psa_geo.load_towns(areas=areas)
    shape = areas[areas["lsoa_code"].isin(towns.loc[towns["town"] == TOWN, "lsoa_code"])]
    # Allowed: the boundaries' vertices, and the corners of the map's extent (from them too).
    west, south, east, north = shape.to_crs("EPSG:4326").total_bounds
    corners = np.column_stack(
        TO_GRID.transform([west, west, east, east], [south, north, south, north])
    )
    allowed = np.concatenate([shapely.get_coordinates(areas.geometry.to_numpy()), corners])
    return with_towns(areas, towns), towns, shape.union_all(), cKDTree(allowed)


def write_reports(path, xy, rows, as_lonlat, decimals):
    lon, lat = TO_LONLAT.transform(xy[:, 0], xy[:, 1])
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["date", *(("longitude", "latitude") if as_lonlat else ("easting", "northing")),
                    "people", "person_id", "notes"])  # fmt: skip
        for i, (day, people, pid) in enumerate(rows):
            pair = (lon[i], lat[i]) if as_lonlat else (xy[i, 0], xy[i, 1])
            day = f"2019-{day // 28 + 1:02d}-{day % 28 + 1:02d}"
            w.writerow([day, *(f"{v:.{decimals}f}" for v in pair), people, pid, "free text"])


def candidate_points(text: str) -> np.ndarray:
    """Every pair of numbers next to each other in a file (``[a, b]``, ``a,b`` in a CSV row,
    ``a b``), read as easting/northing, and as longitude/latitude either way round, on the
    grid. Numbers of different pairs (``…, a], [b, …``) are not paired."""
    pairs = np.array([(float(a), float(b)) for a, b in PAIR.findall(text)])
    if len(pairs) == 0:
        return np.empty((0, 2))
    a, b = pairs[:, 0], pairs[:, 1]
    out = [pairs, pairs[:, ::-1]]
    for lon, lat in ((a, b), (b, a)):
        ok = (np.abs(lat) <= 90) & (np.abs(lon) <= 180)
        x, y = TO_GRID.transform(lon[ok], lat[ok])
        out.append(np.column_stack([x, y]))
    found = np.concatenate(out)
    return found[np.isfinite(found).all(axis=1)]


VENDORED = re.compile(rf'<(script|style) {VENDOR_ATTRIBUTE}="[^"]+">\n(.*?)\n</\1>', re.DOTALL)


def without_vendored_code(text: str) -> str:
    """``text`` less the vendored Leaflet code inlined in a map page (its numbers are code, not
    places); a block is left out only if it is exactly a vendored file's text."""
    known = set(vendored_texts().values())

    def drop(match: re.Match) -> str:
        assert match.group(2) in known, match.group(0)[:80]
        return ""

    return VENDORED.sub(drop, text)


def raster_leaks(path, tree: cKDTree) -> list:
    """Centres of a GeoTIFF's cells holding a positive value whose cell comes within LEAK_M
    of a report (a density surface puts its peaks on the reports)."""
    found = []
    with rasterio.open(path) as tif:
        reach = LEAK_M + abs(tif.res[0]) * 2**0.5 / 2
        rows, cols = np.indices((tif.height, tif.width))
        x, y = rasterio.transform.xy(tif.transform, rows.ravel(), cols.ravel())
        centres = np.column_stack([x, y])
        for band in range(1, tif.count + 1):
            values = tif.read(band, masked=True).filled(0).ravel()
            near = centres[(values > 0) & (tree.query(centres, k=1)[0] <= reach)]
            found += [(path.name, *p) for p in near]
    return found


def leaks(folder, reports_xy, vertices) -> list:
    """Coordinates within LEAK_M of a report that are not boundary vertices, and raster cells
    with a value there."""
    tree = cKDTree(reports_xy)
    found = []
    for path in sorted(folder.rglob("*")):
        if path.suffix == ".tif":
            found += raster_leaks(path, tree)
            continue
        if path.suffix not in (".html", ".csv", ".json"):
            continue
        points = candidate_points(without_vendored_code(path.read_text(encoding="utf-8-sig")))
        near = points[tree.query(points, k=1)[0] <= LEAK_M] if len(points) else points
        if len(near):
            off_vertex = vertices.query(near, k=1)[0] > VERTEX_M
            found += [(path.name, *p) for p in near[off_vertex]]
    return found


def run_outputs(tmp, place, xy, rows, as_lonlat, decimals, source="rough_sleeping"):
    areas, towns, _, _ = place
    path = tmp / "reports.csv"
    write_reports(path, xy, rows, as_lonlat, decimals)
    sources = load_point_sources([(source, path)], areas, towns=towns)
    out = tmp / "out"
    write_point_sources(sources, areas, out, study=calendar_year(2019),
                        comparison=calendar_year(2018), map_area=("town", TOWN))  # fmt: skip
    for name, s in sources.items():
        s.rejected_rows().to_csv(out / f"{name}_rejected.csv", index=False)
        report = {"ingest": s.read.to_dict(), "assignment": s.placed.to_dict()}
        (out / f"{name}_report.json").write_text(json.dumps(report, default=str))
    return out


@st.composite
def reports(draw):
    n = draw(st.integers(1, 25))
    u = np.array(draw(st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=n,
                               max_size=n)))  # fmt: skip
    # days past 335 fall in months 13 to 15: rejected rows, which keep no location
    rows = draw(st.lists(st.tuples(st.integers(0, 400), st.integers(1, 3),
                                   st.sampled_from(["A1", "B2", "C3", "D4", ""])),
                         min_size=n, max_size=n))  # fmt: skip
    as_lonlat = draw(st.booleans())
    decimals = draw(st.integers(4, 7) if as_lonlat else st.integers(0, 2))
    return u, rows, as_lonlat, decimals


def in_town(u: np.ndarray, shape) -> np.ndarray:
    """Map unit-square draws into the town: a draw outside it is moved to the nearest point
    of the town (so points on the boundary are drawn too)."""
    x0, y0, x1, y1 = shape.bounds
    points = shapely.points(x0 + u[:, 0] * (x1 - x0), y0 + u[:, 1] * (y1 - y0))
    inside = shapely.contains(shape, points)
    nearest = shapely.get_coordinates(
        shapely.get_point(shapely.shortest_line(shape, points[~inside]), 0)
    )
    xy = shapely.get_coordinates(points)
    xy[~inside] = nearest
    return xy


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=reports())
def test_no_sensitive_coordinate_leaks(tmp_path_factory, place, case):
    u, rows, as_lonlat, decimals = case
    xy = in_town(u, place[2])
    out = run_outputs(tmp_path_factory.mktemp("leak"), place, xy, rows, as_lonlat, decimals)
    assert (out / "points" / "rough_sleeping_map.html").is_file()
    assert leaks(out, xy, place[3]) == []


def test_the_check_finds_a_leak(tmp_path, place):
    """Needle finds are not sensitive: their busiest places are mapped, and their rejected rows
    keep their coordinates. The check must see both (so it can fail)."""
    rng = np.random.default_rng(3)
    xy = in_town(rng.uniform(0, 1, (60, 2)), place[2]).repeat(3, axis=0)
    rows = [(int(d), 1, "") for d in rng.integers(0, 335, len(xy))]
    rows[0] = (400, 1, "")  # 2019-15-09: rejected, kept with its location
    out = run_outputs(tmp_path, place, xy, rows, False, 1, source="drug_litter")
    finds = gpd.GeoSeries(shapely.points(xy), crs="EPSG:27700")
    town = gpd.GeoSeries([place[2]], crs="EPSG:27700")
    psa_geo.write_geotiff(out / "drug_litter_density.tif",
                          {"finds": psa_geo.kde(finds, area=town, cell_size=50)})  # fmt: skip
    files = {name for name, *_ in leaks(out, xy, place[3])}
    assert {"drug_litter_map.html", "drug_litter_rejected.csv", "drug_litter_density.tif"} <= files


def test_only_the_vendored_code_is_left_out_of_the_scan(tmp_path, place):
    rng = np.random.default_rng(5)
    xy = in_town(rng.uniform(0, 1, (20, 2)), place[2])
    rows = [(int(d), 1, "") for d in rng.integers(0, 335, len(xy))]
    out = run_outputs(tmp_path, place, xy, rows, False, 1)
    page = (out / "points" / "rough_sleeping_map.html").read_text(encoding="utf-8")
    kept = without_vendored_code(page)
    assert VENDOR_ATTRIBUTE in page and VENDOR_ATTRIBUTE not in kept
    assert len(page) - len(kept) >= sum(
        len(vendored_texts()[k]) for k in ("leaflet", "leaflet_css")
    )
    assert "L.map(" in kept and "Reports by LSOA" in kept
