"""Hotspot layers for partner maps: Gi* classes, kernel density images, repeat locations and
the change between two periods."""

from __future__ import annotations

import logging
from collections.abc import Callable
from itertools import pairwise

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import mapping

from .errors import PsaGeoError
from .hotspot_change import CHANGE_CLASSES, FAMILIES
from .map_panels import LegendSection, base_map, box, finish_map, line, numbered
from .map_text import geojson_layer, number_icon, tooltip
from .maps import ATTRIBUTION
from .place_search import PlaceSearch, place_index
from .surface import Surface
from .surface_image import class_image

log = logging.getLogger(__name__)

# Palettes published as colour-blind safe, one family per kind of layer; the tooltips and
# legend name every class, so colour is never the only cue.
# Gi*: ColorBrewer RdBu, 7 classes (diverging; the grey middle class is not drawn).
GI_COLOURS = {
    3: ("#b2182b", "Hot spot, 99% confidence"),
    2: ("#ef8a62", "Hot spot, 95% confidence"),
    1: ("#fddbc7", "Hot spot, 90% confidence"),
    -1: ("#d1e5f0", "Cold spot, 90% confidence"),
    -2: ("#67a9cf", "Cold spot, 95% confidence"),
    -3: ("#2166ac", "Cold spot, 99% confidence"),
}
# Emerging patterns: Paul Tol's "muted" qualitative scheme (without its two reds, kept for
# Gi*), one colour per pattern; a hot spot is filled solid, a cold spot pale with a dashed
# edge of the same colour.
_EMERGING_ORDER = (
    "Intensifying", "Persistent", "Consecutive", "New",
    "Diminishing", "Oscillating", "Sporadic", "Historical",
)  # fmt: skip
_TOL_MUTED = ("#332288", "#117733", "#44AA99", "#88CCEE", "#DDCC77", "#999933", "#AA4499",
              "#DDDDDD")  # fmt: skip
EMERGING_COLOURS = {
    f"{name} {kind} spot": colour
    for kind in ("hot", "cold")
    for name, colour in zip(_EMERGING_ORDER, _TOL_MUTED, strict=True)
}
GISTAR_LAYER = "Hot and cold spots (Getis-Ord Gi*, FDR)"
# Density: ColorBrewer Purples, the four darkest of 5 classes (sequential).
KDE_COLOURS = ("#cbc9e2", "#9e9ac8", "#756bb1", "#54278f")
DENSITY_LAYER = "Density of events (kernel density)"
# Risk-adjusted density: ColorBrewer YlOrBr, the four darkest of 5 classes (sequential).
RISK_COLOURS = ("#fed98e", "#fe9929", "#d95f0e", "#993404")
RISK_LAYER = "Crimes per 1,000 residents (smoothed density)"
RISK_HEADING = "Crimes per 1,000 residents (smoothed)"
IMAGE_OPACITY = 0.7
REPEAT_NOTE = "Numbered by rank: 1 has the most events."


def _dissolved_geojson(
    frame: gpd.GeoDataFrame, by: str, simplify_m: float, labels: dict | None = None
) -> dict:
    """One feature per class (never one per cell), in EPSG:4326, with a ``label`` in words
    (text: :func:`geojson_layer` escapes what it shows)."""
    # the GeoJSON of frame.dissolve(by=by), simplified and in EPSG:4326 (to_geo_dict): classes
    # in sorted order, each the union of its cells in their order; built directly, as a map
    # has a dozen such layers per area
    codes, classes = pd.factorize(frame[by], sort=True)
    geoms = np.asarray(frame.geometry.values)
    unions = [shapely.union_all(geoms[codes == code]) for code in range(len(classes))]
    simplified = shapely.simplify(np.array(unions, dtype=object), simplify_m)
    shown = gpd.GeoSeries(simplified, crs=frame.crs).to_crs("EPSG:4326")
    labels = labels or {}
    features = [
        {"type": "Feature",
         "properties": {by: value, "label": str(labels.get(value, ""))},
         "geometry": mapping(geom) if geom else None}
        for value, geom in zip(classes.astype(object), shown, strict=True)
    ]  # fmt: skip
    return {"type": "FeatureCollection", "features": features}


