"""Hotspot layers for partner maps: Gi* classes, KDE contours and repeat locations."""

from __future__ import annotations

import html
import logging

import folium
import geopandas as gpd
import numpy as np
import pandas as pd

from .errors import PsaGeoError
from .map_text import geojson_layer, html_element, tooltip
from .maps import ATTRIBUTION, TILE_ATTRIBUTION, AttributionControl, map_css
from .place_search import PlaceSearch, place_index

log = logging.getLogger(__name__)

# ColorBrewer RdBu, 7 classes (colour-blind safe); the grey middle class is not drawn.
GI_COLOURS = {
    3: ("#b2182b", "Hot spot, 99% confidence"),
    2: ("#ef8a62", "Hot spot, 95% confidence"),
    1: ("#fddbc7", "Hot spot, 90% confidence"),
    -1: ("#d1e5f0", "Cold spot, 90% confidence"),
    -2: ("#67a9cf", "Cold spot, 95% confidence"),
    -3: ("#2166ac", "Cold spot, 99% confidence"),
}
# Emerging hot-spot classes, strongest first: ColorBrewer Reds / Blues, 8 classes each; the
# tooltip and legend name every class, so colour is never the only cue.
_EMERGING_ORDER = (
    "Intensifying", "Persistent", "Consecutive", "New",
    "Diminishing", "Oscillating", "Sporadic", "Historical",
)  # fmt: skip
_REDS = ("#99000d", "#cb181d", "#ef3b2c", "#fb6a4a", "#fc9272", "#fcbba1", "#fee0d2", "#fff5f0")
_BLUES = ("#084594", "#2171b5", "#4292c6", "#6baed6", "#9ecae1", "#c6dbef", "#deebf7", "#f7fbff")
EMERGING_COLOURS = {
    **{f"{name} hot spot": colour for name, colour in zip(_EMERGING_ORDER, _REDS, strict=True)},
    **{f"{name} cold spot": colour for name, colour in zip(_EMERGING_ORDER, _BLUES, strict=True)},
}
GISTAR_LAYER = "Hot and cold spots (Getis-Ord Gi*, FDR)"
# ColorBrewer YlOrRd, 4 classes, for density contours.
KDE_COLOURS = ("#fed976", "#feb24c", "#f03b20", "#bd0026")


def _dissolved_geojson(
    frame: gpd.GeoDataFrame, by: str, simplify_m: float, labels: dict | None = None
) -> dict:
    """One feature per class (never one per cell), in EPSG:4326, with a ``label`` in words
    (text: :func:`geojson_layer` escapes what it shows)."""
    merged = frame[[by, "geometry"]].dissolve(by=by, as_index=False)
    merged["geometry"] = merged.geometry.simplify(simplify_m)
    labels = labels or {}
    merged["label"] = [str(labels.get(value, "")) for value in merged[by]]
    return merged.to_crs("EPSG:4326").to_geo_dict(drop_id=True, show_bbox=False)


def kde_classes(cells: gpd.GeoDataFrame, *, column: str = "kde", classes: int = 4) -> pd.Series:
    """Class 1..``classes`` by quantiles of the non-zero densities' top half (0 = not drawn)."""
    values = cells[column].to_numpy(dtype=float)
    positive = values[values > 0]
    if positive.size == 0:
        return pd.Series(0, index=cells.index)
    edges = np.quantile(positive, np.linspace(0.5, 1, classes + 1))
    out = np.searchsorted(edges[1:-1], values, side="right") + 1
    return pd.Series(np.where(values >= edges[0], out, 0), index=cells.index)


