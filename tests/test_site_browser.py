"""Every page of a build opened as a partner would, with the network refused (issue 15).

One shared full build (``built``) and the pages a ``--demo`` build adds (``demo/``; the rest of
a demo build is the full build again). For every page: it loads with no console or page error,
asks for nothing but tiles, has a title and ``lang="en-GB"``, and links to the site's index.
For every map, at 1366 x 768 and at 390 x 844 (and for the map framed in each town profile, at
the frame's rendered size): the map draws, and at least 75% of the study area's bounding box is
on screen and under no control; at desktop size the legend follows the layers.
"""

from __future__ import annotations

import re
from pathlib import Path

import browser_support
import pytest
from conftest import run_cli
from test_page_assets import EXTERNAL

import psa_geo

DESKTOP, PHONE = (1366, 768), (390, 844)
GI_FILLS = """() => [...document.querySelectorAll('path.leaflet-interactive')]
    .filter(p => ['#b2182b', '#ef8a62', '#fddbc7'].includes(p.getAttribute('fill')))
    .map(p => p.getAttribute('d')).sort()"""
MIN_UNCOVERED = 0.75
DRAWN = "path.leaflet-interactive, .marker-cluster, .psa-number-icon"


@pytest.fixture(scope="module")
def demo_built(mirror, tmp_path_factory) -> Path:
    """``psa-geo build --demo`` on the real data: its output folder (read-only)."""
    out = tmp_path_factory.mktemp("demo_site")
    result = run_cli("build", "--demo", "--quiet", "--data-dir", mirror, "--out", out)
    assert result.returncode == 0, result.stderr
    return out


