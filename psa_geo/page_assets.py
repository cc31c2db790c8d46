"""Self-contained map pages: a folium map saved with Leaflet inlined, so it opens offline.

folium links every page to Leaflet, jQuery, Bootstrap, Font Awesome and Leaflet.awesome-markers
on CDNs; without them (no network, a proxy) a page is blank. :func:`save_map` writes the page
with the vendored Leaflet (and Leaflet.markercluster where the map clusters) inside it, from
``psa_geo/resources/vendor`` (see its README), and drops the rest: no psa_geo map uses them
(our popups are bound by :mod:`psa_geo.map_text`, not by folium's jQuery ``Popup``). So a page
mailed on its own still works. The page also gets ``lang="en-GB"``, a ``<title>``, a link back
to the site's index, and a note, shown when the base-map tiles cannot load, that the
background needs the internet. Nothing else on the page needs the network.
"""

from __future__ import annotations

import base64
import html
import re
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from importlib.resources import files
from pathlib import Path

import branca.element
import folium
from branca.element import CssLink, Element, Figure, JavascriptLink
from folium.elements import JSCSSMixin
from folium.template import Template

from .errors import PsaGeoError
from .map_text import html_element

__all__ = ["OFFLINE_NOTE", "VENDOR_ATTRIBUTE", "map_page_html", "save_map", "vendored_texts"]

#: The note shown on a map when its base-map tiles do not load.
OFFLINE_NOTE = "Background map needs the internet; boundaries and figures are complete."
#: Attribute on each inlined ``<script>``/``<style>`` of vendored code, naming its file.
VENDOR_ATTRIBUTE = "data-psa-vendor"

# folium's resource names -> vendored file (under resources/vendor), in page order.
_VENDORED = {
    "leaflet_css": "leaflet/leaflet.css",
    "leaflet": "leaflet/leaflet.js",
    "markerclustercss": "leaflet.markercluster/MarkerCluster.css",
    "markerclusterdefaultcss": "leaflet.markercluster/MarkerCluster.Default.css",
    "markerclusterjs": "leaflet.markercluster/leaflet.markercluster.js",
}
# folium's defaults no psa_geo map uses: left out of the page.
_DROPPED = frozenset(
    {
        "jquery",
        "bootstrap",
        "bootstrap_css",
        "glyphicons_css",
        "awesome_markers",
        "awesome_markers_css",
        "awesome_markers_font_css",
        "awesome_rotate_css",
    }
)

_PAGE = Template(
    "<!DOCTYPE html>\n"
    '<html lang="en-GB">\n'
    "<head>\n"
    "<title>{{ this.title|e }}</title>\n"
    "    {{ this.header.render(**kwargs) }}\n"
    "</head>\n"
    "<body>\n"
    "    {{ this.html.render(**kwargs) }}\n"
    "</body>\n"
    "<script>\n"
    "    {{ this.script.render(**kwargs) }}\n"
    "</script>\n"
    "</html>\n"
)

_CSS = """<style>
.psa-search{background:#fff;padding:4px 6px;border:2px solid rgba(0,0,0,.2);border-radius:4px;
 font:13px/1.4 system-ui,sans-serif}
.psa-search input{width:11em}.psa-search output{display:block;max-width:16em}
.psa-home a{display:block;padding:3px 8px;background:#fff;color:#0b0c0c;border:2px solid
 rgba(0,0,0,.2);border-radius:4px;font:13px/1.4 system-ui,sans-serif;text-decoration:underline}
.psa-home:not(.leaflet-control){position:fixed;top:84px;left:10px;z-index:1000}
.psa-offline{background:#fff;border:1px solid #777;border-radius:4px;padding:3px 8px;
 font:12px/1.35 system-ui,sans-serif;max-width:260px}
.psa-offline[data-psa-waiting]{visibility:hidden}
</style>"""

_CONTROLS = Template(
    """{% macro script(this, kwargs) %}
(function () {
    var map = {{ this._parent.get_name() }};
    function control(id, position) {
        var el = document.getElementById(id);
        var c = L.control({position: position});
        c.onAdd = function () { L.DomEvent.disableClickPropagation(el); return el; };
        c.addTo(map);
        return el;
    }
    control("psa-home", "topleft");
    var note = control("psa-offline", "bottomright");
    function show() { note.removeAttribute("data-psa-waiting"); }
    {%- for layer in this.tile_layers %}
    {{ layer.get_name() }}.on("tileerror", show);
    {%- endfor %}
})();
{% endmacro %}"""
)


class _PageControls(folium.MacroElement):
    """The index link and the offline note as Leaflet controls; the note shows on the first
    tile that fails to load."""

    _template = _CONTROLS

    def __init__(self, tile_layers: list[folium.TileLayer]) -> None:
        super().__init__()
        self._name = "PageControls"
        self.tile_layers = tile_layers


def _vendor_file(relative: str) -> Path:
    return Path(str(files("psa_geo").joinpath("resources", "vendor", relative)))


def _data_uri(relative: str) -> str:
    data = base64.b64encode(_vendor_file(relative).read_bytes()).decode("ascii")
    return f"data:image/png;base64,{data}"


@cache
def vendored_texts() -> dict[str, str]:
    """The text each vendored file has inside a page, by folium resource name: Leaflet's CSS
    with its layer-control images as ``data:`` URIs and no default marker image, Leaflet's JS
    without its source-map comment; the others as shipped."""
    texts = {name: _vendor_file(rel).read_text(encoding="utf-8") for name, rel in _VENDORED.items()}
    css = texts["leaflet_css"]
    for image in ("layers.png", "layers-2x.png"):
        css = css.replace(f"url(images/{image})", f"url({_data_uri(f'leaflet/images/{image}')})")
    texts["leaflet_css"] = css.replace("url(images/marker-icon.png)", "none")
    texts["leaflet"] = re.sub(r"\n//# sourceMappingURL=\S+\s*$", "\n", texts["leaflet"])
    for name, text in texts.items():
        if "url(images/" in text or re.search(r"</(script|style)", text, re.IGNORECASE):
            raise PsaGeoError(f"the vendored {_VENDORED[name]} cannot be inlined as it is")
    return texts


