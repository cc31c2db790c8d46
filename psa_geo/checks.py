"""Input checks for the grid, KDE, Gi* and emerging hot-spot tools, in one place.

Each problem an analyst can hit (no rows, empty geometries, the wrong or a missing CRS,
points and study area that do not overlap, too few cells with events for Gi*) is found
here, once, with one message naming the input and the fix.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections import OrderedDict

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .errors import PsaGeoError

log = logging.getLogger(__name__)

CRS = "EPSG:27700"
MIN_CELLS_WITH_EVENTS = 30
"""Fewer non-zero cells than this and Gi* says more about the few events than about places."""

_TYPE_NAMES = {
    0: "Point",
    1: "LineString",
    2: "LinearRing",
    3: "Polygon",
    4: "MultiPoint",
    5: "MultiLineString",
    6: "MultiPolygon",
    7: "GeometryCollection",
}


def check_layer(layer: object, name: str) -> None:
    """Raise unless ``layer`` is a GeoDataFrame or GeoSeries in EPSG:27700."""
    if not isinstance(layer, gpd.GeoDataFrame | gpd.GeoSeries):
        raise PsaGeoError(
            f"'{name}' should be a GeoDataFrame or GeoSeries, got {type(layer).__name__}"
        )
    if layer.crs is None:
        raise PsaGeoError(
            f"'{name}' has no CRS; psa_geo never guesses, so set it with set_crs() "
            f"(and use to_crs('{CRS}') if it is not British National Grid)"
        )
    if layer.crs != gpd.GeoSeries(crs=CRS).crs:
        raise PsaGeoError(
            f"'{name}' is in {layer.crs.name} ({layer.crs.to_string()}), not {CRS}; "
            f"use {name}.to_crs('{CRS}') first"
        )


def layer_bounds(layer: gpd.GeoDataFrame | gpd.GeoSeries, name: str) -> tuple[float, ...]:
    """(xmin, ymin, xmax, ymax) of a checked layer that has some geometry."""
    bounds = tuple(float(v) for v in layer.total_bounds)
    if len(layer) == 0 or not all(map(math.isfinite, bounds)):
        raise PsaGeoError(f"'{name}' has no geometry (no rows, or all geometries are empty)")
    return bounds


def area_union(area: gpd.GeoDataFrame | gpd.GeoSeries, name: str) -> shapely.Geometry:
    """The union of ``area``'s polygons, after checking the layer."""
    check_layer(area, name)
    geoms = np.asarray(area.geometry.values)
    geoms = geoms[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))]
    if len(geoms) == 0:
        raise PsaGeoError(f"'{name}' has no geometry (no rows, or all geometries are empty)")
    kinds = shapely.get_type_id(geoms)
    if not np.isin(kinds, [3, 6]).all():
        bad = sorted(set(shapely.get_type_id(geoms[~np.isin(kinds, [3, 6])]).tolist()))
        names = ", ".join(_TYPE_NAMES.get(k, str(k)) for k in bad)
        raise PsaGeoError(f"'{name}' should hold polygons only, but it has {names} geometries")
    union = _kept_union(geoms)
    if union.area <= 0:
        raise PsaGeoError(f"'{name}' has zero area")
    return union


_KEPT_UNIONS = 8
"""How many unions :func:`area_union` keeps: a hotspot study unions its area's outline
for every crime group (its density raster), and a county's coast takes a while."""
_unions: OrderedDict[bytes, shapely.Geometry] = OrderedDict()


def _kept_union(geoms: np.ndarray) -> shapely.Geometry:
    """:func:`_union` of ``geoms``, kept by a digest of their WKB (the same polygons in the
    same order give the very same union)."""
    digest = hashlib.blake2b(digest_size=16)
    for wkb in shapely.to_wkb(geoms):
        digest.update(len(wkb).to_bytes(8, "little"))
        digest.update(wkb)
    key = digest.digest()
    if key in _unions:
        _unions.move_to_end(key)
        return _unions[key]
    _unions[key] = union = _union(geoms)
    while len(_unions) > _KEPT_UNIONS:
        _unions.popitem(last=False)
    return union


def _union(geoms: np.ndarray) -> shapely.Geometry:
    """The union of polygons: by coverage union (tens of times faster) when they form a
    coverage, as LSOAs do (the result is valid and keeps every polygon's area), else by the
    general overlay."""
    if len(geoms) > 1:
        try:
            union = shapely.coverage_union_all(geoms)
        except shapely.errors.GEOSException:
            union = None
        total = float(shapely.area(geoms).sum())
        if (
            union is not None
            and shapely.get_type_id(union) in (3, 6)
            and shapely.is_valid(union)
            and math.isclose(union.area, total, rel_tol=1e-9)
        ):
            return union
    return shapely.union_all(geoms)


