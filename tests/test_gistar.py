"""Getis-Ord Gi* hot spots, checked against esda's G_Local (a test-only dependency)."""

from __future__ import annotations

import math
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import false_discovery_control

from psa_geo.errors import PsaGeoError
from psa_geo.gistar import BAND_TOLERANCE, bh_adjust, gistar, gistar_scores

SIDE = 100.0


def grid_cells(values: np.ndarray, side: float = SIDE) -> gpd.GeoDataFrame:
    """Square cells in EPSG:27700, row-major from (0, 0), with ``n`` = ``values`` (2-D)."""
    ny, nx = values.shape
    xs, ys = np.meshgrid(np.arange(nx) * side, np.arange(ny) * side)
    boxes = shapely.box(xs.ravel(), ys.ravel(), xs.ravel() + side, ys.ravel() + side)
    return gpd.GeoDataFrame({"n": values.ravel()}, geometry=boxes, crs="EPSG:27700")


def planted_grid(seed: int = 7) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """20×20 cells, Poisson(1) background and a 4×4 block of Poisson(15): (cells, in_block)."""
    rng = np.random.default_rng(seed)
    values = rng.poisson(1.0, (20, 20))
    block = np.zeros((20, 20), dtype=bool)
    block[5:9, 11:15] = True
    values[block] = rng.poisson(15.0, block.sum())
    return grid_cells(values), block.ravel()


def hex_cells(nx: int, ny: int, spacing: float, rng: np.random.Generator) -> gpd.GeoDataFrame:
    """Pointy-top hexagons ``spacing`` apart centre to centre, with random counts."""
    col, row = np.meshgrid(np.arange(nx), np.arange(ny))
    cx = (col * spacing + (row % 2) * spacing / 2).ravel() + 400_000
    cy = (row * spacing * math.sqrt(3) / 2).ravel() + 100_000
    radius = spacing / math.sqrt(3)
    angles = np.deg2rad(30 + 60 * np.arange(6))
    rings = np.stack(
        [cx[:, None] + radius * np.cos(angles), cy[:, None] + radius * np.sin(angles)], axis=-1
    )
    hexes = shapely.polygons(rings)
    return gpd.GeoDataFrame({"n": rng.poisson(2.0, len(cx))}, geometry=hexes, crs=27700)


def jittered_cells(rng: np.random.Generator) -> gpd.GeoDataFrame:
    """40 m squares around randomly jittered points of a 100 m lattice, with random counts."""
    xs, ys = np.meshgrid(np.arange(25) * 100.0, np.arange(25) * 100.0)
    cx = xs.ravel() + rng.uniform(-30, 30, xs.size) + 250_000
    cy = ys.ravel() + rng.uniform(-30, 30, xs.size) + 50_000
    boxes = shapely.box(cx - 20, cy - 20, cx + 20, cy + 20)
    counts = rng.poisson(1.5, xs.size) + (np.hypot(cx - cx.mean(), cy - cy.mean()) < 300) * 6
    return gpd.GeoDataFrame({"n": counts}, geometry=boxes, crs=27700)


