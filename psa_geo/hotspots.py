"""Hotspot study of one area: density, Gi* hot and cold spots and repeat locations."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from .emerging import MIN_SLICES, emerging_hotspots
from .errors import PsaGeoError
from .filenames import safe_name
from .geotiff import write_geotiff
from .gistar import NOT_TESTED, gistar
from .groups import single_groups
from .hotspot_maps import hotspot_map
from .kde import kde
from .names import match_name
from .page_assets import save_map
from .periods import Period
from .place_search import place_index
from .repeats import repeat_locations
from .surface import Surface

log = logging.getLogger(__name__)


@dataclass
class HotspotResult:
    """``cells``: the grid with ``n``, ``kde``, the Gi* columns and, for periods of 10 months
    or more, the emerging hot-spot columns; ``repeats``: top locations; ``places``: the
    area's wards and LSOAs for the map's search (:func:`place_index`); ``density``: the
    kernel density raster the cells' ``n`` and ``kde`` come from, with the crimes per 1,000
    residents (smoothed) of the area's LSOAs."""

    area_name: str
    group: str
    period: Period
    outline: gpd.GeoDataFrame
    cells: gpd.GeoDataFrame
    repeats: pd.DataFrame
    places: list[dict] = field(default_factory=list)
    density: Surface | None = None


def hotspot_study(
    events: gpd.GeoDataFrame,
    areas: gpd.GeoDataFrame,
    *,
    area_name: str,
    level: str = "csp",
    group: str,
    groups: dict[str, list[str]] | None = None,
    period: Period,
    cell_size: float | None = None,
    sensitive: bool = False,
) -> HotspotResult:
    """Hotspots of ``group`` in one area of ``level`` (a CSP, LAD or ward by name) in ``period``.

    Uses the located events assigned to the area (:func:`assign_areas`), one square grid for
    the kernel density, Gi* and, when the period has at least 10 months, the monthly
    emerging hot spots (:func:`emerging_hotspots`); default cell size:
    :func:`default_cell_size`. Adds the top 10 repeat locations.
    """
    if sensitive:
        raise PsaGeoError("a sensitive source is never given fine-grained hotspot layers")
    groups = groups or single_groups(events["category"])
    if group not in groups:
        raise PsaGeoError(f"no group {group!r}; choose one of: {', '.join(groups)}")
    name_col = f"{level}_name"
    if name_col not in areas:
        raise PsaGeoError(f"'level' should be lsoa, ward, lad or csp, got {level!r}")
    area_name = match_name(area_name, sorted(areas[name_col].dropna().unique()),
                           what=level.upper())  # fmt: skip
    chosen = areas[areas[name_col] == area_name]
    outline = chosen[["geometry"]].dissolve()
    selected = events[
        (events["area_status"] == "inside")
        & events[name_col].eq(area_name)
        & events["category"].isin(groups[group])
        & period.contains(events["date"])
    ]
    log.info("hotspots: %d events of %s in %s, %s", len(selected), group, area_name, period.label)
    density = kde(selected, area=outline, cell_size=cell_size, population=chosen)
    cells = density.to_cells()
    alone = _isolated(cells)
    cells = _gistar_with_isolated(cells, alone)
    if period.months >= MIN_SLICES:
        cells = emerging_hotspots(selected, cells, period=period)
    else:
        log.info("emerging hot spots need %d months or more; %s is shorter", MIN_SLICES,
                 period.label)  # fmt: skip
    wards = chosen[["ward_name", "geometry"]].dissolve(by="ward_name", as_index=False)
    places = place_index([("ward", wards.rename(columns={"ward_name": "area_name"})),
                          ("LSOA", chosen.rename(columns={"lsoa_name": "area_name"}))])  # fmt: skip
    return HotspotResult(area_name, group, period, outline, cells,
                         repeat_locations(selected, top=10), places, density)  # fmt: skip


def _isolated(cells: gpd.GeoDataFrame) -> np.ndarray:
    """Cells with no neighbouring cell (offshore rocks, islands cut off by the clip): Gi*
    cannot test them, so they are labelled rather than stopping the study."""
    xy = cells[["x", "y"]].to_numpy()
    step = float(np.median(np.diff(np.unique(xy[:, 0])))) if len(xy) > 1 else 0.0
    nearest = cKDTree(xy).query(xy, k=2)[0][:, 1] if len(xy) > 1 else np.array([np.inf])
    alone = nearest > np.sqrt(2) * step * (1 + 1e-6)
    if alone.any():
        log.info("Gi*: %d cells with no neighbouring cell are not tested", int(alone.sum()))
    return alone


def _gistar_with_isolated(cells: gpd.GeoDataFrame, alone: np.ndarray) -> gpd.GeoDataFrame:
    tested = gistar(cells[~alone], column="n")
    out = pd.concat([tested, cells[alone]]).loc[cells.index]
    out.loc[alone, "hotspot_class"] = NOT_TESTED
    out.loc[alone, "hotspot_level"] = 0
    out["hotspot_level"] = out["hotspot_level"].astype(int)
    return out


def write_hotspots(
    result: HotspotResult, out_dir: str | Path, *, place: str | None = None
) -> list[Path]:
    """``hotspots_<area>.html`` (the map), ``hotspots_<area>.gpkg`` (cells, for QGIS),
    ``hotspots_<area>.tif`` (the density raster, one band named for the group, when the result
    has one) and ``hotspots_<area>.json`` (what the folder's index shows of it:
    :func:`psa_geo.hotspot_pages.write_hotspots_index`); ``place`` (the force definition's
    area) is added to the title."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"hotspots_{safe_name(result.area_name)}_{safe_name(result.group)}"
    where = f"{result.area_name} ({place})" if place else result.area_name
    title = f"{result.group}: hotspots in {where}, {result.period.label}"
    page = out_dir / f"{stem}.html"
    emerging = result.cells if "emerging_class" in result.cells else None
    density = result.density
    risk = density if density is not None and density.per_1000 is not None else None
    m = hotspot_map(result.outline, title=title, gistar_cells=result.cells, density=density,
                    kde_cells=result.cells if density is None else None, risk=risk,
                    emerging_cells=emerging, repeats=result.repeats,
                    places=result.places)  # fmt: skip
    save_map(m, page, index_href="../index.html")
    gpkg = out_dir / f"{stem}.gpkg"
    gpkg.unlink(missing_ok=True)
    result.cells.to_file(gpkg, layer="cells", driver="GPKG")
    rasters = []
    if density is not None:
        rasters.append(write_geotiff(out_dir / f"{stem}.tif", {result.group: density},
                                     tags={"area": result.area_name,
                                           "period": result.period.label}))  # fmt: skip
    levels = result.cells.get("hotspot_level", pd.Series(dtype=float))
    entry = {"area": result.area_name, "group": result.group, "period": result.period.label,
             "place": place, "map": page.name, "cells": gpkg.name,
             "hot_cells": int((levels >= 2).sum()), "cell_count": len(result.cells)}  # fmt: skip
    sidecar = out_dir / f"{stem}.json"
    sidecar.write_text(json.dumps(entry, indent=1, ensure_ascii=False), encoding="utf-8")
    return [page, gpkg, *rasters, sidecar]
