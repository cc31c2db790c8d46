"""Offline headless-Chromium harness for tests of psa_geo's HTML pages.

The pages psa_geo writes carry their Leaflet inside them (:mod:`psa_geo.page_assets`), so
:func:`open_page` opens a page in Debian's Chromium through Playwright with the network refused,
as on a laptop with no connection:

* ``file:`` URLs (the page itself, and the pages and images it links to) pass through;
* every other request is aborted and recorded: tile-server URLs in ``.tiles``, any other URL
  in ``.unexpected``, so a test can assert that the page asked for nothing unforeseen.

Test files use it as::

    import browser_support

    @pytest.mark.browser
    def test_map(tmp_path):
        browser_support.require_browser()
        ...
        with browser_support.open_page(html_path) as session:
            assert session.page.locator("path.leaflet-interactive").count() == 3
            assert session.errors == []
            assert session.unexpected == []

This is a plain module (no fixtures): pytest puts ``tests/`` on ``sys.path``.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Dialog, Page, Request, Route

TESTS_DIR = Path(__file__).resolve().parent
ASSETS_DIR = TESTS_DIR / "browser"
NODE_MODULES = ASSETS_DIR / "node_modules"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
# How a refused request fails, and what Chromium then logs on the console.
REFUSED_AS = "internetdisconnected"
REFUSED = "Failed to load resource: net::ERR_INTERNET_DISCONNECTED"
INSTALL_HINT = "npm ci --prefix tests/browser --ignore-scripts"


# Hosts of tile servers: their requests are expected (and refused: the map has no basemap).
TILE_HOSTS = (
    "tile.openstreetmap.org",
    "basemaps.cartocdn.com",
    "tile.opentopomap.org",
    "server.arcgisonline.com",
    "tiles.stadiamaps.com",
)


def is_tile_url(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return any(host == h or host.endswith("." + h) for h in TILE_HOSTS)


def requirement_problem() -> str | None:
    """Why the browser tests cannot run on this machine, or None when they can."""
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        return f"no Chromium at {CHROMIUM} (apt-get install -y chromium)"
    if importlib.util.find_spec("playwright") is None:
        return "the Python package playwright is not importable (pip install playwright)"
    return None


def npm_problem(*packages: str) -> str | None:
    """Why the npm ``packages`` are not in ``tests/browser/node_modules``, or None."""
    missing = [p for p in packages if not (NODE_MODULES / p / "package.json").is_file()]
    if missing:
        return (
            f"npm packages missing from {NODE_MODULES}: {', '.join(missing)} (run: {INSTALL_HINT})"
        )
    return None


def require(problem: str | None) -> None:
    """Skip the calling test for ``problem``; fail it instead under CI (``CI`` == ``"true"``).

    CI installs everything the tests need (the data mirror, the browser, its assets), so a
    missing piece there is a broken build, not a reason to skip.
    """
    import pytest

    if problem is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"required under CI: {problem}", pytrace=False)
    pytest.skip(problem)


def require_browser() -> None:
    """Skip (or under CI fail) the calling test when the browser tests cannot run here."""
    require(requirement_problem())


@dataclass
class BrowserSession:
    """What :func:`open_page` yields: the page and what happened while it loaded and ran."""

    page: Page
    errors: list[str] = field(default_factory=list)
    """``pageerror`` messages and ``console`` messages of type error."""
    unexpected: list[str] = field(default_factory=list)
    """URLs other than ``file:`` and tiles that the page asked for (each refused)."""
    tiles: list[str] = field(default_factory=list)
    """Tile-server URLs the page asked for (each refused)."""
    dialogs: list[str] = field(default_factory=list)
    """Messages of alert/confirm/prompt dialogs the page opened (each is dismissed)."""


def _route_handler(session: BrowserSession) -> Callable[[Route, Request], None]:
    def handle(route: Route, request: Request) -> None:
        url = request.url
        if url.startswith("file:"):
            route.continue_()
            return
        (session.tiles if is_tile_url(url) else session.unexpected).append(url)
        route.abort(REFUSED_AS)

    return handle


@contextmanager
def launch_browser() -> Iterator[Browser]:
    """Headless Chromium, for :func:`open_page` to open several pages in one browser."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=list(CHROMIUM_ARGS)
        )
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def open_page(
    html_path: str | os.PathLike[str],
    *,
    viewport: tuple[int, int] = (1200, 800),
    wait_for: str = ".leaflet-container",
    browser: Browser | None = None,
) -> Iterator[BrowserSession]:
    """Open a saved HTML page in headless Chromium with every request but ``file:`` refused.

    Yields a :class:`BrowserSession` once the page has loaded and the ``wait_for`` element
    (by default the Leaflet map container) exists. The page gets a fresh context of
    ``browser`` (from :func:`launch_browser`), else a browser of its own, closed on exit.
    """
    if browser is None:
        with (
            launch_browser() as own,
            open_page(html_path, viewport=viewport, wait_for=wait_for, browser=own) as session,
        ):
            yield session
        return
    url = Path(html_path).resolve().as_uri()
    context = browser.new_context(
        viewport={"width": viewport[0], "height": viewport[1]},
        service_workers="block",
    )
    try:
        context.set_default_timeout(15_000)
        page = context.new_page()
        session = BrowserSession(page=page)

        def on_console(message: ConsoleMessage) -> None:
            # a request we refused is recorded in .tiles or .unexpected, not as an error
            if message.type == "error" and message.text != REFUSED:
                session.errors.append(f"console: {message.text}")

        def on_dialog(dialog: Dialog) -> None:
            session.dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("pageerror", lambda error: session.errors.append(f"pageerror: {error}"))
        page.on("console", on_console)
        page.on("dialog", on_dialog)
        page.route("**/*", _route_handler(session))
        page.goto(url, wait_until="load")
        page.wait_for_selector(wait_for, state="attached")
        yield session
    finally:
        context.close()


