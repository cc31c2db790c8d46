"""The main job: read the data directory, build the study, write maps, tables and a report."""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from ._version import __version__
from .areas import LEVELS, dissolve_areas, load_areas
from .assign import assign_areas
from .datadir import dataset_path, load_manifest, require_datasets, resolve_data_dir
from .index_page import GPKG_FILE, MAP_FILE, index_html
from .maps import rate_map
from .measures import ALL_CRIME, NOTE_WITHOUT_LOCATION, rate_table
from .periods import Period, latest_complete_months
from .police_uk import read_police_uk

log = logging.getLogger(__name__)


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
    require_datasets(data_dir, manifest=manifest)
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
    covered = {pd.Timestamp(f"{month}-01") for month in ingest.months}
    with _Step(timings, "measure"):
        tables = {
            level: rate_table(
                events,
                areas,
                level=level,
                study=study,
                comparison=comparison,
                threshold=threshold,
                months_covered=covered,
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
        index_html(tables, report, n_lsoa=len(areas), n_csp=areas["csp_code"].nunique()),
        encoding="utf-8",
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