def hotspot_map(
    outline: gpd.GeoDataFrame,
    *,
    title: str,
    gistar_cells: gpd.GeoDataFrame | None = None,
    kde_cells: gpd.GeoDataFrame | None = None,
    emerging_cells: gpd.GeoDataFrame | None = None,
    repeats: pd.DataFrame | None = None,
    more_gistar: dict[str, gpd.GeoDataFrame] | None = None,
    lsoas: gpd.GeoDataFrame | None = None,
    sensitive: bool = False,
) -> folium.Map:
    """A map of one study area with hotspot layers, each with a legend in words.

    ``gistar_cells`` need ``hotspot_level`` (from :func:`gistar`); ``kde_cells`` need
    ``kde``; ``more_gistar`` maps layer names to further Gi* cells (e.g. another crime
    group; off at first); ``lsoas`` (``area_name``, ``count``, ``rate_per_1000``) are drawn
    as outlines whose tooltips give each LSOA's figures (and a search box finds them by
    name); ``emerging_cells`` need
    ``emerging_class`` (from :func:`emerging_hotspots`; a layer off at first); ``repeats``
    come from :func:`repeat_locations`. A ``sensitive``
    source (rough sleeping) is refused: its events must never be mapped at fine grain.
    """
    layers = (gistar_cells, kde_cells, emerging_cells, repeats, more_gistar)
    if sensitive and any(layer is not None for layer in layers):
        raise PsaGeoError("a sensitive source is never given fine-grained hotspot layers")
    for name, frame in (
        ("outline", outline),
        ("gistar_cells", gistar_cells),
        ("kde_cells", kde_cells),
        ("emerging_cells", emerging_cells),
    ):
        if frame is not None and frame.crs is None:
            raise PsaGeoError(f"'{name}' has no CRS; set it with set_crs() first")
    bounds = outline.to_crs("EPSG:4326").total_bounds
    m = folium.Map(tiles=None, control_scale=True)
    folium.TileLayer(
        "OpenStreetMap", name="Base map (OpenStreetMap)", attr=TILE_ATTRIBUTION
    ).add_to(m)
    legend = []
    if kde_cells is not None:
        classes = kde_classes(kde_cells)
        drawn = kde_cells.assign(kde_class=classes)[classes > 0]
        if not drawn.empty:
            folium.GeoJson(
                _dissolved_geojson(drawn, "kde_class", 5),
                name="Density of events (kernel density)",
                show=gistar_cells is None,  # one red layer at a time; switch in the layer control
                style_function=lambda f: {
                    "fillColor": KDE_COLOURS[f["properties"]["kde_class"] - 1],
                    "color": KDE_COLOURS[f["properties"]["kde_class"] - 1],
                    "weight": 0.5,
                    "fillOpacity": 0.55,
                },
            ).add_to(m)
            words = ("lowest", "second", "third", "highest")
            legend.append(
                (
                    "Density, top half of cells by quarter (layer off at first)",
                    [
                        (colour, f"{word} quarter")
                        for colour, word in zip(KDE_COLOURS, words, strict=True)
                    ],
                )
            )
    if gistar_cells is not None:
        legend.extend(_gistar_layer(gistar_cells, m, GISTAR_LAYER, show=True))
    for name, cells in (more_gistar or {}).items():
        legend.extend(_gistar_layer(cells, m, name, show=False))
    if emerging_cells is not None:
        legend.extend(_emerging_layer(emerging_cells, m))
    if repeats is not None and not repeats.empty:
        layer = folium.FeatureGroup(name=f"Top {len(repeats)} repeat locations")
        points = gpd.GeoSeries.from_xy(repeats["easting"], repeats["northing"], crs="EPSG:27700")
        for row, point in zip(repeats.itertuples(), points.to_crs("EPSG:4326"), strict=True):
            text = (
                f"#{row.rank}: {row.location} ({row.count:,} events, {row.share_pct:.2f}% of all)"
            )
            folium.CircleMarker(
                [point.y, point.x],
                radius=6,
                color="#000",
                weight=2,
                fill=True,
                fill_color="#ffffff",
                fill_opacity=0.9,
            ).add_child(tooltip(text)).add_to(layer)
        layer.add_to(m)
        legend.append(("Repeat locations", [("#ffffff", "white circle: a top location, ranked")]))
    if lsoas is not None:
        _lsoa_layer(lsoas, m)
        m.add_child(PlaceSearch(place_index([("LSOA", lsoas)])))
    folium.GeoJson(
        outline[["geometry"]].to_crs("EPSG:4326").to_geo_dict(drop_id=True, show_bbox=False),
        name="Study area",
        style_function=lambda f: {"fill": False, "color": "#000", "weight": 2},
    ).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    m.fit_bounds([[bounds[1], bounds[0]], [bounds[3], bounds[2]]])
    root = m.get_root()
    root.header.add_child(html_element(map_css()))
    root.title = title  # the page's <title>
    root.html.add_child(
        html_element(f'<div class="psa-title"><strong>{html.escape(title)}</strong></div>')
    )
    root.html.add_child(html_element(_legend(legend)))
    m.add_child(AttributionControl(ATTRIBUTION))
    return m


