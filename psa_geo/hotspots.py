"""Hotspot studies of one area: density, Gi* hot and cold spots and repeat locations, for one
crime group (:func:`hotspot_study`) or every mapped group (:func:`area_hotspots`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd

from .emerging import MIN_SLICES, emerging_hotspots
from .errors import PsaGeoError
from .gistar import NOT_TESTED, band_and_isolated, gistar
from .grids import make_grid
from .groups import single_groups
from .hotspot_change import hotspot_change
from .kde import kde
from .measures import ALL_CRIME, ASB
from .names import match_name
from .periods import Period
from .place_search import place_index
from .repeats import repeat_locations
from .scale import choose_scale
from .surface import Surface

log = logging.getLogger(__name__)

MIN_MAPPED_EVENTS = 60
"""A group with fewer events in the area and period is listed "too few to map" (ArcGIS Pro's
Optimized Hot Spot Analysis likewise needs at least 60 incidents)."""
DETAILED_GROUPS = (ALL_CRIME, ASB)
"""The groups that also get emerging hot spots and repeat locations."""


@dataclass
class HotspotResult:
    """``cells``: the grid with ``n``, ``kde``, the Gi* columns and, for detailed groups and
    periods of 10 months or more, the emerging hot-spot columns; ``repeats``: top locations
    (empty for groups that are not detailed); ``places``: the area's wards and LSOAs for the
    map's search (:func:`place_index`); ``scale``: the cell size and Gi* band and why, in
    words; ``scale_metadata``: the same with its figures (:meth:`psa_geo.Scale.to_metadata`);
    ``density``: the kernel density raster the cells' ``n`` and ``kde`` come from, with the
    crimes per 1,000 residents (smoothed) for detailed groups."""

    area_name: str
    group: str
    period: Period
    outline: gpd.GeoDataFrame
    cells: gpd.GeoDataFrame
    repeats: pd.DataFrame
    places: list[dict] = field(default_factory=list)
    scale: str = ""
    scale_metadata: dict[str, str] = field(default_factory=dict)
    density: Surface | None = None

    @property
    def hot_cells(self) -> int:
        """Cells that are hot spots at 95% confidence or more."""
        return int((self.cells["hotspot_level"] >= 2).sum())


@dataclass
class AreaHotspots:
    """The hotspots of every mapped group in one area: ``results`` by group, in the groups'
    order, and ``too_few``: the groups not mapped, with their number of events."""

    area_name: str
    level: str
    period: Period
    outline: gpd.GeoDataFrame
    results: dict[str, HotspotResult]
    too_few: dict[str, int] = field(default_factory=dict)
    places: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def headline(self) -> HotspotResult | None:
        """All crime when mapped, else the first detailed group, else the first group."""
        for group in (*DETAILED_GROUPS, *self.results):
            if group in self.results:
                return self.results[group]
        return None


@dataclass(frozen=True)
class _StudyArea:
    name: str
    level: str
    lsoas: gpd.GeoDataFrame
    outline: gpd.GeoDataFrame
    grids: dict[float, gpd.GeoDataFrame] = field(default_factory=dict)

    @classmethod
    def of(cls, areas: gpd.GeoDataFrame, level: str, name: str) -> _StudyArea:
        column = f"{level}_name"
        if column not in areas:
            raise PsaGeoError(f"'level' should be lsoa, ward, lad or csp, got {level!r}")
        name = match_name(name, sorted(areas[column].dropna().unique()), what=level.upper())
        chosen = areas[areas[column] == name]
        return cls(name, level, chosen, chosen[["geometry"]].dissolve())

    def events(self, events: gpd.GeoDataFrame, period: Period | None = None) -> gpd.GeoDataFrame:
        """The located events inside the area (in ``period``, if given)."""
        keep = (events["area_status"] == "inside") & events[f"{self.level}_name"].eq(self.name)
        if period is not None:
            keep &= period.contains(events["date"])
        return events[keep]

    def grid(self, cell_size: float) -> gpd.GeoDataFrame:
        """The area's square grid of ``cell_size`` (made once, shared by the groups)."""
        if cell_size not in self.grids:
            self.grids[cell_size] = make_grid(self.outline, cell_size=cell_size)
        return self.grids[cell_size]

    def places(self) -> list[dict]:
        wards = self.lsoas[["ward_name", "geometry"]].dissolve(by="ward_name", as_index=False)
        wards = wards.rename(columns={"ward_name": "area_name"})
        lsoas = self.lsoas.rename(columns={"lsoa_name": "area_name"})
        return place_index([("ward", wards), ("LSOA", lsoas)])


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
    detailed: bool = True,
) -> HotspotResult:
    """Hotspots of ``group`` in one area of ``level`` (a CSP, LAD, ward or town by name) in
    ``period``.

    Uses the located events assigned to the area (:func:`assign_areas`), one square grid for
    the kernel density, Gi* and, when ``detailed`` and the period has at least 10 months,
    the monthly emerging hot spots (:func:`emerging_hotspots`). The cell size and the Gi*
    band come from the data (:func:`psa_geo.choose_scale`); a given ``cell_size`` overrides
    the cell. ``detailed`` also adds the top 10 repeat locations.
    """
    if sensitive:
        raise PsaGeoError("a sensitive source is never given fine-grained hotspot layers")
    groups = groups or single_groups(events["category"])
    if group not in groups:
        raise PsaGeoError(f"no group {group!r}; choose one of: {', '.join(groups)}")
    area = _StudyArea.of(areas, level, area_name)
    selected = area.events(events, period)
    selected = selected[selected["category"].isin(groups[group])]
    result = _group_study(selected, area, group, period, cell_size, detailed, risk=detailed)
    result.places = area.places()
    return result


