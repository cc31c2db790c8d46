"""Tests of the offline browser harness (tests/browser_support.py) on a small folium map."""

from __future__ import annotations

import html
from pathlib import Path

import browser_support
import folium
import geopandas as gpd
import pytest
from shapely.geometry import box

from psa_geo.page_assets import OFFLINE_NOTE, save_map

NAMES = [
    "Alpha <script>alert(1)</script>",
    "Bravo & Charlie",
    "Delta 'quoted' \"square\"",
]
LEGEND_TEXT = "Harness legend: three test squares"


def _squares() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "name": [html.escape(n) for n in NAMES],
            "count": [1, 2, 3],
        },
        geometry=[box(-5.0 + i, 50.0, -4.6 + i, 50.4) for i in range(3)],
        crs="EPSG:4326",
    )


def _test_map() -> folium.Map:
    m = folium.Map(location=[50.2, -3.8], zoom_start=7)
    folium.GeoJson(
        _squares(),
        name="Squares",
        style_function=lambda _feature: {"color": "#333333", "weight": 1, "fillOpacity": 0.5},
        tooltip=folium.GeoJsonTooltip(fields=["name", "count"], aliases=["Name", "Count"]),
    ).add_to(m)
    folium.LayerControl().add_to(m)
    m.get_root().html.add_child(
        folium.Element(
            '<div id="harness-legend" style="position: fixed; bottom: 30px; left: 30px;'
            ' z-index: 1000; background: white; padding: 6px;">'
            f"{html.escape(LEGEND_TEXT)}</div>"
        )
    )
    m.fit_bounds([[50.0, -5.0], [50.4, -2.6]])
    return m


@pytest.mark.browser
def test_harness_renders_a_saved_map_with_the_network_refused(tmp_path: Path) -> None:
    browser_support.require_browser()
    page_path = save_map(_test_map(), tmp_path / "squares.html", index_href="index.html")

    with browser_support.open_page(page_path) as session:
        page = session.page
        polygons = page.locator("path.leaflet-interactive")
        assert polygons.count() == 3

        legend = page.locator("#harness-legend")
        assert legend.is_visible()
        assert legend.inner_text() == LEGEND_TEXT

        # Each square's tooltip shows its name as text: the <script> in it is not markup.
        for i, name in enumerate(NAMES):
            polygons.nth(i).hover()
            tooltip = page.locator(".leaflet-tooltip")
            tooltip.wait_for(state="visible")
            assert name in tooltip.inner_text()
        assert page.locator(".leaflet-tooltip script").count() == 0

        assert page.locator(".leaflet-control-layers").count() == 1
        page.locator("#psa-offline").wait_for(state="visible")
        assert page.locator("#psa-offline").inner_text() == OFFLINE_NOTE
        assert session.errors == []
        assert session.unexpected == []
        assert session.dialogs == []
        assert session.tiles, "the OpenStreetMap base layer should have asked for tiles"
        assert all(browser_support.is_tile_url(u) for u in session.tiles)


@pytest.mark.browser
def test_harness_refuses_and_records_what_a_plain_folium_page_asks_for(tmp_path: Path) -> None:
    """folium's own ``save`` links Leaflet from a CDN: with the network refused, the page
    fails as a partner's would (the reason psa_geo saves through ``save_map``)."""
    browser_support.require_browser()
    page_path = tmp_path / "plain.html"
    _test_map().save(str(page_path))

    with browser_support.open_page(page_path, wait_for="body") as session:
        session.page.wait_for_timeout(200)
        assert session.page.locator("path.leaflet-interactive").count() == 0
    assert any("L is not defined" in e for e in session.errors)
    assert any("leaflet@1.9.3/dist/leaflet.js" in u for u in session.unexpected)
    assert any("jquery" in u for u in session.unexpected)
    assert session.tiles == []
