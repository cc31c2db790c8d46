"""Join events to LSOAs and, through the lookups, to wards, LADs and CSPs."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .areas import ASSIGNED_COLUMNS
from .events import validate_events

log = logging.getLogger(__name__)


@dataclass
class AssignReport:
    """How events were placed. ``events == inside + outside + without_location``."""

    events: int = 0
    inside: int = 0
    outside: int = 0
    without_location: int = 0
    by_basis: dict[str, int] = field(default_factory=dict)
    published_compared: int = 0
    published_agree: int = 0
    converted_from_2021: int = 0
    placed_above_lsoa: int = 0

    @property
    def agreement_rate(self) -> float | None:
        if not self.published_compared:
            return None
        return self.published_agree / self.published_compared

    def check(self) -> None:
        assert self.events == self.inside + self.outside + self.without_location, self

    def add(self, other: AssignReport) -> None:
        """Add ``other``'s counts (another part of the same events) to these."""
        for name in ("events", "inside", "outside", "without_location", "published_compared",
                     "published_agree", "converted_from_2021", "placed_above_lsoa"):  # fmt: skip
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for basis, n in other.by_basis.items():
            self.by_basis[basis] = self.by_basis.get(basis, 0) + n

    def to_dict(self) -> dict:
        return {
            "events": self.events,
            "inside_area": self.inside,
            "outside_area": self.outside,
            "without_location": self.without_location,
            "by_basis": dict(sorted(self.by_basis.items())),
            "lsoa_2021_codes_converted": self.converted_from_2021,
            "placed_above_lsoa": self.placed_above_lsoa,
            "published_lsoa_compared": self.published_compared,
            "published_lsoa_agree": self.published_agree,
            "published_lsoa_agreement_rate": self.agreement_rate,
        }


def locate_lsoa(points: gpd.GeoSeries | np.ndarray, areas: gpd.GeoDataFrame) -> np.ndarray:
    """The LSOA code containing each point (None where none does).

    A point on an edge or vertex shared by several LSOAs goes to the one with the lowest
    code, so every point inside the study area lands in exactly one LSOA.

    Each distinct coordinate is located once (police.uk snaps many crimes to one point):
    polygons are visited in code order, each testing (prepared, ``intersects_xy``) only the
    points in its bounding box not yet placed, so the first hit is the lowest code. The
    result equals a spatial join on ``intersects`` with ties to the lowest code.
    """
    geoms = np.asarray(
        points.to_numpy() if isinstance(points, gpd.GeoSeries) else points, dtype=object
    )
    codes = areas["lsoa_code"].to_numpy()
    out = np.full(len(geoms), None, dtype=object)
    if not len(geoms) or not len(codes):
        return out
    polygons = areas.geometry.to_numpy()
    is_point = (shapely.get_type_id(geoms) == 0) & ~shapely.is_empty(geoms)
    xy = shapely.get_coordinates(geoms[is_point])
    finite = np.isfinite(xy).all(axis=1)
    by_xy = np.flatnonzero(is_point)[finite]
    by_tree = ~shapely.is_missing(geoms)
    by_tree[by_xy] = False
    rest = np.flatnonzero(by_tree)
    if len(by_xy):
        x, y, inverse = _distinct_by_x(xy[finite, 0], xy[finite, 1])
        found = _first_containing(x, y, polygons, np.argsort(codes, kind="stable"))[inverse]
        placed = found >= 0
        out[by_xy[placed]] = codes[found[placed]]
    if len(rest):
        out[rest] = _locate_by_tree(geoms[rest], polygons, codes)
    return out


#: Horizontal bands the distinct points are split into, so that a polygon scans only the
#: points of the bands its bounding box crosses.
_BANDS = 16