def area_hotspots(
    events: gpd.GeoDataFrame,
    areas: gpd.GeoDataFrame,
    *,
    area_name: str,
    level: str = "csp",
    groups: dict[str, list[str]],
    mapped: list[str] | None = None,
    period: Period,
    comparison: Period | None = None,
    cell_size: float | None = None,
    detailed: tuple[str, ...] = DETAILED_GROUPS,
) -> AreaHotspots:
    """Hotspots of each group of ``mapped`` (default: every group of ``groups``) in one area.

    A group with fewer than :data:`MIN_MAPPED_EVENTS` located events in the area and period,
    or too few cells with events for Gi*, is listed in ``too_few`` with its count instead.
    Every group shares one grid, so that their layers align cell for cell: its cell size
    is ``cell_size``, else the one :func:`psa_geo.choose_scale` chooses for all crime (else
    the first detailed group mapped, else the first group); each group's Gi* band is chosen
    from its own events. The groups of ``detailed`` also get emerging hot spots and repeat
    locations; the headline group (:attr:`AreaHotspots.headline`) its risk-adjusted density
    and, with a ``comparison`` period, the change between the periods
    (:func:`psa_geo.hotspot_change`; a note in ``notes`` says why not where it cannot run).
    """
    mapped = list(groups) if mapped is None else mapped
    unknown = [g for g in mapped if g not in groups]
    if unknown:
        raise PsaGeoError(f"no group {unknown[0]!r} to map; choose from: {', '.join(groups)}")
    area = _StudyArea.of(areas, level, area_name)
    located = area.events(events)  # in every period: the study's and the comparison's
    in_area = area.events(located, period)
    # a group that is not detailed reads only its events' places and weights (scale,
    # density, Gi*): it is picked from these columns, not from every column of the events
    slim = in_area[[c for c in (in_area.geometry.name, "weight", "category") if c in in_area]]
    results, too_few = {}, {}
    first = next((g for g in (*detailed, *mapped) if g in mapped), None)
    for group in sorted(mapped, key=lambda g: g != first):  # the first sets the cell size
        frame = in_area if group in detailed else slim
        selected = frame[frame["category"].isin(groups[group])]
        if len(selected) < MIN_MAPPED_EVENTS:
            too_few[group] = len(selected)
            continue
        try:
            results[group] = _group_study(selected, area, group, period, cell_size,
                                          group in detailed, risk=group == first)  # fmt: skip
        except PsaGeoError as exc:
            log.info("hotspots: %s in %s too few to map: %s", group, area.name, exc)
            too_few[group] = len(selected)
            continue
        cell_size = cell_size or float(results[group].scale_metadata["scale_cell_size_m"])
    results = {g: results[g] for g in mapped if g in results}
    too_few = {g: too_few[g] for g in mapped if g in too_few}
    places = area.places()
    for result in results.values():
        result.places = places
    hot = AreaHotspots(area.name, level, period, area.outline, results, too_few, places)
    if comparison is not None and hot.headline is not None:
        _add_change(hot.headline, area, located, groups, comparison, hot.notes)
    return hot


