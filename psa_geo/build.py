"""The main job: read the data directory, build the study, write maps, tables and a report."""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import jinja2
import pandas as pd

from . import __version__
from .areas import LEVELS, dissolve_areas, load_areas
from .assign import assign_areas
from .datadir import dataset_path, load_manifest, resolve_data_dir
from .maps import ATTRIBUTION, rate_map
from .measures import ALL_CRIME, ASB, NOTE_WITHOUT_LOCATION, rate_table
from .periods import Period, latest_complete_months
from .police_uk import read_police_uk

log = logging.getLogger(__name__)

MAP_FILE = "peninsula_map.html"
GPKG_FILE = "psa_geo_rates.gpkg"


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
) -> BuildResult:
    """Build the Peninsula study from the data directory and write every output.

    Writes ``index.html``, ``peninsula_map.html``, ``tables/rates_<level>.csv``,
    ``psa_geo_rates.gpkg`` (one layer per level), ``rejected_rows.csv`` and
    ``run_report.json`` to ``out_dir``. The default study period is the latest 12
    complete months in the data, compared with the 12 before.
    """
    data_dir = resolve_data_dir(data_dir)
    out_dir = Path(out_dir)
    timings: dict[str, float] = {}
    manifest = load_manifest()
    with _Step(timings, "load areas"):
        areas = load_areas(data_dir)
    with _Step(timings, "read police.uk"):
        paths = [
            dataset_path(ds.name, data_dir, manifest=manifest) for ds in manifest.group("police_uk")
        ]
        events, ingest = read_police_uk(paths, return_report=True)
    with _Step(timings, "assign areas"):
        events, placed = assign_areas(events, areas, return_report=True)
        log.info(
            "assigned: %d inside, %d outside, %d without location",
            placed.inside,
            placed.outside,
            placed.without_location,
        )
    if study is None:
        study, default_comparison = latest_complete_months(events)
        comparison = comparison or default_comparison
    elif comparison is None:
        comparison = study.previous()
    with _Step(timings, "measure"):
        tables = {
            level: rate_table(
                events, areas, level=level, study=study, comparison=comparison, threshold=threshold
            )
            for level in LEVELS
        }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "tables").mkdir(exist_ok=True)
    result = BuildResult(out_dir=out_dir, tables=tables)
    with _Step(timings, "write tables"):
        for level, table in tables.items():
            path = out_dir / "tables" / f"rates_{level}.csv"
            table.to_csv(path, index=False, encoding="utf-8-sig", float_format="%.3f")
            result.files.append(path)
        rejected_path = out_dir / "rejected_rows.csv"
        ingest.rejected_rows.to_csv(rejected_path, index=False, encoding="utf-8-sig")
        result.files.append(rejected_path)
    with _Step(timings, "dissolve areas"):
        outlines = {level: dissolve_areas(areas, level=level) for level in ("ward", "lad", "csp")}
    with _Step(timings, "write GeoPackage"):
        gpkg = out_dir / GPKG_FILE
        gpkg.unlink(missing_ok=True)
        lsoa_shapes = areas[["lsoa_code", "geometry"]].rename(columns={"lsoa_code": "area_code"})
        for level, shapes in (("lsoa", lsoa_shapes), *outlines.items()):
            layer = shapes[["area_code", "geometry"]].merge(
                wide_figures(tables[level]), on="area_code", how="left"
            )
            layer.to_file(gpkg, layer=level, driver="GPKG")
        result.files.append(gpkg)
    with _Step(timings, "write map"):
        headline = tables["lsoa"][tables["lsoa"]["category"] == ALL_CRIME]
        lsoa_rates = areas[["lsoa_code", "lsoa_name", "csp_name", "geometry"]].merge(
            headline[["area_code", "count", "rate_per_1000", "change_pct", "trend", "trend_word"]],
            left_on="lsoa_code",
            right_on="area_code",
        )
        title = f"{ALL_CRIME}: rate per 1,000 residents by LSOA, {study.label}"
        fmap = rate_map(lsoa_rates, outlines["csp"], title=title)
        map_path = out_dir / MAP_FILE
        fmap.save(map_path)
        result.files.append(map_path)
        log.info("map: %s (%.1f MB)", map_path, map_path.stat().st_size / 1e6)

    report = {
        "psa_geo_version": __version__,
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "data_dir": str(data_dir),
        "study_period": {
            "label": study.label,
            "start": str(study.start.date()),
            "end_exclusive": str(study.end.date()),
        },
        "comparison_period": {
            "label": comparison.label,
            "start": str(comparison.start.date()),
            "end_exclusive": str(comparison.end.date()),
        },
        "trend_threshold": threshold,
        "sources": {"police_uk": {"ingest": ingest.to_dict(), "assignment": placed.to_dict()}},
        "notes": [NOTE_WITHOUT_LOCATION],
        "timings_s": timings,
    }
    report_path = out_dir / "run_report.json"
    result.files.append(report_path)
    index_path = out_dir / "index.html"
    result.files.append(index_path)
    report["outputs"] = [str(p.relative_to(out_dir)) for p in result.files]
    report_path.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    index_path.write_text(
        _index_html(tables, study, comparison, threshold, report, areas), encoding="utf-8"
    )
    result.report = report
    log.info("wrote %d files to %s", len(result.files), out_dir)
    return result


