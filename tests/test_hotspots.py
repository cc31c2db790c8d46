"""The hotspot study of one area, end to end, and its map in a browser."""

import re

import browser_support
import numpy as np
import pyogrio
import pytest
import rasterio
from conftest import make_events, run_cli

import psa_geo
from psa_geo.hotspots import safe_name
from psa_geo.measures import ALL_CRIME


def test_safe_name_from_user_text():
    assert safe_name("../../etc/passwd") == "etc-passwd"
    assert safe_name("<script>Plymouth</script>") == "script-plymouth-script"
    assert safe_name("***").startswith("area-")


def test_sensitive_sources_get_no_hotspot_layers(tiny_areas):
    events = psa_geo.assign_areas(make_events([(50, 50)]), tiny_areas)
    with pytest.raises(psa_geo.PsaGeoError, match="sensitive"):
        psa_geo.hotspot_study(
            events,
            tiny_areas,
            area_name="Town CSP",
            group="Burglary",
            period=psa_geo.calendar_year(2019),
            sensitive=True,
        )


def test_unknown_area_is_named(tiny_areas):
    events = psa_geo.assign_areas(make_events([(50, 50)]), tiny_areas)
    with pytest.raises(psa_geo.PsaGeoError, match="no CSP called 'Atlantis'"):
        psa_geo.hotspot_study(
            events,
            tiny_areas,
            area_name="Atlantis",
            group="Burglary",
            period=psa_geo.calendar_year(2019),
        )


@pytest.fixture(scope="module")
def plymouth(mirror, tmp_path_factory):
    out = tmp_path_factory.mktemp("hot")
    result = run_cli(
        "hotspots",
        "--data-dir",
        mirror,
        "--out",
        out,
        "--area",
        "Plymouth",
        "--study",
        "2019",
        "--cell-size",
        "200",
    )
    assert result.returncode == 0, result.stderr
    return out


@pytest.mark.data
def test_hotspots_command_writes_map_and_cells(plymouth):
    cells = pyogrio.read_dataframe(
        plymouth / "hotspots" / "hotspots_plymouth_all-crime-excl-asb.gpkg"
    )
    assert cells.crs.to_epsg() == 27700
    assert {"n", "kde", "gistar_z", "hotspot_class"} <= set(cells.columns)
    assert cells["n"].sum() > 20_000  # Plymouth's 2019 crimes, on 200 m cells
    hot = cells[cells["hotspot_class"] == "Hot spot, 99% confidence"]
    assert len(hot) > 0
    # The city centre (about 247,700 E, 54,500 N) is a 99% hot spot.
    centre = hot.geometry.centroid
    assert ((centre.x - 247_700) ** 2 + (centre.y - 54_500) ** 2).min() ** 0.5 < 600
    # Twelve monthly slices give every cell an emerging class; the steady city centre is a
    # hot spot in (nearly) every month, and the classes are consistent with the counts.
    assert cells["emerging_class"].notna().all()
    assert {"slices_hot", "slices_cold", "trend_z", "final_hot"} <= set(cells.columns)
    persistent = cells["emerging_class"].isin(
        ["Persistent hot spot", "Intensifying hot spot", "Diminishing hot spot"]
    )
    assert persistent.any()
    assert (cells.loc[persistent, "slices_hot"] >= 11).all()
    assert (cells.loc[cells["emerging_class"] == "New hot spot", "slices_hot"] == 1).all()


@pytest.mark.data
def test_hotspots_command_writes_the_density_raster_and_image(plymouth):
    """The GeoTIFF beside the cells holds the cells' density (one band, named for the
    group), and the map draws it as an embedded image, within the page budget."""
    folder = plymouth / "hotspots"
    cells = pyogrio.read_dataframe(folder / "hotspots_plymouth_all-crime-excl-asb.gpkg")
    with rasterio.open(folder / "hotspots_plymouth_all-crime-excl-asb.tif") as tif:
        assert tif.count == 1 and tif.descriptions == (ALL_CRIME,)
        assert tif.res == (200.0, 200.0) and tif.crs.to_epsg() == 27700
        sampled = np.array([v[0] for v in tif.sample(zip(cells["x"], cells["y"], strict=True))])
    np.testing.assert_allclose(sampled, cells["kde"], rtol=1e-6)
    page = folder / "hotspots_plymouth_all-crime-excl-asb.html"
    html = page.read_text(encoding="utf-8")
    assert len(re.findall(r"L\.imageOverlay\(\s*\"data:image/png;base64,", html)) == 2
    assert "Crimes per 1,000 residents (smoothed)" in html
    assert page.stat().st_size < 3_000_000


@pytest.mark.data
@pytest.mark.browser
def test_hotspot_map_in_a_browser(plymouth):
    browser_support.require_browser()
    page_path = plymouth / "hotspots" / "hotspots_plymouth_all-crime-excl-asb.html"
    with browser_support.open_page(page_path) as session:
        page = session.page
        assert session.errors == [] and session.unexpected == []
        # A few dissolved class polygons, never one per cell, and ten numbered repeat markers.
        assert 2 <= page.locator("path.leaflet-interactive").count() < 40
        numbers = page.locator(".psa-number-icon").all_inner_texts()
        assert sorted(int(n) for n in numbers) == list(range(1, 11))
        legend = page.locator("#psa-legend")
        assert "Hot spot, 99% confidence" in legend.inner_text()
        assert "Top repeat locations" in legend.inner_text()
        # The legend follows the layers: the emerging classes show once their layer is on.
        assert "Persistent hot spot" not in legend.inner_text()
        page.get_by_label("Emerging hot and cold spots (monthly Gi* trend)").check()
        assert "Persistent hot spot" in legend.inner_text()
        page.get_by_label("Hot and cold spots (Getis-Ord Gi*, FDR)").uncheck()
        assert "Hot spot, 99% confidence" not in legend.inner_text()
