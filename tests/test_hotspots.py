"""The hotspot study of one area, end to end, and its map in a browser."""

import re
import shutil

import browser_support
import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio
from conftest import make_events, run_cli

import psa_geo
from psa_geo.filenames import safe_name
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
    gpkg = plymouth / "hotspots" / "hotspots_plymouth.gpkg"
    layers = [name for name, _ in pyogrio.list_layers(gpkg)]
    assert layers == ["study_area", "all_crime_excl_asb", "all_crime_excl_asb_repeat_locations"]
    assert "Cells of 200 m" in pyogrio.read_info(gpkg, layer="all_crime_excl_asb")[
        "layer_metadata"]["scale"]  # fmt: skip
    cells = pyogrio.read_dataframe(gpkg, layer="all_crime_excl_asb")
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
    """The GeoTIFF beside the cells holds the cells' density (a band named for the group, and
    its risk-adjusted density), and the map draws both as embedded images, within the page
    budget."""
    folder = plymouth / "hotspots"
    cells = pyogrio.read_dataframe(folder / "hotspots_plymouth.gpkg", layer="all_crime_excl_asb")
    with rasterio.open(folder / "hotspots_plymouth.tif") as tif:
        assert tif.descriptions == (ALL_CRIME, f"{ALL_CRIME}: per 1,000 residents (smoothed)")
        assert tif.res == (200.0, 200.0) and tif.crs.to_epsg() == 27700
        sampled = np.array([v[0] for v in tif.sample(zip(cells["x"], cells["y"], strict=True))])
    np.testing.assert_allclose(sampled, cells["kde"], rtol=1e-6)
    page = folder / "hotspots_plymouth.html"
    html = page.read_text(encoding="utf-8")
    assert len(re.findall(r"L\.imageOverlay\(\s*\"data:image/png;base64,", html)) == 2
    assert "Crimes per 1,000 residents (smoothed)" in html
    assert page.stat().st_size < 3_000_000


@pytest.mark.data
@pytest.mark.browser
def test_hotspot_map_in_a_browser(plymouth):
    browser_support.require_browser()
    page_path = plymouth / "hotspots" / "hotspots_plymouth.html"
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
        assert "Hot and cold spots: All crime (excl. ASB)" in legend.inner_text()
        # The legend follows the layers: the emerging classes show once their layer is on.
        assert "Persistent hot spot" not in legend.inner_text()
        page.get_by_label("Emerging hot and cold spots (monthly Gi* trend)").check()
        assert "Persistent hot spot" in legend.inner_text()
        page.get_by_label("Top 10 repeat locations").uncheck()
        assert "Top repeat locations" not in legend.inner_text()


@pytest.mark.data
def test_hotspots_of_another_group_join_the_area_map(plymouth, mirror, assigned_2019, tmp_path):
    """``hotspots --group`` adds that group's layers to the area's map and GeoPackage and
    keeps the groups already there as they were."""
    out = tmp_path / "site"
    shutil.copytree(plymouth, out)
    folder = out / "hotspots"
    before = pyogrio.read_dataframe(folder / "hotspots_plymouth.gpkg", layer="all_crime_excl_asb")
    result = run_cli("hotspots", "--data-dir", mirror, "--out", out, "--area", "plymouth",
                     "--study", "2019", "--cell-size", "200", "--group", "Burglary")  # fmt: skip
    assert result.returncode == 0, result.stderr
    gpkg = folder / "hotspots_plymouth.gpkg"
    layers = [name for name, _ in pyogrio.list_layers(gpkg)]
    assert {"all_crime_excl_asb", "burglary"} <= set(layers)
    after = pyogrio.read_dataframe(gpkg, layer="all_crime_excl_asb")
    pd.testing.assert_frame_equal(after.drop(columns="geometry"), before.drop(columns="geometry"))
    burglary = pyogrio.read_dataframe(gpkg, layer="burglary")
    events = assigned_2019[0]
    expected = events[(events["csp_name"] == "Plymouth") & (events["area_status"] == "inside")
                      & (events["category"] == "Burglary")]  # fmt: skip
    assert burglary["n"].sum() == len(expected)
    page = (folder / "hotspots_plymouth.html").read_text(encoding="utf-8")
    assert "Hot and cold spots: Burglary" in page
    assert "Hot and cold spots: All crime (excl. ASB)" in page
    index = (folder / "index.html").read_text(encoding="utf-8")
    assert index.count("hotspots_plymouth.html") == 1
    with rasterio.open(folder / "hotspots_plymouth.tif") as tif:  # all crime's bands kept
        assert set(tif.descriptions) == {ALL_CRIME, f"{ALL_CRIME}: per 1,000 residents (smoothed)",
                                         "Burglary"}  # fmt: skip


@pytest.mark.data
def test_a_group_too_sparse_to_map_is_refused_with_its_count(mirror, tmp_path):
    result = run_cli("hotspots", "--data-dir", mirror, "--out", tmp_path, "--area",
                     "Isles of Scilly", "--study", "2019", "--group", "Burglary")  # fmt: skip
    assert result.returncode != 0
    line = result.stderr.strip().splitlines()[-1]
    assert "too few events to map Burglary in Isles of Scilly" in line and "2019" in line


@pytest.mark.data
def test_area_hotspots_map_each_group_and_list_those_too_few(assigned_all, areas):
    groups = psa_geo.load_crime_groups()
    year = psa_geo.calendar_year(2019)
    scilly = psa_geo.area_hotspots(assigned_all, areas, area_name="Isles of Scilly",
                                   groups=groups, period=year)  # fmt: skip
    inside = assigned_all[(assigned_all["csp_name"] == "Isles of Scilly")
                          & (assigned_all["area_status"] == "inside")
                          & year.contains(assigned_all["date"])]  # fmt: skip
    assert scilly.results == {} and list(scilly.too_few) == list(groups)
    for group, members in groups.items():
        assert scilly.too_few[group] == inside["category"].isin(members).sum()
    chosen = ["Burglary", "Anti-social behaviour"]
    exeter = psa_geo.area_hotspots(assigned_all, areas, area_name="Exeter", groups=groups,
                                   mapped=chosen, period=year)  # fmt: skip
    assert list(exeter.results) == chosen and exeter.headline.group == "Anti-social behaviour"
    assert exeter.results["Burglary"].repeats.empty  # detail for all crime and ASB only
    assert "emerging_class" not in exeter.results["Burglary"].cells
    assert "emerging_class" in exeter.results["Anti-social behaviour"].cells
    with pytest.raises(psa_geo.PsaGeoError, match="no group 'Arson' to map"):
        psa_geo.area_hotspots(assigned_all, areas, area_name="Exeter", groups=groups,
                              mapped=["Arson"], period=year)  # fmt: skip
