"""Folium maps for partners: LSOA choropleths with CSP outlines, legends readable as text."""

from __future__ import annotations

import logging

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .credits import credits
from .map_panels import LegendSection, base_map, box, finish_map, line
from .map_text import geojson_layer, label

log = logging.getLogger(__name__)

# ColorBrewer YlGnBu, 5 classes: sequential and colour-blind safe.
PALETTE = ("#ffffcc", "#a1dab4", "#41b6c4", "#2c7fb8", "#253494")
NO_DATA_COLOUR = "#d9d9d9"
ATTRIBUTION = credits("boundaries", "police_uk")


def class_breaks(values: pd.Series, *, classes: int = len(PALETTE)) -> list[float]:
    """Quantile class edges (``classes + 1`` values, rounded to 1 decimal, strictly rising)."""
    finite = values[np.isfinite(values)]
    if finite.empty:
        return [0.0, 0.1]
    edges = np.quantile(finite, np.linspace(0, 1, classes + 1))
    edges = np.round(edges, 1)
    edges[0], edges[-1] = np.floor(finite.min() * 10) / 10, np.ceil(finite.max() * 10) / 10
    edges = sorted(set(edges.tolist()))
    return edges if len(edges) > 1 else [edges[0], edges[0] + 0.1]


def _classify(values: pd.Series, edges: list[float]) -> np.ndarray:
    idx = np.searchsorted(edges, values.to_numpy(), side="right") - 1
    return np.clip(idx, 0, max(len(edges) - 2, 0))


def _labels(values: pd.Series, pattern: str) -> pd.Series:
    """Numbers formatted with ``pattern``; missing ones as "no data"."""
    return values.map(lambda v: "no data" if pd.isna(v) else pattern.format(v))


def _display_geojson(frame: gpd.GeoDataFrame, *, tolerance: float) -> dict:
    """GeoJSON in EPSG:4326, simplified in metres and rounded to about 1 m; text columns as
    text (missing as ""; :func:`geojson_layer` escapes what it shows)."""
    simple = frame.geometry.simplify(tolerance, preserve_topology=True)
    simple = gpd.GeoSeries(simple, crs=frame.crs).to_crs("EPSG:4326")
    rounded = shapely.transform(simple.to_numpy(), lambda xy: np.round(xy, 5))
    out = frame.drop(columns=frame.geometry.name).copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(lambda v: str(v) if pd.notna(v) else "")
    frame = gpd.GeoDataFrame(out, geometry=rounded, crs="EPSG:4326")
    return frame.to_geo_dict(drop_id=True, show_bbox=False)


def legend_section(
    edges: list[float], counts: list[int], *, layer=None, unit: str = "LSOAs", no_data: int = 0
) -> LegendSection:
    """The choropleth's key: each colour beside its range in words and the number of areas,
    and a "No data" row when ``no_data`` areas have none."""
    rows = [
        (box(colour), f"{edges[i]:,.1f} to {edges[i + 1]:,.1f}", f"{counts[i]:,} {unit}")
        for i, colour in enumerate(PALETTE[: len(edges) - 1])
    ]
    if no_data:
        rows.append((box(NO_DATA_COLOUR), "No data", f"{no_data:,} {unit}"))
    return LegendSection(
        "Rate per 1,000 residents",
        rows,
        layer=layer,
        columns=("Colour", "Rate per 1,000", "Areas"),
        note="Class edges are quintiles of the LSOA rates. Hover an area for its figures.",
    )


