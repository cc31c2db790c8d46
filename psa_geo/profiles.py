"""Town profiles: the figures of a Safer Town (or any named set of LSOAs) for one period.

:func:`town_profiles` returns the numbers (for analysts); :mod:`psa_geo.profile_pages`
renders them. A town's figures are those of its LSOAs: located events only, compared with
its CSP (located events too) and with the other towns profiled together.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

import geopandas as gpd
import pandas as pd

from .completeness import incomplete_note
from .filenames import safe_name
from .groups import single_groups
from .hotspots import HotspotResult, area_hotspots
from .inequality import MOST_DEPRIVED, deprived_share, with_deprivation
from .measures import ALL_CRIME, ASB, rate_table
from .names import match_names
from .periods import Period
from .series import monthly_series, seasonality
from .stats import compare_with_benchmark
from .towns import with_towns

log = logging.getLogger(__name__)

HEADLINE_GROUPS = (ALL_CRIME, ASB)
POINT_SOURCES = {
    "drug_litter": "Drug-related litter (needle finds)",
    "rough_sleeping": "Rough sleeping",
}
"""Sections filled only from data supplied to the run; otherwise the page says so."""


@dataclass
class TownProfile:
    """The figures of one town for ``study`` against ``comparison``.

    ``figures`` has one row per crime group in the assessment's format (count, rate with
    95% interval, change, trend, significance) plus the comparison with the town's CSP
    (``vs_parent_95``) and with the other towns profiled with it (``vs_other_towns_95``).
    ``lsoas`` carries each LSOA's all-crime count and rate with its deprivation and rurality
    (:data:`psa_geo.inequality.DEPRIVATION_COLUMNS`); ``deprivation`` the LSOAs among England's
    most deprived 10% and 20% and, for the latter (national deciles 1-2), their share of the
    town's crime (``crime_share_pct``) and of its residents (``population_share_pct``); no
    slope index: a town's few LSOAs give no stable gradient. ``monthly`` the monthly counts
    of the headline groups over both periods; ``hotspots`` a hotspot study per mapped group
    and ``too_few`` the groups with too few events to map, with their counts;
    ``point_sources`` the town's figures from point files given to the run
    (:func:`psa_geo.point_sources.town_point_figures`), None where none was given.
    """

    town: str
    study: Period
    comparison: Period
    population: int
    area_km2: float
    outline: gpd.GeoDataFrame
    figures: pd.DataFrame
    lsoas: gpd.GeoDataFrame
    monthly: pd.DataFrame
    seasonality: pd.DataFrame | None
    deprivation: dict
    rural_urban: dict[str, int]
    hotspots: dict[str, HotspotResult] = field(default_factory=dict)
    too_few: dict[str, int] = field(default_factory=dict)
    places: list[dict] = field(default_factory=list)
    point_sources: dict[str, dict | None] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    incomplete: str = ""
    """A line naming the flagged months in the periods (empty when none)."""

    @property
    def slug(self) -> str:
        return safe_name(self.town)

    @property
    def synthetic(self) -> bool:
        """True when a point-source section holds synthetic example data."""
        return any(f and f.get("synthetic") for f in self.point_sources.values())

    def headline(self) -> pd.DataFrame:
        """The all-crime and ASB rows of ``figures``."""
        return self.figures[self.figures["category"].isin(HEADLINE_GROUPS)]


def town_profiles(
    events: gpd.GeoDataFrame,
    areas: gpd.GeoDataFrame,
    towns: pd.DataFrame,
    *,
    study: Period,
    comparison: Period,
    names: Iterable[str] | None = None,
    groups: dict[str, list[str]] | None = None,
    months_covered: set[pd.Timestamp] | None = None,
    threshold: float = 0.05,
    hotspots: bool = True,
    incomplete: pd.DataFrame | None = None,
    mapped: list[str] | None = None,
) -> list[TownProfile]:
    """Profiles of the towns ``names`` (default: every town in ``towns``).

    ``events`` are assigned events (:func:`assign_areas`); ``towns`` has ``town`` and
    ``lsoa_code`` columns (:func:`load_towns` or :func:`define_town`). An unknown name is an
    error listing the known towns. The comparison "vs other towns" pools the located events
    and residents of every other town in ``towns``. Changes and trends across months of
    ``incomplete`` (:func:`psa_geo.completeness.incomplete_months`) are withheld and the
    page names those months. ``mapped`` are the groups given hotspot layers (default:
    every group; :func:`psa_geo.hotspots.area_hotspots`).
    """
    known = list(dict.fromkeys(towns["town"]))
    chosen = known if names is None else match_names(names, known, what="town")
    groups = groups or single_groups(events["category"])
    areas_t, events_t = with_towns(areas, towns), with_towns(events, towns)
    common = {"study": study, "comparison": comparison, "months_covered": months_covered,
              "threshold": threshold, "incomplete": incomplete}  # fmt: skip
    table = _with_other_towns(rate_table(events_t, areas_t, level="town", groups=groups, **common))
    headline = {g: groups[g] for g in HEADLINE_GROUPS if g in groups}
    lsoa_rates = rate_table(
        events_t, areas_t, level="lsoa", groups={ALL_CRIME: groups[ALL_CRIME]}, **common
    )
    months = pd.date_range(comparison.start, study.end, freq="MS", inclusive="left")
    monthly = monthly_series(events_t, areas_t, level="town", groups=headline, months=months)
    season = None
    if study.months == 12 and not table["trend_word"].str.startswith("not comparable").any():
        season = seasonality(monthly, period=study)
    shared = (events_t, areas_t, table, lsoa_rates, monthly, season, groups, study, comparison)
    mapped_groups = (mapped or list(groups)) if hotspots else []
    profiles = [_profile(name, *shared, mapped_groups) for name in chosen]
    for profile in profiles:
        profile.incomplete = incomplete_note(incomplete, study, comparison)
    return profiles


def _with_other_towns(table: pd.DataFrame) -> pd.DataFrame:
    """Add the pooled rate of every other town and the comparison with it (95%)."""
    totals = table.groupby("category", sort=False)[["count", "population"]].transform("sum")
    others_count = totals["count"] - table["count"]
    others_population = totals["population"] - table["population"]
    rate = (1000.0 * others_count / others_population).where(others_population > 0)
    out = table.assign(other_towns_rate_per_1000=rate)
    out["vs_other_towns_95"] = ""
    has = rate.notna()
    out.loc[has, "vs_other_towns_95"] = compare_with_benchmark(
        out.loc[has, "count"], out.loc[has, "population"], rate[has], level=0.95
    )
    return out


def _profile(
    name, events, areas, table, lsoa_rates, monthly, season, groups, study, comparison, mapped
) -> TownProfile:
    members = areas[areas["town_name"] == name]
    outline = members[["geometry"]].dissolve()
    lsoas = members[["lsoa_code", "geometry"]].merge(
        with_deprivation(lsoa_rates, areas).rename(columns={"area_code": "lsoa_code"}),
        on="lsoa_code",
    )
    deciles = members["imd_decile"]
    crime_share, resident_share = deprived_share(lsoas["count"], lsoas["population"],
                                                 lsoas["imd_decile"])  # fmt: skip
    profile = TownProfile(
        town=name,
        study=study,
        comparison=comparison,
        population=int(members["population"].sum()),
        area_km2=float(outline.area.iloc[0] / 1e6),
        outline=outline,
        figures=table[table["area_name"] == name].reset_index(drop=True),
        lsoas=gpd.GeoDataFrame(lsoas, geometry="geometry", crs=areas.crs),
        monthly=monthly[monthly["area_name"] == name].reset_index(drop=True),
        seasonality=None if season is None else season[season["area_name"] == name],
        deprivation={
            "lsoas": len(members),
            "most_deprived_10": int((deciles <= 1).sum()),
            "most_deprived_20": int((deciles <= MOST_DEPRIVED).sum()),
            "crime_share_pct": crime_share,
            "population_share_pct": resident_share,
        },
        rural_urban=members["rural_urban"].value_counts().to_dict()
        if "rural_urban" in members
        else {},
        point_sources=dict.fromkeys(POINT_SOURCES),
    )
    if mapped:
        hot = area_hotspots(events, areas, area_name=name, level="town", groups=groups,
                            mapped=mapped, period=study, comparison=comparison)  # fmt: skip
        profile.hotspots, profile.too_few, profile.places = hot.results, hot.too_few, hot.places
        for group in HEADLINE_GROUPS:
            if group in hot.too_few:
                profile.notes.append(f"No {group} hotspot layer for {name}: too few events "
                                     f"({hot.too_few[group]:,}) to map")  # fmt: skip
    return profile
