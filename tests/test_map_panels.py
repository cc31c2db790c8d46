"""The panels of every map (psa_geo.map_panels): legend parts from checked swatches and
escaped text, the legend following the layers, small screens, the credits link and the first
view clear of every panel."""

import browser_support
import pytest

import psa_geo
from psa_geo.map_panels import LegendSection, Swatch, box, circle, finish_map, numbered, pie
from psa_geo.page_assets import save_map


@pytest.fixture
def tiny_map_page(tmp_path, tiny_areas):
    rates = tiny_areas[["lsoa_code", "lsoa_name", "csp_name", "geometry"]].copy()
    rates["count"] = [3, 40, 900]
    rates["rate_per_1000"] = [3.0, 20.0, 1800.0]
    outlines = psa_geo.dissolve_areas(tiny_areas, level="csp")
    path = tmp_path / "map.html"
    save_map(psa_geo.rate_map(rates, outlines, title="Tiny"), path, index_href="index.html")
    return path


def test_legend_rows_start_with_a_swatch_and_their_text_is_escaped():
    part = LegendSection("Crime & <disorder>", [(box("#ffffcc"), "<b>1 to 2</b>", "3 LSOAs")])
    html = part.html(0)
    assert "Crime &amp; &lt;disorder&gt;" in html and "&lt;b&gt;1 to 2&lt;/b&gt;" in html
    assert "background:#ffffcc" in html and "data-psa-part" not in html  # no layer: always
    with pytest.raises(ValueError, match="should start with a Swatch"):
        LegendSection("x", [("<img src=x>", "text")]).html(0)
    for make in (lambda: box("red"), lambda: circle("#12345"), lambda: pie(["#fff;x"], 1)):
        with pytest.raises(ValueError, match="should be '#rrggbb'"):
            make()
    assert numbered(7) == Swatch('<span class="psa-number">7</span>')


def test_a_map_has_one_layer_control(tiny_areas):
    import folium

    m = folium.Map()
    folium.LayerControl().add_to(m)
    with pytest.raises(ValueError, match="already has a layer control"):
        finish_map(m, title="x", study_area=tiny_areas, legend=[], credit="c")


@pytest.mark.browser
def test_panels_in_a_browser(tiny_map_page):
    browser_support.require_browser()
    with browser_support.launch_browser() as browser:
        with browser_support.open_page(
            tiny_map_page, viewport=(390, 844), browser=browser, wait_for=browser_support.FITTED
        ) as session:
            page = session.page
            # On a phone the legend starts folded and the layer control is a button.
            assert page.locator("#psa-legend").get_attribute("open") is None
            assert page.locator(".leaflet-control-layers-expanded").count() == 0
            assert browser_support.uncovered_share(page) >= 0.75
            # The measure can fail: a panel over the middle of the map covers the area.
            page.evaluate(
                """() => { const el = document.createElement('div');
                  el.className = 'leaflet-control';
                  el.style.cssText = 'position:fixed;left:0;top:0;width:100%;height:70%';
                  document.body.appendChild(el); }"""
            )
            assert browser_support.uncovered_share(page) < 0.75
        with browser_support.open_page(
            tiny_map_page, viewport=(1366, 768), browser=browser, wait_for=browser_support.FITTED
        ) as session:
            page = session.page
            legend = page.locator("#psa-legend")
            assert legend.get_attribute("open") is not None
            assert page.locator(".leaflet-control-layers-expanded").count() == 1
            assert browser_support.legend_parts(page) == [
                "Rate per 1,000 residents",
                "Community Safety Partnerships",
            ]
            assert not page.locator(".psa-legend-none").is_visible()
            page.get_by_label("LSOA rate per 1,000 (3 LSOAs)").uncheck()
            assert browser_support.legend_parts(page) == ["Community Safety Partnerships"]
            page.get_by_label("Community Safety Partnerships", exact=True).uncheck()
            assert browser_support.legend_parts(page) == []
            assert page.locator(".psa-legend-none").is_visible()
            # The one-line credit links to the full credits at the legend's foot.
            assert not page.locator("#psa-credits p").first.is_visible()
            page.locator(".psa-credits-link").click()
            assert "Open Government Licence" in page.locator("#psa-credits").inner_text()
            assert page.locator("#psa-credits p").first.is_visible()
            assert session.errors == [] and session.unexpected == []
