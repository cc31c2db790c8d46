"""Place search on the maps (issue 15, item 6): the Peninsula map finds a town and an LSOA by
name and zooms to it, offline; the names reach the page as JSON and show as text."""

from __future__ import annotations

import browser_support
import geopandas as gpd
import pytest
import shapely

import psa_geo

MAP_OF = "() => Object.keys(window).filter(k => k.startsWith('map_')).map(k => window[k])[0]"


def _search(session, text: str) -> dict:
    """Type ``text`` in the search box, press Enter; the map's view and what it announced."""
    box = session.page.locator(".psa-search input")
    box.fill(text)
    box.press("Enter")
    session.page.wait_for_timeout(400)
    return session.page.evaluate(
        f"""() => {{ const m = ({MAP_OF})(); const b = m.getBounds();
            return {{zoom: m.getZoom(), south: b.getSouth(), west: b.getWest(),
                     north: b.getNorth(), east: b.getEast(),
                     said: document.querySelector('.psa-search output').textContent}}; }}"""
    )


def _inside(view: dict, lat: float, lon: float) -> bool:
    return view["south"] <= lat <= view["north"] and view["west"] <= lon <= view["east"]


@pytest.mark.browser
def test_peninsula_map_finds_truro_and_an_lsoa(built, areas):
    browser_support.require_browser()
    page = built[0] / "peninsula_map.html"
    lsoa = areas.loc[areas["lsoa_name"] == "Plymouth 016C"].to_crs("EPSG:4326")
    centre = lsoa.geometry.iloc[0].representative_point()
    with browser_support.open_page(page) as session:
        start = session.page.evaluate(f"() => ({MAP_OF})().getZoom()")
        truro = _search(session, "truro")
        assert truro["said"] == "Truro (town)" and truro["zoom"] > start
        assert _inside(truro, 50.263, -5.051)  # Truro's centre
        found = _search(session, "Plymouth 016C")
        assert found["said"] == "Plymouth 016C (LSOA)" and found["zoom"] > truro["zoom"]
        assert _inside(found, centre.y, centre.x) and not _inside(found, 50.263, -5.051)
        missing = _search(session, "Atlantis")
        assert missing["said"] == "No place called Atlantis"
        assert session.errors == []


@pytest.mark.browser
def test_place_names_show_as_text(tmp_path):
    browser_support.require_browser()
    hostile = '</script><img src=x onerror="window.__pwned=1">{{ 7 * 191 }}'
    square = shapely.box(247_000, 54_000, 248_000, 55_000)
    frame = gpd.GeoDataFrame({"area_name": [hostile]}, geometry=[square], crs="EPSG:27700")
    places = psa_geo.place_index([("LSOA", frame)])
    assert places[0]["name"] == hostile and places[0]["kind"] == "LSOA"
    m = psa_geo.rate_map(
        frame.assign(lsoa_code="A", lsoa_name="a", csp_name="C", rate_per_1000=1.0, count=1),
        frame,
        title="t",
    )
    m.add_child(psa_geo.PlaceSearch(places))
    path = psa_geo.save_map(m, tmp_path / "map.html", index_href="index.html")
    assert "1337" not in path.read_text(encoding="utf-8")
    with browser_support.open_page(path) as session:
        found = _search(session, hostile[:12])
        assert found["said"] == f"{hostile} (LSOA)"
        assert session.page.evaluate("() => window.__pwned") is None
        assert session.errors == []