def _slug(text: str) -> str:
    text = text.replace("(excl. ASB)", "").replace("Anti-social behaviour", "asb")
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


def _index_html(tables, study, comparison, threshold, report, areas) -> str:
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    template = env.from_string(
        resources.files("psa_geo.templates").joinpath("index.html.j2").read_text(encoding="utf-8")
    )
    ingest = report["sources"]["police_uk"]["ingest"]
    placed = report["sources"]["police_uk"]["assignment"]
    links = [
        {
            "href": MAP_FILE,
            "label": "Peninsula map",
            "note": "crime rate per 1,000 by LSOA, with CSP outlines",
        },
        *(
            {
                "href": f"tables/rates_{lvl}.csv",
                "label": f"Rates by {lvl.upper() if lvl != 'peninsula' else 'Peninsula'} (CSV)",
                "note": "",
            }
            for lvl in ("csp", "lad", "ward", "lsoa", "peninsula")
        ),
        {
            "href": GPKG_FILE,
            "label": "GeoPackage for QGIS",
            "note": "layers lsoa, ward, lad and csp with the same figures",
        },
        {
            "href": "run_report.json",
            "label": "Run report (JSON)",
            "note": "rows read, accepted, rejected and placed",
        },
        {
            "href": "rejected_rows.csv",
            "label": "Rejected rows (CSV)",
            "note": f"{ingest['rejected_total']:,} rows with the reason for each",
        },
    ]
    csp, pen = tables["csp"], tables["peninsula"]
    blocks = []
    for category in (ALL_CRIME, ASB):
        rows = [*_rows(csp[csp["category"] == category]), *_rows(pen[pen["category"] == category])]
        without = int(pen.loc[pen["category"] == category, "without_location"].iloc[0])
        blocks.append(
            {
                "caption": f"{category} by Community Safety Partnership",
                "rows": rows,
                "notes": [NOTE_WITHOUT_LOCATION + f" Here: {without:,} events without a location."],
            }
        )
    rate = placed["published_lsoa_agreement_rate"]
    quality = [
        f"police.uk rows read: {ingest['rows_read']:,}; accepted {ingest['accepted']:,}; rejected {ingest['rejected_total']:,}"
        + (
            " (" + ", ".join(f"{k}: {v:,}" for k, v in ingest["rejected"].items()) + ")"
            if ingest["rejected"]
            else ""
        )
        + ".",
        f"Placed in an LSOA of the area: {placed['inside_area']:,}; outside the area: {placed['outside_area']:,}; without a location: {placed['without_location']:,}.",
        "The LSOA police.uk published is used (as in official figures); it matches our own point-in-polygon join for "
        + (f"{100 * rate:.1f}%" if rate is not None else "n/a")
        + f" of {placed['published_lsoa_compared']:,} events (snap points near boundaries differ).",
        *(
            f"Overlapping input: {o['force']} {o['month']} in {o['file']} was already read from {o['first_file']}; {o['rows_skipped']:,} rows not counted twice."
            for o in ingest["overlaps"]
        ),
        "Rates use residents as the denominator; town centres and visitor areas have high rates because many victims and offenders are not residents.",
    ]
    return template.render(
        study=study.label,
        comparison=comparison.label,
        n_lsoa=len(areas),
        n_csp=areas["csp_code"].nunique(),
        threshold_pct=f"{100 * threshold:g}",
        links=links,
        tables=blocks,
        quality=quality,
        attribution=ATTRIBUTION,
        version=__version__,
        generated=report["generated"],
    )


def _rows(frame: pd.DataFrame) -> list[dict]:
    out = []
    for r in frame.itertuples():
        change = "" if pd.isna(r.change_pct) else f"{r.change_pct:+.1f}%"
        out.append(
            {
                "area_name": r.area_name,
                "population": f"{r.population:,}",
                "comparison_count": f"{r.comparison_count:,}",
                "count": f"{r.count:,}",
                "rate": f"{r.rate_per_1000:.1f}",
                "change": change,
                "trend": r.trend,
                "trend_word": r.trend_word,
                "trend_class": {"▲": "up", "▼": "down"}.get(r.trend, ""),
            }
        )
    return out