def kde_classes(cells: gpd.GeoDataFrame, *, column: str = "kde", classes: int = 4) -> pd.Series:
    """Class 1..``classes`` by quantiles of the non-zero densities' top half (0 = not drawn)."""
    values = cells[column].to_numpy(dtype=float)
    edges = _top_half_edges(values, classes)
    if edges is None:
        return pd.Series(0, index=cells.index)
    return pd.Series(_classify(values, edges), index=cells.index)


def _top_half_edges(values: np.ndarray, classes: int) -> np.ndarray | None:
    """``classes`` + 1 edges: quantiles of the top half of the positive values (None if none)."""
    positive = values[values > 0]
    if positive.size == 0:
        return None
    return np.quantile(positive, np.linspace(0.5, 1, classes + 1))


def _classify(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Class 1..len(edges)-1 of each value at or above ``edges[0]``, else 0 (NaN: 0)."""
    out = np.searchsorted(edges[1:-1], values, side="right") + 1
    return np.where(values >= edges[0], out, 0)


def _number(value: float) -> str:
    """A class edge with three significant figures (at least whole numbers from 100 up)."""
    if value == 0 or not np.isfinite(value):
        return f"{value:g}"
    decimals = max(0, 2 - int(np.floor(np.log10(abs(value)))))
    return f"{value:,.{decimals}f}"


def _ranges(edges: np.ndarray, units: str) -> list[str]:
    return [f"{_number(lo)} to {_number(hi)} {units}" for lo, hi in pairwise(edges)]


def hotspot_map(
    outline: gpd.GeoDataFrame,
    *,
    title: str,
    gistar_cells: gpd.GeoDataFrame | None = None,
    kde_cells: gpd.GeoDataFrame | None = None,
    emerging_cells: gpd.GeoDataFrame | None = None,
    repeats: pd.DataFrame | None = None,
    lsoas: gpd.GeoDataFrame | None = None,
    sensitive: bool = False,
    credit: str = ATTRIBUTION,
    more_layers: Callable[[folium.Map], list[LegendSection]] | None = None,
    places: list[dict] | None = None,
    view: gpd.GeoDataFrame | None = None,
    show_density: bool | None = None,
    of_group: str | None = None,
    density: Surface | None = None,
    risk: Surface | None = None,
) -> folium.Map:
    """A map of one study area with hotspot layers, each with a legend in words.

    ``gistar_cells`` need ``hotspot_level`` (from :func:`gistar`); ``density`` (a
    :class:`Surface` from :func:`kde`) is drawn as an image of 4 classes (off at first when
    there are Gi* cells); ``kde_cells`` (cells with ``kde``, e.g. from
    :meth:`Surface.to_cells`) are drawn as the same classes dissolved into polygons, when
    there is no ``density``; ``risk`` (a surface from ``kde(..., population=...)``) adds the
    crimes per 1,000 residents (smoothed) as an image (off at first); ``lsoas``
    (``area_name``, ``count``, ``rate_per_1000``) are drawn as outlines whose tooltips give
    each LSOA's figures (and a search box finds them by name); ``emerging_cells`` need
    ``emerging_class`` (from :func:`emerging_hotspots`; a layer off at first); ``repeats``
    come from :func:`repeat_locations` (numbered markers); ``credit`` names the sources
    (default: boundaries and police.uk); ``more_layers`` adds further layers to the map and
    returns their legend parts; ``places`` (:func:`place_index`) feed the search box, with
    the ``lsoas``; ``view`` is what the first view shows (default: the ``outline``);
    ``show_density`` says whether the density is on at first (default: when there are no
    ``gistar_cells``); ``of_group`` names the group of the emerging and repeat layers, when
    others are mapped too. A ``sensitive`` source (rough sleeping) is refused: its events must
    never be mapped at fine grain.
    """
    layers = (gistar_cells, kde_cells, emerging_cells, repeats, density, risk)
    if sensitive and any(layer is not None for layer in layers):
        raise PsaGeoError("a sensitive source is never given fine-grained hotspot layers")
    if density is not None and kde_cells is not None:
        raise PsaGeoError("pass 'density' (a Surface) or 'kde_cells', not both")
    for name, surface in (("density", density), ("risk", risk)):
        if surface is not None and not isinstance(surface, Surface):
            raise PsaGeoError(f"'{name}' should be a Surface (from kde), got "
                              f"{type(surface).__name__}")  # fmt: skip
    if risk is not None and risk.per_1000 is None:
        raise PsaGeoError("'risk' has no risk-adjusted density; compute it with "
                          "kde(..., population=lsoas)")  # fmt: skip
    for name, frame in (
        ("outline", outline),
        ("gistar_cells", gistar_cells),
        ("kde_cells", kde_cells),
        ("emerging_cells", emerging_cells),
    ):
        if frame is not None and frame.crs is None:
            raise PsaGeoError(f"'{name}' has no CRS; set it with set_crs() first")
    m = base_map()
    legend = []
    shown = gistar_cells is None if show_density is None else show_density
    if density is not None:
        legend += _density_image_layer(density, m, show=shown)
    if kde_cells is not None:
        legend += _kde_layer(kde_cells, m, show=shown)
    if risk is not None:
        legend += _risk_image_layer(risk, m)
    if gistar_cells is not None:
        legend += _gistar_layer(gistar_cells, m, GISTAR_LAYER, show=True)
    if emerging_cells is not None:
        legend += _emerging_layer(emerging_cells, m, of_group=of_group)
    if repeats is not None and not repeats.empty:
        legend += _repeat_layer(repeats, m, of_group=of_group)
    places = list(places or [])
    if lsoas is not None:
        legend += _lsoa_layer(lsoas, m)
        places += place_index([("LSOA", lsoas)])
    if places:
        m.add_child(PlaceSearch(places))
    if more_layers is not None:
        legend += more_layers(m)
    study = folium.GeoJson(
        outline[["geometry"]].to_crs("EPSG:4326").to_geo_dict(drop_id=True, show_bbox=False),
        name="Study area",
        style_function=lambda f: {"fill": False, "color": "#000", "weight": 2},
    ).add_to(m)
    legend.append(LegendSection("Study area", [(line("#000000", width=3), "its edge")],
                                layer=study))  # fmt: skip
    view = outline if view is None else view
    return finish_map(m, title=title, study_area=view, legend=legend, credit=credit)


def group_layer_name(result) -> str:
    """The radio choice of a group's Gi* layer: its name and number of events."""
    return f"{result.group}: {int(result.cells['n'].sum()):,} events"


def area_hotspot_map(hot, *, title: str, lsoas: gpd.GeoDataFrame | None = None) -> folium.Map:
    """The map of an :class:`~psa_geo.hotspots.AreaHotspots`: each group's Gi* classes as a
    radio choice, one group at a time (the headline group first: groups share the Gi*
    colours), the headline group's density, emerging hot spots and repeat locations, the
    groups too few to map, and ``lsoas`` as :func:`hotspot_map` draws them."""
    head = hot.headline
    cells = head.cells if head is not None else None

    def group_layers(m: folium.Map) -> list[LegendSection]:
        legend = []
        for group, result in hot.results.items():
            legend += _gistar_layer(result.cells, m, group_layer_name(result), show=result is head,
                                    note=result.scale, overlay=False,
                                    heading=f"Hot and cold spots: {group}")  # fmt: skip
        if cells is not None and "change_class" in cells:
            legend += change_layer(cells, m)
        if hot.too_few:
            listed = "; ".join(f"{g}: {n:,} events" for g, n in hot.too_few.items())
            legend.append(LegendSection("Too few events to map", note=listed))
        return legend

    density = head.density if head is not None else None
    return hotspot_map(
        hot.outline,
        title=title,
        kde_cells=cells if density is None else None,
        density=density,
        risk=density if density is not None and density.per_1000 is not None else None,
        show_density=False,
        emerging_cells=cells if cells is not None and "emerging_class" in cells else None,
        repeats=head.repeats if head is not None and not head.repeats.empty else None,
        lsoas=lsoas,  # with their own search entries
        places=[p for p in hot.places if lsoas is None or p["kind"] != "LSOA"],
        more_layers=group_layers,
        of_group=head.group if head is not None and len(hot.results) > 1 else None,
    )


def _kde_layer(cells: gpd.GeoDataFrame, m: folium.Map, *, show: bool) -> list[LegendSection]:
    """Add the density classes of ``cells`` as dissolved polygons to ``m``; return the legend
    part."""
    classes = kde_classes(cells)
    drawn = cells.assign(kde_class=classes)[classes > 0]
    if drawn.empty:
        return []
    labels = [f"{w} quarter" for w in ("lowest", "second", "third", "highest")]
    layer = geojson_layer(
        _dissolved_geojson(drawn, "kde_class", 5, dict(enumerate(labels, start=1))),
        name=DENSITY_LAYER,
        show=show,  # one layer of areas at a time; switch in the layer control
        style_function=lambda f: {
            "fillColor": KDE_COLOURS[f["properties"]["kde_class"] - 1],
            "color": KDE_COLOURS[f["properties"]["kde_class"] - 1],
            "weight": 0.5,
            "fillOpacity": 0.6,
        },
        tooltip={"label": "Density, top half of cells"},
    ).add_to(m)
    rows = [(box(c), label) for c, label in zip(KDE_COLOURS, labels, strict=True)]
    return [LegendSection(DENSITY_LAYER, rows, layer=layer,
                          note="The top half of cells by density, in quarters.")]  # fmt: skip


def _density_image_layer(surface: Surface, m: folium.Map, *, show: bool) -> list[LegendSection]:
    """Add the density of ``surface`` as an image of 4 classes (quarters of the top half of
    the area's non-zero cells) to ``m``; return the legend part, with the classes' ranges."""
    values = np.where(surface.mask, surface.values, np.nan)
    edges = _top_half_edges(values[surface.mask], len(KDE_COLOURS))
    if edges is None:
        return [LegendSection(DENSITY_LAYER, note="No event in the area.")]
    classes = np.where(surface.mask, _classify(values, edges), 0)
    layer = _image_layer(classes, surface, KDE_COLOURS, m, DENSITY_LAYER, show=show)
    rows = [(box(c), text) for c, text in zip(KDE_COLOURS, _ranges(edges, "events per km²"),
                                              strict=True)]  # fmt: skip
    note = (f"The top half of cells by density, in quarters; kernel radius "
            f"{surface.bandwidth:,.0f} m, cells of {surface.cell_size:g} m.")  # fmt: skip
    return [LegendSection(DENSITY_LAYER, rows, layer=layer, note=note)]


def _risk_image_layer(surface: Surface, m: folium.Map) -> list[LegendSection]:
    """Add the crimes per 1,000 residents (smoothed) of ``surface`` as an image of 4 classes
    (quarters of the cells given a rate) to ``m``, off at first; return the legend part."""
    rates = np.where(surface.mask, surface.per_1000, np.nan)
    rated = rates[np.isfinite(rates)]
    too_few = f"too few residents: not shown (under {surface.min_residents:,.0f} within the "
    too_few += f"kernel radius of {surface.bandwidth:,.0f} m)"
    if rated.size == 0:
        return [LegendSection(RISK_HEADING, note=f"Every cell has {too_few}.")]
    if not (rated > 0).any():
        return [LegendSection(RISK_HEADING, note="No crime near the cells given a rate.")]
    edges = np.quantile(rated[rated > 0], np.linspace(0, 1, len(RISK_COLOURS) + 1))
    edges[0] = 0.0  # the lowest class holds the cells with no crime near them too
    classes = np.where(np.isfinite(rates), _classify(np.nan_to_num(rates, nan=-1.0), edges), 0)
    layer = _image_layer(classes, surface, RISK_COLOURS, m, RISK_LAYER, show=False)
    texts = _ranges(edges, "per 1,000 residents")
    rows = [(box(c), text) for c, text in zip(RISK_COLOURS, texts, strict=True)]
    rows.append((box("#ffffff", dashed=True), too_few))
    note = ("Crimes per 1,000 residents (smoothed): the density of crimes over the density "
            "of residents (spread from LSOAs by area share), in quarters of the cells "
            "with crime near them.")  # fmt: skip
    return [LegendSection(RISK_HEADING, rows, layer=layer, note=note)]


def _image_layer(
    classes: np.ndarray,
    surface: Surface,
    colours: tuple[str, ...],
    m: folium.Map,
    name: str,
    *,
    show: bool,
) -> folium.raster_layers.ImageOverlay:
    """Add ``classes`` as an image overlay (PNG ``data:`` URI, :func:`class_image`) to ``m``."""
    image = class_image(classes, surface, colours)
    log.info("map: %s as a %s-byte PNG", name, f"{image.png_bytes:,}")
    return folium.raster_layers.ImageOverlay(
        image.url,
        bounds=image.bounds,
        name=name,
        show=show,
        opacity=IMAGE_OPACITY,
        alt=f"{name}: the legend gives its classes",
    ).add_to(m)


def _repeat_layer(
    repeats: pd.DataFrame, m: folium.Map, *, of_group: str | None = None
) -> list[LegendSection]:
    """The top repeat locations (of ``of_group``) as markers numbered by rank; return the
    legend part."""
    of = f": {of_group}" if of_group else ""
    layer = folium.FeatureGroup(name=f"Top {len(repeats)} repeat locations{of}")
    points = gpd.GeoSeries.from_xy(repeats["easting"], repeats["northing"], crs="EPSG:27700")
    for row, point in zip(repeats.itertuples(), points.to_crs("EPSG:4326"), strict=True):
        text = f"#{row.rank}: {row.location} ({row.count:,} events, {row.share_pct:.2f}% of all)"
        folium.Marker(
            [round(point.y, 5), round(point.x, 5)], icon=number_icon(int(row.rank))
        ).add_child(tooltip(text)).add_to(layer)
    layer.add_to(m)
    rows = [(numbered(1), "a repeat location (hover for its street and count)")]
    return [LegendSection(f"Top repeat locations{of}", rows, layer=layer, note=REPEAT_NOTE)]


def _emerging_layer(
    cells: gpd.GeoDataFrame, m: folium.Map, *, of_group: str | None = None
) -> list[LegendSection]:
    """Add the emerging hot-spot classes (of ``of_group``) to ``m`` (off at first); return the
    legend part."""
    of = f": {of_group}" if of_group else ""
    patterned = cells[cells["emerging_class"].isin(list(EMERGING_COLOURS))]
    if patterned.empty:
        return []
    present = [name for name in EMERGING_COLOURS if name in set(patterned["emerging_class"])]
    layer = geojson_layer(
        _dissolved_geojson(patterned, "emerging_class", 5, {name: name for name in present}),
        name=f"Emerging hot and cold spots (monthly Gi* trend){of}",
        show=False,
        style_function=_emerging_style,
        tooltip={"label": "Emerging pattern"},
    ).add_to(m)
    rows = [
        (box(EMERGING_COLOURS[name], border=EMERGING_COLOURS[name] if "cold" in name else
             "#333333", dashed="cold" in name), name)
        for name in present
    ]  # fmt: skip
    return [LegendSection(f"Emerging hot and cold spots{of}", rows, layer=layer,
                          note="Hot spots solid; cold spots pale with a dashed edge.")]  # fmt: skip


def _emerging_style(feature: dict) -> dict:
    name = feature["properties"]["emerging_class"]
    colour = EMERGING_COLOURS[name]
    if "cold" in name:
        return {"fillColor": colour, "color": colour, "weight": 2, "dashArray": "5 4",
                "fillOpacity": 0.3}  # fmt: skip
    return {"fillColor": colour, "color": "#333", "weight": 0.4, "fillOpacity": 0.75}


def _gistar_layer(
    cells: gpd.GeoDataFrame,
    m: folium.Map,
    name: str,
    *,
    show: bool,
    note: str = "",
    overlay: bool = True,
    heading: str | None = None,
) -> list[LegendSection]:
    """Add the significant Gi* classes of ``cells`` to ``m`` as layer ``name`` (a radio
    choice unless ``overlay``); return the legend part (the classes present, or a note that
    none is significant), headed ``heading`` (default: the name), with ``note`` added."""
    heading = heading or name
    significant = cells[cells["hotspot_level"] != 0]
    if significant.empty:
        none = " ".join(("No cell is a significant hot or cold spot.", note)).strip()
        if overlay:
            return [LegendSection(heading, note=none)]
        empty = folium.FeatureGroup(name=name, overlay=False, show=show).add_to(m)
        return [LegendSection(heading, layer=empty, note=none)]
    layer = geojson_layer(
        _dissolved_geojson(
            significant, "hotspot_level", 5, {k: v[1] for k, v in GI_COLOURS.items()}
        ),
        name=name,
        show=show,
        overlay=overlay,
        style_function=lambda f: {
            "fillColor": GI_COLOURS[f["properties"]["hotspot_level"]][0],
            "color": "#333",
            "weight": 0.4,
            "fillOpacity": 0.7,
        },
        tooltip={"label": heading},
    ).add_to(m)
    present = set(significant["hotspot_level"])
    rows = [(box(colour), label) for level, (colour, label) in GI_COLOURS.items()
            if level in present]  # fmt: skip
    text = " ".join(("Getis-Ord Gi*, false discovery rate corrected.", note)).strip()
    return [LegendSection(heading, rows, layer=layer, note=text)]


def _lsoa_layer(lsoas: gpd.GeoDataFrame, m: folium.Map) -> list[LegendSection]:
    """LSOA outlines with their name, count and rate in the tooltip; the legend part."""
    frame = lsoas[["area_name", "count", "rate_per_1000", "geometry"]].copy()
    frame["figures"] = [
        "no data supplied"
        if pd.isna(count)
        else f"{count:,} events, {rate:.1f} per 1,000 residents"
        for count, rate in zip(frame["count"], frame["rate_per_1000"], strict=True)
    ]
    frame["geometry"] = frame.geometry.simplify(5)
    layer = geojson_layer(
        frame.drop(columns=["count", "rate_per_1000"])
        .to_crs("EPSG:4326")
        .to_geo_dict(drop_id=True, show_bbox=False),
        name="LSOAs (hover for figures)",
        style_function=lambda f: {"fillOpacity": 0, "color": "#555", "weight": 1, "dashArray": "4"},
        tooltip={"area_name": "LSOA", "figures": "Study"},
    ).add_to(m)
    rows = [(box("#ffffff", dashed=True), "an LSOA: hover for its count and rate")]
    return [LegendSection("LSOAs", rows, layer=layer)]


# Change between two periods (hotspot_change): ColorBrewer PuOr for what a cell is (new:
# orange; persistent: dark purple; no longer hot: pale purple with a dashed edge), a thick
# black edge for a significant change in its count (solid: up; dashed: down).
CHANGE_FILLS = {
    "New hot spot": "#e66101",
    "Persistent hot spot": "#5e3c99",
    "No longer hot": "#b2abd2",
    "Not hot in either period": "#ffffff",
}
CHANGE_LAYER = "Hot spot change between two periods (Gi* and exact test)"
CHANGE_NOTE = (
    "Hot: a Gi* hot spot at 95% confidence or more (FDR) in that period. A thick black edge "
    "marks a significant change in the count (exact test, FDR 5%): solid up, dashed down; a "
    "thin dashed edge marks a spot no longer hot."
)


def change_layer(
    cells: gpd.GeoDataFrame, m: folium.Map, *, show: bool = False
) -> list[LegendSection]:
    """Add the classes of :func:`psa_geo.hotspot_change.hotspot_change` to ``m`` (one
    polygon per class; cells not hot in either period without a significant change, and
    cells not tested, are not drawn); return the legend part, which names the periods.

    For :func:`hotspot_map`: ``more_layers=lambda m: change_layer(cells, m)``.
    """
    needed = {"change_class", "study_n", "comparison_n", "study_period", "comparison_period"}
    if not isinstance(cells, gpd.GeoDataFrame) or not needed <= set(cells.columns):
        raise PsaGeoError("'cells' should be the result of hotspot_change (with change_class, "
                          "study_n, comparison_n and the periods' labels)")  # fmt: skip
    if cells.crs is None:
        raise PsaGeoError("'cells' has no CRS; set it with set_crs() first")
    if cells.empty:
        raise PsaGeoError("'cells' has no rows; hotspot_change gives one row per grid cell")
    study, comparison = cells["study_period"].iloc[0], cells["comparison_period"].iloc[0]
    periods = f"{study} (study) against {comparison} (comparison)."
    codes = {name: code for code, name in enumerate(CHANGE_CLASSES)}
    quiet = {FAMILIES[3], CHANGE_CLASSES[-1]}
    drawn = cells[cells["change_class"].isin(list(codes)) & ~cells["change_class"].isin(quiet)]
    if drawn.empty:
        return [LegendSection(CHANGE_LAYER, note=f"{periods} No cell is a hot spot in either "
                              "period, and no count changed significantly.")]  # fmt: skip
    drawn = drawn.assign(change_code=drawn["change_class"].map(codes))
    labels = {}
    for name, group in drawn.groupby("change_class"):
        labels[codes[name]] = (
            f"{name}: {len(group):,} cell(s), {int(group['study_n'].sum()):,} events in "
            f"{study} against {int(group['comparison_n'].sum()):,} in {comparison}"
        )
    layer = geojson_layer(
        _dissolved_geojson(drawn, "change_code", 5, labels),
        name=CHANGE_LAYER,
        show=show,
        style_function=lambda f: _change_style(CHANGE_CLASSES[f["properties"]["change_code"]]),
        tooltip={"label": "Change"},
    ).add_to(m)
    rows = []
    for name in CHANGE_CLASSES:
        if codes[name] in labels:
            style = _change_style(name)
            swatch = box(style["fillColor"], border=style["color"], dashed="dashArray" in style)
            rows.append((swatch, name))
    return [LegendSection(CHANGE_LAYER, rows, layer=layer, note=f"{periods} {CHANGE_NOTE}")]


def _change_style(name: str) -> dict:
    """Fill by what the cell is; edge by its change (see :data:`CHANGE_NOTE`)."""
    family = name.split(" (")[0]
    style = {"fillColor": CHANGE_FILLS[family], "color": "#555555", "weight": 0.5,
             "fillOpacity": 0.15 if family == "Not hot in either period" else 0.7}  # fmt: skip
    if name.endswith("(significant increase)"):
        return {**style, "color": "#000000", "weight": 3}
    if name.endswith("(significant decrease)"):
        return {**style, "color": "#000000", "weight": 3, "dashArray": "6 4"}
    if family == "No longer hot":
        return {**style, "color": "#5e3c99", "weight": 2, "dashArray": "6 4"}
    return style
