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
    """
    geoms = np.asarray(
        points.to_numpy() if isinstance(points, gpd.GeoSeries) else points, dtype=object
    )
    codes = areas["lsoa_code"].to_numpy()
    out = np.full(len(geoms), None, dtype=object)
    if not len(geoms):
        return out
    tree = shapely.STRtree(areas.geometry.to_numpy())
    point_idx, poly_idx = tree.query(geoms, predicate="intersects")
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
        is_2011 = pd.Series(published).isin(areas["lsoa_code"]).to_numpy()
        is_2021 = ~is_2011 & pd.Series(published).isin(list(mapping)).to_numpy()
        converted = np.array([mapping.get(code) for code in published], dtype=object)
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
