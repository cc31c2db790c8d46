"""The ``psa-geo`` command line: parses arguments and calls the public API, nothing more."""

from __future__ import annotations

import argparse
import logging
import math
import sys
from pathlib import Path

from ._version import __version__
from .errors import PsaGeoError


def _global_options(*, with_defaults: bool) -> argparse.ArgumentParser:
    """--data-dir, --out, --quiet: accepted before or after the subcommand.

    Only the top-level parser sets defaults, so a value given before the subcommand is not
    overwritten by the subcommand's copy of the option.
    """
    options = argparse.ArgumentParser(add_help=False)

    def default(value):
        return value if with_defaults else argparse.SUPPRESS

    options.add_argument(
        "--data-dir",
        type=Path,
        default=default(None),
        help="data directory (default: $PSA_GEO_DATA_DIR, else ./data/raw)",
    )
    options.add_argument(
        "--out", type=Path, default=default(Path("maps")), help="output folder (default: maps/)"
    )
    options.add_argument(
        "--quiet", action="store_true", default=default(False), help="print nothing but errors"
    )
    return options


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (the usage is in ``--help``)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _number(kind: type, low: int, high: int, *, what: str = ""):
    """An argparse ``type=`` for a finite ``kind`` (int or float) from ``low`` to ``high``:
    nan, inf and values out of range are refused in one line that states the range."""
    shown = "a whole number" if kind is int else "a number"
    rule = f"{shown} from {low:,} to {high:,}{f' {what}' if what else ''}"

    def parse(text: str):
        try:
            value = kind(text)
        except (ValueError, OverflowError):
            raise argparse.ArgumentTypeError(f"should be {rule}, got {text!r}") from None
        if not (math.isfinite(value) and low <= value <= high):
            raise argparse.ArgumentTypeError(f"should be {rule}, got {text!r}")
        return value

    parse.__name__ = shown
    return parse


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"should be a fraction from 0 to 1, got {text!r}")
    return value


def _extract_date(text: str) -> tuple[Path, str]:
    """``PATH=YYYY-MM`` or ``PATH=YYYY-MM-DD`` (``--extract-date``)."""
    from .outcomes import EXTRACT_DATE

    path, _, date = text.rpartition("=")
    if not path or not EXTRACT_DATE.fullmatch(date):
        raise argparse.ArgumentTypeError(
            f"should be PATH=YYYY-MM or PATH=YYYY-MM-DD (a police.uk file, folder or zip and "
            f"when it was extracted), got {text!r}"
        )
    return Path(path), date


#: The ranges of the numeric options: --suppress-below N, --cell-size metres, --seed, --n rows.
SUPPRESS_BELOW = (2, 1_000)
CELL_SIZE_M = (1, 10_000)
SEED = (0, 2**32 - 1)
SYNTH_ROWS = (1, 1_000_000)
LATEST_MONTHS = (1, 120)


