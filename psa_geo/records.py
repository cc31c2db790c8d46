"""The study's police.uk records: street files and counts tables together (:class:`Records`),
and what follows from them: the groups, the headline group, the months that look incomplete
source by source, and whether a period has points for the point-based sections."""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import pandas as pd

from .assign import AssignReport, assign_areas
from .completeness import incomplete_months
from .counts import ALL_RECORDS, LEVEL_RANK, counts_coverage, read_counts
from .counts import SOURCE as COUNTS_SOURCE
from .events import CANONICAL_COLUMNS, CRS, IngestReport
from .measures import ALL_CRIME
from .periods import Period
from .tallies import tally


@dataclass
class Records:
    """The study's areas and police.uk records: street files and counts tables together.

    ``events`` holds both (a counts table's months that street files cover are left out
    and counted as ``superseded_by_street_files``); ``ingest``/``placed`` report the street
    files and ``counts``/``counts_placed`` the counts tables; ``coverage`` is the counts'
    :func:`counts_coverage` (None without counts); ``months`` every month either covers.
    ``tallied``: ``events`` are tallies (:func:`psa_geo.tally`), not events.
    """

    areas: pd.DataFrame
    events: pd.DataFrame
    ingest: IngestReport
    placed: AssignReport
    counts: IngestReport | None = None
    counts_placed: AssignReport | None = None
    coverage: pd.Series | None = None
    months: set = field(default_factory=set)
    overlap: list[str] = field(default_factory=list)
    tallied: bool = False

    def coverage_of(self, *periods: Period) -> pd.Series | None:
        """The counts' coverage when counts rows fall in any of ``periods``, else None."""
        if self.coverage is None:
            return None
        rows = self.events[self.events["source"] == COUNTS_SOURCE]
        if not any(period.contains(rows["date"]).any() for period in periods):
            return None
        return self.coverage

    def notes(self, coverage: pd.Series | None) -> list[str]:
        """Lines for the index and run report: overlap with street files, and the areas with
        no data under ``coverage`` (:meth:`coverage_of` the study's periods)."""
        if self.counts is None:
            return []
        lines = list(self.counts.notes)
        if coverage is not None:
            by_code = self.areas.set_index("lsoa_code")
            missing = by_code.loc[coverage.index[coverage.isna()]]
            if len(missing):
                names = ", ".join(missing["lsoa_name"].head(5))
                lines.append(
                    f"no data for {len(missing)} LSOAs in the counts tables ({names}): they show "
                    f"'no data', and their {int(missing['population'].sum()):,} residents are "
                    "left out of every rate, their parent areas' too"
                )
            above = by_code.loc[coverage.index[coverage > 0]]
            if len(above):
                lines.append(
                    f"{len(above)} LSOAs ({', '.join(above['lsoa_name'].head(5))}) are counted "
                    "only at the level that wholly holds the 2021 LSOA they merged into (their "
                    "ward, LAD or CSP); below it they show 'no data'"
                )
        return lines

    def counts_report(self) -> dict:
        """The counts tables' part of the run report's ``sources``."""
        if self.counts is None:
            return {}
        coverage = self.coverage
        levels = {rank: level for level, rank in LEVEL_RANK.items()}
        return {
            COUNTS_SOURCE: {
                "ingest": self.counts.to_dict(),
                "assignment": self.counts_placed.to_dict(),
                "months_superseded_by_street_files": self.overlap,
                "lsoas_without_data": sorted(coverage.index[coverage.isna()]),
                "lsoas_known_above_lsoa_level": {
                    code: levels[int(rank)] for code, rank in coverage[coverage > 0].items()
                },
            }
        }


