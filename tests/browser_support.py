"""Offline headless-Chromium harness for tests of folium HTML pages.

A saved folium page loads Leaflet, jQuery, Bootstrap, Font Awesome and plugins from CDNs, and
map tiles from tile servers. None of those hosts is reachable here, so :func:`open_page` opens the
page in Debian's Chromium through Playwright and answers every request itself:

* ``file:`` URLs (the page itself) pass through;
* CDN addresses listed in :data:`CDN_ROUTES` are answered from the npm packages pinned in
  ``tests/browser/package.json`` (installed by ``npm ci --prefix tests/browser``), or from
  :data:`GENERATED_ASSETS` for the one stylesheet no npm package carries;
* everything else gets an empty 204 and is recorded: tile-server URLs in ``.tiles``, any other
  URL in ``.unexpected``, so a test can assert that the page asked for nothing unforeseen.

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
from urllib.parse import unquote, urlsplit

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
INSTALL_HINT = "npm ci --prefix tests/browser --ignore-scripts"


@dataclass(frozen=True)
class CdnRoute:
    """One CDN address (or address prefix) and where its file lies under ``node_modules``.

    A ``url`` ending in ``/`` is a directory prefix: the rest of the requested path is looked up
    under ``node_modules/<package>/<target>`` (which then also ends in ``/``). Otherwise the URL
    must match exactly and ``target`` is a file. Query strings and fragments are ignored.
    """

    url: str
    package: str
    target: str


# The addresses folium 0.20 writes into a saved page (folium/folium.py, folium/map.py,
# folium/plugins/marker_cluster.py), plus the files their stylesheets pull in by relative URL
# (Leaflet's images/, Font Awesome's webfonts/, Awesome-Markers' images/, glyphicon fonts).
# Keep in step with tests/browser/package.json.
CDN_ROUTES: tuple[CdnRoute, ...] = (
    # leaflet.js, leaflet.css, images/{layers,marker-icon,marker-shadow}*.png
    CdnRoute("https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/", "leaflet", "dist/"),
    CdnRoute("https://code.jquery.com/jquery-3.7.1.min.js", "jquery", "dist/jquery.min.js"),
    # js/bootstrap.bundle.min.js, css/bootstrap.min.css
    CdnRoute("https://cdn.jsdelivr.net/npm/bootstrap@5.2.2/dist/", "bootstrap", "dist/"),
    # css/all.min.css and the ../webfonts/fa-*.woff2|ttf it references
    CdnRoute(
        "https://cdn.jsdelivr.net/npm/@fortawesome/fontawesome-free@6.2.0/css/",
        "@fortawesome/fontawesome-free",
        "css/",
    ),
    CdnRoute(
        "https://cdn.jsdelivr.net/npm/@fortawesome/fontawesome-free@6.2.0/webfonts/",
        "@fortawesome/fontawesome-free",
        "webfonts/",
    ),
    # leaflet.awesome-markers.{js,css} and images/markers-{soft,shadow}*.png. npm has no 2.0.2;
    # 2.0.5's JS is byte-identical to 2.0.2's, its CSS adds square markers to a taller sprite.
    CdnRoute(
        "https://cdnjs.cloudflare.com/ajax/libs/Leaflet.awesome-markers/2.0.2/",
        "leaflet.awesome-markers",
        "dist/",
    ),
    # leaflet.markercluster.js, MarkerCluster.css, MarkerCluster.Default.css
    CdnRoute(
        "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/",
        "leaflet.markercluster",
        "dist/",
    ),
    # Bootstrap 3 glyphicons only (npm has no bootstrap 3.0.0; this is the 3.3.7 glyphicon set)
    CdnRoute(
        "https://netdna.bootstrapcdn.com/bootstrap/3.0.0/css/bootstrap-glyphicons.css",
        "glyphicons-only-bootstrap",
        "css/bootstrap.min.css",
    ),
    CdnRoute(
        "https://netdna.bootstrapcdn.com/bootstrap/3.0.0/fonts/",
        "glyphicons-only-bootstrap",
        "fonts/",
    ),
)


def _awesome_rotate_css() -> bytes:
    # Equivalent of folium's own leaflet.awesome.rotate.min.css (on no npm package, not in the
    # folium wheel): one rule per whole degree, used by Marker icons with angle=N.
    rules = (
        f".fa-rotate-{n}{{-ms-transform:rotate({n}deg);-webkit-transform:rotate({n}deg);"
        f"transform:rotate({n}deg)}}"
        for n in range(1, 361)
    )
    return "\n".join(rules).encode()


GENERATED_ASSETS: dict[str, Callable[[], bytes]] = {
    "https://cdn.jsdelivr.net/gh/python-visualization/folium/folium/templates/"
    "leaflet.awesome.rotate.min.css": _awesome_rotate_css,
}

# Hosts of tile servers: their requests are expected and answered 204 (the map has no basemap).
TILE_HOSTS = (
    "tile.openstreetmap.org",
    "basemaps.cartocdn.com",
    "tile.opentopomap.org",
    "server.arcgisonline.com",
    "tiles.stadiamaps.com",
)

_CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".map": "application/json",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".ttf": "font/ttf",
    ".eot": "application/vnd.ms-fontobject",
}


def _strip(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def cdn_file(url: str) -> Path | None:
    """The file under ``node_modules`` that answers a CDN ``url``, or None if no route matches.

    The path is returned whether or not the file exists (a missing file means the npm install is
    incomplete or a route is wrong); paths never leave the package's directory.
    """
    bare = _strip(url)
    for route in CDN_ROUTES:
        package_dir = NODE_MODULES / route.package
        if route.url.endswith("/"):
            if not bare.startswith(route.url):
                continue
            rest = unquote(bare[len(route.url) :])
            parts = rest.split("/")
            if not rest or any(p in ("", ".", "..") for p in parts):
                return None
            return package_dir / route.target / Path(*parts)
        if bare == route.url:
            return package_dir / route.target
    return None


def is_tile_url(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return any(host == h or host.endswith("." + h) for h in TILE_HOSTS)


def requirement_problem() -> str | None:
    """Why the browser tests cannot run on this machine, or None when they can."""
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        return f"no Chromium at {CHROMIUM} (apt-get install -y chromium)"
    if importlib.util.find_spec("playwright") is None:
        return "the Python package playwright is not importable (pip install playwright)"
    if not NODE_MODULES.is_dir():
        return f"{NODE_MODULES} is missing (run: {INSTALL_HINT})"
    missing = sorted(
        {r.package for r in CDN_ROUTES if not (NODE_MODULES / r.package / "package.json").is_file()}
    )
    if missing:
        names = ", ".join(missing)
        return f"npm packages missing from {NODE_MODULES}: {names} (run: {INSTALL_HINT})"
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
    """URLs answered with an empty 204 that are neither CDN assets nor tiles."""
    tiles: list[str] = field(default_factory=list)
    """Tile-server URLs (answered with an empty 204)."""
    served: list[str] = field(default_factory=list)
    """CDN URLs answered locally (from node_modules, or GENERATED_ASSETS)."""
    dialogs: list[str] = field(default_factory=list)
    """Messages of alert/confirm/prompt dialogs the page opened (each is dismissed)."""


def _route_handler(session: BrowserSession) -> Callable[[Route, Request], None]:
    def handle(route: Route, request: Request) -> None:
        url = request.url
        if url.startswith("file:"):
            route.continue_()
            return
        body: bytes | None = None
        suffix = Path(urlsplit(url).path).suffix
        generate = GENERATED_ASSETS.get(_strip(url))
        if generate is not None:
            body = generate()
        else:
            path = cdn_file(url)
            if path is not None and path.is_file():
                body = path.read_bytes()
                suffix = path.suffix
        if body is not None:
            session.served.append(url)
            route.fulfill(
                status=200,
                body=body,
                headers={
                    "Content-Type": _CONTENT_TYPES.get(suffix, "application/octet-stream"),
                    # the page is a file: URL (origin "null"); fonts are fetched in CORS mode
                    "Access-Control-Allow-Origin": "*",
                },
            )
            return
        (session.tiles if is_tile_url(url) else session.unexpected).append(url)
        route.fulfill(status=204, body=b"", headers={"Access-Control-Allow-Origin": "*"})

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
    """Open a saved HTML page in headless Chromium with every request answered offline.

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
            if message.type == "error":
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
        page.wait_for_selector(".leaflet-interactive")
        if hover:
            page.locator(hover).first.hover(force=True)
            page.locator(".leaflet-tooltip").wait_for()
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
