"""The main job: read the data directory, build the study, write maps, tables and a report."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from ._version import __version__
from .areas import LEVELS, dissolve_areas, load_areas
from .assessment import league_table, quick_facts, write_assessment
from .assign import assign_areas
from .checks import MIN_CELLS_WITH_EVENTS
from .completeness import RULE, in_periods, incomplete_note, report_rows
from .counts import ALL_RECORDS
from .counts import SOURCE as COUNTS_SOURCE
from .crime_files import crime_paths
from .csvfile import write_csv
from .datadir import load_manifest, require_datasets, resolve_data_dir
from .errors import InputFileError, MissingDataError, PsaGeoError
from .events import IngestReport
from .faults import fault_point
from .force import Force, force_of
from .groups import load_crime_groups, unmapped_categories
from .hotspot_pages import write_hotspots_index
from .inequality import DEPRIVATION_COLUMNS, with_deprivation
from .inequality_pages import TABLES as INEQUALITY_TABLES
from .inequality_pages import write_inequality
from .measures import (
    ALL_CRIME,
    ASB,
    coverage_gap,
    location_note,
    rate_table,
)
from .names import match_name, match_names
from .outcome_pages import FOLDER as OUTCOMES_FOLDER
from .outcome_pages import outcome_notes, write_outcomes
from .outcomes import file_extracts
from .periods import RULE_GIVEN, Period, default_periods
from .police_uk import read_police_uk
from .population import load_estimates, population_for
from .records import (
    Records,
    add_counts,
    headline_group,
    incomplete_by_source,
    month_start,
    no_data_areas,
    no_events,
    records_groups,
    why_no_points,
)
from .rough_sleeping import FOLDER as ROUGH_SLEEPING_FOLDER
from .rough_sleeping import write_snapshot
from .series import monthly_series, seasonality
from .site import SiteBuild, SubfolderUpdate
from .stats import estimate_overdispersion, funnel_flags, funnel_plot_svg
from .tallies import tally, tally_police_uk
from .towns import (
    load_bua_polygons,
    load_parish_polygons,
    load_towns,
    town_areas,
    town_match_report,
    with_towns,
)

log = logging.getLogger(__name__)

TOWNS_FOLDER = "towns"
_NO_TOWNS = pd.DataFrame({"town": [], "lsoa_code": []}, dtype=object)
HOTSPOTS_FOLDER = "hotspots"


@dataclass
class BuildResult:
    """What :func:`build_study` wrote and the figures behind it."""

    out_dir: Path
    files: list[Path] = field(default_factory=list)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    report: dict = field(default_factory=dict)


class _Step:
    """Logs one step with its elapsed time."""

    def __init__(self, timings: dict, name: str) -> None:
        self.timings, self.name = timings, name

    def __enter__(self):
        log.info("%s ...", self.name)
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.timings[self.name] = round(time.perf_counter() - self.start, 2)
        if exc[0] is None:
            log.info("%s: done in %.1f s", self.name, self.timings[self.name])


def build_study(
    data_dir: str | Path | None = None,
    out_dir: str | Path = "maps",
    *,
    study: Period | None = None,
    comparison: Period | None = None,
    threshold: float = 0.05,
    groups: dict[str, list[str]] | None = None,
    allow_partial: bool = False,
    maps: bool = True,
    overdispersion: str = "multiplicative",
    points: list[tuple[str, Path]] | None = None,
    demo: bool = False,
    suppress_below: int = 5,
    incomplete_run: float = 0.8,
    incomplete_single: float = 0.5,
    crime: list[str | Path] | None = None,
    counts: list[str | Path] | None = None,
    population: list[str | Path] | None = None,
    force: str | Path | Force | None = None,
    outcome_groups: dict[str, list[str]] | None = None,
    extract_dates: dict[str | Path, str] | None = None,
    mapped_groups: list[str] | None = None,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    engine: str = "pandas",
    scheduler: str | None = None,
) -> BuildResult:
    """Build the Peninsula study from the data directory and write every output.

    Writes to ``out_dir``: ``tables/`` (rates by level, monthly series, quick facts, league
    table, seasonality), ``assessment.html``, ``rejected_rows.csv``, ``run_report.json`` and,
    unless ``maps=False``, ``index.html``, ``peninsula_map.html`` and ``psa_geo_rates.gpkg``.
    The police.uk files are those of the data directory's ``crime/`` folder and ``crime``
    (``--crime``: files, folders or zips anywhere; :mod:`psa_geo.crime_files`). The default
    study period is the latest complete financial year, compared with the one before, when
    the data cover both; else the latest 12 complete months, compared with the 12 before
    (:func:`psa_geo.periods.default_periods`; the run report's ``period_rule`` says which).
    A study period the data do not fill is refused unless ``allow_partial``, and
    then labelled partial. ``groups`` defaults to :func:`load_crime_groups`.

    With maps, it also writes the hotspot maps of each CSP (``hotspots/``) and the Safer
    Towns profiles of ``boundaries/safer_towns.csv`` (``towns/``): each has a layer of hot
    and cold spots per group of ``mapped_groups`` (default: every group;
    :func:`psa_geo.load_mapped_groups`).

    ``points`` are ``(source, path)`` point files (``--points drug_litter=finds.csv``): their
    tables, maps and page go to ``points/`` and their figures into the town profiles;
    sensitive sources only ever as suppressed counts, 1 to ``suppress_below`` - 1 shown as
    ``<suppress_below`` (:mod:`psa_geo.point_sources`). ``demo``
    also writes ``demo/``, the same built from synthetic example data (:mod:`psa_geo.demo`).

    Funnel plots (``funnels/*.svg``) and the ``funnel_*`` columns of the LSOA and CSP tables
    compare each area with the Peninsula's located rate; LSOA limits are widened for
    overdispersion (``"multiplicative"``, ``"additive"`` or ``"none"``).

    The police.uk monthly totals are checked for incomplete months
    (:func:`psa_geo.completeness.incomplete_months`: a run of three or more months below
    ``incomplete_run`` of the median month, or one below ``incomplete_single``): they are
    listed in the run report (``incomplete_months``), on the index and on the pages whose
    periods hold them, and changes and trends across them are withheld.

    ``counts`` are counts tables (``--counts``, :func:`psa_geo.read_counts`): rows placed
    by their LSOA code, for the months the street files do not cover. An LSOA with no row
    is "no data" and its residents leave every rate; a table without categories makes one
    group, :data:`ALL_RECORDS`; sections that need points (hotspots, town profiles) are
    skipped with a note when the study period has none.

    Rates use the population estimates nearest the middle of the study period, from the
    data directory's mid-2018 and the ``population`` files (``--population``;
    :mod:`psa_geo.population`); the run report's ``population`` and the pages say which.
    ``force`` is the force definition (:func:`psa_geo.load_force`; default Devon & Cornwall):
    its LADs, CSPs, police.uk slug and names; the towns, corridor, road-safety and
    rough-sleeping sections run only when it names their inputs, else a note says why not.

    With maps, ``outcomes/`` holds the crime outcomes of the study period
    (:mod:`psa_geo.outcome_pages`): ``outcome_groups`` (default
    :func:`psa_geo.load_outcome_groups`) groups the police.uk outcome texts, and
    ``extract_dates`` (path → YYYY-MM[-DD], ``--extract-date``) says when files, or the
    folders and zips holding them, were extracted (:func:`psa_geo.file_extracts`).
    ``cache_dir`` and ``use_cache`` are :func:`read_police_uk`'s (the columnar cache).

    Without maps, the police.uk files are read, assigned and tallied one file at a time
    (:func:`psa_geo.tally_police_uk`), by ``engine``: ``"pandas"`` in this process, or
    ``"dask"`` on a Dask cluster (``scheduler``'s address; default a local cluster). Maps
    need every event in memory, so they are built by the pandas engine only.
    """
    if maps and engine != "pandas":
        raise PsaGeoError(f"engine {engine!r} builds the tables only (maps=False); "
                          "maps and hotspots are built by the pandas engine")  # fmt: skip
    data_dir = resolve_data_dir(data_dir)
    with SiteBuild(out_dir) as site:
        result = _write_study(data_dir, site.staging, study=study, comparison=comparison,
                              threshold=threshold, groups=groups, allow_partial=allow_partial,
                              maps=maps, overdispersion=overdispersion, points=points,
                              demo=demo, suppress_below=suppress_below,
                              incomplete_run=incomplete_run,
                              incomplete_single=incomplete_single, crime=crime,
                              counts=counts, population=population, force=force,
                              outcome_groups=outcome_groups,
                              extract_dates=extract_dates, cache_dir=cache_dir,
                              use_cache=use_cache, mapped_groups=mapped_groups,
                              engine=engine, scheduler=scheduler)  # fmt: skip
        result.files = site.commit(result.report, result.files)
    result.out_dir = site.out
    result.report["outputs"] = [str(p.relative_to(site.out)) for p in result.files]
    result.report["complete"] = True
    log.info("wrote %d files to %s", len(result.files), site.out)
    return result


def _write_study(
    data_dir: Path,
    out_dir: Path,
    *,
    study: Period | None,
    comparison: Period | None,
    threshold: float,
    groups: dict[str, list[str]] | None,
    allow_partial: bool,
    maps: bool,
    overdispersion: str,
    points: list[tuple[str, Path]] | None,
    demo: bool,
    suppress_below: int,
    incomplete_run: float = 0.8,
    incomplete_single: float = 0.5,
    crime: list[str | Path] | None = None,
    counts: list[str | Path] | None = None,
    population: list[str | Path] | None = None,
    force: str | Path | Force | None = None,
    outcome_groups: dict[str, list[str]] | None = None,
    extract_dates: dict[str | Path, str] | None = None,
    mapped_groups: list[str] | None = None,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    engine: str = "pandas",
    scheduler: str | None = None,
) -> BuildResult:
    """:func:`build_study`'s work, written into ``out_dir`` (the new site, beside the old
    one); ``result.report`` is the run report, written by the site's commit."""
    timings: dict[str, float] = {}
    groups = groups or load_crime_groups()
    require_datasets(data_dir)
    with _Step(timings, "load areas"):
        areas = load_areas(data_dir, force=force)
    force = force_of(areas)
    estimates = load_estimates(areas, population, data_dir=data_dir)  # before the crime is read
    records = load_records(data_dir, timings, areas=areas, crime=crime, counts=counts,
                           cache_dir=cache_dir, use_cache=use_cache, tallied=not maps,
                           engine=engine, scheduler=scheduler)  # fmt: skip
    areas, events, ingest, placed = records.areas, records.events, records.ingest, records.placed
    tallies = tally(events) if maps else events  # the tables need only the tallies
    extracts = file_extracts(ingest.files, dates=extract_dates)  # checked before the analysis
    towns = load_towns(force.towns, areas=areas) if force.towns else _NO_TOWNS
    with _Step(timings, "read point files"):
        placed_areas = with_towns(areas, towns)
        sources = _load_point_sources(points or [], placed_areas, towns=towns)
    covered = records.months
    study, comparison, period_rule = _choose_periods(
        tallies, covered, study, comparison, allow_partial
    )
    crime_groups, groups = groups, records_groups(tallies, groups)
    headline = headline_group(groups)
    mapped = [g for g in mapped_groups or groups if g in groups] or [headline]
    coverage = records.coverage_of(study, comparison)
    base_areas = areas  # mid-2018, labelled so: the rough-sleeping snapshot and the demo
    areas, population_info = population_for(areas, study, estimates)
    incomplete_rule = {**RULE, "run_below": incomplete_run, "single_below": incomplete_single}
    flagged, flagged_by_source = incomplete_by_source(tallies, incomplete_rule)
    incomplete = incomplete_note(flagged, study, comparison)
    notes = [location_note(force), *records.notes(coverage)]
    unmapped = unmapped_categories(tallies["category"], groups)
    if unmapped:
        notes.append(f"categories in no group (left out of every row): {', '.join(unmapped)}")
        log.warning("categories in no group: %s", ", ".join(unmapped))
    with _Step(timings, "measure"):
        tables = {
            level: rate_table(
                tallies,
                areas,
                level=level,
                study=study,
                comparison=comparison,
                threshold=threshold,
                months_covered=covered,
                groups=groups,
                incomplete=flagged,
                coverage=coverage,
            )
            for level in LEVELS
        }
        monthly = pd.concat(
            [
                monthly_series(tallies, areas, level=lvl, groups=groups)
                for lvl in ("peninsula", "csp")
            ],
            ignore_index=True,
        )
        monthly = monthly[~monthly["area_code"].isin(no_data_areas(tables["csp"]))]
    result = BuildResult(out_dir=out_dir, tables=tables)
    (out_dir / "tables").mkdir(parents=True, exist_ok=True)
    with _Step(timings, "funnel plots"):
        funnels = add_funnels(tables, out_dir / "funnels", overdispersion=overdispersion)
        result.files += funnels
    tables["lsoa"] = with_deprivation(tables["lsoa"], areas)
    headline_groups = [g for g in (ALL_CRIME, ASB, ALL_RECORDS) if g in groups]
    with _Step(timings, "inequality"):
        written, inequality = write_inequality(
            out_dir, tables["lsoa"], areas, headline_groups=headline_groups, force=force,
            notes=notes,
        )  # fmt: skip
        result.files += written
    with _Step(timings, "write tables"):
        for level, table in tables.items():
            result.files.append(_write_csv(table, out_dir / "tables" / f"rates_{level}.csv"))
        result.files.append(_write_csv(monthly, out_dir / "tables" / "monthly_csp.csv"))
        rejected = [ingest.rejected_rows.assign(source="police_uk")]
        if records.counts is not None:
            rejected.append(records.counts.rejected_rows.assign(source=COUNTS_SOURCE))
        rejected += [source.rejected_rows() for source in sources.values()]
        result.files.append(_write_csv(pd.concat(rejected, ignore_index=True),
                                       out_dir / "rejected_rows.csv"))  # fmt: skip
        if coverage_gap(covered, study) or study.months != 12:
            season = monthly.iloc[0:0].assign(summer_uplift_pct=None)
            notes.append(f"no seasonality: {study.label} is not 12 whole months of data")
        elif len(in_periods(flagged, study)):
            season = monthly.iloc[0:0].assign(summer_uplift_pct=None)
            notes.append(f"no seasonality: {study.label} holds months that look incomplete")
        else:
            season = seasonality(monthly, period=study)
        result.files += write_assessment(
            out_dir,
            quick_facts(tables["csp"], tables["peninsula"]),
            league_table(tables["csp"]),
            season,
            headline_groups=headline_groups,
            incomplete=incomplete,
            population=population_info["sentence"],
            force=force,
            rates=tables,
            inequality=inequality,
        )
    hotspot_pages: list[tuple[str, str]] = []
    extra_pages: list[tuple[str, str]] = []
    point_tables = {}
    towns_written = False
    outcomes = None
    if sources:
        from .point_sources import FOLDER as POINTS_FOLDER
        from .point_sources import write_point_sources

        with _Step(timings, "point files"):
            written, point_tables = write_point_sources(
                sources,
                placed_areas,
                out_dir,
                study=study,
                comparison=comparison,
                threshold=suppress_below,
            )
            result.files += written
            extra_pages.append(("Drug-related litter and rough sleeping",
                                f"{POINTS_FOLDER}/index.html"))  # fmt: skip
    if maps:
        from .corridor_pages import corridor_job
        from .demo import FOLDER as DEMO_FOLDER
        from .demo import write_demo
        from .hotspot_files import write_hotspots
        from .hotspots import area_hotspots
        from .point_sources import FOLDER as POINTS_FOLDER
        from .road_safety import FOLDER as ROAD_SAFETY_FOLDER
        from .road_safety import load_road_safety, write_road_safety

        result.files += _write_maps(out_dir, areas, tables, study, timings, group=headline,
                                    place=force.place, towns=towns)  # fmt: skip
        no_points = why_no_points(events, study)
        if no_points:
            notes.append(f"no hotspot maps: {no_points}")
        with _Step(timings, "hotspots"):
            for csp in [] if no_points else sorted(areas["csp_name"].unique()):
                hot = area_hotspots(events, areas, area_name=csp, groups=groups, mapped=mapped,
                                    period=study, comparison=comparison)  # fmt: skip
                notes += hot.notes
                if hot.too_few:
                    notes.append(
                        f"hotspots in {csp}: too few events to map "
                        + ", ".join(f"{g} ({n:,})" for g, n in hot.too_few.items())
                    )
                written = write_hotspots(hot, out_dir / HOTSPOTS_FOLDER, place=force.place)
                hotspot_pages.append((csp, str(written[0].relative_to(out_dir))))
                result.files += written
            if hotspot_pages:
                result.files.append(write_hotspots_index(out_dir / HOTSPOTS_FOLDER))
        with _Step(timings, "outcomes"):
            written, outcomes = write_outcomes(events, areas, out_dir, study=study,
                                               groups=crime_groups, outcome_groups=outcome_groups,
                                               towns=towns, extracts=extracts)  # fmt: skip
            result.files += written
            notes += outcome_notes(outcomes)
            extra_pages.append(("Crime outcomes", f"{OUTCOMES_FOLDER}/index.html"))
        with _Step(timings, "road safety"):
            if not force.stats19_police_force:
                notes.append("no road-safety section: the force definition names no STATS19 "
                             "police force")  # fmt: skip
            elif _has(data_dir, "stats19_collisions", "stats19_casualties"):
                written = _optional(notes, "road-safety section", lambda: write_road_safety(
                    load_road_safety(data_dir, areas, estimates=estimates),
                    out_dir / ROAD_SAFETY_FOLDER))  # fmt: skip
                if written:
                    result.files += written
                    extra_pages.append(("Road traffic casualties",
                                        f"{ROAD_SAFETY_FOLDER}/index.html"))  # fmt: skip
            else:
                notes.append("no road-safety section: the STATS19 files are not in the data")
        with _Step(timings, "rough-sleeping snapshot"):
            if not force.rough_sleeping_snapshot:
                notes.append("no rough-sleeping snapshot: the force definition names none")
            elif _has(data_dir, force.rough_sleeping_snapshot):
                written = _optional(notes, "rough-sleeping snapshot",
                                    lambda: write_snapshot(data_dir, out_dir,
                                                           base_areas))  # fmt: skip
                if written:
                    result.files += written
                    extra_pages.append(("Rough sleeping: the official snapshot",
                                        f"{ROUGH_SLEEPING_FOLDER}/index.html"))  # fmt: skip
            else:
                notes.append("no rough-sleeping snapshot: its file is not in the data")
        with _Step(timings, "corridor"):
            if not force.corridor:
                notes.append("no road corridor: the force definition names no corridor")
            elif _has(data_dir, "a38_sections", "stats19_collisions", "stats19_casualties",
                      "stats19_vehicles"):  # fmt: skip
                written = _optional(notes, "A38 corridor", lambda: corridor_job(
                    data_dir, out_dir, staged=True, spec_path=force.corridor))  # fmt: skip
                if written:
                    result.files += written
                    extra_pages.append(("A38 corridor", str(written[-1].relative_to(out_dir))))
            else:
                notes.append("no A38 corridor: the road sections or STATS19 are not in the data")
        options = {"study": study, "comparison": comparison, "groups": groups,
                   "months_covered": covered, "threshold": threshold,
                   "incomplete": flagged, "mapped": mapped}  # fmt: skip
        with _Step(timings, "town profiles"):
            if not force.towns:
                notes.append("no Safer Towns profiles: the force definition names no towns file")
            elif no_points or headline != ALL_CRIME:
                why = no_points or f"the records have no categories (one group, {headline})"
                notes.append(f"no Safer Towns profiles: {why}")
            else:
                towns_written = True
                result.files += _write_towns(data_dir, out_dir / TOWNS_FOLDER, events, areas,
                                             towns, points=(sources, point_tables),
                                             suppress_below=suppress_below,
                                             population=population_info,
                                             **options)  # fmt: skip
        if demo:
            with _Step(timings, "demo"):
                result.files += write_demo(out_dir, events, base_areas, towns, **options)
                extra_pages.append(("Example with synthetic data (demo)",
                                    f"{DEMO_FOLDER}/{POINTS_FOLDER}/index.html"))  # fmt: skip
    report = {
        "psa_geo_version": __version__,
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "data_dir": str(data_dir),
        "study_period": _period_dict(study),
        "comparison_period": _period_dict(comparison),
        "period_rule": period_rule,
        "population": population_info,
        "trend_threshold": threshold,
        "incomplete_rule": incomplete_rule,
        "incomplete_months": {name: report_rows(rows) for name, rows in flagged_by_source.items()},
        "sources": {
            "police_uk": {"ingest": ingest.to_dict(), "assignment": placed.to_dict()},
            **records.counts_report(),
            **{
                name: {"ingest": s.read.to_dict(), "assignment": s.placed.to_dict()}
                for name, s in sources.items()
            },
        },
        "notes": notes,
        "engine": engine if engine == "pandas" else f"{engine} ({scheduler or 'local cluster'})",
        "timings_s": timings,
    }
    if outcomes is not None:
        report["outcomes"] = outcomes
    report_path = out_dir / "run_report.json"
    result.files.append(report_path)
    if maps:
        from .index_page import index_html

        index_path = out_dir / "index.html"
        result.files.append(index_path)
        index_path.write_text(
            index_html(
                tables,
                report,
                n_lsoa=len(areas),
                n_csp=areas["csp_code"].nunique(),
                hotspot_pages=hotspot_pages,
                towns_page=f"{TOWNS_FOLDER}/index.html" if towns_written else None,
                hotspots_page=f"{HOTSPOTS_FOLDER}/index.html" if hotspot_pages else None,
                funnels=[str(p.relative_to(out_dir)) for p in funnels],
                extra_pages=extra_pages,
                inequality_tables=[
                    f"tables/{name}"
                    for name in INEQUALITY_TABLES.values()
                    if out_dir / "tables" / name in result.files
                ],
                incomplete=[incomplete_note(flagged)] if len(flagged) else [],
                force=force,
            ),
            encoding="utf-8",
        )
    result.report = report
    return result


def load_study(data_dir: Path, timings: dict, *, areas=None, crime=None, force=None) -> tuple:
    """Areas (``areas`` if already loaded, else those of ``force``), assigned police.uk events
    and their two reports, from the data directory's ``crime/`` folder and ``crime`` (more
    police.uk paths) of the force's police.uk slug."""
    records = load_records(data_dir, timings, areas=areas, crime=crime, force=force)
    return records.areas, records.events, records.ingest, records.placed


def load_records(
    data_dir: Path,
    timings: dict,
    *,
    areas=None,
    crime=None,
    counts=None,
    force=None,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    tallied: bool = False,
    engine: str = "pandas",
    scheduler: str | None = None,
) -> Records:
    """:func:`load_study` with ``counts`` (counts tables, :func:`read_counts`) too;
    ``cache_dir``/``use_cache`` as :func:`read_police_uk`'s. ``tallied``: the events are
    tallies (:func:`psa_geo.tally_police_uk`, by ``engine`` on ``scheduler``), not events."""
    manifest = load_manifest()
    require_datasets(data_dir, manifest=manifest)
    if areas is None:
        with _Step(timings, "load areas"):
            areas = load_areas(data_dir, force=force)
    slug = force_of(areas).police_uk
    with _Step(timings, "read and assign police.uk" if tallied else "read police.uk"):
        paths, found = crime_paths(data_dir, crime, force=slug, required=not counts)
        options = {"force": slug, "cache_dir": cache_dir, "use_cache": use_cache}
        if paths and tallied:
            events, ingest, placed = tally_police_uk(paths, areas, engine=engine,
                                                     scheduler=scheduler, **options)  # fmt: skip
        elif paths:
            events, ingest = read_police_uk(paths, return_report=True, **options)
        else:
            events, ingest = no_events(), IngestReport(source="police_uk")
        if found.skipped:
            ingest.notes.append(
                f"{len(found.skipped)} files in {found.folder} are not police.uk street files "
                "and were not read (see 'psa-geo data status')"
            )
    if not (tallied and paths):  # tallies are assigned as they are read
        with _Step(timings, "assign areas"):
            events, placed = assign_areas(events, areas, return_report=True)
            events = tally(events) if tallied else events
    log.info("assigned: %d inside, %d outside, %d without location",
             placed.inside, placed.outside, placed.without_location)  # fmt: skip
    months = {month_start(m) for m in ingest.months}
    records = Records(areas, events, ingest, placed, months=months, tallied=tallied)
    if counts:
        with _Step(timings, "read counts tables"):
            add_counts(records, counts)
    return records


def hotspots_job(
    data_dir: str | Path | None,
    out_dir: str | Path,
    *,
    area_name: str,
    level: str = "csp",
    group: str = ALL_CRIME,
    study: Period | None = None,
    cell_size: float | None = None,
    groups: dict[str, list[str]] | None = None,
    crime: list[str | Path] | None = None,
    counts: list[str | Path] | None = None,
    force: str | Path | Force | None = None,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
) -> list[Path]:
    """``psa-geo hotspots``: adds or replaces ``group``'s layers in the hotspot map and cell
    GeoPackage of one area, in ``out_dir/hotspots/`` beside the other areas' (the folder is
    replaced whole, keeping the files of other areas; the area's other groups are read back
    from its GeoPackage unless it was for another period)."""
    from .hotspot_files import hotspot_stem, read_hotspots, with_group, write_hotspots
    from .hotspots import MIN_MAPPED_EVENTS, area_hotspots

    data_dir = resolve_data_dir(data_dir)
    with SubfolderUpdate(out_dir, HOTSPOTS_FOLDER, command="hotspots", keep_others=True) as site:
        require_datasets(data_dir)
        areas = load_areas(data_dir, force=force)
        if f"{level}_name" not in areas:
            raise PsaGeoError(f"'level' should be lsoa, ward, lad or csp, got {level!r}")
        known = sorted(areas[f"{level}_name"].dropna().unique())
        area_name = match_name(
            area_name, known, what=level.upper()
        )  # before the crime is read; fmt: skip
        records = load_records(data_dir, {}, areas=areas, crime=crime, counts=counts,
                               cache_dir=cache_dir, use_cache=use_cache)  # fmt: skip
        areas, events = records.areas, records.events
        study, _, _ = _choose_periods(events, records.months, study, None, False)
        no_points = why_no_points(events, study)
        if no_points:
            raise PsaGeoError(f"no hotspot map: {no_points}")
        groups = groups or load_crime_groups()
        hot = area_hotspots(events, areas, area_name=area_name, level=level, groups=groups,
                            mapped=[group], period=study, cell_size=cell_size)  # fmt: skip
        if group in hot.too_few:
            raise PsaGeoError(f"too few events to map {group} in {hot.area_name}, "
                              f"{study.label}: {hot.too_few[group]:,} (a map needs "
                              f"{MIN_MAPPED_EVENTS}, and {MIN_CELLS_WITH_EVENTS} cells "
                              "with events)")  # fmt: skip
        previous = site.target / f"{hotspot_stem(hot.area_name)}.gpkg"
        if previous.is_file():
            hot = with_group(read_hotspots(previous), hot)
        written = write_hotspots(hot, site.staging, place=force_of(areas).place)
        written += site.keep_previous(exclude={"index.html"})
        return site.commit([*written, write_hotspots_index(site.staging)])


def collisions_job(
    data_dir: str | Path | None,
    out_dir: str | Path,
    *,
    population: list[str | Path] | None = None,
) -> list[Path]:
    """``psa-geo collisions``: the road-safety tables, page and collision map; rates per
    100,000 use the data directory's mid-2018 and the ``population`` files' estimates (the
    year nearest each collision year, as for :func:`build_study`)."""
    from .road_safety import FOLDER as ROAD_SAFETY_FOLDER
    from .road_safety import load_road_safety, write_road_safety

    data_dir = resolve_data_dir(data_dir)
    with SubfolderUpdate(out_dir, ROAD_SAFETY_FOLDER, command="collisions") as site:
        areas = load_areas(data_dir)
        estimates = load_estimates(areas, population, data_dir=data_dir)
        study = load_road_safety(data_dir, areas, estimates=estimates)
        return site.commit(write_road_safety(study, site.staging))


def _optional(notes: list[str], section: str, write) -> list[Path]:
    """``write()`` for a section built from optional data: a file it cannot use becomes a
    note ("no <section>: <file>: <problem>") and an empty list, never a failed build."""
    try:
        return write()
    except InputFileError as exc:
        notes.append(f"no {section}: {exc}")
        log.warning("no %s: %s", section, exc)
        return []


def _has(data_dir: Path, *names: str) -> bool:
    """True when the datasets ``names`` are all in the data directory."""
    manifest = load_manifest()
    return all((data_dir / manifest[name].path).exists() for name in names)


def profiles_job(
    data_dir: str | Path | None,
    out_dir: str | Path,
    *,
    towns: list[str] | None = None,
    towns_file: str | Path | None = None,
    study: Period | None = None,
    comparison: Period | None = None,
    threshold: float = 0.05,
    allow_partial: bool = False,
    groups: dict[str, list[str]] | None = None,
    mapped_groups: list[str] | None = None,
    crime: list[str | Path] | None = None,
    counts: list[str | Path] | None = None,
    population: list[str | Path] | None = None,
    force: str | Path | Force | None = None,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
) -> list[Path]:
    """``psa-geo profile``: town profiles (``towns``: names, None for all) in ``out/towns/``;
    ``population`` as for :func:`build_study`; ``towns_file`` defaults to the force
    definition's towns file."""
    from .profile_pages import write_towns_index

    data_dir = resolve_data_dir(data_dir)
    with SubfolderUpdate(out_dir, TOWNS_FOLDER, command="profile") as site:
        require_datasets(data_dir)
        areas = load_areas(data_dir, force=force)
        towns_file = towns_file or force_of(areas).towns
        if towns_file is None:
            raise PsaGeoError(
                "the force definition names no towns file; give one with --towns FILE"
            )
        definitions = load_towns(towns_file, areas=areas)  # checked before the crime is read
        if towns is not None:
            towns = match_names(towns, definitions["town"], what="town")
        estimates = load_estimates(areas, population, data_dir=data_dir)
        records = load_records(data_dir, {}, areas=areas, crime=crime, counts=counts,
                               cache_dir=cache_dir, use_cache=use_cache)  # fmt: skip
        events, covered = records.events, records.months
        study, comparison, _ = _choose_periods(events, covered, study, comparison, allow_partial)
        no_points = why_no_points(events, study)
        if no_points:
            raise PsaGeoError(f"no town profiles: {no_points}")
        areas, population_info = population_for(areas, study, estimates)
        written = _write_towns(data_dir, site.staging, events, areas, definitions, names=towns,
                               study=study, comparison=comparison,
                               groups=groups or load_crime_groups(), mapped=mapped_groups,
                               months_covered=covered, threshold=threshold,
                               incomplete=incomplete_by_source(events, RULE)[0],
                               population=population_info, index=False)  # fmt: skip
        written += site.keep_previous(exclude={"index.html", "town_definitions.csv"})
        order = list(dict.fromkeys(definitions["town"]))
        return site.commit([*written, *write_towns_index(site.staging, order=order)])


def _load_point_sources(points, areas, *, towns) -> dict:
    """:func:`psa_geo.load_point_sources`, imported only when there are point files: its
    module brings in folium, which a build without maps does not otherwise need."""
    if not points:
        return {}
    from .point_sources import load_point_sources

    return load_point_sources(points, areas, towns=towns)


def _write_towns(
    data_dir,
    folder,
    events,
    areas,
    definitions,
    *,
    points=None,
    suppress_below=5,
    population=None,
    index=True,
    **options,
) -> list[Path]:
    """Profiles of the towns in ``folder`` (``towns/`` of the site), with how well each
    definition matches its built-up area and parish when those polygons are in the data
    directory; ``points``
    are ``(sources, tables)`` of :func:`write_point_sources` for their sections."""
    from .point_sources import FOLDER as POINTS_FOLDER
    from .point_sources import town_point_figures
    from .profile_pages import write_profiles
    from .profiles import town_profiles

    profiles = town_profiles(events, areas, definitions, **options)
    if points and points[0]:
        for profile in profiles:
            profile.point_sources.update(town_point_figures(
                *points, profile.town, page=f"../{POINTS_FOLDER}/index.html",
                threshold=suppress_below))  # fmt: skip
    try:
        outlines = town_areas(areas, definitions, names=[p.town for p in profiles])
        match = town_match_report(
            outlines, load_bua_polygons(data_dir), load_parish_polygons(data_dir)
        )
    except (MissingDataError, InputFileError) as exc:
        log.info("no town definition report: %s", exc)
        match = None
    fault_point("profile")
    return write_profiles(profiles, folder, match=match, population=population,
                          place=force_of(areas).place, index=index)  # fmt: skip


def add_funnels(
    tables: dict[str, pd.DataFrame], folder: Path, *, overdispersion: str = "multiplicative"
) -> list[Path]:
    """Add funnel-plot flags to the CSP and LSOA tables (in place) and draw their SVGs.

    The benchmark is the Peninsula's located rate for each group. CSP limits are plain
    Poisson; LSOA limits are widened by the estimated overdispersion, because resident rates
    of town-centre LSOAs are not Poisson-like. Columns: ``funnel_flag`` (plain) and, for
    LSOAs, ``funnel_flag_adjusted`` with ``funnel_phi`` / ``funnel_tau2``.
    """
    if overdispersion not in ("multiplicative", "additive", "none"):
        raise PsaGeoError(
            f"overdispersion should be multiplicative, additive or none, got {overdispersion!r}"
        )
    folder.mkdir(parents=True, exist_ok=True)
    pen = tables["peninsula"].set_index("category")
    written = []
    for level in ("csp", "lsoa"):
        table = tables[level]
        for column in ("funnel_flag", "funnel_flag_adjusted", "funnel_phi", "funnel_tau2"):
            table[column] = None if "flag" in column else np.nan
        for group, rows in table[table["population"] > 0].groupby("category", sort=False):
            benchmark = 1000.0 * pen.loc[group, "located_count"] / pen.loc[group, "population"]
            if benchmark <= 0:
                continue
            args = (rows["count"], rows["population"], benchmark)
            table.loc[rows.index, "funnel_flag"] = funnel_flags(*args)
            phi, tau2 = 1.0, 0.0
            if level == "lsoa" and overdispersion != "none":
                estimate = estimate_overdispersion(*args, method=overdispersion)
                phi, tau2 = (
                    (estimate, 0.0) if overdispersion == "multiplicative" else (1.0, estimate)
                )
                table.loc[rows.index, "funnel_flag_adjusted"] = funnel_flags(
                    *args, phi=phi, tau2=tau2
                )
                table.loc[rows.index, ["funnel_phi", "funnel_tau2"]] = phi, tau2
            if group in (ALL_CRIME, ASB, ALL_RECORDS):
                name = f"funnel_{level}_{_slug(group)}.svg"
                title = f"{group}: {level.upper()} rates per 1,000, {rows['period'].iloc[0]}"
                labels = rows["area_name"]
                written.append(
                    funnel_plot_svg(
                        *args[:2],
                        labels,
                        benchmark,
                        folder / name,
                        title=title,
                        phi=phi,
                        tau2=tau2,
                    )
                )
        if level == "csp":
            tables[level] = table.drop(
                columns=["funnel_flag_adjusted", "funnel_phi", "funnel_tau2"]
            )
    return written


def _choose_periods(
    events, covered, study, comparison, allow_partial
) -> tuple[Period, Period, str]:
    """Study and comparison periods, and the rule that chose the study period."""
    rule = RULE_GIVEN
    if study is None:
        study, default_comparison, rule = default_periods(events, covered)
        comparison = comparison or default_comparison
    elif comparison is None:
        comparison = study.previous()
    gap = coverage_gap(covered, study)
    if gap:
        if not allow_partial:
            raise PsaGeoError(
                f"the study period is partial ({gap.removeprefix('not comparable: ')}); "
                "choose another with --study, or pass --allow-partial to build it labelled partial"
            )
        present = sum(
            m in covered for m in pd.date_range(study.start, study.end, freq="MS", inclusive="left")
        )
        study = Period(
            f"{study.label} (partial: {present} of {study.months} months)", study.start, study.end
        )
    return study, comparison, rule


def _period_dict(period: Period) -> dict:
    return {
        "label": period.label,
        "start": str(period.start.date()),
        "end_exclusive": str(period.end.date()),
    }


def _write_csv(frame: pd.DataFrame, path: Path) -> Path:
    return write_csv(frame, path, float_format="%.3f")


def _write_maps(
    out_dir: Path,
    areas,
    tables,
    study: Period,
    timings: dict,
    *,
    group: str = ALL_CRIME,
    place=None,
    towns=None,
) -> list[Path]:
    """The GeoPackage (one layer per level) and the Peninsula map of ``group``, with a
    search box for its CSPs, LADs, wards, ``towns`` (definitions) and LSOAs."""
    from .index_page import GPKG_FILE, MAP_FILE
    from .maps import rate_map
    from .page_assets import save_map
    from .place_search import PlaceSearch, place_index

    with _Step(timings, "dissolve areas"):
        outlines = {level: dissolve_areas(areas, level=level) for level in ("ward", "lad", "csp")}
    with _Step(timings, "write GeoPackage"):
        gpkg = out_dir / GPKG_FILE
        gpkg.unlink(missing_ok=True)
        deprivation = [c for c in DEPRIVATION_COLUMNS if c in areas]
        lsoa_shapes = areas[["lsoa_code", *deprivation, "geometry"]].rename(
            columns={"lsoa_code": "area_code"}
        )
        for level, shapes in (("lsoa", lsoa_shapes), *outlines.items()):
            layer = shapes.drop(columns=["area_name", "population", "area_km2"], errors="ignore")
            layer = layer.merge(wide_figures(tables[level]), on="area_code", how="left")
            layer.to_file(gpkg, layer=level, driver="GPKG")
            fault_point("gpkg")
    with _Step(timings, "write map"):
        headline = tables["lsoa"][tables["lsoa"]["category"] == group]
        lsoa_rates = areas[["lsoa_code", "lsoa_name", "csp_name", "geometry"]].merge(
            headline[["area_code", "count", "rate_per_1000", "change_pct", "trend", "trend_word"]],
            left_on="lsoa_code",
            right_on="area_code",
        )
        title = f"{group}: rate per 1,000 residents by LSOA, {study.label}"
        title += f", {place}" if place else ""
        map_path = out_dir / MAP_FILE
        fault_point("map")
        m = rate_map(lsoa_rates, outlines["csp"], title=title)
        town_outlines = None
        if towns is not None and len(towns):
            town_outlines = town_areas(areas, towns).rename(columns={"town": "area_name"})
        lsoa_names = areas[["lsoa_name", "geometry"]].rename(columns={"lsoa_name": "area_name"})
        m.add_child(PlaceSearch(place_index([
            ("CSP", outlines["csp"]), ("local authority", outlines["lad"]),
            ("town", town_outlines), ("ward", outlines["ward"]), ("LSOA", lsoa_names),
        ])))  # fmt: skip
        save_map(m, map_path, index_href="index.html")
        log.info("map: %s (%.1f MB)", map_path, map_path.stat().st_size / 1e6)
    return [gpkg, map_path]


def _slug(text: str) -> str:
    text = text.replace("(excl. ASB)", "").replace("Anti-social behaviour", "asb")
    text = text.replace(ALL_RECORDS, "all records")
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def wide_figures(table: pd.DataFrame) -> pd.DataFrame:
    """One row per area with ``<category>_count``, ``_rate``, ``_prev``, ``_change``, ``_trend``."""
    base = table.drop_duplicates("area_code")[["area_code", "area_name", "population"]]
    parts = [base.set_index("area_code")]
    for category, rows in table.groupby("category", sort=False):
        slug = _slug(category)
        part = rows.set_index("area_code")[
            ["count", "rate_per_1000", "comparison_count", "change_pct", "trend"]
        ]
        part.columns = [f"{slug}_{c}" for c in ("count", "rate", "prev", "change", "trend")]
        parts.append(part)
    return pd.concat(parts, axis=1).reset_index()