def _kind(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    if 'class="folium-map"' in text:
        return "map"
    return "profile" if 'class="map-frame"' in text else "page"


def _index_link(page, kind: str) -> str:
    selector = ".leaflet-control.psa-home a" if kind == "map" else "nav.site a"
    return page.locator(selector).first.get_attribute("href")


def _map_facts(path: Path, session) -> dict:
    """A map page links to nothing outside, says offline that its background needs the
    internet, names itself in its title bar, and writes its area names on the map."""
    page = session.page
    assert EXTERNAL.search(path.read_text(encoding="utf-8")) is None, path.name
    page.locator("#psa-offline").wait_for(state="visible")
    assert session.tiles and all(map(browser_support.is_tile_url, session.tiles))
    assert page.title() == page.locator(".psa-title").inner_text().strip()
    return {
        "title": page.title(),
        "labels": page.locator(".psa-label").all_inner_texts(),
        "parts": browser_support.legend_parts(page),
    }


def _check_legend_follows(page) -> None:
    """Switching each overlay off hides only legend parts and switching it on restores them;
    with every overlay off no part tied to a layer is shown but the chosen radio layer's."""
    boxes = page.locator(".leaflet-control-layers-overlays input[type=checkbox]")
    start = browser_support.legend_parts(page)
    for i in range(boxes.count()):
        if not boxes.nth(i).is_checked():
            continue
        boxes.nth(i).uncheck()
        assert set(browser_support.legend_parts(page)) <= set(start)
        boxes.nth(i).check()
        assert browser_support.legend_parts(page) == start
    for i in range(boxes.count()):
        boxes.nth(i).uncheck()
    # Only the part of the chosen radio layer (a crime group's Gi*, one at a time) stays.
    remaining = browser_support.legend_parts(page)
    radios = page.locator(".leaflet-control-layers-base input[type=radio]").count()
    assert len(remaining) <= (1 if radios else 0), remaining


def _check_site(out: Path, pages: list[Path]) -> dict[str, dict]:
    """Open each page (maps and profile frames at both sizes); return what each showed."""
    seen = {}
    with browser_support.launch_browser() as browser:
        for path in pages:
            kind, name = _kind(path), str(path.relative_to(out))
            facts = {}
            for viewport in (DESKTOP, PHONE) if kind != "page" else (DESKTOP,):
                wait = browser_support.FITTED if kind == "map" else "body"
                with browser_support.open_page(
                    path, viewport=viewport, browser=browser, wait_for=wait
                ) as session:
                    page = session.page
                    if kind == "page" or viewport == DESKTOP:
                        assert page.title(), name
                        assert page.locator("html").get_attribute("lang") == "en-GB", name
                        if path != out / "index.html":
                            href = _index_link(page, kind)
                            assert (path.parent / href).resolve() == (out / "index.html").resolve()
                    if kind == "map":
                        assert page.locator(DRAWN).count() > 0, name
                        facts[viewport] = browser_support.uncovered_share(page)
                        if viewport == DESKTOP:
                            facts.update(_map_facts(path, session))
                            _check_legend_follows(page)
                    elif kind == "profile":
                        frame = page.locator("iframe.map-frame").element_handle().content_frame()
                        frame.wait_for_selector(DRAWN)
                        facts[viewport] = browser_support.uncovered_share(frame)
                    assert session.errors == [], (name, session.errors)
                    assert session.unexpected == [] and session.dialogs == [], name
            seen[name] = facts
    for name, facts in seen.items():
        for viewport in (DESKTOP, PHONE):
            if viewport in facts:
                assert facts[viewport] >= MIN_UNCOVERED, (name, viewport, facts[viewport])
    return seen


@pytest.mark.data
@pytest.mark.browser
def test_every_page_of_a_full_build_in_a_browser(built):
    browser_support.require_browser()
    out, _ = built
    pages = sorted(out.rglob("*.html"))
    seen = _check_site(out, pages)
    maps = [n for n in seen if "parts" in seen[n]]
    assert len(maps) == 21 and len([n for n in seen if n.startswith("towns/")]) == 21
    peninsula = seen["peninsula_map.html"]
    assert peninsula["title"].startswith("All crime")
    assert len(peninsula["labels"]) == 8 and "Plymouth" in peninsula["labels"]
    assert "Penzance" in seen["towns/penzance_map.html"]["title"]
    assert peninsula["parts"] == [
        "Rate per 1,000 residents",
        "Community Safety Partnerships",
    ]
    hotspots = seen["hotspots/hotspots_plymouth.html"]["parts"]
    assert "Top repeat locations: All crime (excl. ASB)" in hotspots
    assert not any("Emerging" in p for p in hotspots)
    assert "Hot and cold spots: All crime (excl. ASB)" in hotspots
    assert "Hot and cold spots: Burglary" not in hotspots  # one group at a time


@pytest.mark.data
@pytest.mark.browser
def test_a_crime_group_layer_switched_on_shows_its_cells_and_legend(built):
    """Each mapped group is a radio choice of the area's hotspot map (all crime at first);
    choosing another draws its Gi* cells and swaps the legend to its classes and scale."""
    browser_support.require_browser()
    out, _ = built
    with browser_support.open_page(out / "hotspots" / "hotspots_plymouth.html",
                                   wait_for=browser_support.FITTED) as session:  # fmt: skip
        page = session.page
        choices = page.locator(".leaflet-control-layers-base label").all_inner_texts()
        groups = [c.strip().rsplit(":", 1)[0] for c in choices]
        assert groups == list(psa_geo.load_crime_groups())  # every group is mapped in Plymouth
        before = page.evaluate(GI_FILLS)
        page.get_by_label(re.compile(r"^\s*Burglary: [\d,]+ events")).check()
        parts = browser_support.legend_parts(page)
        assert "Hot and cold spots: Burglary" in parts
        assert "Hot and cold spots: All crime (excl. ASB)" not in parts
        after = page.evaluate(GI_FILLS)
        assert after and after != before  # Burglary's own cells, not all crime's
        part = page.locator("#psa-legend .psa-legend-part", has_text="Hot and cold spots: Burglary")
        assert "Hot spot, 9" in part.inner_text() and "Cells of" in part.inner_text()
        assert session.errors == []


@pytest.mark.data
@pytest.mark.browser
def test_every_page_a_demo_build_adds_in_a_browser(demo_built):
    browser_support.require_browser()
    pages = sorted((demo_built / "demo").rglob("*.html"))
    seen = _check_site(demo_built, pages)
    assert {"demo/points/drug_litter_map.html", "demo/towns/penzance.html"} <= set(seen)