def _add_change(result, area, events, groups, comparison, notes) -> None:
    """Add :func:`hotspot_change`'s columns to the cells of ``result`` (on the same grid and
    band), or a note saying why not."""
    read = (events.geometry.name, "weight", "date", "category", "area_status", f"{area.level}_name")
    events = events[[c for c in read if c in events]]  # all the change and the area read
    both = pd.concat([area.events(events, comparison), area.events(events, result.period)])
    both = both[both["category"].isin(groups[result.group])]
    band = float(result.cells["gistar_band_m"].iloc[0])
    try:
        result.cells = hotspot_change(both, result.cells, study=result.period,
                                      comparison=comparison, distance=band)  # fmt: skip
    except PsaGeoError as exc:
        notes.append(f"no change from {comparison.label} for {result.group} in "
                     f"{area.name}: {exc}")  # fmt: skip
        log.info("hotspots: %s", notes[-1])


def _group_study(
    selected: gpd.GeoDataFrame,
    area: _StudyArea,
    group: str,
    period: Period,
    cell_size: float | None,
    detailed: bool,
    *,
    risk: bool = True,
) -> HotspotResult:
    """One group's study; ``risk`` adds its risk-adjusted density (crimes per 1,000
    residents, smoothed), which the maps show for the headline group only."""
    log.info("hotspots: %d events of %s in %s, %s", len(selected), group, area.name, period.label)
    scale = choose_scale(selected, area.outline, cell_size=cell_size)
    density = kde(selected, area=area.outline, cell_size=scale.cell_size,
                  population=area.lsoas if risk else None)  # fmt: skip
    cells = density.to_cells(grid=area.grid(scale.cell_size))
    _, alone = band_and_isolated(cells, scale.band)
    cells = _gistar_with_isolated(cells, alone, scale.band)
    if detailed and period.months >= MIN_SLICES:
        cells = emerging_hotspots(selected, cells, period=period, distance=scale.band)
    elif detailed:
        log.info("emerging hot spots need %d months or more; %s is shorter", MIN_SLICES,
                 period.label)  # fmt: skip
    repeats = repeat_locations(selected, top=10) if detailed else pd.DataFrame()
    return HotspotResult(area.name, group, period, area.outline, cells, repeats,
                         scale=scale.reason, scale_metadata=scale.to_metadata(),
                         density=density)  # fmt: skip


def _gistar_with_isolated(
    cells: gpd.GeoDataFrame, alone: np.ndarray, band: float
) -> gpd.GeoDataFrame:
    tested = gistar(cells[~alone], column="n", distance=band)
    if not alone.any():
        return tested
    out = cells.copy()
    for column in ("gistar_z", "p_value", "p_value_fdr"):
        values = np.full(len(cells), np.nan)
        values[~alone] = tested[column].to_numpy()
        out[column] = values
    classes = np.full(len(cells), NOT_TESTED, dtype=object)
    classes[~alone] = tested["hotspot_class"].to_numpy()
    out["hotspot_class"] = pd.Series(classes, index=cells.index, dtype=str)
    levels = np.zeros(len(cells), dtype="int64")
    levels[~alone] = tested["hotspot_level"].to_numpy()
    out["hotspot_level"] = levels
    out["gistar_band_m"] = band
    return out
