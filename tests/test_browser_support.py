"""Tests of the offline browser harness (tests/browser_support.py) on a small folium map."""

from __future__ import annotations

import html
import re
from pathlib import Path

import browser_support
import folium
import folium.plugins
import geopandas as gpd
import pytest
from shapely.geometry import box

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


def _save_test_map(path: Path) -> Path:
    squares = _squares()
    m = folium.Map(location=[50.2, -3.8], zoom_start=7)
    folium.GeoJson(
        squares,
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
    m.save(str(path))
    return path


@pytest.mark.browser
def test_harness_renders_folium_map_offline(tmp_path: Path) -> None:
    browser_support.require_browser()
    page_path = _save_test_map(tmp_path / "squares.html")

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
        assert session.errors == []
        assert session.unexpected == []
        assert session.dialogs == []
        assert session.tiles, "the OpenStreetMap base layer should have asked for tiles"
        assert all(browser_support.is_tile_url(u) for u in session.tiles)
        served = " ".join(session.served)
        assert "leaflet@1.9.3/dist/leaflet.js" in served
        assert "jquery-3.7.1.min.js" in served


def _cdn_addresses(page_html: str) -> list[str]:
    return re.findall(r'<(?:script|link)[^>]+(?:src|href)="(https?://[^"]+)"', page_html)


@pytest.mark.browser
def test_every_cdn_address_of_a_folium_page_has_a_local_file(tmp_path: Path) -> None:
    """A folium upgrade that changes an asset address shows up here, not as a blank page."""
    browser_support.require_browser()
    m = folium.Map(location=[50.5, -4.5], zoom_start=8)
    folium.GeoJson(_squares(), tooltip=folium.GeoJsonTooltip(fields=["name"])).add_to(m)
    cluster = folium.plugins.MarkerCluster().add_to(m)
    folium.Marker([50.5, -4.0], icon=folium.Icon(icon="info-sign", angle=45)).add_to(cluster)
    folium.LayerControl().add_to(m)
    page_path = tmp_path / "assets.html"
    m.save(str(page_path))

    addresses = _cdn_addresses(page_path.read_text(encoding="utf-8"))
    assert len(addresses) >= 12
    unanswered = [
        url
        for url in addresses
        if url not in browser_support.GENERATED_ASSETS
        and ((path := browser_support.cdn_file(url)) is None or not path.is_file())
    ]
    assert unanswered == []
    # Relative references inside the stylesheets resolve too.
    for url, relative in [
        ("https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/", "images/layers.png"),
        (
            "https://cdn.jsdelivr.net/npm/@fortawesome/fontawesome-free@6.2.0/",
            "webfonts/fa-solid-900.woff2",
        ),
        (
            "https://cdnjs.cloudflare.com/ajax/libs/Leaflet.awesome-markers/2.0.2/",
            "images/markers-soft.png",
        ),
        (
            "https://netdna.bootstrapcdn.com/bootstrap/3.0.0/",
            "fonts/glyphicons-halflings-regular.woff2",
        ),
    ]:
        path = browser_support.cdn_file(url + relative + "?v=1")
        assert path is not None and path.is_file(), url + relative
    assert browser_support.cdn_file("https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/../x") is None
    assert (
        browser_support.cdn_file("https://cdn.jsdelivr.net/npm/leaflet@1.9.4/dist/leaflet.js")
        is None
    )