def incomplete_by_source(events: pd.DataFrame, rule: dict) -> tuple[pd.DataFrame, dict]:
    """The months that look incomplete (:func:`incomplete_months` with ``rule``), each
    source's monthly totals checked on their own (street files; counts tables): all flagged
    months together, and the flagged months of each source."""
    names = ["police_uk", *sorted(set(events["source"]) - {"police_uk"})]
    by_source = {name: incomplete_months(events[events["source"] == name], **rule)
                 for name in names}  # fmt: skip
    flagged = pd.concat(by_source.values(), ignore_index=True).sort_values("month")
    return flagged.reset_index(drop=True), by_source


def records_groups(events: pd.DataFrame, groups: dict[str, list[str]]) -> dict[str, list[str]]:
    """``groups``, or, when records without categories (a counts table's
    :data:`ALL_RECORDS`) are among ``events``, the one group of every record."""
    if not (events["category"] == ALL_RECORDS).any():
        return groups
    return {ALL_RECORDS: sorted(events["category"].dropna().unique())}


def headline_group(groups: dict[str, list[str]]) -> str:
    """The group of the headline figures, map and hotspots: all crime, else all records."""
    return ALL_CRIME if ALL_CRIME in groups else next(iter(groups))


def no_data_areas(table: pd.DataFrame) -> set[str]:
    """The codes of a rate table's areas with no data (no residents known)."""
    return set(table.loc[table["population"] == 0, "area_code"])


def why_no_points(events: pd.DataFrame, period: Period) -> str | None:
    """Why point-based sections cannot run for ``period`` (no located points), else None."""
    rows = events[period.contains(events["date"])]
    if rows.empty or not (~(rows.geometry.isna() | rows.geometry.is_empty)).any():
        return (
            f"the records of {period.label} have no points (a counts table has none); "
            "density, Gi* hot spots and repeat locations need street-level records"
        )
    return None


def add_counts(records: Records, paths) -> None:
    """Read the counts tables into ``records``; street files win where both hold a month."""
    table, report = read_counts(paths, return_report=True)
    street = {month_start(m) for m in records.ingest.months}
    superseded = table["date"].isin(street).to_numpy()
    if superseded.any():
        overlap = sorted({f"{d:%Y-%m}" for d in table.loc[superseded, "date"]})
        records.overlap = overlap
        report.notes.append(
            f"street files cover {len(overlap)} months of the counts tables "
            f"({overlap[0]} to {overlap[-1]}); the street files are used for them"
        )
        dropped = table[superseded]
        rows = pd.DataFrame({"source_file": dropped["event_id"].str.rsplit(":", n=1).str[0],
                             "source_row": dropped["event_id"].str.rsplit(":", n=1).str[1],
                             "reason": "superseded_by_street_files",
                             "code": dropped["published_lsoa_code"],
                             "month": dropped["date"].dt.strftime("%Y-%m"),
                             "category": dropped["category"],
                             "count_text": dropped["weight"].astype(str)})  # fmt: skip
        report.rejected_rows = pd.concat([report.rejected_rows, rows], ignore_index=True)
        report.rejected["superseded_by_street_files"] = int(superseded.sum())
        report.accepted -= int(superseded.sum())
        report.without_location = report.accepted
        report.months = sorted(set(report.months) - set(overlap))
        table = table[~superseded]
    report.check()
    placed_table, placed = assign_areas(table, records.areas, return_report=True)
    added = tally(placed_table) if records.tallied else placed_table
    records.events = pd.concat([records.events, added], ignore_index=True)
    records.counts, records.counts_placed = report, placed
    records.coverage = counts_coverage(placed_table, records.areas)
    records.months |= {month_start(m) for m in report.months}


def month_start(text: str) -> pd.Timestamp:
    return pd.Timestamp(f"{text}-01")


def no_events() -> gpd.GeoDataFrame:
    """An empty police.uk events table (no street files, only counts tables)."""
    columns = [c for c in CANONICAL_COLUMNS if c != "geometry"]
    return gpd.GeoDataFrame(
        {c: pd.Series(dtype="datetime64[ns]" if c == "date" else object) for c in columns},
        geometry=gpd.GeoSeries([], crs=CRS),
        crs=CRS,
    )
