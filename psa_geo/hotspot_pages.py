"""``hotspots/index.html``: the hotspot maps in the folder, rebuilt from the files present
whenever a command writes the folder (``build``, ``psa-geo hotspots``)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ._version import __version__
from .credits import HOME, credits
from .templating import template as load_template

INDEX = "index.html"


def hotspot_index_entries(folder: str | Path) -> list[dict]:
    """One entry per hotspot map (``hotspots_*.html``) in ``folder``, sorted by area: its
    ``<stem>.json`` beside it (:func:`psa_geo.write_hotspots`: the headline ``group`` and its
    ``hot_cells``, the ``groups`` mapped and those ``too_few`` to map), or for a map without
    one (an older psa-geo) the file name alone."""
    folder = Path(folder)
    entries = []
    for page in sorted(folder.glob("hotspots_*.html")):
        entry = {"area": page.stem.removeprefix("hotspots_"), "group": "", "period": "",
                 "place": None, "hot_cells": None, "cell_count": None, "groups": [],
                 "too_few": {}}  # fmt: skip
        try:
            found = json.loads(page.with_suffix(".json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            found = None
        if isinstance(found, dict):
            entry.update({k: v for k, v in found.items() if k in entry})
        gpkg, tif = page.with_suffix(".gpkg"), page.with_suffix(".tif")
        entries.append({**entry, "map": page.name, "cells": gpkg.name if gpkg.is_file() else None,
                        "raster": tif.name if tif.is_file() else None})  # fmt: skip
    return sorted(entries, key=lambda e: (str(e["area"]).casefold(), str(e["group"])))


def hotspots_index_html(entries: list[dict], *, home: str = HOME) -> str:
    """The index page of the hotspot maps ``entries`` (:func:`hotspot_index_entries`)."""
    places = [e["place"] for e in entries if e["place"]]
    return load_template("hotspots_index.html.j2").render(
        entries=entries,
        place=places[0] if places else None,
        headline=next((e["group"] for e in entries if e["group"]), None),
        home=home,
        attribution=credits("boundaries", "police_uk"),
        version=__version__,
    )


def write_hotspots_index(folder: str | Path, *, home: str = HOME) -> Path:
    """Rebuild ``folder/index.html`` from the hotspot maps present in ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / INDEX
    if os.path.lexists(path):
        path.unlink()  # never written through: it may be a link to the previous site's file
    path.write_text(hotspots_index_html(hotspot_index_entries(folder), home=home),
                    encoding="utf-8")  # fmt: skip
    return path