def rate_map(
    lsoa_rates: gpd.GeoDataFrame,
    outlines: gpd.GeoDataFrame,
    *,
    title: str,
    value: str = "rate_per_1000",
    count: str = "count",
    outline_label: str = "Community Safety Partnerships",
    simplify_m: float = 20.0,
) -> folium.Map:
    """A choropleth of ``value`` by LSOA with area outlines, tooltips, a legend and layers.

    Parameters
    ----------
    lsoa_rates
        LSOA polygons (EPSG:27700) with ``lsoa_code``, ``lsoa_name``, ``csp_name``,
        ``value``, ``count``, and optionally ``trend`` and ``change_pct``.
    outlines
        Polygons (EPSG:27700) with ``area_name``, drawn as outlines (CSPs by default).
    title
        Shown above the map and in the legend; escaped.
    simplify_m
        Douglas-Peucker tolerance in metres for display geometry.
    """
    for name, frame in (("lsoa_rates", lsoa_rates), ("outlines", outlines)):
        if frame.crs is None:
            raise ValueError(f"'{name}' has no CRS; set it with set_crs() first")
    values = pd.to_numeric(lsoa_rates[value], errors="coerce")
    missing = values.isna().to_numpy()
    edges = class_breaks(values[~missing])
    classes = _classify(values, edges)
    counts = np.bincount(classes[~missing], minlength=len(edges) - 1).tolist()
    frame = lsoa_rates[["lsoa_code", "lsoa_name", "csp_name", "geometry"]].copy()
    frame["fill"] = np.where(missing, NO_DATA_COLOUR, [PALETTE[c] for c in classes])
    frame["count_label"] = _labels(lsoa_rates[count], "{:,.0f}")
    frame["rate_label"] = _labels(values, "{:,.1f}")
    frame["class_label"] = np.where(
        missing, "No data", [f"{edges[c]:,.1f} to {edges[c + 1]:,.1f}" for c in classes]
    )
    if "trend" in lsoa_rates and "trend_word" in lsoa_rates:
        frame["trend_label"] = (lsoa_rates["trend"] + " " + lsoa_rates["trend_word"]).str.strip()
    lsoa_json = _display_geojson(frame, tolerance=simplify_m)

    m = base_map()
    fields = ["lsoa_name", "lsoa_code", "csp_name", "count_label", "rate_label", "class_label"]
    aliases = ["LSOA", "Code", "CSP", "Count", "Rate per 1,000", "Legend class"]
    if "trend_label" in frame:
        fields.append("trend_label")
        aliases.append("Trend")
    layer = geojson_layer(
        lsoa_json,
        name=f"LSOA rate per 1,000 ({len(frame):,} LSOAs)",
        style_function=lambda f: {
            "fillColor": f["properties"]["fill"],
            "color": "#555",
            "weight": 0.3,
            "fillOpacity": 0.75,
        },
        highlight_function=lambda f: {"weight": 2, "color": "#000"},
        tooltip=dict(zip(fields, aliases, strict=True)),
    ).add_to(m)
    key = legend_section(edges, counts, layer=layer, no_data=int(missing.sum()))
    edges_key = outline_layers(m, outlines, name=outline_label, simplify_m=simplify_m * 2)
    finish_map(m, title=title, study_area=lsoa_rates, legend=[key, edges_key], credit=ATTRIBUTION)
    log.info("map: %d LSOAs in %d classes", len(frame), len(edges) - 1)
    return m


def outline_layers(
    m: folium.Map, outlines: gpd.GeoDataFrame, *, name: str, simplify_m: float = 40.0
) -> LegendSection:
    """Add the ``outlines`` (polygons with ``area_name``) to ``m`` as black edges, and their
    names written on the map in a layer of their own, so that the map reads without its
    background; returns the legend part."""
    edges = geojson_layer(
        _display_geojson(outlines[["area_name", "geometry"]], tolerance=simplify_m),
        name=name,
        style_function=lambda f: {"fill": False, "color": "#000", "weight": 2.2},
        tooltip={"area_name": "Area"},
    ).add_to(m)
    names = folium.FeatureGroup(name=f"{name}: names").add_to(m)
    points = outlines.geometry.representative_point().to_crs("EPSG:4326")
    for area, point in zip(outlines["area_name"], points, strict=True):
        names.add_child(label(str(area), (round(point.y, 5), round(point.x, 5))))
    return LegendSection(name, [(line("#000000", width=3), "boundary")], layer=edges)