# Opens every tooltip and popup of the map's layers through Leaflet's own mouse handlers
# (mouseover, click; whatever lies on top) and returns what each showed.
SHOW_ALL_TEXT = """() => {
  const map = Object.keys(window).filter(k => k.startsWith('map_')).map(k => window[k])
      .find(v => v instanceof L.Map);
  map._fadeAnimated = false;  // closed tooltips and popups leave at once
  const shown = {tooltip: [], popup: [], markup: 0};
  const read = (selector, into) => {
    for (const el of document.querySelectorAll(selector)) {
      into.push(el.textContent);
      shown.markup += el.querySelectorAll('img, script, iframe, a').length;
    }
  };
  const leaves = [];
  map.eachLayer(l => { if (l.getLatLng || l.feature) leaves.push(l); });
  for (const l of leaves) {
    const at = l.getLatLng ? l.getLatLng() : l.getBounds().getCenter();
    l.fire('mouseover', {latlng: at}, true);
    read('.leaflet-tooltip', shown.tooltip);
    l.fire('mouseout', {latlng: at}, true);
    l.fire('click', {latlng: at}, true);
    read('.leaflet-popup-content', shown.popup);
    map.closePopup();
    l.fire('mouseout', {latlng: at}, true);  // a click opens the tooltip too
  }
  return shown;
}"""


def check_text_page(
    path: Path, *, tooltips=(), popups=(), hover=None, click=None, browser=None
) -> dict:
    """Open the map page ``path`` and check that hostile data text never runs: the map draws
    without errors, ``window.__pwned`` stays unset, no markup appears in a tooltip or popup,
    and every text of ``tooltips``/``popups`` shows literally in some tooltip/popup.
    ``hover``/``click`` is a selector for one real mouse check; ``browser`` as for
    :func:`open_page`. Returns what was shown."""
    source = path.read_text(encoding="utf-8")
    assert "</script><script>window" not in source and "<img src=x" not in source
    with open_page(path, browser=browser) as session:
        page = session.page
        page.wait_for_selector(".leaflet-interactive", state="attached")
        if hover:
            page.locator(hover).first.hover(force=True)
            page.locator(".leaflet-tooltip:not(.psa-label)").wait_for()
        if click:
            page.locator(click).first.click(force=True)
            page.locator(".leaflet-popup-content").wait_for()
            page.evaluate("() => Object.values(window).find(v => v instanceof L.Map).closePopup()")
        page.mouse.move(0, 0)  # the real pointer off the map before the handlers are driven
        shown = page.evaluate(SHOW_ALL_TEXT)
        page.wait_for_timeout(300)  # an injected <img onerror> would have fired by now
        assert page.evaluate("() => window.__pwned") is None
        assert session.errors == [] and session.dialogs == [] and session.unexpected == []
    assert shown["markup"] == 0
    for kind, texts in (("tooltip", tooltips), ("popup", popups)):
        for text in texts:
            assert any(text in seen for seen in shown[kind]), (kind, text, shown[kind][:3])
    return shown


# --- Panels: the share of the study area no control covers; the legend's parts shown ------

#: The map container once its first view is fitted (psa_geo.map_panels).
FITTED = ".leaflet-container[data-psa-fitted]"

# Samples a 40 x 40 grid over the study area's bounding box (``map.psaStudyBounds``, set by the
# page) as the map shows it, and returns the share of points that are on screen and under no
# Leaflet control (zoom, search, layers, legend, scale, attribution, links, notes).
_UNCOVERED_SHARE = """() => {
  const map = Object.keys(window).filter(k => k.startsWith('map_')).map(k => window[k])
      .find(v => v instanceof L.Map);
  const box = map.getContainer().getBoundingClientRect();
  const nw = map.latLngToContainerPoint(map.psaStudyBounds.getNorthWest());
  const se = map.latLngToContainerPoint(map.psaStudyBounds.getSouthEast());
  const covers = [...document.querySelectorAll('.leaflet-control')]
      .map(el => el.getBoundingClientRect()).filter(r => r.width > 0 && r.height > 0);
  const left = Math.max(box.left, 0), top = Math.max(box.top, 0);
  const right = Math.min(box.right, window.innerWidth);
  const bottom = Math.min(box.bottom, window.innerHeight);
  let free = 0;
  for (let i = 0; i < 40; i++) {
    for (let j = 0; j < 40; j++) {
      const x = box.left + nw.x + (se.x - nw.x) * (i + 0.5) / 40;
      const y = box.top + nw.y + (se.y - nw.y) * (j + 0.5) / 40;
      if (x < left || x > right || y < top || y > bottom) { continue; }
      if (covers.some(r => x >= r.left && x <= r.right && y >= r.top && y <= r.bottom)) {
        continue;
      }
      free += 1;
    }
  }
  return free / 1600;
}"""


def uncovered_share(target) -> float:
    """The share of the study area's bounding box that is on screen and under no control, in
    ``target`` (a Playwright page or frame holding one psa_geo map), once the map is fitted."""
    target.wait_for_selector(FITTED, state="attached")
    return target.evaluate(_UNCOVERED_SHARE)


def legend_parts(target) -> list[str]:
    """The headings of the legend parts tied to a layer that ``target`` shows now."""
    return target.evaluate(
        """() => [...document.querySelectorAll('#psa-legend .psa-legend-part[data-psa-part]')]
            .filter(el => !el.hidden).map(el => el.querySelector('strong').textContent)"""
    )
