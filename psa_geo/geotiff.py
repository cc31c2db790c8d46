"""Density surfaces as one multi-band GeoTIFF for QGIS and ArcGIS, written with rasterio."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import rasterio
import shapely
from affine import Affine

from ._version import __version__
from .errors import PsaGeoError
from .surface import DENSITY_UNITS, Surface

log = logging.getLogger(__name__)

NODATA = -9999.0
"""Cells outside the study area (and risk-adjusted cells with too few residents)."""
TILE = 256
"""Rasters wider or taller than two tiles are written tiled (TILE × TILE blocks)."""


def write_geotiff(
    path: str | Path,
    surfaces: dict[str, Surface],
    *,
    tags: dict[str, object] | None = None,
    sensitive: bool = False,
) -> Path:
    """Write ``surfaces`` as one GeoTIFF, one band per key (its description is the key).

    Float32, deflate-compressed (floating-point predictor), tiled when large, EPSG:27700;
    cells outside a surface's area (and NaN cells, such as risk-adjusted cells with too few
    residents) are nodata (-9999). Surfaces on different extents are placed on one raster
    covering them all: they must share the cell size, and since every surface lies on the
    lattice anchored at the National Grid origin (:func:`psa_geo.kde`), their cells line up
    exactly; a surface is nodata beyond its own extent. Each band's tags give its ``units``
    (events per km², or crimes per 1,000 residents), ``bandwidth_m``, ``bandwidth_rule``
    and ``cell_size_m``; the dataset's tags give ``tags`` and the psa_geo version.

    Parameters
    ----------
    path
        The ``.tif`` to write (replaced if it exists).
    surfaces
        Band name -> :class:`Surface` (from :func:`psa_geo.kde`; its
        :meth:`Surface.risk_adjusted` for events per 1,000 residents).
    tags
        Further dataset tags (e.g. source, period); values are written as text.
    sensitive
        True for a sensitive source (rough sleeping), which is refused: its events are never
        given a fine-grained surface.

    Returns
    -------
    Path
        ``path``.
    """
    if sensitive:
        raise PsaGeoError("a sensitive source is never given a density raster")
    if not isinstance(surfaces, dict) or not surfaces:
        raise PsaGeoError("'surfaces' should be a non-empty dict of band name -> Surface")
    for name, surface in surfaces.items():
        if not isinstance(name, str) or not name.strip():
            raise PsaGeoError(f"'surfaces' band names should be non-empty text, got {name!r}")
        if not isinstance(surface, Surface):
            raise PsaGeoError(
                f"'surfaces'[{name!r}] should be a Surface (from kde), got {type(surface).__name__}"
            )
    transform, shape = _common_grid(surfaces)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    profile = {
        "driver": "GTiff",
        "width": shape[1],
        "height": shape[0],
        "count": len(surfaces),
        "dtype": "float32",
        "crs": next(iter(surfaces.values())).crs,
        "transform": transform,
        "nodata": NODATA,
        "compress": "deflate",
        "predictor": 3,
        "BIGTIFF": "IF_SAFER",
    }
    if max(shape) > 2 * TILE:
        profile.update(tiled=True, blockxsize=TILE, blockysize=TILE)
    with rasterio.open(path, "w", **profile) as dst:
        dst.update_tags(software=f"psa_geo {__version__}",
                        **{str(k): str(v) for k, v in (tags or {}).items()})  # fmt: skip
        for band, (name, surface) in enumerate(surfaces.items(), start=1):
            dst.write(_placed(surface, transform, shape), band)
            dst.set_band_description(band, name)
            dst.update_tags(band, units=surface.units, bandwidth_m=f"{surface.bandwidth:.1f}",
                            bandwidth_rule=surface.bandwidth_rule,
                            cell_size_m=f"{surface.cell_size:g}")  # fmt: skip
            if surface.min_residents is not None:
                dst.update_tags(band, min_residents=f"{surface.min_residents:g}")
        dst.units = tuple(s.units for s in surfaces.values())
    log.info("geotiff: %s, %d bands of %d x %d cells", path.name, len(surfaces), *shape)
    return path


def read_geotiff(path: str | Path, *, area: shapely.Geometry) -> dict[str, Surface]:
    """The bands of a GeoTIFF written by :func:`write_geotiff`, as surfaces of ``area`` (the
    study area): values, mask (cells with data), bandwidth and units from the band's tags;
    no binned counts (zeros)."""
    surfaces = {}
    try:
        with rasterio.open(path) as src:
            for band, name in enumerate(src.descriptions, start=1):
                values = src.read(band).astype("float64")
                tags = src.tags(band)
                mask = values != src.nodata
                minimum = tags.get("min_residents")
                surfaces[name or f"band {band}"] = Surface(
                    values=np.where(mask, values, np.nan), transform=src.transform,
                    cell_size=float(tags["cell_size_m"]), mask=mask,
                    counts=np.zeros(values.shape), bandwidth=float(tags["bandwidth_m"]),
                    bandwidth_rule=tags.get("bandwidth_rule", ""), area=area,
                    units=tags.get("units", DENSITY_UNITS),
                    min_residents=float(minimum) if minimum else None,
                )  # fmt: skip
    except (rasterio.errors.RasterioError, KeyError, ValueError) as exc:
        raise PsaGeoError(f"{path}: not a density GeoTIFF of psa_geo ({exc})") from None
    return surfaces


def _common_grid(surfaces: dict[str, Surface]) -> tuple[Affine, tuple[int, int]]:
    """The transform and shape of the raster covering every surface (same cell size)."""
    first_name, first = next(iter(surfaces.items()))
    for name, surface in surfaces.items():
        if surface.cell_size != first.cell_size or surface.crs != first.crs:
            raise PsaGeoError(
                f"'surfaces' {first_name!r} and {name!r} have different cells "
                f"({first.cell_size:g} m, {first.crs} and {surface.cell_size:g} m, "
                f"{surface.crs}); compute them with the same cell_size"
            )
    size = first.cell_size
    top = max(s.lattice_index()[0] for s in surfaces.values())
    left = min(s.lattice_index()[1] for s in surfaces.values())
    bottom = min(s.lattice_index()[0] - s.shape[0] + 1 for s in surfaces.values())
    right = max(s.lattice_index()[1] + s.shape[1] - 1 for s in surfaces.values())
    transform = Affine(size, 0.0, left * size, 0.0, -size, (top + 1) * size)
    return transform, (top - bottom + 1, right - left + 1)


def _placed(surface: Surface, transform: Affine, shape: tuple[int, int]) -> np.ndarray:
    """The surface's values on the common raster, nodata outside its area."""
    out = np.full(shape, NODATA, dtype="float32")
    top, left = surface.lattice_index()
    i0 = round((transform.f / transform.a) - 1) - top
    j0 = left - round(transform.c / transform.a)
    values = np.where(surface.mask & np.isfinite(surface.values), surface.values, NODATA)
    out[i0 : i0 + surface.shape[0], j0 : j0 + surface.shape[1]] = values.astype("float32")
    return out
