"""The files of an area's hotspots: the map, a GeoPackage with one layer per crime group (the
store from which ``psa-geo hotspots --group`` rebuilds the map) and the index's sidecar."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio

from ._gpkg import unflushed_writes
from .errors import PsaGeoError
from .filenames import safe_name
from .geotiff import read_geotiff, write_geotiff
from .hotspot_maps import area_hotspot_map
from .hotspots import AreaHotspots, HotspotResult
from .page_assets import save_map
from .periods import Period

log = logging.getLogger(__name__)

OUTLINE_LAYER = "study_area"
REPEATS_SUFFIX = "_repeat_locations"
RISK_SUFFIX = ": per 1,000 residents (smoothed)"


def group_layer(group: str) -> str:
    """A group's GeoPackage layer: its name made safe as a table name (letters, digits, _);
    the group's own name is the layer's identifier and metadata."""
    return safe_name(group, fallback="group").replace("-", "_")


def hotspot_stem(area_name: str) -> str:
    """``hotspots_<area>``: the name of an area's map, GeoPackage and sidecar, without suffix."""
    return f"hotspots_{safe_name(area_name)}"


def write_hotspots(
    hot: AreaHotspots | HotspotResult, out_dir: str | Path, *, place: str | None = None
) -> list[Path]:
    """``hotspots_<area>.html`` (the map: one switchable layer per group),
    ``hotspots_<area>.gpkg`` (for QGIS: a layer of cells per group, with the scale in the
    layer's metadata, the study area and the repeat locations), ``hotspots_<area>.tif`` (the
    densities: :func:`write_density`) and ``hotspots_<area>.json``
    (what the folder's index shows: :func:`psa_geo.write_hotspots_index`); ``place`` (the
    force definition's area) is added to the title."""
    if isinstance(hot, HotspotResult):
        hot = AreaHotspots(hot.area_name, "area", hot.period, hot.outline, {hot.group: hot},
                           places=hot.places)  # fmt: skip
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = hotspot_stem(hot.area_name)
    where = f"{hot.area_name} ({place})" if place else hot.area_name
    page = out_dir / f"{stem}.html"
    m = area_hotspot_map(hot, title=f"Crime hotspots in {where}, {hot.period.label}")
    save_map(m, page, index_href="../index.html")
    gpkg = write_hotspot_layers(hot, out_dir / f"{stem}.gpkg")
    rasters = [write_density(hot, out_dir / f"{stem}.tif")] if hot.results else []
    headline = hot.headline
    entry = {
        "area": hot.area_name,
        "level": hot.level,
        "period": hot.period.label,
        "period_start": hot.period.start.strftime("%Y-%m-%d"),
        "period_end": hot.period.end.strftime("%Y-%m-%d"),
        "place": place,
        "map": page.name,
        "cells": gpkg.name,
        "group": headline.group if headline else "",
        "hot_cells": headline.hot_cells if headline else None,
        "cell_count": len(headline.cells) if headline else None,
        "groups": [
            {"group": g, "layer": group_layer(g), "hot_cells": r.hot_cells, "scale": r.scale}
            for g, r in hot.results.items()
        ],
        "too_few": hot.too_few,
    }
    sidecar = out_dir / f"{stem}.json"
    sidecar.write_text(json.dumps(entry, indent=1, ensure_ascii=False), encoding="utf-8")
    return [page, gpkg, *rasters, sidecar]


def write_hotspot_layers(hot: AreaHotspots, path: str | Path) -> Path:
    """The GeoPackage of ``hot``: one layer of cells per group (:func:`group_layer`; the
    cells of :func:`telling_cells`), the study area and, for the detailed groups, the repeat
    locations; replaced whole."""
    path = Path(path)
    path.unlink(missing_ok=True)
    meta = {"period": hot.period.label, "area": hot.area_name,
            "too_few_to_map": json.dumps(hot.too_few, ensure_ascii=False)}  # fmt: skip
    with unflushed_writes():
        hot.outline.to_file(path, layer=OUTLINE_LAYER, driver="GPKG", metadata=meta)
        for group, result in hot.results.items():
            _write_group(path, group, result, hot.outline.crs)
    return path


def _write_group(path: Path, group: str, result: HotspotResult, crs) -> None:
    """Add the layers of one group (its cells and, when it has them, its repeat locations)."""
    layer = group_layer(group)
    pyogrio.write_dataframe(telling_cells(result.cells), path, layer=layer, driver="GPKG",
                            layer_metadata={"group": group, "scale": result.scale,
                                            **result.scale_metadata},
                            layer_options={"IDENTIFIER": group,
                                           "DESCRIPTION": result.scale})  # fmt: skip
    if not result.repeats.empty:
        points = gpd.GeoDataFrame(
            result.repeats,
            geometry=gpd.points_from_xy(result.repeats["easting"], result.repeats["northing"]),
            crs=crs,
        )
        identifier = {"IDENTIFIER": f"{group}: repeat locations"}
        pyogrio.write_dataframe(points, path, layer=f"{layer}{REPEATS_SUFFIX}", driver="GPKG",
                                layer_options=identifier)  # fmt: skip