def _distinct_by_x(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct (x, y) pairs sorted by x, and the position of each input pair among them."""
    order = np.argsort(x)
    xs = x[order]
    same_x = xs[1:] == xs[:-1]
    if 2 * np.count_nonzero(same_x) > len(x):  # mostly repeats (snap points): hash the pairs
        inverse, pairs = pd.factorize(x + 1j * y)
        by_x = np.argsort(pairs.real)
        rank = np.empty(len(pairs), dtype=np.int64)
        rank[by_x] = np.arange(len(pairs))
        return pairs.real[by_x], pairs.imag[by_x], rank[inverse]
    if same_x.any():  # make equal pairs neighbours: sort each run of equal x by y
        in_run = np.zeros(len(xs), dtype=bool)
        in_run[1:] |= same_x
        in_run[:-1] |= same_x
        run = np.flatnonzero(in_run)
        order[run] = order[run][np.lexsort((y[order[run]], xs[run]))]
    ys = y[order]
    new = np.ones(len(xs), dtype=bool)
    new[1:] = (xs[1:] != xs[:-1]) | (ys[1:] != ys[:-1])
    inverse = np.empty(len(x), dtype=np.int64)
    inverse[order] = np.cumsum(new) - 1
    return xs[new], ys[new], inverse


def _first_containing(
    x: np.ndarray, y: np.ndarray, polygons: np.ndarray, visit: np.ndarray
) -> np.ndarray:
    """For each point (``x`` ascending), the first polygon in ``visit`` order that
    intersects it (-1 for none)."""
    found = np.full(len(x), -1, dtype=np.int64)
    y_min, y_max = float(y.min()), float(y.max())
    height = (y_max - y_min) / _BANDS or 1.0
    band = ((y - y_min) // height).astype(np.int64)
    by_band = np.argsort(band, kind="stable")  # x order kept within each band
    band_x = x[by_band]
    starts = np.searchsorted(band[by_band], np.arange(_BANDS + 2))
    bounds = shapely.bounds(polygons)
    shapely.prepare(polygons)
    for i in visit:
        x0, y0, x1, y1 = bounds[i]
        if not (y1 >= y_min and y0 <= y_max and x1 >= x[0] and x0 <= x[-1]):  # NaN: empty
            continue
        spans = []
        for b in range(
            max(int((y0 - y_min) // height), 0), min(int((y1 - y_min) // height), _BANDS) + 1
        ):
            start, end = starts[b], starts[b + 1]
            lo = start + np.searchsorted(band_x[start:end], x0, side="left")
            hi = start + np.searchsorted(band_x[start:end], x1, side="right")
            if hi > lo:
                spans.append(by_band[lo:hi])
        if not spans:
            continue
        idx = np.concatenate(spans)
        idx = idx[(y[idx] >= y0) & (y[idx] <= y1)]
        idx = idx[found[idx] < 0]
        if len(idx):
            found[idx[shapely.intersects_xy(polygons[i], x[idx], y[idx])]] = i
    return found


def _locate_by_tree(geoms: np.ndarray, polygons: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """:func:`locate_lsoa` for any geometries, through an STRtree (lines, polygons, ...)."""
    out = np.full(len(geoms), None, dtype=object)
    point_idx, poly_idx = shapely.STRtree(polygons).query(geoms, predicate="intersects")
    if not len(point_idx):
        return out
    code_rank = np.argsort(np.argsort(codes, kind="stable"), kind="stable")
    order = np.lexsort((code_rank[poly_idx], point_idx))
    point_idx, poly_idx = point_idx[order], poly_idx[order]
    first = np.unique(point_idx, return_index=True)[1]
    out[point_idx[first]] = codes[poly_idx[first]]
    return out


def assign_areas(
    events: gpd.GeoDataFrame,
    areas: gpd.GeoDataFrame,
    *,
    use_published_lsoa: bool = True,
    return_report: bool = False,
) -> gpd.GeoDataFrame | tuple[gpd.GeoDataFrame, AssignReport]:
    """Add ``lsoa_code`` … ``csp_name`` to a copy of ``events``.

    Parameters
    ----------
    events
        A canonical events table (EPSG:27700).
    areas
        The LSOA table from :func:`load_areas` (same CRS).
    use_published_lsoa
        Where an event carries the LSOA its publisher assigned (police.uk's
        ``published_lsoa_code``), use it: official figures do. 2021 codes are converted to
        2011 codes through ``areas.attrs["lsoa21_to_lsoa11"]``; a 2021 LSOA made by merging
        2011 LSOAs is placed by its point. The spatial LSOA is kept beside it as
        ``spatial_lsoa_code`` and the report gives the agreement rate.
    return_report
        Also return the :class:`AssignReport`.

    An event without a point whose 2021 LSOA merges several 2011 LSOAs (a counts table's
    row) is placed at the lowest level that wholly contains those LSOAs: its ward, LAD or
    CSP, or only the force total; the levels below it are left blank.

    Adds ``area_status`` (``inside``, ``outside`` or ``no_location``), ``placed_level``
    (``lsoa``, ``ward``, ``lad``, ``csp`` or ``peninsula`` for events inside) and
    ``assignment_basis`` (``published``, ``published_2021``, ``published_2021_merged``,
    ``spatial`` or ``none``).
    """
    validate_events(events)
    if areas.crs is None or areas.crs != events.crs:
        raise ValueError(
            f"events are in {events.crs.name} but areas in "
            f"{areas.crs.name if areas.crs else 'no CRS'}; use to_crs() first"
        )
    out = events.drop(
        columns=[c for c in (*ASSIGNED_COLUMNS, "spatial_lsoa_code") if c in events],
        errors="ignore",
    ).copy()
    geom = out.geometry
    located = ~(geom.isna() | geom.is_empty).to_numpy()
    spatial = np.full(len(out), None, dtype=object)
    spatial[located] = locate_lsoa(geom.to_numpy()[located], areas)
    out["spatial_lsoa_code"] = pd.Series(spatial, index=out.index, dtype=object)

    report = AssignReport(events=len(out))
    lsoa = spatial.copy()
    basis = np.where(located, "spatial", "none").astype(object)
    published_outside = np.zeros(len(out), dtype=bool)
    if use_published_lsoa and "published_lsoa_code" in out:
        # Positional arrays throughout: the events' index may repeat.
        published = out["published_lsoa_code"].fillna("").astype(str).str.strip().to_numpy()
        mapping = areas.attrs.get("lsoa21_to_lsoa11", {})
        which, distinct = pd.factorize(published)  # each distinct code looked up once
        is_2011 = pd.Index(areas["lsoa_code"]).get_indexer(distinct)[which] >= 0
        is_2021 = ~is_2011 & (pd.Index(list(mapping)).get_indexer(distinct)[which] >= 0)
        converted = np.array([mapping.get(code) for code in distinct] + [None], dtype=object)
        converted = converted[which]
        by_2021 = is_2021 & pd.notna(converted)  # a merged 2021 LSOA maps to None: use the point
        published_outside = (published != "") & ~is_2011 & ~is_2021
        lsoa[is_2011] = published[is_2011]
        lsoa[by_2021] = converted[by_2021]
        lsoa[published_outside] = None
        basis[is_2011 | published_outside] = "published"
        basis[by_2021] = "published_2021"
        report.converted_from_2021 = int(by_2021.sum())
        compare = (is_2011 | by_2021) & pd.notna(spatial)
        report.published_compared = int(compare.sum())
        report.published_agree = int((lsoa[compare] == spatial[compare]).sum())

    out["lsoa_code"] = pd.Series(lsoa, index=out.index, dtype=object)
    attrs = areas[list(ASSIGNED_COLUMNS)].set_index("lsoa_code")
    joined = attrs.reindex(lsoa)
    for col in ASSIGNED_COLUMNS[1:]:
        out[col] = joined[col].to_numpy()
    placed_level = np.where(pd.notna(lsoa), "lsoa", None).astype(object)
    if use_published_lsoa and "published_lsoa_code" in out:
        above = is_2021 & pd.isna(converted) & pd.isna(lsoa)
        merged = getattr(mapping, "merged", {})
        for code in np.unique(published[above]):
            rows = np.flatnonzero(above & (published == code))
            level, values = _containing_level(attrs, merged.get(code, ()))
            if level is None:
                continue
            for col, value in values.items():
                out.iloc[rows, out.columns.get_loc(col)] = value
            placed_level[rows] = level
            basis[rows] = "published_2021_merged"
        report.placed_above_lsoa = int(pd.notna(placed_level[above]).sum())
    out["placed_level"] = placed_level
    status = np.where(
        pd.notna(placed_level),
        "inside",
        np.where(located | published_outside, "outside", "no_location"),
    )
    out["area_status"] = status
    out["assignment_basis"] = basis

    report.inside = int((status == "inside").sum())
    report.outside = int((status == "outside").sum())
    report.without_location = int((status == "no_location").sum())
    report.by_basis = {k: int(v) for k, v in out["assignment_basis"].value_counts().items()}
    report.check()
    if report.outside:
        log.warning("%d events lie outside every LSOA of the study area", report.outside)
    if report.agreement_rate is not None:
        log.info(
            "published LSOA agrees with the spatial join for %.1f%% of %d events",
            100 * report.agreement_rate,
            report.published_compared,
        )
    return (out, report) if return_report else out


def _containing_level(attrs: pd.DataFrame, parts: tuple[str, ...]) -> tuple[str | None, dict]:
    """The lowest level (ward, LAD, CSP, else ``peninsula``) sharing one area for every LSOA
    of ``parts``, and the assigned columns' values there (blank below it)."""
    members = attrs.reindex([p for p in parts if p in attrs.index])
    if members.empty:
        return None, {}
    values = dict.fromkeys(ASSIGNED_COLUMNS[1:])
    shared = None
    for level in ("csp", "lad", "ward"):
        if members[f"{level}_code"].nunique() != 1:
            break
        shared = level
        values[f"{level}_code"] = members[f"{level}_code"].iloc[0]
        values[f"{level}_name"] = members[f"{level}_name"].iloc[0]
    return shared or "peninsula", values