def _legend(sections: list[tuple[str, list[tuple[str, str]]]]) -> str:
    parts = ['<div id="psa-legend" class="psa-legend" role="region" aria-label="Map legend">']
    for heading, rows in sections:
        parts.append(f"<strong>{html.escape(heading)}</strong><table><tbody>")
        parts += [
            f'<tr><td><span class="swatch" style="background:{c}"></span></td>'
            f"<td>{html.escape(label)}</td></tr>"
            for c, label in rows
        ]
        parts.append("</tbody></table>")
    return "".join(parts) + "</div>"


def _emerging_layer(cells: gpd.GeoDataFrame, m: folium.Map) -> list:
    """Add the emerging hot-spot classes to ``m`` (off at first); return the legend entry."""
    patterned = cells[cells["emerging_class"].isin(list(EMERGING_COLOURS))]
    if patterned.empty:
        return []
    present = [name for name in EMERGING_COLOURS if name in set(patterned["emerging_class"])]
    geojson_layer(
        _dissolved_geojson(patterned, "emerging_class", 5, {name: name for name in present}),
        name="Emerging hot and cold spots (monthly Gi* trend)",
        show=False,
        style_function=lambda f: {
            "fillColor": EMERGING_COLOURS[f["properties"]["emerging_class"]],
            "color": "#333",
            "weight": 0.4,
            "fillOpacity": 0.75,
        },
        tooltip={"label": "Emerging pattern"},
    ).add_to(m)
    return [
        (
            "Emerging hot and cold spots (layer off at first)",
            [(EMERGING_COLOURS[name], name) for name in present],
        )
    ]


def _gistar_layer(cells: gpd.GeoDataFrame, m: folium.Map, name: str, *, show: bool) -> list:
    """Add the significant Gi* classes of ``cells`` to ``m``; return the legend entry."""
    significant = cells[cells["hotspot_level"] != 0]
    if not significant.empty:
        geojson_layer(
            _dissolved_geojson(
                significant, "hotspot_level", 5, {k: v[1] for k, v in GI_COLOURS.items()}
            ),
            name=name,
            show=show,
            style_function=lambda f: {
                "fillColor": GI_COLOURS[f["properties"]["hotspot_level"]][0],
                "color": "#333",
                "weight": 0.4,
                "fillOpacity": 0.7,
            },
            tooltip={"label": name},
        ).add_to(m)
    if show:
        heading = "Getis-Ord Gi* (false discovery rate corrected)"
        return [(heading, [(colour, label) for colour, label in GI_COLOURS.values()])]
    return []


def _lsoa_layer(lsoas: gpd.GeoDataFrame, m: folium.Map) -> None:
    """LSOA outlines with their name, count and rate in the tooltip."""
    frame = lsoas[["area_name", "count", "rate_per_1000", "geometry"]].copy()
    frame["figures"] = [
        f"{count:,} events, {rate:.1f} per 1,000 residents"
        for count, rate in zip(frame["count"], frame["rate_per_1000"], strict=True)
    ]
    frame["geometry"] = frame.geometry.simplify(5)
    geojson_layer(
        frame.drop(columns=["count", "rate_per_1000"])
        .to_crs("EPSG:4326")
        .to_geo_dict(drop_id=True, show_bbox=False),
        name="LSOAs (hover for figures)",
        style_function=lambda f: {"fillOpacity": 0, "color": "#555", "weight": 1, "dashArray": "4"},
        tooltip={"area_name": "LSOA", "figures": "Study"},
    ).add_to(m)
