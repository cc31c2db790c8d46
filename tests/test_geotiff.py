"""Density surfaces as one multi-band GeoTIFF, read back with rasterio."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely

import psa_geo
from psa_geo.errors import PsaGeoError
from psa_geo.geotiff import NODATA, write_geotiff
from psa_geo.kde import kde

AREA = gpd.GeoSeries([shapely.box(0, 0, 6000, 4000)], crs="EPSG:27700")
H = 450.0  # kernel radius in metres: 9 cells of 50 m


def points_in(rng, n, x0, y0, x1, y1) -> gpd.GeoSeries:
    return gpd.GeoSeries(shapely.points(rng.uniform([x0, y0], [x1, y1], (n, 2))), crs=27700)


@pytest.fixture(scope="module")
def groups():
    """Two groups of points at least one kernel radius inside the area, so that no kernel
    mass falls outside it."""
    rng = np.random.default_rng(8)
    return {
        "Burglary": points_in(rng, 700, 500, 500, 3000, 3500),
        "Violence & sexual <offences>": points_in(rng, 1300, 2000, 1000, 5500, 3500),
    }


def test_one_band_per_group_that_sums_to_its_points(tmp_path, groups):
    """Σ density × cell area over a band = the group's points, to within the kernel's
    lattice sum: the kernel is summed at cell centres, not integrated, and its mass on the
    lattice differs from 1 by under 0.1% when h is 9 cells (here about 1e-4); float32 adds
    about 1e-7."""
    surfaces = {
        name: kde(pts, area=AREA, cell_size=50, bandwidth=H) for name, pts in groups.items()
    }
    path = write_geotiff(tmp_path / "density.tif", surfaces, tags={"period": "2019"})
    assert path == tmp_path / "density.tif"
    with rasterio.open(path) as tif:
        assert tif.count == 2
        assert tif.descriptions == tuple(groups)
        assert tif.crs.to_epsg() == 27700
        assert tif.dtypes == ("float32", "float32")
        assert tif.nodata == NODATA
        assert tif.transform == surfaces["Burglary"].transform
        assert (tif.height, tif.width) == (80, 120)
        assert tif.profile["compress"] == "deflate"
        assert tif.units == ("events per km²", "events per km²")
        assert tif.tags()["period"] == "2019"
        assert tif.tags(1)["units"] == "events per km²"
        assert float(tif.tags(2)["bandwidth_m"]) == H
        for band, (name, pts) in enumerate(groups.items(), start=1):
            values = tif.read(band, masked=True)
            assert values.mask.sum() == 0  # the area fills its bounding box
            mass = float(values.sum()) * 50 * 50 / 1e6
            assert mass == pytest.approx(len(pts), rel=1e-3), name
            np.testing.assert_allclose(values.filled(np.nan), surfaces[name].values, rtol=1e-6)


def test_kernel_mass_on_the_lattice():
    """The tolerance above: the quartic kernel summed at lattice offsets of 50 m, h = 450 m."""
    offsets = np.arange(-9, 10) * 50.0
    d2 = offsets[:, None] ** 2 + offsets[None, :] ** 2
    k = np.where(d2 < H * H, 3 / (math.pi * H * H) * (1 - d2 / H**2) ** 2, 0.0)
    assert abs(k.sum() * 50 * 50 - 1) < 1e-3


def test_surfaces_on_different_extents_share_one_grid(tmp_path, groups):
    """A surface over a smaller area lands on its own cells of the common raster (the
    lattice is the same) and is nodata elsewhere; cells outside an area are nodata."""
    east = gpd.GeoSeries([shapely.Polygon([(3000, 1000), (6000, 1000), (6000, 4000)])], crs=27700)
    pts = groups["Violence & sexual <offences>"]
    whole = kde(pts, area=AREA, cell_size=50, bandwidth=H)
    part = kde(pts, area=east, cell_size=50, bandwidth=H)
    path = write_geotiff(tmp_path / "two.tif", {"whole": whole, "east": part})
    with rasterio.open(path) as tif:
        assert tif.transform == whole.transform and (tif.height, tif.width) == whole.shape
        xy = [(3025, 3975), (5975, 1025), (4000, 3500), (100, 100), (5990, 3990)]
        sampled = np.array(list(tif.sample(xy)))
    inside_east = shapely.intersects_xy(east.iloc[0], *np.array(xy).T)
    # the same points, the same kernel: equal densities where both have a value
    np.testing.assert_allclose(sampled[inside_east, 1], sampled[inside_east, 0], rtol=1e-6)
    assert (sampled[~inside_east, 1] == NODATA).all()
    assert (sampled[:, 0] != NODATA).all()


def test_risk_adjusted_band_has_nodata_where_too_few_residents(tmp_path, groups):
    lsoas = gpd.GeoDataFrame(
        {"population": [30_000, 30]},
        geometry=[shapely.box(0, 0, 3000, 4000), shapely.box(3000, 0, 6000, 4000)],
        crs=27700,
    )
    surface = kde(groups["Burglary"], area=AREA, cell_size=50, bandwidth=H, population=lsoas)
    path = write_geotiff(tmp_path / "risk.tif", {"Burglary per 1,000": surface.risk_adjusted()})
    with rasterio.open(path) as tif:
        values = tif.read(1, masked=True)
        assert tif.tags(1)["units"] == "crimes per 1,000 residents (smoothed)"
    missing = ~np.isfinite(surface.per_1000)
    assert missing.any() and (~missing).any()
    np.testing.assert_array_equal(values.mask, missing)
    np.testing.assert_allclose(values.compressed(), surface.per_1000[~missing], rtol=1e-6)


def test_a_large_raster_is_tiled(tmp_path):
    rng = np.random.default_rng(1)
    big = gpd.GeoSeries([shapely.box(0, 0, 30_000, 20_000)], crs=27700)
    surface = kde(points_in(rng, 200, 0, 0, 30_000, 20_000), area=big, cell_size=50, bandwidth=400)
    with rasterio.open(write_geotiff(tmp_path / "big.tif", {"all": surface})) as tif:
        assert tif.profile["tiled"] and tif.block_shapes == [(256, 256)]


def test_bad_requests_are_one_clear_error(tmp_path, groups):
    pts = groups["Burglary"]
    fine = kde(pts, area=AREA, cell_size=50, bandwidth=H)
    coarse = kde(pts, area=AREA, cell_size=100, bandwidth=H)
    cases = [
        ({"a": fine, "b": coarse}, {}, r"'a' and 'b' have different cells \(50 m"),
        ({}, {}, "'surfaces' should be a non-empty dict"),
        ({"a": fine.to_cells()}, {}, r"'surfaces'\['a'\] should be a Surface"),
        ({"": fine}, {}, "band names should be non-empty text"),
        ({"a": fine}, {"sensitive": True}, "sensitive source is never given a density raster"),
    ]
    for surfaces, kwargs, message in cases:
        with pytest.raises(PsaGeoError, match=message):
            write_geotiff(tmp_path / "bad.tif", surfaces, **kwargs)
    assert not (tmp_path / "bad.tif").exists()
    assert psa_geo.write_geotiff is write_geotiff and psa_geo.Surface is type(fine)
