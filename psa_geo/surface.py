"""A raster surface on the National Grid lattice: what :func:`psa_geo.kde` returns.

Our own small class rather than an ``xarray.DataArray``: a surface is one 2-D array, its
affine transform and a mask, and xarray (with rioxarray for the CRS and GeoTIFFs) would be two
dependencies for that. It converts when wanted: ``xarray.DataArray(s.values, coords={"y":
s.centres()[1], "x": s.centres()[0]}, dims=("y", "x"))``.

The raster's cells are exactly the square cells of :mod:`psa_geo.grids`: cell (``row``,
``col``) of the lattice covers x in [col·s, (col+1)·s) and y in [row·s, (row+1)·s), so a
surface gives the grid form (one polygon per cell, for Gi* and emerging hot spots) without
resampling (:meth:`Surface.to_cells`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import geopandas as gpd
import numpy as np
import shapely
from affine import Affine

from .checks import CRS, area_union
from .errors import PsaGeoError
from .grids import _as_counts, _build_grid, _Lattice

DENSITY_UNITS = "events per km²"
RISK_UNITS = "crimes per 1,000 residents (smoothed)"


@dataclass(frozen=True, eq=False)
class Surface:
    """A kernel density raster in EPSG:27700, north up.

    Attributes
    ----------
    values
        (rows, cols) float64: the density at each cell centre in ``units`` (events per km²),
        over the whole bounding box of the area on the lattice (also outside the area, where
        ``mask`` is False: writers and maps leave those cells out).
    transform
        ``affine.Affine`` from (col, row) of the array to the cell's upper-left corner in
        metres; row 0 is the northernmost row.
    cell_size
        Cell side in metres.
    mask
        (rows, cols) bool: True where the study area meets the cell (GDAL's "all touched"
        rule: any part of the cell, even a sliver, is in the area).
    counts
        (rows, cols): the weight of the points binned to each cell (integers when the weights
        are), before smoothing.
    bandwidth, bandwidth_rule
        The kernel radius ``h`` in metres and how it was chosen.
    area
        The study area (the union of its polygons) the surface covers.
    units
        What ``values`` measure: "events per km²", or for :meth:`risk_adjusted`
        "crimes per 1,000 residents (smoothed)".
    per_1000, residents, residents_in_kernel, min_residents
        Set by ``kde(..., population=...)`` (risk-adjusted density), else None:
        ``per_1000`` = 1,000 × ``values`` / resident density (NaN where
        ``residents_in_kernel`` < ``min_residents``, or outside the area); ``residents`` the
        residents spread to each cell by area share; ``residents_in_kernel`` the smoothed
        residents within the bandwidth (resident density × πh²).
    crs
        Always "EPSG:27700".
    """

    values: np.ndarray
    transform: Affine
    cell_size: float
    mask: np.ndarray
    counts: np.ndarray
    bandwidth: float
    bandwidth_rule: str
    area: shapely.Geometry = field(repr=False)
    units: str = DENSITY_UNITS
    per_1000: np.ndarray | None = field(default=None, repr=False)
    residents: np.ndarray | None = field(default=None, repr=False)
    residents_in_kernel: np.ndarray | None = field(default=None, repr=False)
    min_residents: float | None = None
    crs: str = CRS

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols) of the raster."""
        return self.values.shape

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) of the raster in metres."""
        rows, cols = self.shape
        return (self.transform.c, self.transform.f - rows * self.cell_size,
                self.transform.c + cols * self.cell_size, self.transform.f)  # fmt: skip

    @property
    def cell_area_km2(self) -> float:
        """The area of one (whole) cell in km²."""
        return self.cell_size**2 / 1e6

    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        """(x of each column's centres, y of each row's centres) in metres."""
        rows, cols = self.shape
        x = self.transform.c + (np.arange(cols) + 0.5) * self.cell_size
        y = self.transform.f - (np.arange(rows) + 0.5) * self.cell_size
        return x, y

    def lattice_index(self) -> tuple[int, int]:
        """(lattice ``row`` of array row 0, lattice ``col`` of array column 0)."""
        top = round(self.transform.f / self.cell_size) - 1
        left = round(self.transform.c / self.cell_size)
        return top, left

    def total(self) -> float:
        """Σ density × cell area over the cells in the area: the events the surface holds
        there (the total weight, less the kernels' mass beyond the area's cells)."""
        return float(self.values[self.mask].sum() * self.cell_area_km2)

    def to_cells(
        self,
        area: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
        *,
        grid: gpd.GeoDataFrame | None = None,
    ) -> gpd.GeoDataFrame:
        """The grid form: one clipped polygon per cell, with the surface's values.

        Parameters
        ----------
        area
            Polygons in EPSG:27700 within the surface's extent; None for the surface's own
            study area.
        grid
            The square grid of ``make_grid(area, cell_size=self.cell_size)`` already made
            (e.g. shared by the surfaces of one area), used instead of making it again.

        Returns
        -------
        GeoDataFrame
            ``make_grid(area, cell_size=self.cell_size)`` (columns ``cell_id``, ``row``,
            ``col``, ``x``, ``y``, ``area_km2``, ``geometry``) plus ``n`` (``counts``) and
            ``kde`` (``values``) of each cell, and ``per_1000`` when the surface has it.
            ``attrs["kde"]`` holds ``bandwidth``, ``bandwidth_rule`` and ``cell_size``.
        """
        if grid is None:
            union = self.area if area is None else area_union(area, "area")
            grid = _build_grid(union, _Lattice("square", self.cell_size))
        top, left = self.lattice_index()
        i = top - grid["row"].to_numpy()
        j = grid["col"].to_numpy() - left
        rows, cols = self.shape
        if len(grid) and (i.min() < 0 or j.min() < 0 or i.max() >= rows or j.max() >= cols):
            raise PsaGeoError(
                "'area' reaches beyond the surface's extent; compute the surface over it "
                "(kde(..., area=area))"
            )
        out = grid.copy()
        out["n"] = _as_counts(self.counts[i, j], self.counts)
        out["kde"] = self.values[i, j]
        if self.per_1000 is not None:
            out["per_1000"] = self.per_1000[i, j]
        out.attrs["kde"] = {"bandwidth": self.bandwidth, "bandwidth_rule": self.bandwidth_rule,
                            "cell_size": self.cell_size}  # fmt: skip
        return out

    def risk_adjusted(self) -> Surface:
        """The risk-adjusted density as a surface of its own (``values`` = ``per_1000``, NaN
        where there are too few residents), e.g. for :func:`psa_geo.write_geotiff`."""
        if self.per_1000 is None:
            raise PsaGeoError(
                "this surface has no risk-adjusted density; compute it with "
                "kde(..., population=lsoas)"
            )
        return replace(self, values=self.per_1000, units=RISK_UNITS, per_1000=None)
