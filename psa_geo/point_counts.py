"""Counts from point sources: reports and distinct people by area and period; finds near bins.

Counts of people from a sensitive source (rough sleeping) are small by nature: suppress them
before publishing (GLOSSARY.md, "Suppression").
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from .areas import PENINSULA, parent_area
from .errors import PsaGeoError
from .events import CRS, validate_events
from .periods import Period
from .points import SYNTHETIC_STAMP, is_synthetic

log = logging.getLogger(__name__)

PERIODS = ("month", "quarter", "year", "financial_year")
NOT_PLACED = "(not in an area: outside the study area or no location)"
#: The weight column's name in the output, by source.
WEIGHT_NAMES = {"drug_litter": "items", "rough_sleeping": "people"}


def report_counts(
    events: gpd.GeoDataFrame,
    areas: pd.DataFrame | None = None,
    *,
    level: str = "lsoa",
    period: str = "month",
    within: Period | None = None,
) -> pd.DataFrame:
    """Reports, their summed weight and distinct people by area and period.

    Parameters
    ----------
    events
        Point events (:func:`read_points`) placed in areas (:func:`assign_areas`, and
        :func:`assign_towns` for ``level="town"``).
    areas
        The LSOA table (:func:`load_areas`): when given, every area of ``level`` gets a row for
        every period, zeros included. Default: only areas with reports.
    level
        ``lsoa``, ``ward``, ``lad``, ``csp``, ``peninsula``, ``town`` or any level the events
        carry as ``<level>_code`` and ``<level>_name``.
    period
        ``month`` (``2019-06``), ``quarter`` (``2019Q2``), ``year`` (``2019``) or
        ``financial_year`` (``2019/20``).
    within
        Only events in this period. Default: all dated events.

    Returns
    -------
    pandas.DataFrame
        ``area_code, area_name, period, period_start, reports`` and the summed weight (named
        ``items`` for drug litter, ``people`` for rough sleeping, else ``weight``); with a
        ``person_id`` column also ``distinct_people`` (distinct ids) and
        ``reports_without_person_id``. Events in no area of the level are counted on one row
        per period named :data:`NOT_PLACED` (code None), so columns add up to the totals.
        Distinct people do not add up across areas or periods: one person may be seen in
        several. Counts from synthetic example data get a first column ``synthetic`` =
        "synthetic example data" and ``attrs["synthetic"]``.
    """
    validate_events(events)
    if period not in PERIODS:
        raise PsaGeoError(f"'period' should be one of {PERIODS}, got {period!r}")
    code_col, name_col = _level_columns(events, level)
    frame = events[events["date"].notna()]
    if len(frame) < len(events):
        log.info("report counts: %d events without a date left out", len(events) - len(frame))
    if within is not None:
        frame = frame[within.contains(frame["date"])]
    sources = events["source"].unique()
    weight_name = WEIGHT_NAMES.get(sources[0], "weight") if len(sources) == 1 else "weight"
    parent = parent_area(areas) if areas is not None else PENINSULA
    keys = pd.DataFrame(
        {
            "area_code": _codes(frame, level, code_col, parent),
            "area_name": _codes(frame, level, name_col, parent),
            "period_start": _period_start(frame["date"], period),
            weight_name: frame["weight"].to_numpy(),
        },
        index=frame.index,
    )
    has_ids = "person_id" in frame
    if has_ids:
        keys["person_id"] = frame["person_id"].where(frame["person_id"].notna(), None)
    placed = keys["area_code"].notna()
    keys.loc[~placed, "area_name"] = NOT_PLACED
    aggs = {"reports": (weight_name, "size"), weight_name: (weight_name, "sum")}
    if has_ids:
        aggs["distinct_people"] = ("person_id", "nunique")
        aggs["reports_without_person_id"] = ("person_id", lambda s: int(s.isna().sum()))
    table = (
        keys.fillna({"area_code": ""})
        .groupby(["area_code", "area_name", "period_start"], sort=False)
        .agg(**aggs)
        .reset_index()
    )
    if areas is not None:
        table = _with_zeros(table, areas, level, code_col, name_col, period, frame, within)
    table["area_code"] = table["area_code"].replace("", None)
    table.insert(2, "period", table["period_start"].map(lambda d: _label(d, period)))
    table["_unplaced"] = table["area_code"].isna()
    table = table.sort_values(["_unplaced", "area_code", "period_start"], ignore_index=True)
    counts = [c for c in table.columns if c not in ("area_code", "area_name", "period",
                                                      "period_start", "_unplaced")]  # fmt: skip
    table[counts] = table[counts].fillna(0).astype(int)
    return _stamped(table.drop(columns="_unplaced"), events)


def _stamped(table: pd.DataFrame, *sources: pd.DataFrame) -> pd.DataFrame:
    """``table`` with a first column ``synthetic`` = "synthetic example data" (and
    ``attrs["synthetic"]``) when any of ``sources`` is synthetic."""
    if any(is_synthetic(frame) for frame in sources):
        table = table.copy()
        table.insert(0, "synthetic", SYNTHETIC_STAMP)
        table.attrs["synthetic"] = True
    return table


def _level_columns(events: pd.DataFrame, level: str) -> tuple[str, str]:
    if level == "peninsula":
        return "peninsula_code", "peninsula_name"
    if level == "town":
        if "town" not in events:
            raise PsaGeoError("the events have no town column; run assign_towns() first")
        return "town", "town"
    code, name = f"{level}_code", f"{level}_name"
    if {code, name} <= set(events.columns):
        return code, name
    if level in ("lsoa", "ward", "lad", "csp"):
        raise PsaGeoError(f"the events have no {code} column; run assign_areas() first")
    raise PsaGeoError(f"the events carry no level {level!r} ({code} and {name} columns)")


def _codes(frame: pd.DataFrame, level: str, column: str, parent=PENINSULA) -> np.ndarray:
    if level == "peninsula":
        placed = frame.get("area_status", pd.Series("inside", index=frame.index)) == "inside"
        text = parent[0] if column == "peninsula_code" else parent[1]
        return np.where(placed, text, None)
    values = frame[column].astype(object)
    return np.array(values.where(values.notna() & (values != ""), None), dtype=object)


def _period_start(dates: pd.Series, period: str) -> pd.Series:
    if period == "financial_year":
        year = dates.dt.year - (dates.dt.month < 4)
        return pd.to_datetime(year.astype(str) + "-04-01")
    freq = {"month": "M", "quarter": "Q", "year": "Y"}[period]
    return dates.dt.to_period(freq).dt.start_time


def _label(start: pd.Timestamp, period: str) -> str:
    if period == "month":
        return f"{start:%Y-%m}"
    if period == "quarter":
        return f"{start.year}Q{start.quarter}"
    if period == "year":
        return str(start.year)
    return f"{start.year}/{(start.year + 1) % 100:02d}"


def _with_zeros(table, areas, level, code_col, name_col, period, frame, within) -> pd.DataFrame:
    if level == "peninsula":
        code, name = parent_area(areas)
        names = pd.DataFrame({"area_code": [code], "area_name": [name]})
    elif level == "town":
        names = table.loc[table["area_code"] != "", ["area_code", "area_name"]].drop_duplicates()
    else:
        if {code_col, name_col} - set(areas.columns):
            raise PsaGeoError(f"'areas' has no {code_col} and {name_col} columns")
        names = areas[[code_col, name_col]].drop_duplicates()
        names.columns = ["area_code", "area_name"]
    dates = frame["date"]
    if within is not None:
        dates = pd.Series([within.start, within.end - pd.Timedelta(days=1)])
    if dates.empty:
        return table
    starts = _period_start(pd.Series(pd.date_range(dates.min(), dates.max(), freq="D")), period)
    grid = names.merge(pd.DataFrame({"period_start": starts.unique()}), how="cross")
    unplaced = table[table["area_code"] == ""]
    full = grid.merge(table, on=["area_code", "area_name", "period_start"], how="left")
    return pd.concat([full, unplaced], ignore_index=True)


@dataclass
class BinCoverage:
    """How many finds lie within ``distance_m`` of a needle bin.

    ``bins``: one row per bin (``bin``, the label: ``bin_id``, ``site`` or ``event_id``),
    ``finds_within``, ``items_within``, ``share_pct`` of all located finds, ``geometry``;
    each covered find counts for its nearest bin only, so the columns add up.
    ``finds``: the located finds with ``nearest_bin``, ``nearest_bin_m`` and ``within``;
    :attr:`uncovered` (the finds beyond every bin) shows where a new bin would help.
    ``bins`` is stamped like :func:`report_counts` when the finds or bins are synthetic.
    """

    distance_m: float
    bins: gpd.GeoDataFrame
    finds: gpd.GeoDataFrame
    located: int
    without_location: int
    share_within_pct: float
    items_share_within_pct: float

    @property
    def uncovered(self) -> gpd.GeoDataFrame:
        return self.finds[~self.finds["within"]]


def finds_near_bins(
    finds: gpd.GeoDataFrame, bins: gpd.GeoDataFrame, *, distance_m: float = 200.0
) -> BinCoverage:
    """Needle finds within ``distance_m`` metres (straight line) of a needle bin.

    Parameters
    ----------
    finds
        Drug-litter events (:func:`read_points` with ``source="drug_litter"``).
    bins
        Bin sites: ``read_points(path, source="needle_bins")`` or any point GeoDataFrame in
        EPSG:27700.
    distance_m
        The walking-free radius a bin serves (default 200 m).
    """
    validate_events(finds, name="finds")
    if not isinstance(bins, gpd.GeoDataFrame):
        raise PsaGeoError(f"'bins' should be a GeoDataFrame, got {type(bins).__name__}")
    if bins.crs is None or bins.crs != gpd.GeoSeries(crs=CRS).crs:
        got = bins.crs.name if bins.crs is not None else "no CRS"
        raise PsaGeoError(f"'bins' should be in EPSG:27700, got {got} (use to_crs('EPSG:27700'))")
    if not distance_m > 0:
        raise PsaGeoError(f"'distance_m' should be above 0, got {distance_m}")
    bins = bins[~(bins.geometry.isna() | bins.geometry.is_empty)]
    if bins.empty:
        raise PsaGeoError("'bins' has no located bin")
    if not (bins.geom_type == "Point").all():
        raise PsaGeoError("'bins' should hold points")
    empty = finds.geometry.isna() | finds.geometry.is_empty
    located = finds[~empty].copy()
    labels = _bin_labels(bins)
    bin_xy = shapely.get_coordinates(bins.geometry.to_numpy())
    find_xy = shapely.get_coordinates(located.geometry.to_numpy())
    dist, nearest = cKDTree(bin_xy).query(find_xy, k=1) if len(located) else ([], [])
    located["nearest_bin"] = labels[np.asarray(nearest, dtype=int)]
    located["nearest_bin_m"] = np.asarray(dist, dtype=float)
    located["within"] = located["nearest_bin_m"] <= distance_m
    covered = located[located["within"]]
    per_bin = covered.groupby("nearest_bin").agg(
        finds_within=("weight", "size"), items_within=("weight", "sum")
    )
    table = gpd.GeoDataFrame({"bin": labels}, geometry=bins.geometry.to_numpy(), crs=CRS)
    table = table.join(per_bin, on="bin").fillna({"finds_within": 0, "items_within": 0})
    table[["finds_within", "items_within"]] = table[["finds_within", "items_within"]].astype(int)
    n, items = len(located), located["weight"].sum()
    table["share_pct"] = 100.0 * table["finds_within"] / n if n else 0.0
    table = table[["bin", "finds_within", "items_within", "share_pct", "geometry"]]
    return BinCoverage(
        distance_m=float(distance_m),
        bins=_stamped(table, finds, bins),
        finds=located,
        located=n,
        without_location=int(empty.sum()),
        share_within_pct=100.0 * len(covered) / n if n else 0.0,
        items_share_within_pct=100.0 * covered["weight"].sum() / items if items else 0.0,
    )


def _bin_labels(bins: gpd.GeoDataFrame) -> np.ndarray:
    label = pd.Series([None] * len(bins), index=bins.index, dtype=object)
    for column in ("bin_id", "site", "event_id"):
        if column in bins:
            label = label.fillna(bins[column].where(bins[column].astype(str) != "", None))
    label = label.fillna(pd.Series([f"bin {i + 1}" for i in range(len(bins))], index=bins.index))
    repeat = label.groupby(label).cumcount()
    return label.where(repeat == 0, label + " #" + (repeat + 1).astype(str)).to_numpy(dtype=object)
