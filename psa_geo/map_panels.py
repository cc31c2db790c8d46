"""The panels of every psa_geo map, placed so that the map itself stays visible.

A map gets its title, a legend, the layer control, a one-line attribution and its first view
from :func:`finish_map`:

* the legend is a collapsible panel (bottom left) that shows only the
  sections of the layers that are on, updated as layers are switched; the full credits are
  at its foot, and the attribution line links to them;
* on a small screen or frame (under 700 × 560 px) the legend starts closed and the layer
  control collapsed to its button;
* the first view fits the study area into the largest part of the map that no panel covers
  (the page works this out from the panels' rendered sizes, so it holds in a phone, a desktop
  and the profile page's frame).

Legends are built from :class:`LegendSection` rows whose symbols come from the swatch
functions here (:func:`box`, :func:`circle`, :func:`ring`, :func:`line`, :func:`numbered`),
never from data text; the texts are escaped here.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass

import folium
import geopandas as gpd
from folium.template import Template

from .map_text import html_element, script_json

__all__ = [
    "LegendSection",
    "Swatch",
    "base_map",
    "box",
    "circle",
    "finish_map",
    "line",
    "numbered",
    "pie",
    "ring",
]

TILE_ATTRIBUTION = (
    '© <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
)
BASE_LAYER = "Background map (OpenStreetMap)"
#: Below this width or height (px) of the map, the legend starts closed and the layer
#: control collapsed.
SMALL = (700, 560)

_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")


@dataclass(frozen=True)
class Swatch:
    """A legend symbol: markup made here from checked colours and numbers only."""

    markup: str


def _colour(value: str) -> str:
    if not isinstance(value, str) or not _COLOUR.fullmatch(value):
        raise ValueError(f"a colour should be '#rrggbb', got {value!r}")
    return value


def box(colour: str, *, border: str = "#555555", dashed: bool = False) -> Swatch:
    """A filled square (an area's colour); ``dashed`` draws its border dashed."""
    style = "dashed" if dashed else "solid"
    return Swatch(
        f'<span class="swatch" style="background:{_colour(colour)};'
        f'border:2px {style} {_colour(border)}"></span>'
    )


def circle(colour: str, radius: int = 6, *, stroke: str = "#333333") -> Swatch:
    """A filled circle (a point's marker) of ``radius`` px."""
    r = int(radius)
    size = 2 * r + 4
    return Swatch(
        f'<svg width="{size}" height="{size}" aria-hidden="true"><circle cx="{r + 2}" '
        f'cy="{r + 2}" r="{r}" fill="{_colour(colour)}" stroke="{_colour(stroke)}"/></svg>'
    )


def ring(colour: str, *, dashed: bool = True) -> Swatch:
    """An open circle, dashed by default (a flag around a marker)."""
    dash = ' stroke-dasharray="4 3"' if dashed else ""
    return Swatch(
        '<svg width="22" height="22" aria-hidden="true"><circle cx="11" cy="11" r="8" '
        f'fill="none" stroke="{_colour(colour)}" stroke-width="3"{dash}/></svg>'
    )


def line(colour: str, *, width: int = 6) -> Swatch:
    """A short thick line (a road link's colour)."""
    return Swatch(
        f'<svg width="24" height="14" aria-hidden="true"><line x1="1" y1="7" x2="23" y2="7" '
        f'stroke="{_colour(colour)}" stroke-width="{int(width)}"/></svg>'
    )


def pie(colours: Sequence[str], number: int) -> Swatch:
    """A cluster's symbol: ``number`` in a ring of ``colours`` in equal shares."""
    share = 100 / len(colours)
    stops = ", ".join(
        f"{_colour(c)} {i * share:g}% {(i + 1) * share:g}%" for i, c in enumerate(colours)
    )
    return Swatch(
        f'<span class="psa-pie" style="background:conic-gradient({stops})">'
        f"<span>{int(number)}</span></span>"
    )


def numbered(number: int) -> Swatch:
    """The numbered marker of a ranked place (see :func:`psa_geo.map_text.number_icon`)."""
    return Swatch(f'<span class="psa-number">{int(number)}</span>')


@dataclass(frozen=True)
class LegendSection:
    """One part of a legend: a heading, rows of a swatch and texts, and a note.

    ``layer`` is the map layer the part describes, or a list of them: the part shows only
    while it (one of them) is on (``None``: always). ``columns`` are headings for the rows'
    cells (the swatch's first).
    """

    heading: str
    rows: Sequence[tuple] = ()
    layer: folium.map.Layer | Sequence[folium.map.Layer] | None = None
    columns: Sequence[str] = ()
    note: str = ""

    def html(self, index: int) -> str:
        attrs = f' data-psa-part="{index}"' if self.layer is not None else ""
        parts = [f'<section class="psa-legend-part"{attrs}>']
        parts.append(f"<strong>{html.escape(self.heading)}</strong>")
        if self.rows:
            parts.append("<table>")
            if self.columns:
                heads = "".join(f'<th scope="col">{html.escape(c)}</th>' for c in self.columns)
                parts.append(f"<thead><tr>{heads}</tr></thead>")
            parts.append("<tbody>")
            for swatch, *texts in self.rows:
                if not isinstance(swatch, Swatch):
                    raise ValueError("a legend row should start with a Swatch (box, circle, ...)")
                cells = "".join(f"<td>{html.escape(str(t))}</td>" for t in texts)
                parts.append(f"<tr><td>{swatch.markup}</td>{cells}</tr>")
            parts.append("</tbody></table>")
        if self.note:
            parts.append(f"<small>{html.escape(self.note)}</small>")
        parts.append("</section>")
        return "".join(parts)


def base_map() -> folium.Map:
    """An empty map with the OpenStreetMap background (a layer that can be switched off) and
    quarter-step zoom (so the first view can fill its space); :func:`finish_map` adds the
    scale bar."""
    m = folium.Map(tiles=None, zoom_snap=0.25, zoom_delta=1)
    folium.TileLayer("OpenStreetMap", name=BASE_LAYER, attr=TILE_ATTRIBUTION, overlay=True).add_to(
        m
    )  # a checkbox: the map reads without it
    return m


_PANELS = Template(
    """{% macro script(this, kwargs) %}
(function () {
    var map = {{ this._parent.get_name() }};
    var box = map.getContainer();
    var small = box.clientWidth < {{ this.small[0] }} || box.clientHeight < {{ this.small[1] }};
    var layers = L.control.layers(
        { {%- for key, val in this.base_layers.items() %}{{ key|tojson }}: {{ val }},{% endfor %} },
        { {%- for key, val in this.overlays.items() %}{{ key|tojson }}: {{ val }},{% endfor %} },
        {position: "topright", collapsed: small}
    ).addTo(map);
    var legend = document.getElementById("psa-legend");
    var panel = L.control({position: "bottomleft"});
    panel.onAdd = function () {
        L.DomEvent.disableClickPropagation(legend);
        L.DomEvent.disableScrollPropagation(legend);
        return legend;
    };
    panel.addTo(map);
    legend.open = !small;
    var parts = [{% for group in this.part_layers %}[
        {%- for layer in group %}{{ layer.get_name() }},{% endfor %}],{% endfor %}];
    function follow() {
        var shown = legend.querySelectorAll(".psa-legend-part:not([data-psa-part])").length;
        legend.querySelectorAll("[data-psa-part]").forEach(function (el) {
            var group = parts[Number(el.getAttribute("data-psa-part"))];
            el.hidden = !group.some(function (layer) { return map.hasLayer(layer); });
            shown += el.hidden ? 0 : 1;
        });
        legend.querySelector(".psa-legend-none").hidden = shown > 0;
    }
    map.on("overlayadd overlayremove baselayerchange", follow);
    follow();
    L.control.scale({position: "bottomright"}).addTo(map);
    map.attributionControl.setPrefix(small ?  // one line, even on a phone
        '<a href="#psa-credits" class="psa-credits-link">Sources</a>' :
        '<a href="#psa-credits" class="psa-credits-link">Sources and licences</a> | ' +
        '<a href="https://leafletjs.com">Leaflet</a>');
    box.addEventListener("click", function (e) {
        if (!e.target.closest || !e.target.closest(".psa-credits-link")) { return; }
        e.preventDefault();
        legend.open = true;
        var credits = document.getElementById("psa-credits");
        credits.open = true;
        credits.scrollIntoView({block: "nearest"});
    });
    var study = L.latLngBounds({{ this.bounds }});
    map.psaStudyBounds = study;
    // The largest rectangle of the map that no panel covers: each panel is cleared either
    // above/below (by its half of the map) or left/right; every choice is tried.
    var rect = box.getBoundingClientRect(), W = rect.width, H = rect.height, panels = [];
    map.invalidateSize();  // the panels have left the page's flow
    document.querySelectorAll(".leaflet-control").forEach(function (el) {
        var r = el.getBoundingClientRect();
        var x0 = Math.max(r.left - rect.left, 0), y0 = Math.max(r.top - rect.top, 0);
        var x1 = Math.min(r.right - rect.left, W), y1 = Math.min(r.bottom - rect.top, H);
        if (x1 > x0 && y1 > y0) { panels.push([x0, y0, x1, y1]); }
    });
    panels = panels.slice(0, 14);
    var nw = map.project(study.getNorthWest(), 0), se = map.project(study.getSouthEast(), 0);
    var bw = Math.max(se.x - nw.x, 1e-9), bh = Math.max(se.y - nw.y, 1e-9), gap = 6;
    var best = {scale: -1, pad: [0, 0, 0, 0]};
    for (var mask = 0; mask < (1 << panels.length); mask++) {
        var pad = [0, 0, 0, 0];  // top, right, bottom, left
        panels.forEach(function (p, i) {
            if (mask & (1 << i)) {
                if (p[1] + p[3] < H) { pad[0] = Math.max(pad[0], p[3]); }
                else { pad[2] = Math.max(pad[2], H - p[1]); }
            } else if (p[0] + p[2] < W) { pad[3] = Math.max(pad[3], p[2]); }
            else { pad[1] = Math.max(pad[1], W - p[0]); }
        });
        var w = W - pad[1] - pad[3] - 2 * gap, h = H - pad[0] - pad[2] - 2 * gap;
        var scale = Math.min(w / bw, h / bh);
        if (w > 0 && h > 0 && scale > best.scale) { best = {scale: scale, pad: pad}; }
    }
    var p = best.pad.map(function (v) { return v + gap; });
    function fit() {
        map.fitBounds(study, {paddingTopLeft: [p[3], p[0]], paddingBottomRight: [p[1], p[2]],
                              animate: false});
    }
    fit();
    // Names written on the map reach past the area's edge by half their width: make room.
    var more = [0, 0, 0, 0];
    document.querySelectorAll(".psa-label").forEach(function (el) {
        var r = el.getBoundingClientRect();
        more = [Math.max(more[0], p[0] - (r.top - rect.top)),
                Math.max(more[1], (r.right - rect.left) - (W - p[1])),
                Math.max(more[2], (r.bottom - rect.top) - (H - p[2])),
                Math.max(more[3], p[3] - (r.left - rect.left))];
    });
    if (more.some(function (v) { return v > 0; })) {
        p = p.map(function (v, i) { return v + more[i]; });
        fit();
    }
    box.setAttribute("data-psa-fitted", "");
})();
{% endmacro %}"""
)


class _Panels(folium.LayerControl):
    """The layer control, the legend's behaviour, the credits link and the first view; it
    collects the map's layers when the page is written (as folium's ``LayerControl``) and
    is written last (:mod:`psa_geo.page_assets` keeps it after every other part)."""

    _template = _PANELS
    psa_last = True

    def render(self, **kwargs) -> None:
        """As ``LayerControl.render``, with each layer's name HTML-escaped (Leaflet shows it
        as markup)."""
        self.reset()
        for item in self._parent._children.values():
            if isinstance(item, folium.map.Layer) and item.control:
                into = self.overlays if item.overlay else self.base_layers
                into[html.escape(item.layer_name)] = item.get_name()
        folium.MacroElement.render(self, **kwargs)

    def __init__(self, bounds: list[list[float]], part_layers: list) -> None:
        super().__init__(collapsed=False)
        self._name = "Panels"
        self.bounds = script_json(bounds)
        self.part_layers = part_layers
        self.small = SMALL


def study_bounds(area: gpd.GeoDataFrame | gpd.GeoSeries) -> list[list[float]]:
    """``[[south, west], [north, east]]`` in degrees of ``area`` (any CRS)."""
    if area.crs is None:
        raise ValueError("the study area has no CRS; set it with set_crs() first")
    west, south, east, north = area.to_crs("EPSG:4326").total_bounds
    return [[round(float(south), 5), round(float(west), 5)],
            [round(float(north), 5), round(float(east), 5)]]  # fmt: skip


def finish_map(
    m: folium.Map,
    *,
    title: str,
    study_area: gpd.GeoDataFrame | gpd.GeoSeries,
    legend: Sequence[LegendSection],
    credit: str,
) -> folium.Map:
    """Give ``m`` its title, legend, layer control, credits and first view (see the module's
    description); returns ``m``.

    Parameters
    ----------
    title
        Shown at the top and as the page's ``<title>``; escaped.
    study_area
        What the first view shows in full (any CRS).
    legend
        The legend's parts, in order; a part with a ``layer`` shows while it is on.
    credit
        The full credit text of the sources the map uses (:func:`psa_geo.credits.credits`);
        escaped, shown at the legend's foot.
    """
    if any(isinstance(c, folium.LayerControl) for c in m._children.values()):
        raise ValueError("the map already has a layer control; finish_map adds its own")
    layers, parts = [], []
    for section in legend:  # a part with a layer is numbered by its place in `layers`
        parts.append(section.html(len(layers)))
        if section.layer is not None:
            one = isinstance(section.layer, folium.map.Layer)
            layers.append([section.layer] if one else list(section.layer))
    root = m.get_root()
    root.title = title  # the page's <title>
    root.header.add_child(html_element(_CSS), name="map_panels_css")
    root.html.add_child(html_element(f'<h1 class="psa-title">{html.escape(title)}</h1>'))
    root.html.add_child(
        html_element(
            '<details id="psa-legend" class="psa-legend" open>'
            '<summary>Legend</summary><div class="psa-legend-body">'
            f"{''.join(parts)}"
            '<p class="psa-legend-none" hidden>No layer with a key is on: switch one on with '
            "the layer button.</p>"
            '<details id="psa-credits"><summary>Sources and licences</summary>'
            f"<p>{html.escape(credit)}</p><p>Background map {TILE_ATTRIBUTION}.</p></details>"
            "</div></details>"
        )
    )
    m.add_child(_Panels(study_bounds(study_area), layers), name="psa_panels")
    return m


_CSS = """<style>
.psa-legend{background:#fff;padding:6px 10px;border:2px solid rgba(0,0,0,.25);border-radius:4px;
 font:13px/1.35 system-ui,sans-serif;max-width:320px;max-height:calc(100vh - 150px);overflow:auto}
.psa-legend>summary{cursor:pointer;font-weight:600}
.psa-legend:not([open]){padding:3px 8px}
.psa-legend-part{margin-top:6px}
.psa-legend table{border-collapse:collapse;margin-top:2px}
.psa-legend td,.psa-legend th{padding:1px 6px;text-align:left;font-weight:normal;
 vertical-align:middle}
.psa-legend th{font-size:11px;color:#444}
.psa-legend small{display:block;color:#333}
.psa-legend .swatch{display:inline-block;width:16px;height:11px;box-sizing:content-box}
.psa-legend details{margin-top:6px}
.psa-number{display:inline-block;min-width:18px;height:18px;border-radius:9px;background:#000;
 color:#fff;border:2px solid #fff;box-shadow:0 0 0 1px #000;font:700 11px/18px system-ui,sans-serif;
 text-align:center}
.psa-pie,.psa-cluster div{display:inline-flex;align-items:center;justify-content:center;
 width:26px;height:26px;border-radius:50%}
.psa-cluster div{width:100%;height:100%}
.psa-pie span,.psa-cluster span{display:inline-block;min-width:18px;height:18px;padding:0 2px;
 border-radius:9px;background:#fff;color:#000;font:700 11px/18px system-ui,sans-serif;
 text-align:center}
.psa-cluster{background:none}
.psa-number-icon{background:none;border:0}
.psa-label{background:rgba(255,255,255,.8);border:0;box-shadow:none;padding:0 3px;
 font:600 12px/1.3 system-ui,sans-serif;color:#000}
body{display:flex;flex-direction:column}
.psa-title{order:0;flex:0 0 auto;margin:0;padding:5px 10px;background:#fff;
 border-bottom:1px solid #777;font:600 15px/1.3 system-ui,sans-serif}
body>.folium-map{order:1;flex:1 1 auto;min-height:0}
body>.psa-legend,body>.psa-offline{display:none}
.leaflet-bottom.leaflet-left{margin-bottom:18px}
.leaflet-control-attribution{white-space:nowrap;overflow:hidden;text-overflow:ellipsis;
 max-width:calc(100vw - 12px)}
@media (max-width:700px){.psa-title{font-size:13px;padding:4px 8px}
 .psa-legend{font-size:12px;max-width:260px}}
</style>"""