def _elements(element: Element) -> Iterator[Element]:
    yield element
    if isinstance(element, Figure):
        for part in (element.header, element.html, element.script):
            yield from _elements(part)
    for child in element._children.values():
        yield from _elements(child)


@contextmanager
def _macro_output_as_text() -> Iterator[None]:
    """While a page renders, keep branca from reading any element's output as a template.

    branca's ``MacroElement.render`` puts each macro's output (a layer's script holding its
    GeoJSON, our tooltips' JSON, ...) into ``Element(output)``, which Jinja then renders a
    second time: ``{{ ... }}`` or ``{% ... %}`` in a name from the data would run as the page
    is written. For the render, the name ``Element`` in branca's module makes an element
    that writes its text as it is."""
    original = branca.element.Element

    class Literal(original):
        def __init__(self, template: str | None = None, template_name: str | None = None):
            super().__init__()
            self.text = template or ""

        def render(self, **kwargs) -> str:
            return self.text

    branca.element.Element = Literal
    try:
        yield
    finally:
        branca.element.Element = original


def _inline(name: str) -> Element:
    tag = "script" if _VENDORED[name].endswith(".js") else "style"
    return html_element(
        f'<{tag} {VENDOR_ATTRIBUTE}="{_VENDORED[name]}">\n{vendored_texts()[name]}\n</{tag}>'
    )


def _check_href(index_href: str) -> str:
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:|^//", index_href) or not index_href.strip():
        raise ValueError(f"'index_href' should be a relative address, got {index_href!r}")
    return html.escape(index_href, quote=True)


def map_page_html(m: folium.Map, *, index_href: str, title: str | None = None) -> str:
    """The HTML of ``m`` as a self-contained page (see the module's description).

    Parameters
    ----------
    m
        The map; it is rendered as ``m.save`` would (folium adds its page parts to ``m``).
    index_href
        Relative address of the site's index from the page (``"../index.html"``).
    title
        The page's ``<title>``; defaults to the title of ``m``'s figure, else "Map". Escaped.
    """
    if not isinstance(m, folium.Map):
        raise ValueError(f"'m' should be a folium.Map, got {type(m).__name__}")
    href = _check_href(index_href)
    figure = m.get_root()
    used: set[str] = getattr(figure, "_psa_vendor_used", set())
    for element in _elements(figure):
        # folium's Popup (by name: only map_text may name it) and keep_in_front use jQuery
        popup = any(cls.__name__ == "Popup" for cls in type(element).__mro__)
        if popup or getattr(element, "objects_to_stay_in_front", None):
            raise PsaGeoError(
                f"{type(element).__name__} needs jQuery, which psa_geo does not ship; "
                "bind popups with psa_geo.map_text.popup"
            )
        if not isinstance(element, JSCSSMixin):
            continue
        for name, url in [*element.default_js, *element.default_css]:
            if name not in _VENDORED and name not in _DROPPED:
                raise PsaGeoError(
                    f"{type(element).__name__} needs {url}, which psa_geo does not ship; "
                    "a map page must work with no network"
                )
            used.add(name)
        element.default_js, element.default_css = [], []  # on this element, not its class
    figure._psa_vendor_used = used
    parts = [(f"psa_vendor_{name}", _inline(name)) for name in _VENDORED if name in used]
    parts.append(("psa_page_css", html_element(_CSS)))
    header = figure.header._children
    meta = [(key, header[key]) for key in ("meta_http",) if key in header]
    others = [(k, c) for k, c in header.items() if k != "meta_http" and not k.startswith("psa_")]
    figure.header._children = OrderedDict([*meta, *parts, *others])  # the charset stays first
    for _, child in parts:
        child._parent = figure.header
    figure.html.add_child(
        html_element(
            f'<div id="psa-home" class="psa-home"><a href="{href}" target="_top">'
            "← Index of maps and tables</a></div>"
            f'<div id="psa-offline" class="psa-offline" role="status" data-psa-waiting>'
            f"{html.escape(OFFLINE_NOTE)}</div>"
        ),
        name="psa_page_links",
    )
    tiles = [c for c in m._children.values() if isinstance(c, folium.TileLayer)]
    controls = m._children.get("psa_page_controls")
    if controls is None:
        m.add_child(_PageControls(tiles), name="psa_page_controls")
    else:  # a second save of the same map
        controls.tile_layers = tiles
    for key in [k for k, c in m._children.items() if getattr(c, "psa_last", False)]:
        m._children.move_to_end(key)  # the panels measure every other control
    figure.title = title if title is not None else (figure.title or "Map")
    figure._template = _PAGE
    with _macro_output_as_text():
        page = figure.render()
    links = [c for c in figure.header._children.values() if isinstance(c, JavascriptLink | CssLink)]
    if links:
        raise PsaGeoError(f"the map page would load {links[0].url}; psa_geo does not ship it")
    return page


def save_map(m: folium.Map, path: str | Path, *, index_href: str, title: str | None = None) -> Path:
    """Write ``m`` to ``path`` as a self-contained page (:func:`map_page_html`); returns it."""
    path = Path(path)
    path.write_text(map_page_html(m, index_href=index_href, title=title), encoding="utf-8")
    return path
