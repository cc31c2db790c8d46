"""Make the README's screenshots from a built site, offline, at desktop and phone size.

    .venv/bin/psa-geo build --out maps && .venv/bin/python docs/screenshots.py maps

Writes ``docs/<view>_desktop.png`` (1366 x 768) and ``docs/<view>_phone.png`` (390 x 844) for
the Peninsula map, the Plymouth hotspot map, the Penzance town profile and the index's overview
grid. Pages are opened as the browser tests open them: every request but ``file:`` refused, so
the maps show their offline note and no background tiles.
"""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent / "tests"))

import browser_support  # noqa: E402  (the tests' offline Chromium harness)

SIZES = {"desktop": (1366, 768), "phone": (390, 844)}
# view -> (page, element to wait for, element to shoot or None for the viewport)
VIEWS = {
    "peninsula_map": ("peninsula_map.html", browser_support.FITTED, None),
    "hotspot_map": ("hotspots/hotspots_plymouth.html",
                    browser_support.FITTED, None),
    "town_profile": ("towns/penzance.html", "h1", None),
    "overview_grid": ("index.html", "#overview", "section.overview"),
}  # fmt: skip


def main(site: Path) -> None:
    with browser_support.launch_browser() as browser:
        for view, (page_path, wait, element) in VIEWS.items():
            for size, viewport in SIZES.items():
                out = DOCS / f"{view}_{size}.png"
                with browser_support.open_page(
                    site / page_path, viewport=viewport, browser=browser, wait_for=wait
                ) as session:
                    session.page.wait_for_timeout(500)  # the offline note and the labels
                    if element:
                        session.page.locator(element).screenshot(path=str(out))
                    else:
                        session.page.screenshot(path=str(out))
                print(out.relative_to(DOCS.parent))


if __name__ == "__main__":
    if len(sys.argv) != 2 or not (Path(sys.argv[1]) / "index.html").is_file():
        sys.exit("usage: python docs/screenshots.py SITE_FOLDER (a built site, e.g. maps)")
    main(Path(sys.argv[1]))