def esda_z(cells: gpd.GeoDataFrame, column: str, band: float) -> np.ndarray:
    """esda's Gi* z-scores with binary distance-band weights whose diagonal is 1.

    esda's G_Local(star=True) keeps a non-zero diagonal as given and, for transform "B",
    fills an empty one with 1 (getisord._infer_star_and_structure_w); the binary transform
    then leaves a diagonal of ones as ones. So we give it the diagonal explicitly and check
    it survived. The band gets the same relative slack gistar uses, so ties match.
    libpysal/esda may warn (islands, disconnected components): silenced here only.
    """
    import esda
    import libpysal

    centroids = cells.geometry.centroid
    xy = np.column_stack([centroids.x, centroids.y])
    y = cells[column].to_numpy(dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w = libpysal.weights.DistanceBand(
            xy, threshold=band * (1 + BAND_TOLERANCE), binary=True, silence_warnings=True
        )
        w = libpysal.weights.fill_diagonal(w, 1.0)
        g = esda.G_Local(y, w, star=True, transform="B", permutations=0)
    assert (g.w.sparse.diagonal() == 1).all()
    assert set(np.unique(g.w.sparse.data)) == {1.0}
    return np.asarray(g.Zs)


def significant(levels: pd.Series) -> int:
    return int((levels != 0).sum())


# --- agreement with esda -------------------------------------------------------------------


def test_square_grid_matches_esda_and_band_is_queen():
    cells, _ = planted_grid()
    out = gistar(cells)
    assert out["gistar_band_m"].unique().tolist() == pytest.approx([math.sqrt(2) * SIDE])
    np.testing.assert_allclose(out["gistar_z"], esda_z(cells, "n", math.sqrt(2) * SIDE), atol=1e-6)


def test_esda_fills_an_empty_diagonal_with_one_for_binary_star():
    """Like for like either way: esda with a zero-diagonal W and star=True gives the same z."""
    import esda
    import libpysal

    cells, _ = planted_grid(seed=3)
    out = gistar(cells)
    xy = np.column_stack([cells.geometry.centroid.x, cells.geometry.centroid.y])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w = libpysal.weights.DistanceBand(xy, threshold=141.43, binary=True)
        g = esda.G_Local(cells["n"].to_numpy(float), w, star=True, transform="B", permutations=0)
    np.testing.assert_allclose(out["gistar_z"], g.Zs, atol=1e-6)


@pytest.mark.parametrize("kind", ["hex", "jittered"])
def test_irregular_cells_match_esda(kind):
    rng = np.random.default_rng(11)
    cells = hex_cells(18, 20, 150.0, rng) if kind == "hex" else jittered_cells(rng)
    out = gistar(cells)
    band = out["gistar_band_m"].iloc[0]
    if kind == "hex":
        assert band == pytest.approx(math.sqrt(3) * 150.0)  # the 6 + 6 nearest
    np.testing.assert_allclose(out["gistar_z"], esda_z(cells, "n", band), atol=1e-6)


def test_kept_weights_follow_the_grid_and_the_band():
    """Runs on one grid share its neighbours; another band, or cells of the same number
    moved, get their own (each still matches esda)."""
    cells, _ = planted_grid(seed=5)
    moved = cells.set_geometry(cells.geometry.scale(1.5, 1.5, origin=(0, 0)))
    for frame, band in [(cells, 250.0), (cells, 150.0), (moved, 250.0), (cells, 250.0)]:
        out = gistar(frame, distance=band)
        np.testing.assert_allclose(out["gistar_z"], esda_z(frame, "n", band), atol=1e-6)


@pytest.mark.parametrize("cells", [300, 70_000])
def test_binary_weights_are_built_in_csr_order(cells):
    """The weights equal scipy's conversion from COO: same rows, columns and order (grids
    of up to 65,535 cells are sorted by 16-bit radix sorts, larger ones by one key)."""
    from scipy import sparse
    from scipy.spatial import cKDTree

    from psa_geo.gistar import _binary_weights

    xy = np.random.default_rng(2).uniform(0, 1000 * math.sqrt(cells / 300), (cells, 2))
    pairs = cKDTree(xy).query_pairs(120.0, output_type="ndarray")
    n = len(xy)
    rows = np.concatenate([pairs[:, 0], pairs[:, 1], np.arange(n)])
    cols = np.concatenate([pairs[:, 1], pairs[:, 0], np.arange(n)])
    expected = sparse.csr_array(sparse.coo_array((np.ones(len(rows)), (rows, cols)), (n, n)))
    got = _binary_weights(pairs, n)
    np.testing.assert_array_equal(got.indptr, expected.indptr)
    np.testing.assert_array_equal(got.indices, expected.indices)
    np.testing.assert_array_equal(got.data, expected.data)


def test_gistar_scores_are_gistars_columns():
    cells, _ = planted_grid(seed=9)
    out = gistar(cells, distance=250.0)
    xy = np.column_stack([cells.geometry.centroid.x, cells.geometry.centroid.y])
    scores = gistar_scores(cells["n"].to_numpy(float), xy, distance=250.0)
    np.testing.assert_array_equal(scores.z, out["gistar_z"])
    np.testing.assert_array_equal(scores.levels, out["hotspot_level"])
    assert scores.band == 250.0


def test_explicit_distance_matches_esda():
    cells, _ = planted_grid(seed=5)
    out = gistar(cells, distance=250.0)
    assert (out["gistar_band_m"] == 250.0).all()
    np.testing.assert_allclose(out["gistar_z"], esda_z(cells, "n", 250.0), atol=1e-6)


@pytest.mark.data
def test_exeter_200m_grid_matches_esda(areas, events_2019):
    events = events_2019[0]
    exeter = shapely.union_all(areas.loc[areas["csp_name"] == "Exeter", "geometry"].to_numpy())
    minx, miny, maxx, maxy = exeter.bounds
    xs, ys = np.meshgrid(
        np.arange(math.floor(minx / 200) * 200, maxx, 200),
        np.arange(math.floor(miny / 200) * 200, maxy, 200),
    )
    boxes = shapely.box(xs.ravel(), ys.ravel(), xs.ravel() + 200, ys.ravel() + 200)
    cells = gpd.GeoDataFrame(geometry=boxes[shapely.intersects(boxes, exeter)], crs=27700)
    located = events[~(events.geometry.isna() | events.geometry.is_empty)]
    inside = located[shapely.within(located.geometry.to_numpy(), exeter)]
    joined = gpd.sjoin(inside[["geometry"]], cells, predicate="within")
    cells["n"] = joined.groupby("index_right").size().reindex(cells.index, fill_value=0)
    assert cells["n"].sum() > 5000 and (cells["n"] > 0).sum() > 100

    out = gistar(cells)
    assert out["gistar_band_m"].iloc[0] == pytest.approx(math.sqrt(2) * 200)
    np.testing.assert_allclose(out["gistar_z"], esda_z(cells, "n", 200 * math.sqrt(2)), atol=1e-6)
    assert (out["hotspot_level"] == 3).sum() > 0  # the city centre


# --- FDR -----------------------------------------------------------------------------------


def test_adjusted_p_values_match_scipy():
    cells, _ = planted_grid()
    out = gistar(cells)
    expected = false_discovery_control(out["p_value"].to_numpy(), method="bh")
    np.testing.assert_allclose(out["p_value_fdr"], expected, rtol=1e-12, atol=0)
    ordered = out.sort_values("p_value")["p_value_fdr"].to_numpy()
    assert (np.diff(ordered) >= 0).all()


@given(st.lists(st.floats(0, 1), min_size=1, max_size=200))
def test_bh_adjust_matches_scipy(p):
    p = np.array(p)
    np.testing.assert_allclose(bh_adjust(p), false_discovery_control(p, method="bh"), rtol=1e-12)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fdr_classifies_no_more_cells(seed):
    cells, _ = planted_grid(seed)
    with_fdr = gistar(cells)
    without = gistar(cells, fdr=False)
    assert significant(with_fdr["hotspot_level"]) <= significant(without["hotspot_level"])
    assert (with_fdr["hotspot_level"].abs() <= without["hotspot_level"].abs()).all()
    np.testing.assert_array_equal(with_fdr["gistar_z"], without["gistar_z"])


def test_fdr_levels_agree_with_adjusted_p():
    cells, _ = planted_grid(seed=9)
    out = gistar(cells)
    passed = sum((out["p_value_fdr"] <= a).astype(int) for a in (0.10, 0.05, 0.01))
    np.testing.assert_array_equal(out["hotspot_level"].abs(), passed)


# --- classification ------------------------------------------------------------------------


def test_planted_block_is_a_99pct_hot_spot():
    cells, block = planted_grid()
    out = gistar(cells)
    assert (out.loc[block, "hotspot_class"] == "Hot spot, 99% confidence").all()
    assert (out.loc[block, "hotspot_level"] == 3).all()


def test_planted_hole_is_a_cold_spot_and_labels_match_levels():
    rng = np.random.default_rng(4)
    values = rng.poisson(8.0, (20, 20))
    values[8:13, 8:13] = 0
    out = gistar(grid_cells(values))
    assert out.loc[8 * 20 + 10, "hotspot_class"] == "Cold spot, 99% confidence"
    labels = {
        3: "Hot spot, 99% confidence",
        2: "Hot spot, 95% confidence",
        1: "Hot spot, 90% confidence",
        0: "Not significant",
        -1: "Cold spot, 90% confidence",
        -2: "Cold spot, 95% confidence",
        -3: "Cold spot, 99% confidence",
    }
    assert (out["hotspot_class"] == out["hotspot_level"].map(labels)).all()
    assert ((out["hotspot_level"] > 0) == (out["gistar_z"] > 0))[out["hotspot_level"] != 0].all()


@pytest.mark.parametrize("seed", range(5))
def test_random_field_has_few_hot_spots_with_fdr(seed):
    values = np.random.default_rng(seed).poisson(3.0, (30, 30))
    out = gistar(grid_cells(values))
    assert significant(out["hotspot_level"]) <= 9  # ≤ 1% of 900 cells


def test_custom_alpha_levels_and_x_y_columns():
    cells, block = planted_grid()
    cells["x"] = cells.geometry.centroid.x * 2  # x, y take precedence over the geometry
    cells["y"] = cells.geometry.centroid.y * 2
    out = gistar(cells, alpha_levels=(0.05,))
    assert out["gistar_band_m"].iloc[0] == pytest.approx(math.sqrt(2) * 2 * SIDE)
    assert set(out["hotspot_level"]) <= {-1, 0, 1}
    assert (out.loc[block, "hotspot_class"] == "Hot spot, 95% confidence").all()


def test_input_is_not_modified_and_index_is_kept():
    cells, _ = planted_grid()
    cells.index = cells.index * 10 + 3
    before = cells.copy()
    out = gistar(cells)
    pd.testing.assert_frame_equal(cells, before)
    assert out.index.equals(cells.index)
    assert out.crs == cells.crs


# --- validation ----------------------------------------------------------------------------


def _cells() -> gpd.GeoDataFrame:
    return planted_grid()[0]


@pytest.mark.parametrize(
    ("make", "kwargs", "match"),
    [
        (lambda: pd.DataFrame(_cells()), {}, "should be a GeoDataFrame"),
        (lambda: _cells().iloc[:0], {}, "has no rows"),
        (lambda: _cells().set_crs(None, allow_override=True), {}, "no CRS"),
        (lambda: _cells().to_crs(4326), {}, r"WGS 84.*EPSG:27700.*to_crs"),
        (_cells, {"column": "count"}, "no column 'count'"),
        (lambda: _cells().assign(n="x"), {}, "should be numeric"),
        (lambda: _cells().assign(n=True), {}, "should be numeric"),
        (lambda: _cells().assign(n=lambda d: d["n"] - 5), {}, "negative"),
        (lambda: _cells().assign(n=lambda d: d["n"].where(d.index != 3)), {}, "missing"),
        (lambda: _cells().assign(n=4), {}, "no variation"),
        (lambda: _cells().assign(n=lambda d: (d.index < 29).astype(int)), {}, "too few for Gi"),
        (_cells, {"distance": 50.0}, r"400 cell\(s\).*no other cell.*distance=100\.0"),
        (_cells, {"distance": 1e6}, "reaches every cell"),
        (_cells, {"distance": -1.0}, "positive number of metres"),
        (_cells, {"distance": float("nan")}, "positive number of metres"),
        (_cells, {"alpha_levels": (0.1, 1.5)}, "between 0 and 1"),
        (_cells, {"alpha_levels": ()}, "between 0 and 1"),
    ],
)
def test_validation_errors(make, kwargs, match):
    with pytest.raises(PsaGeoError, match=match):
        gistar(make(), **kwargs)


def test_an_isolated_cell_is_named():
    cells = _cells()
    far = gpd.GeoDataFrame({"n": [1]}, geometry=[shapely.box(9000, 0, 9100, 100)], crs=27700)
    cells = pd.concat([cells, far.set_index(pd.Index([999]))])
    with pytest.raises(PsaGeoError, match=r"1 cell\(s\) \(e\.g\. index 999\)"):
        gistar(cells)


def test_missing_geometry_without_x_y():
    cells = _cells()
    cells.loc[0, "geometry"] = None
    with pytest.raises(PsaGeoError, match="no geometry"):
        gistar(cells)
