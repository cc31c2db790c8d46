"""A search box on a map that finds a place by name and zooms to it.

The places are the boundaries' own names (CSPs, LADs, wards, towns, LSOAs), carried into the
page as JSON (:func:`psa_geo.map_text.script_json`); the page looks them up itself, so no
geocoding service and no network are needed. Names are shown with ``textContent``, never as
markup.
"""

from __future__ import annotations

from collections.abc import Iterable

import folium
import geopandas as gpd
from folium.template import Template

from .map_text import script_json

__all__ = ["PlaceSearch", "place_index"]


def place_index(frames: Iterable[tuple[str, gpd.GeoDataFrame]]) -> list[dict]:
    """``{"name", "kind", "bounds"}`` of every area of each ``(kind, frame)``: ``frame`` has
    ``area_name`` and polygons in any CRS; ``bounds`` are ``[[south, west], [north, east]]``
    in degrees (EPSG:4326)."""
    places = []
    for kind, frame in frames:
        if frame is None or frame.empty:
            continue
        bounds = frame.to_crs("EPSG:4326").bounds.round(5)
        for name, (west, south, east, north) in zip(
            frame["area_name"], bounds.itertuples(index=False), strict=True
        ):
            places.append(
                {"name": str(name), "kind": kind, "bounds": [[south, west], [north, east]]}
            )
    return places


class PlaceSearch(folium.MacroElement):
    """A "Find a place" box (top left): type a name, choose from the list or press Enter,
    and the map zooms to it; the result is announced in words. ``places`` come from
    :func:`place_index`."""

    _template = Template(
        "{% macro script(this, kwargs) %}"
        "(function () {"
        " var places = {{ this.places }};"
        " var map = {{ this._parent.get_name() }};"
        " var box = L.control({position: 'topleft'});"
        " box.onAdd = function () {"
        "  var form = L.DomUtil.create('form', 'psa-search');"
        "  form.setAttribute('role', 'search');"
        "  var label = L.DomUtil.create('label', '', form);"
        "  label.textContent = 'Find a place ';"
        "  var input = L.DomUtil.create('input', '', label);"
        "  input.type = 'search'; input.id = {{ this.input_id }};"
        "  input.setAttribute('list', {{ this.list_id }});"
        "  input.setAttribute('autocomplete', 'off');"
        "  var list = L.DomUtil.create('datalist', '', form); list.id = {{ this.list_id }};"
        "  places.forEach(function (p) {"
        "   var option = document.createElement('option');"
        "   option.value = p.name; option.textContent = p.kind; list.appendChild(option); });"
        "  var said = L.DomUtil.create('output', '', form);"
        "  said.setAttribute('aria-live', 'polite');"
        "  function find(text) {"
        "   var q = text.trim().toLowerCase(); if (!q) { return null; }"
        "   return places.find(function (p) { return p.name.toLowerCase() === q; }) ||"
        "    places.find(function (p) { return p.name.toLowerCase().indexOf(q) === 0; }) ||"
        "    places.find(function (p) { return p.name.toLowerCase().indexOf(q) >= 0; }); }"
        "  function go() {"
        "   var p = find(input.value);"
        "   if (!p) { said.textContent = 'No place called ' + input.value.trim(); return; }"
        "   map.fitBounds(p.bounds, {maxZoom: 15});"
        "   said.textContent = p.name + ' (' + p.kind + ')'; }"
        "  form.addEventListener('submit', function (e) { e.preventDefault(); go(); });"
        "  input.addEventListener('change', go);"
        "  L.DomEvent.disableClickPropagation(form); L.DomEvent.disableScrollPropagation(form);"
        "  return form; };"
        " box.addTo(map);"
        "})();"
        "{% endmacro %}"
    )

    def __init__(self, places: list[dict]) -> None:
        super().__init__()
        self._name = "PlaceSearch"
        self.places = script_json(places)
        self.input_id = script_json(f"psa-search-{self._id[:8]}")
        self.list_id = script_json(f"psa-places-{self._id[:8]}")