def telling_cells(cells: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The cells with something to tell: an event, a significant Gi* class, an emerging
    pattern or a change class other than "not hot in either period". The rest hold no
    event and no finding (0 and "Not significant" in every column that matters); leaving
    them out keeps a county's GeoPackage to megabytes rather than a hundred."""
    keep = (cells["n"] > 0) | (cells["hotspot_level"] != 0)
    if "emerging_class" in cells:
        keep |= cells["emerging_class"].notna() & (cells["emerging_class"] != "No pattern")
    if "change_class" in cells:
        keep |= cells["change_class"] != "Not hot in either period"
    return cells[keep]


def write_density(hot: AreaHotspots, path: str | Path) -> Path:
    """The GeoTIFF of ``hot``: one band of kernel density per group (events per km², on the
    area's one grid) and, where the headline group has it, a band of its crimes per 1,000
    residents (smoothed); see :func:`psa_geo.write_geotiff`."""
    bands = {g: r.density for g, r in hot.results.items() if r.density is not None}
    head = hot.headline
    if head is not None and head.density is not None and head.density.per_1000 is not None:
        bands[f"{head.group}{RISK_SUFFIX}"] = head.density.risk_adjusted()
    return write_geotiff(path, bands, tags={"area": hot.area_name, "period": hot.period.label})


def read_hotspots(path: str | Path) -> AreaHotspots:
    """The :class:`AreaHotspots` written by :func:`write_hotspots` at ``path`` (the ``.gpkg``,
    with its ``.json`` sidecar beside it): what ``psa-geo hotspots --group`` adds a group to."""
    path = Path(path)
    try:
        entry = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        layers = [name for name, _ in pyogrio.list_layers(path)]
        outline = pyogrio.read_dataframe(path, layer=OUTLINE_LAYER)
    except (OSError, ValueError, pyogrio.errors.DataSourceError) as exc:
        raise PsaGeoError(f"{path}: cannot read the hotspot layers ({exc})") from None
    period = Period(entry["period"], pd.Timestamp(entry["period_start"]),
                    pd.Timestamp(entry["period_end"]))  # fmt: skip
    results = {}
    for item in entry.get("groups", []):
        group, layer = item["group"], item.get("layer", "")
        if layer not in layers:
            continue
        cells = pyogrio.read_dataframe(path, layer=layer)
        metadata = pyogrio.read_info(path, layer=layer).get("layer_metadata") or {}
        repeats_layer = f"{layer}{REPEATS_SUFFIX}"
        repeats = (pd.DataFrame(pyogrio.read_dataframe(path, layer=repeats_layer,
                                                       read_geometry=False))
                   if repeats_layer in layers else pd.DataFrame())  # fmt: skip
        figures = {k: v for k, v in metadata.items() if k.startswith("scale_")}
        scale = item.get("scale", "")
        results[group] = HotspotResult(entry["area"], group, period, outline, cells, repeats,
                                       scale=scale, scale_metadata=figures)  # fmt: skip
    _read_density(path.with_suffix(".tif"), results, outline)
    return AreaHotspots(entry["area"], entry.get("level", "csp"), period, outline, results,
                        dict(entry.get("too_few", {})))  # fmt: skip


def _read_density(path: Path, results: dict[str, HotspotResult], outline) -> None:
    """Give ``results`` their density bands (and the headline's risk-adjusted one) from the
    area's GeoTIFF, when it is there."""
    if not path.is_file():
        return
    bands = read_geotiff(path, area=outline.geometry.union_all())
    for group, result in results.items():
        density = bands.get(group)
        risk = bands.get(f"{group}{RISK_SUFFIX}")
        if density is not None and risk is not None:
            density = replace(density, per_1000=risk.values, min_residents=risk.min_residents)
        result.density = density


def with_group(previous: AreaHotspots | None, new: AreaHotspots) -> AreaHotspots:
    """``previous`` with the groups of ``new`` added or replaced (in the previous order, new
    groups last); ``new`` alone when there is no previous map or it is for another period."""
    if previous is None:
        return new
    if (previous.period.start, previous.period.end) != (new.period.start, new.period.end):
        log.warning("hotspots: the map of %s was for %s; it is replaced by one for %s",
                    new.area_name, previous.period.label, new.period.label)  # fmt: skip
        return new
    results = {g: r for g, r in previous.results.items() if g not in new.too_few}
    results.update(new.results)
    too_few = {g: n for g, n in previous.too_few.items() if g not in new.results}
    too_few.update(new.too_few)
    for result in results.values():
        result.places = new.places
    return AreaHotspots(new.area_name, new.level, new.period, new.outline, results, too_few,
                        new.places)  # fmt: skip