def _parser() -> argparse.ArgumentParser:
    common = _global_options(with_defaults=False)
    parser = _Parser(
        prog="psa-geo",
        parents=[_global_options(with_defaults=True)],
        description="Geospatial analysis for the Peninsula Strategic Assessment.",
    )
    parser.add_argument("--version", action="version", version=f"psa-geo {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    force = argparse.ArgumentParser(add_help=False)
    force.add_argument(
        "--force",
        type=Path,
        default=None,
        metavar="FILE",
        help="force definition (TOML: force, LADs, CSPs, sections; "
        "default boundaries/devon_and_cornwall.toml)",
    )
    data = sub.add_parser("data", help="fill or inspect the data directory", parents=[common])
    data_sub = data.add_subparsers(dest="data_command", required=True)
    fetch = data_sub.add_parser("fetch", parents=[common, force], help="fill the data directory")
    fetch.add_argument(
        "--mirror",
        type=Path,
        default=None,
        help="local mirror with the same layout (default: $PSA_GEO_MIRROR)",
    )
    fetch.add_argument(
        "--online",
        action="store_true",
        help="download from the publishers and cut to the force area",
    )
    fetch.add_argument("--only", nargs="+", metavar="DATASET", help="fetch only these datasets")
    months = fetch.add_mutually_exclusive_group()
    months.add_argument(
        "--months",
        default=None,
        metavar="FIRST:LAST",
        help="with --online: the force's police.uk street files for these months, "
        "e.g. 2023-04:2026-03, into crime/YYYY-MM/",
    )
    months.add_argument(
        "--latest",
        type=_number(int, *LATEST_MONTHS),
        default=None,
        metavar="N",
        help="with --online: the latest N months police.uk has published (1 to 120)",
    )
    cache = argparse.ArgumentParser(add_help=False)
    cache.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="folder of the police.uk columnar cache (default: $XDG_CACHE_HOME/psa_geo)",
    )
    cache.add_argument(
        "--no-cache",
        action="store_true",
        help="read the police.uk files themselves: neither use nor fill the cache",
    )
    data_sub.add_parser(
        "status",
        parents=[common, force, cache],
        help="show each dataset: present, rows, period, licence; and what is cached",
    )

    crime = argparse.ArgumentParser(add_help=False, parents=[force, cache])
    crime.add_argument(
        "--crime",
        action="append",
        type=Path,
        metavar="PATH",
        default=None,
        help="police.uk street files to read besides the data directory's crime/ folder "
        "(a CSV, .csv.gz, folder of monthly files or police.uk zip); repeatable",
    )
    crime.add_argument(
        "--counts",
        action="append",
        type=Path,
        metavar="FILE",
        default=None,
        help="a counts table to read too: LSOA code (2011 or 2021), month, optional category, "
        "count; street files win for months both cover; repeatable",
    )
    groups = argparse.ArgumentParser(add_help=False)
    groups.add_argument(
        "--groups",
        type=Path,
        default=None,
        help="CSV of category groups (columns group, crime_type; an optional column map says "
        "yes/no for hotspot layers); default: the assessment's",
    )
    periods = argparse.ArgumentParser(add_help=False, parents=[crime, groups])
    periods.add_argument(
        "--study",
        default=None,
        help="study period: 2018/19, 2019 or 2019-01:2019-12 (default: the latest complete "
        "financial year when the data hold it and the one before, else the latest 12 months)",
    )
    periods.add_argument(
        "--comparison", default=None, help="comparison period (default: the same length before)"
    )
    periods.add_argument(
        "--threshold",
        type=_fraction,
        default=0.05,
        help="change within ± this fraction is stable ▶ (default 0.05)",
    )
    periods.add_argument(
        "--allow-partial",
        action="store_true",
        help="build a study period the data do not fill, labelled partial",
    )
    periods.add_argument(
        "--population",
        action="append",
        type=Path,
        metavar="FILE",
        default=None,
        help="population estimates (LSOA code 2011 or 2021, population, optional year); rates "
        "use the year nearest the middle of the study period (default: ONS mid-2018); repeatable",
    )
    study = argparse.ArgumentParser(add_help=False, parents=[periods])
    study.add_argument(
        "--points",
        action="append",
        metavar="SOURCE=FILE",
        default=None,
        help="a point file to read too (drug_litter=finds.csv, rough_sleeping=reports.csv, "
        "needle_bins=bins.csv; a file or a folder); repeatable",
    )
    study.add_argument(
        "--points-config",
        type=Path,
        default=None,
        metavar="FILE",
        help='TOML file with a [points] table (drug_litter = "finds.csv", ...), beside --points',
    )
    study.add_argument(
        "--suppress-below",
        type=_number(int, *SUPPRESS_BELOW),
        default=5,
        metavar="N",
        help="counts of a sensitive source from 1 to N-1 are shown as <N (default: 5; 2 to 1000)",
    )
    study.add_argument(
        "--overdispersion",
        choices=("multiplicative", "additive", "none"),
        default="multiplicative",
        help="widen LSOA funnel limits for overdispersion (default: multiplicative)",
    )
    study.add_argument(
        "--incomplete-run",
        type=_fraction,
        default=0.8,
        metavar="SHARE",
        help="flag a run of 3 or more months each below SHARE of the median month as incomplete "
        "(default 0.8; 0 turns this rule off)",
    )
    study.add_argument(
        "--incomplete-single",
        type=_fraction,
        default=0.5,
        metavar="SHARE",
        help="flag any month below SHARE of the median month as incomplete "
        "(default 0.5; 0 turns this rule off)",
    )
    build = sub.add_parser(
        "build",
        parents=[common, study],
        help="the main job: maps, tables, GeoPackage, assessment tables and run report",
    )
    build.add_argument(
        "--demo",
        action="store_true",
        help="also write demo/: the drug-litter and rough-sleeping pages and a town profile "
        "built from synthetic example data",
    )
    build.add_argument(
        "--outcome-groups",
        type=Path,
        default=None,
        metavar="FILE",
        help="CSV of outcome groups (columns group, outcome) for the outcomes page; "
        "default: psa_geo/resources/outcome_groups.csv",
    )
    build.add_argument(
        "--extract-date",
        action="append",
        type=_extract_date,
        default=None,
        metavar="PATH=DATE",
        help="when the police.uk file, folder or zip PATH was extracted (YYYY-MM or "
        "YYYY-MM-DD), for the outcomes page (default: a police.uk archive's YYYY-MM.zip name, "
        "else unknown); repeatable",
    )
    tables = sub.add_parser(
        "tables",
        parents=[common, study],
        help="the assessment tables only (CSV and assessment.html), no maps",
    )
    tables.add_argument(
        "--engine",
        choices=("pandas", "dask"),  # psa_geo.tallies.ENGINES, not imported: a quick start
        default="pandas",
        help="what reads, assigns and counts the police.uk files: pandas, one file at a time "
        "in this process (default), or dask, on a Dask cluster (needs psa_geo[dask])",
    )
    tables.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="with --engine dask: the Dask scheduler to run on (tcp://HOST:PORT; "
        "default: a local cluster of this machine's cores)",
    )
    hot = sub.add_parser(
        "hotspots",
        parents=[common, crime, groups],
        help="hotspot map (density, Gi* hot and cold spots, repeat locations) of one area",
    )
    hot.add_argument("--area", required=True, help="area name, e.g. Plymouth or 'Cornwall'")
    hot.add_argument(
        "--level",
        choices=("csp", "lad", "ward"),
        default="csp",
        help="what kind of area --area names (default: csp)",
    )
    hot.add_argument(
        "--group",
        default="All crime (excl. ASB)",
        help="category group whose layers are added to (or replaced in) the area's map, e.g. "
        "'Anti-social behaviour' (default: all crime)",
    )
    hot.add_argument("--study", default=None, help="period (default: the latest 12 months)")
    hot.add_argument(
        "--cell-size",
        type=_number(float, *CELL_SIZE_M, what="metres"),
        default=None,
        help="grid cell size in metres, 1 to 10,000 (default: chosen from the data, "
        "psa_geo.choose_scale)",
    )
    collisions = sub.add_parser(
        "collisions",
        parents=[common],
        help="road traffic casualties (STATS19): tables, page and collision map in OUT/collisions/",
    )
    collisions.add_argument(
        "--population",
        action="append",
        type=Path,
        metavar="FILE",
        default=None,
        help="population estimates (LSOA code 2011 or 2021, population, optional year); each "
        "collision year's rates use the estimate nearest it (default: ONS mid-2018); repeatable",
    )
    corridor = sub.add_parser(
        "corridor",
        parents=[common],
        help="road corridor report (links, collision density, priority groups) in OUT/<road>/",
    )
    corridor.add_argument(
        "--road", default=None, help="the road of boundaries/<road>_corridor.toml (default: A38)"
    )
    corridor.add_argument(
        "--spec", type=Path, default=None, help="a corridor definition TOML of your own"
    )
    corridor.add_argument(
        "--traffic",
        type=Path,
        default=None,
        help="CSV of link_id, aadt: adds collisions per 100 million vehicle-km",
    )
    profile = sub.add_parser(
        "profile",
        parents=[common, periods],
        help="Safer Towns profiles (one HTML page per town and an index) in OUT/towns/",
    )
    which = profile.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--town", action="append", metavar="NAME", help="a town to profile (repeatable)"
    )
    which.add_argument("--all", action="store_true", help="every town in the definitions file")
    profile.add_argument(
        "--towns",
        type=Path,
        default=None,
        help="town definitions CSV (town, lsoa_code); default: the force definition's towns file",
    )
    synth = sub.add_parser(
        "synth",
        parents=[common, cache],
        help="write a synthetic example file (needle finds, rough-sleeping reports, needle bins) "
        "for a town",
    )
    synth.add_argument(
        "--source", required=True, choices=("drug_litter", "rough_sleeping", "needle_bins")
    )
    synth.add_argument("--town", required=True, help="a town of the definitions, e.g. Penzance")
    synth.add_argument(
        "--seed", type=_number(int, *SEED), default=1, help="random seed (default: 1)"
    )
    synth.add_argument(
        "--start", default=None, help="first day, YYYY-MM-DD (default: latest 12 months of crime)"
    )
    synth.add_argument("--end", default=None, help="the day after the last, YYYY-MM-DD")
    synth.add_argument(
        "--n",
        type=_number(int, *SYNTH_ROWS),
        default=None,
        help="number of rows, 1 to 1,000,000 (default: by town size)",
    )
    synth.add_argument(
        "--towns", type=Path, default=None, help="town definitions CSV (town, lsoa_code)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _configure_logging(quiet=args.quiet)
    try:
        return _run(args)
    except PsaGeoError as exc:
        print(f"psa-geo: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        problem = " ".join(str(exc.strerror or exc).split())
        print(f"psa-geo: error: {where}{problem}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("psa-geo: interrupted", file=sys.stderr)
        return 130


def _run(args: argparse.Namespace) -> int:
    from . import datadir

    if args.command == "data" and args.data_command == "fetch":
        if args.months is not None or args.latest is not None:
            return _fetch_months(args)
        if args.online:
            from .download import fetch_online

            fetch_online(args.data_dir, names=args.only, force=args.force)
            return 0
        mirror = datadir.resolve_mirror(args.mirror)
        if mirror is None:
            raise PsaGeoError(
                "no mirror given: use --mirror DIR, set PSA_GEO_MIRROR, or use --online"
            )
        datadir.fetch_from_mirror(mirror, args.data_dir, names=args.only)
        return 0
    if args.command == "data" and args.data_command == "status":
        from .crime_files import crime_status
        from .force import load_force

        slug = load_force(args.force).police_uk
        _print_status(datadir.dataset_status(args.data_dir), quiet=args.quiet)
        status = crime_status(datadir.resolve_data_dir(args.data_dir), force=slug)
        _print_crime_status(status, quiet=args.quiet)
        if not args.quiet:
            from .cache import cache_status

            print(cache_status(status["files"], args.cache_dir, use_cache=not args.no_cache,
                               force=slug))  # fmt: skip
        if not args.quiet:
            from .population import status_line

            print(f"\n{status_line(args.data_dir)}")
        return 0
    if args.command in ("build", "tables"):
        from .build import build_study
        from .groups import load_crime_groups, load_mapped_groups
        from .outcomes import load_outcome_groups
        from .points import load_points_config, parse_points_option

        outcome_groups = getattr(args, "outcome_groups", None)

        result = build_study(
            args.data_dir,
            args.out,
            study=_period(args.study),
            comparison=_period(args.comparison),
            threshold=args.threshold,
            allow_partial=args.allow_partial,
            groups=load_crime_groups(args.groups) if args.groups else None,
            mapped_groups=load_mapped_groups(args.groups) if args.groups else None,
            maps=args.command == "build",
            overdispersion=args.overdispersion,
            points=[parse_points_option(text) for text in args.points or []]
            + (load_points_config(args.points_config) if args.points_config else []),
            demo=getattr(args, "demo", False),
            suppress_below=args.suppress_below,
            incomplete_run=args.incomplete_run,
            incomplete_single=args.incomplete_single,
            crime=args.crime,
            counts=args.counts,
            population=args.population,
            force=args.force,
            outcome_groups=load_outcome_groups(outcome_groups) if outcome_groups else None,
            extract_dates=dict(getattr(args, "extract_date", None) or []),
            cache_dir=args.cache_dir,
            use_cache=not args.no_cache,
            engine=getattr(args, "engine", "pandas"),
            scheduler=getattr(args, "scheduler", None),
        )
        if not args.quiet:
            page = "index.html" if args.command == "build" else "assessment.html"
            print(f"Open {result.out_dir / page}")
        return 0
    if args.command == "hotspots":
        from .build import hotspots_job
        from .groups import load_crime_groups

        written = hotspots_job(
            args.data_dir,
            args.out,
            area_name=args.area,
            level=args.level,
            group=args.group,
            study=_period(args.study),
            cell_size=args.cell_size,
            groups=load_crime_groups(args.groups, require_all_crime=False) if args.groups else None,
            crime=args.crime,
            counts=args.counts,
            force=args.force,
            cache_dir=args.cache_dir,
            use_cache=not args.no_cache,
        )
        if not args.quiet:
            print(f"Open {written[0]}")
        return 0
    if args.command == "collisions":
        from .build import collisions_job

        written = collisions_job(args.data_dir, args.out, population=args.population)
        if not args.quiet:
            print(f"Open {written[-1]}")
        return 0
    if args.command == "corridor":
        from .corridor_pages import corridor_job

        written = corridor_job(
            args.data_dir,
            args.out,
            road=args.road,
            spec_path=args.spec,
            traffic_path=args.traffic,
        )
        if not args.quiet:
            print(f"Open {written[-1]}")
        return 0
    if args.command == "profile":
        from .build import profiles_job
        from .groups import load_crime_groups, load_mapped_groups

        written = profiles_job(
            args.data_dir,
            args.out,
            towns=None if args.all else args.town,
            towns_file=args.towns,
            study=_period(args.study),
            comparison=_period(args.comparison),
            threshold=args.threshold,
            allow_partial=args.allow_partial,
            groups=load_crime_groups(args.groups) if args.groups else None,
            mapped_groups=load_mapped_groups(args.groups) if args.groups else None,
            crime=args.crime,
            counts=args.counts,
            population=args.population,
            force=args.force,
            cache_dir=args.cache_dir,
            use_cache=not args.no_cache,
        )
        if not args.quiet:
            print(f"Open {written[-1] if args.all else written[0]}")
        return 0
    if args.command == "synth":
        from .synth import synth_job

        written = synth_job(
            args.data_dir,
            args.out,
            source=args.source,
            town=args.town,
            seed=args.seed,
            start=args.start,
            end=args.end,
            n=args.n,
            towns_file=args.towns,
            cache_dir=args.cache_dir,
            use_cache=not args.no_cache,
        )
        if not args.quiet:
            print(f"Wrote {written[0]} (synthetic example data; how it was made: {written[1]})")
        return 0
    raise AssertionError(args)


def _period(text: str | None):
    """A Period from the command line, or None; a bad one is a one-line error."""
    from .periods import parse_period

    try:
        return parse_period(text) if text else None
    except ValueError as exc:
        raise PsaGeoError(str(exc)) from None


def _fetch_months(args: argparse.Namespace) -> int:
    from .download import fetch_police_uk_months, parse_month_range

    option = "--months" if args.months is not None else "--latest"
    if not args.online:
        raise PsaGeoError(f"{option} downloads from police.uk: add --online")
    if args.only:
        raise PsaGeoError(f"{option} fetches police.uk months only: leave out --only")
    months = parse_month_range(args.months) if args.months is not None else None
    from .force import load_force

    result = fetch_police_uk_months(
        args.data_dir, months=months, latest=args.latest, force=load_force(args.force).police_uk
    )
    if not args.quiet:
        lacking = f"; police.uk lacks {', '.join(result.missing)}" if result.missing else ""
        print(
            f"Wrote {len(result.months)} of the months {result.first}:{result.last} "
            f"to {result.written[0].parent.parent}{lacking}"
        )
    return 0


def _print_status(rows, *, quiet: bool) -> None:
    missing = [r for r in rows if not r.present]
    if not quiet:
        print(f"{'dataset':<22} {'status':<8} {'rows':>9}  {'period':<20} licence")
        for r in rows:
            state = "present" if r.present else "MISSING"
            n = f"{r.rows:,}" if r.rows is not None else "-"
            print(f"{r.name:<22} {state:<8} {n:>9}  {r.period or '-':<20} {r.licence}")
            if r.problem:
                print(f"{'':<22} problem: {r.problem}")
    if missing:
        print(
            f"{len(missing)} datasets missing; fetch them with 'psa-geo data fetch --mirror DIR'",
            file=sys.stderr,
        )


def _print_crime_status(status: dict, *, quiet: bool) -> None:
    """The police.uk months, forces and gaps of crime/, and the files skipped there."""
    from .crime_files import month_ranges

    if quiet:
        return
    print(f"\npolice.uk street files in {status['folder']}: {len(status['files'])} "
          f"({status['rows']:,} rows)")  # fmt: skip
    print(f"  months: {month_ranges(status['months'])}")
    print(f"  forces: {', '.join(status['forces']) or 'none'}")
    print(f"  gaps:   {month_ranges(status['gaps'])}")
    print(f"  incomplete months: {status['incomplete'] or 'none'}")
    counts = {table["file"]: table for table in status["counts_tables"]}
    for path, why in status["skipped"]:
        print(f"  skipped: {path}: {why}" if path not in counts else
              f"  skipped: {path}: a counts table; read it with --counts {path}")  # fmt: skip
    for table in counts.values():
        if "problem" in table:
            print(f"  counts table {table['file']}: {table['problem']}")
            continue
        print(f"  counts table {table['file']}: {table['rows']:,} rows "
              f"({table['rejected']:,} unusable), months {month_ranges(table['months'])}, "
              f"incomplete months: {table['incomplete'] or 'none'}")  # fmt: skip
    for path, why in status["problems"]:
        print(f"  problem: {path}: {why}")


def _configure_logging(*, quiet: bool) -> None:
    logger = logging.getLogger("psa_geo")
    logger.handlers.clear()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", datefmt="%H:%M:%S"))
    logger.addHandler(handler)
    logger.setLevel(logging.ERROR if quiet else logging.INFO)
    logger.propagate = False
