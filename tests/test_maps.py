import re

import browser_support
import pytest

import psa_geo
from psa_geo.maps import PALETTE, class_breaks
from psa_geo.page_assets import save_map


@pytest.fixture
def tiny_rates(tiny_areas):
    rates = tiny_areas[["lsoa_code", "lsoa_name", "csp_name", "geometry"]].copy()
    rates["count"] = [3, 40, 900]
    rates["rate_per_1000"] = [3.0, 20.0, 1800.0]
    rates.loc[0, "lsoa_name"] = "<script>alert(1)</script> Court"
    return rates


@pytest.fixture
def tiny_outlines(tiny_areas):
    return psa_geo.dissolve_areas(tiny_areas, level="csp")


def test_class_breaks_are_rising_and_cover_the_range():
    import pandas as pd

    edges = class_breaks(pd.Series([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 600.0]))
    assert edges == sorted(edges) and len(set(edges)) == len(edges)
    assert edges[0] <= 0.0 and edges[-1] >= 600.0
    assert len(edges) - 1 <= len(PALETTE)


def test_map_escapes_text_and_has_a_text_legend(tmp_path, tiny_rates, tiny_outlines):
    m = psa_geo.rate_map(tiny_rates, tiny_outlines, title="Crime & <disorder>")
    path = tmp_path / "map.html"
    save_map(m, path, index_href="index.html")
    page = path.read_text()
    assert "<script>alert(1)" not in page
    assert "alert(1)" in page  # kept, as escaped text
    assert "Crime &amp; &lt;disorder&gt;" in page
    legend = re.search(r"<details id=\"psa-legend\".*?</details>", page, re.S).group(0)
    assert "to" in legend and "LSOAs" in legend  # ranges in words, not colour alone
    assert "Open Government Licence" in page


def test_map_refuses_a_layer_without_crs(tiny_rates, tiny_outlines):
    with pytest.raises(ValueError, match="no CRS"):
        psa_geo.rate_map(tiny_rates.set_crs(None, allow_override=True), tiny_outlines, title="x")


@pytest.mark.browser
def test_tiny_map_in_a_browser(tmp_path, tiny_rates, tiny_outlines):
    browser_support.require_browser()
    path = tmp_path / "map.html"
    save_map(
        psa_geo.rate_map(tiny_rates, tiny_outlines, title="Tiny"), path, index_href="index.html"
    )
    with browser_support.open_page(path) as session:
        # 3 LSOA polygons + 2 CSP outlines
        assert session.page.locator("path.leaflet-interactive").count() == 5
        # the CSP names are written on the map, to read it without the background
        labels = session.page.locator(".leaflet-tooltip.psa-label")
        assert sorted(labels.all_inner_texts()) == ["Town CSP", "Village CSP"]
        assert session.errors == [] and session.unexpected == [] and session.dialogs == []
        session.page.locator("path.leaflet-interactive").first.hover(force=True)
        tooltip = session.page.locator(".leaflet-tooltip:not(.psa-label)")
        tooltip.wait_for()
        # The name is shown as text, never run as markup.
        assert "<script>alert(1)</script> Court" in tooltip.inner_text()
        assert session.dialogs == []


@pytest.mark.browser
@pytest.mark.data
def test_peninsula_map_draws_every_lsoa(built, tmp_path):
    browser_support.require_browser()
    out, _ = built
    with browser_support.open_page(out / "peninsula_map.html", viewport=(1000, 1200)) as session:
        page = session.page
        page.wait_for_selector("path.leaflet-interactive")
        paths = page.locator("path.leaflet-interactive").count()
        assert paths == 1034 + 8  # LSOAs and CSP outlines
        assert session.errors == [] and session.unexpected == [] and session.dialogs == []
        legend = page.locator("#psa-legend").inner_text()
        assert "Rate per 1,000" in legend and "LSOAs" in legend
        page.screenshot(path=str(tmp_path / "peninsula_map.png"))
        layers = page.locator(".leaflet-control-layers").inner_text()
        assert "Community Safety Partnerships" in layers
        page.locator("path.leaflet-interactive").nth(500).hover(force=True)
        tooltip = page.locator(".leaflet-tooltip:not(.psa-label)")
        tooltip.wait_for()
        assert "Rate per 1,000" in tooltip.inner_text()
