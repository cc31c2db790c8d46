"""Self-contained map pages (psa_geo.page_assets): Leaflet inlined, no CDN, a title, a link
back to the index and a note when the base map cannot load; every map page of a full build
opened with the network refused."""

from __future__ import annotations

import ast
import re

import browser_support
import folium
import folium.plugins
import pytest
from conftest import REPO

from psa_geo.errors import PsaGeoError
from psa_geo.page_assets import (
    OFFLINE_NOTE,
    VENDOR_ATTRIBUTE,
    map_page_html,
    save_map,
    vendored_texts,
)

VENDOR = REPO / "psa_geo" / "resources" / "vendor"
# vendored file -> the file of its npm release (under tests/browser/node_modules)
NPM_FILES = {
    "leaflet/leaflet.js": "leaflet/dist/leaflet.js",
    "leaflet/leaflet.css": "leaflet/dist/leaflet.css",
    "leaflet/images/layers.png": "leaflet/dist/images/layers.png",
    "leaflet/images/layers-2x.png": "leaflet/dist/images/layers-2x.png",
    "leaflet/LICENSE": "leaflet/LICENSE",
    "leaflet.markercluster/leaflet.markercluster.js": (
        "leaflet.markercluster/dist/leaflet.markercluster.js"
    ),
    "leaflet.markercluster/MarkerCluster.css": "leaflet.markercluster/dist/MarkerCluster.css",
    "leaflet.markercluster/MarkerCluster.Default.css": (
        "leaflet.markercluster/dist/MarkerCluster.Default.css"
    ),
    "leaflet.markercluster/MIT-LICENCE.txt": "leaflet.markercluster/MIT-LICENCE.txt",
}
EXTERNAL = re.compile(r"<(?:script|link)[^>]+(?:src|href)=\"?(?:https?:)?//", re.IGNORECASE)


def _map(*, clusters: bool = False) -> folium.Map:
    m = folium.Map(tiles=None)
    folium.TileLayer("OpenStreetMap").add_to(m)
    folium.GeoJson(
        {
            "type": "Feature",
            "properties": {},
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[-5, 50], [-4, 50], [-4, 51], [-5, 50]]],
            },
        }
    ).add_to(m)
    if clusters:
        folium.plugins.FastMarkerCluster([[50.2, -4.5], [50.3, -4.4]]).add_to(m)
    m.fit_bounds([[50, -5], [51, -4]])
    return m


def _vendored_blocks(page: str) -> list[str]:
    return re.findall(rf'<(?:script|style) {VENDOR_ATTRIBUTE}="([^"]+)">', page)


def test_a_map_page_carries_leaflet_and_links_to_nothing_outside():
    page = map_page_html(_map(), index_href="../index.html", title="Crime & <disorder> {{ 7*7 }}")
    assert EXTERNAL.search(page) is None
    assert _vendored_blocks(page) == ["leaflet/leaflet.css", "leaflet/leaflet.js"]
    for dropped in ("jquery", "bootstrap", "fontawesome", "awesome-markers", "glyphicons"):
        assert dropped not in page.lower()
    assert page.startswith('<!DOCTYPE html>\n<html lang="en-GB">\n<head>\n')
    assert "<title>Crime &amp; &lt;disorder&gt; {{ 7*7 }}</title>" in page
    assert '<a href="../index.html" target="_top">' in page
    assert f'role="status" data-psa-waiting>{OFFLINE_NOTE}</div>' in page
    assert page.count('.on("tileerror"') == 1  # the one tile layer
    assert page.index('<meta http-equiv="content-type"') < page.index(VENDOR_ATTRIBUTE)
    assert page.index("leaflet/leaflet.js") < page.index("L.map(")


