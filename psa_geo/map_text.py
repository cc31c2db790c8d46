"""The one way data text reaches a map: tooltips and popups that show it as text.

folium 0.20's ``Tooltip`` and ``Popup`` write their text into a JavaScript template literal,
where ``html.escape`` does not stop ``${...}`` (nor, for ``Tooltip``, a backtick): text from
the data could run as code in a partner's browser; a ``DivIcon``'s ``html`` is markup. So no
module but this one uses them. Text from the data reaches a page in one of two ways only:

* as GeoJSON properties shown by a ``GeoJsonTooltip`` (:func:`geojson_layer`): folium embeds
  the GeoJSON as JSON (``<``, ``>``, ``&``, ``'`` escaped; non-ASCII as ``\\uXXXX``) and the
  tooltip inserts each value as HTML, so the shown values are HTML-escaped here;
* as JSON (:func:`script_json`) read by a small binder of our own (:func:`tooltip`,
  :func:`popup`) that calls Leaflet's ``bindTooltip`` / ``bindPopup`` with HTML-escaped text.

:func:`popup_html` makes the escaped HTML of a popup (also for layers that bind their popups
from JSON rows, e.g. the clustered collision map); :func:`script_json` is what any code of
ours that writes JSON into a page must use.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping
from typing import Any

import folium
import numpy as np
from folium.template import Template

__all__ = [
    "geojson_layer",
    "html_element",
    "label",
    "number_icon",
    "popup",
    "popup_html",
    "script_json",
    "symbol_icon",
    "tooltip",
]

# Characters that end a <script> element or an HTML comment, start an entity, or end a
# JavaScript line (U+2028/2029 are line terminators in older engines), as JSON escapes.
_SCRIPT_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "'": "\\u0027",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


def script_json(value: Any) -> str:
    """``value`` as JSON text that is safe inside a ``<script>`` element and in JavaScript.

    ``<``, ``>``, ``&``, ``'``, U+2028 and U+2029 are written as ``\\uXXXX`` escapes, so no
    text can close the element (``</script>``), open a comment or break a line; the result
    is still valid JSON that means the same value. NaN and infinities are refused
    (``ValueError``): they are not JSON.
    """
    text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    for char, escape in _SCRIPT_ESCAPES.items():
        text = text.replace(char, escape)
    return text


def _shown(value: Any) -> Any:
    """A property value as a ``GeoJsonTooltip`` may show it: text HTML-escaped, numbers kept."""
    if value is None or isinstance(value, bool | int | float):
        return value
    return html.escape(str(value))


def popup_html(heading: str, lines: Iterable[str] = (), *, note: str | None = None) -> str:
    """The HTML of a popup: ``heading`` in bold, then ``note`` in italics, then each line.

    Every piece is text, HTML-escaped here; the only markup is ours (``<b>``, ``<i>``,
    ``<br>``).
    """
    parts = [f"<b>{html.escape(str(heading))}</b>"]
    if note is not None:
        parts.append(f"<i>{html.escape(str(note))}</i>")
    parts += [html.escape(str(line)) for line in lines]
    return "<br>".join(parts)


class _Binder(folium.MacroElement):
    """Calls ``bindTooltip`` / ``bindPopup`` on its parent layer with escaped HTML carried as
    JSON (never in a template literal)."""

    _template = Template(
        "{% macro script(this, kwargs) %}"
        "{{ this._parent.get_name() }}.{{ this.method }}({{ this.content }}, {{ this.options }});"
        "{% endmacro %}"
    )

    def __init__(self, method: str, content_html: str, options: dict) -> None:
        super().__init__()
        self._name = "DataText"
        self.method = method
        self.content = script_json(content_html)
        self.options = script_json(options)


def tooltip(text: str, *, sticky: bool = True) -> folium.MacroElement:
    """A tooltip showing ``text`` literally; add it to a marker or path with ``add_child``.

    >>> folium.CircleMarker([50.4, -4.1]).add_child(tooltip("#1: On or near High Street"))
    """
    return _Binder("bindTooltip", html.escape(str(text)), {"sticky": bool(sticky)})


class _Label(folium.MacroElement):
    """A standalone tooltip always shown at a place, its HTML-escaped text carried as JSON."""

    _template = Template(
        "{% macro script(this, kwargs) %}"
        "L.tooltip({{ this.options }}).setLatLng({{ this.location }})"
        ".setContent({{ this.content }}).addTo({{ this._parent.get_name() }});"
        "{% endmacro %}"
    )

    def __init__(self, content_html: str, location: tuple[float, float]) -> None:
        super().__init__()
        self._name = "Label"
        self.content = script_json(content_html)
        self.location = script_json([float(location[0]), float(location[1])])
        self.options = script_json(
            {"permanent": True, "direction": "center", "className": "psa-label"}
        )


class _Markup(folium.Element):
    """HTML put into a page as it is. folium reads a plain ``Element``'s text as a Jinja
    template, so ``{{ ... }}`` in a name from the data would run when the page is written."""

    _template = Template("{{ this.markup }}")

    def __init__(self, markup: str) -> None:
        super().__init__()
        self.markup = markup


def html_element(markup: str) -> folium.Element:
    """``markup`` (HTML made with escaped text, or constant) as an element of a page's
    header or body, written literally, never read as a template; the only way psa_geo adds
    its own HTML (titles, legends, CSS) to a map page."""
    return _Markup(markup)


def label(text: str, location: tuple[float, float]) -> folium.MacroElement:
    """A name always shown, centred on ``location`` (lat, lon), so that the map reads without
    its background; ``text`` is shown literally. Add it to a map or layer group."""
    return _Label(html.escape(str(text)), location)


def popup(
    heading: str,
    lines: Iterable[str] = (),
    *,
    note: str | None = None,
    max_width: int = 300,
) -> folium.MacroElement:
    """A popup (:func:`popup_html`: bold ``heading``, italic ``note``, one line each) showing
    every piece literally; add it to a marker or path with ``add_child``."""
    content = popup_html(heading, lines, note=note)
    return _Binder("bindPopup", content, {"maxWidth": int(max_width)})


def geojson_layer(
    data: dict, *, tooltip: Mapping[str, str] | None = None, sticky: bool = True, **kwargs: Any
) -> folium.GeoJson:
    """A ``folium.GeoJson`` of ``data`` whose tooltip lists the properties named in
    ``tooltip`` (property -> label), each shown literally.

    The shown properties and the labels are HTML-escaped here (on a copy of ``data``): pass
    them unescaped. Other properties (e.g. colours read by ``style_function``) are left as they
    are. ``kwargs`` go to ``folium.GeoJson``.
    """
    if tooltip:
        fields = list(tooltip)
        data = {
            **data,
            "features": [
                {
                    **feature,
                    "properties": {
                        key: _shown(value) if key in tooltip else value
                        for key, value in (feature.get("properties") or {}).items()
                    },
                }
                for feature in data.get("features", [])
            ],
        }
        kwargs["tooltip"] = folium.GeoJsonTooltip(
            fields=fields,
            aliases=[html.escape(str(label)) for label in tooltip.values()],
            sticky=sticky,
        )
    return folium.GeoJson(data, **kwargs)


def symbol_icon(markup: str, *, size: int) -> folium.DivIcon:
    """A marker icon drawn by ``markup``: a constant of the code (a coloured box), never
    text from the data (a ``DivIcon``'s HTML is shown as markup). The guard in
    tests/test_map_text.py checks that callers pass a named constant."""
    return folium.DivIcon(html=markup, icon_size=(size, size), icon_anchor=(size // 2, size // 2))


def number_icon(number: int) -> folium.DivIcon:
    """A round black marker showing ``number`` (a rank: an integer, never text)."""
    if isinstance(number, bool) or not isinstance(number, int | np.integer):
        raise ValueError(f"'number' should be an integer, got {number!r}")
    return folium.DivIcon(
        html=f'<span class="psa-number">{int(number)}</span>',
        icon_size=(22, 22),
        icon_anchor=(11, 11),
        class_name="psa-number-icon",
    )