def positive_metres(value: object, name: str) -> float:
    """``value`` as a float, or raise unless it is a finite positive number (of metres)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float | np.integer | np.floating)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise PsaGeoError(f"'{name}' should be a positive number of metres, got {value!r}")
    return float(value)


def located_points(
    points: gpd.GeoDataFrame | gpd.GeoSeries, name: str, weight: str | None
) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) array and weights of the located points; raise on unusable input.

    Rows without a location are skipped (and counted in the log); the arrays follow the
    order of the located rows.
    """
    check_layer(points, name)
    if len(points) == 0:
        raise PsaGeoError(
            f"'{name}' has no rows; has a previous step (a filter by area, group or period) "
            "removed them all?"
        )
    geoms = np.asarray(points.geometry.values)
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    n_missing = int(missing.sum())
    if n_missing == len(geoms):
        raise PsaGeoError(
            f"'{name}' has {len(geoms)} rows but none has a location (every geometry is "
            "empty); has a previous step removed all located rows?"
        )
    if n_missing:
        log.info("%s: %d of %d rows have no location and are skipped", name, n_missing, len(geoms))
    located = geoms[~missing]
    kinds = shapely.get_type_id(located)
    if (kinds != 0).any():
        bad = sorted({_TYPE_NAMES.get(k, str(k)) for k in kinds[kinds != 0].tolist()})
        raise PsaGeoError(
            f"'{name}' should hold Point geometries only, but {int((kinds != 0).sum())} are "
            f"{', '.join(bad)}"
        )
    xy = shapely.get_coordinates(located)
    if weight is None or isinstance(points, gpd.GeoSeries):
        return xy, np.ones(len(xy), dtype="int64")
    if weight not in points.columns:
        raise PsaGeoError(
            f"'{name}' has no column {weight!r} for 'weight'; pass weight=None to count each "
            "point once"
        )
    values = points[weight].to_numpy()[~missing]
    if not (np.issubdtype(values.dtype, np.number) and not np.issubdtype(values.dtype, np.bool_)):
        raise PsaGeoError(f"'{name}' column {weight!r} should be numeric, got {values.dtype}")
    if not np.isfinite(values).all() or (values < 0).any():
        raise PsaGeoError(
            f"'{name}' column {weight!r} should hold finite, non-negative weights, but some "
            "are missing, infinite or negative"
        )
    return xy, values


def check_overlap(xy: np.ndarray, inside: np.ndarray, cells: gpd.GeoDataFrame) -> None:
    """Raise when none of the located points ``xy`` falls ``inside`` any cell."""
    if len(xy) and not inside.any():
        px0, py0 = xy.min(axis=0)
        px1, py1 = xy.max(axis=0)
        cx0, cy0, cx1, cy1 = cells.total_bounds
        raise PsaGeoError(
            f"none of the {len(xy)} located points falls in any cell: the points "
            f"(E {px0:.0f}–{px1:.0f}, N {py0:.0f}–{py1:.0f}) and the study area "
            f"(E {cx0:.0f}–{cx1:.0f}, N {cy0:.0f}–{cy1:.0f}) do not overlap"
        )


def cell_values(cells: gpd.GeoDataFrame, column: str) -> np.ndarray:
    """The non-negative, finite values of ``column`` in a GeoDataFrame of cells."""
    if not isinstance(cells, gpd.GeoDataFrame):
        raise PsaGeoError(f"'cells' should be a GeoDataFrame, got {type(cells).__name__}")
    if len(cells) == 0:
        raise PsaGeoError("'cells' has no rows; Gi* needs a grid of cells with counts")
    check_layer(cells, "cells")
    if column not in cells:
        raise PsaGeoError(f"'cells' have no column {column!r}; pass column= naming the counts")
    values = cells[column]
    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
        raise PsaGeoError(f"column {column!r} should be numeric, got {values.dtype}")
    x = values.to_numpy(dtype="float64", na_value=np.nan)
    if not np.isfinite(x).all():
        bad = int((~np.isfinite(x)).sum())
        raise PsaGeoError(f"column {column!r} has {bad} missing or infinite value(s); fill them")
    if (x < 0).any():
        raise PsaGeoError(f"column {column!r} has {(x < 0).sum()} negative value(s)")
    return x


def gistar_problem(x: np.ndarray, column: str) -> str | None:
    """Why Gi* cannot run on counts ``x`` (no variation, too few cells with events), or None."""
    if (x == x[0]).all():
        return f"every cell has {column!r} = {x[0]:g}, so there is no variation"
    nonzero = int((x > 0).sum())
    if nonzero < MIN_CELLS_WITH_EVENTS:
        return (
            f"only {nonzero} cells have events, too few for Gi* (it needs at least "
            f"{MIN_CELLS_WITH_EVENTS}); use larger cells or a longer period"
        )
    return None


def cell_centres(cells: gpd.GeoDataFrame) -> np.ndarray:
    """Cell centres as an (n, 2) array: the ``x``/``y`` columns if present, else centroids."""
    if "x" in cells and "y" in cells:
        try:
            xy = np.column_stack(
                [cells["x"].to_numpy(dtype="float64"), cells["y"].to_numpy(dtype="float64")]
            )
        except (TypeError, ValueError):
            raise PsaGeoError(
                "cells' x and y columns should be numeric eastings and northings"
            ) from None
        if not np.isfinite(xy).all():
            raise PsaGeoError("cells' x and y columns have missing values; fill or drop them")
        return xy
    geom = cells.geometry
    empty = geom.isna() | geom.is_empty
    if empty.any():
        raise PsaGeoError(
            f"{int(empty.sum())} cell(s) have no geometry; drop them or give x and y columns"
        )
    centroids = geom.centroid
    return np.column_stack([centroids.x.to_numpy(), centroids.y.to_numpy()])