def test_clusters_bring_the_markercluster_plugin_once(tmp_path):
    page = save_map(_map(clusters=True), tmp_path / "m.html", index_href="index.html").read_text()
    assert _vendored_blocks(page) == [
        "leaflet/leaflet.css",
        "leaflet/leaflet.js",
        "leaflet.markercluster/MarkerCluster.css",
        "leaflet.markercluster/MarkerCluster.Default.css",
        "leaflet.markercluster/leaflet.markercluster.js",
    ]
    assert EXTERNAL.search(page) is None


def test_saving_a_map_twice_keeps_one_copy_of_each_part(tmp_path):
    m = _map(clusters=True)
    save_map(m, tmp_path / "a.html", index_href="index.html")
    second = save_map(m, tmp_path / "b.html", index_href="index.html").read_text()
    assert len(_vendored_blocks(second)) == 5
    assert second.count('.on("tileerror"') == 1 and second.count('id="psa-home"') == 1


def test_the_title_defaults_to_the_figures():
    m = _map()
    m.get_root().title = "Town map"
    assert "<title>Town map</title>" in map_page_html(m, index_href="index.html")
    assert "<title>Map</title>" in map_page_html(_map(), index_href="index.html")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda m: folium.plugins.Fullscreen().add_to(m), r"Fullscreen needs https://.*not ship"),
        (lambda m: folium.Marker([50, -4], popup="x").add_to(m), "Popup needs jQuery"),
        (lambda m: m.keep_in_front(next(iter(m._children.values()))), "Map needs jQuery"),
    ],
    ids=["plugin-from-a-cdn", "folium-popup", "keep-in-front"],
)
def test_what_needs_the_network_or_jquery_is_refused(make, message):
    m = _map()
    make(m)
    with pytest.raises(PsaGeoError, match=message):
        map_page_html(m, index_href="index.html")


@pytest.mark.parametrize("href", ["https://example.org/", "//example.org/", "javascript:x", " "])
def test_the_index_link_must_be_relative(href):
    with pytest.raises(ValueError, match="'index_href' should be a relative address"):
        map_page_html(_map(), index_href=href)


def test_leaflet_css_needs_no_image_files():
    css = vendored_texts()["leaflet_css"]
    assert "url(images/" not in css
    assert css.count("url(data:image/png;base64,") == 2  # the layer-control icons
    assert "sourceMappingURL" not in vendored_texts()["leaflet"]


def test_vendored_code_ships_with_its_licences_and_versions():
    readme = (VENDOR / "README.md").read_text(encoding="utf-8")
    assert '"1.9.3"' in (VENDOR / "leaflet" / "leaflet.js").read_text(encoding="utf-8")[-400:]
    assert "| 1.9.3 |" in readme and "| 1.1.0 |" in readme
    assert "BSD 2-Clause" in (VENDOR / "leaflet" / "LICENSE").read_text(encoding="utf-8")
    mit = (VENDOR / "leaflet.markercluster" / "MIT-LICENCE.txt").read_text(encoding="utf-8")
    assert "Permission is hereby granted" in mit
    shipped = {str(p.relative_to(VENDOR)) for p in VENDOR.rglob("*") if p.is_file()}
    assert shipped == {*NPM_FILES, "README.md"}


@pytest.mark.browser
def test_vendored_files_are_the_npm_releases():
    browser_support.require(browser_support.npm_problem("leaflet", "leaflet.markercluster"))
    for ours, theirs in NPM_FILES.items():
        assert (VENDOR / ours).read_bytes() == (browser_support.NODE_MODULES / theirs).read_bytes()


def test_every_map_is_saved_through_save_map():
    """folium's own ``save`` (and rendering the figure by hand) writes CDN links."""
    found = []
    for path in sorted((REPO / "psa_geo").glob("*.py")):
        if path.name == "page_assets.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            owner = node.func.value
            of_root = isinstance(owner, ast.Call) and getattr(owner.func, "attr", "") == "get_root"
            if node.func.attr in ("save", "_repr_html_") or (
                node.func.attr == "render" and of_root
            ):
                found.append(f"{path.name}:{node.lineno}")
    assert found == []
