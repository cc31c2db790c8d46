"""The landing page ``index.html``: headline CSP tables, data quality and links."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import jinja2
import pandas as pd

from ._version import __version__
from .counts import ALL_RECORDS
from .counts import SOURCE as COUNTS_SOURCE
from .force import Force, load_force
from .maps import ATTRIBUTION
from .measures import ALL_CRIME, ASB, NO_DATA, location_note
from .overview import overview_html

MAP_FILE = "peninsula_map.html"
GPKG_FILE = "psa_geo_rates.gpkg"
TABLE_LEVELS = {
    "csp": "CSP",
    "lad": "LAD",
    "ward": "ward",
    "lsoa": "LSOA",
    "peninsula": "Peninsula",
}


def index_html(
    tables: dict[str, pd.DataFrame],
    report: dict,
    *,
    n_lsoa: int,
    n_csp: int,
    hotspot_pages: list[tuple[str, str]] = (),
    towns_page: str | None = None,
    hotspots_page: str | None = None,
    extra_pages: list[tuple[str, str]] = (),
    incomplete: list[str] = (),
    funnels: list[str] = (),
    force: Force | None = None,
    inequality_tables: list[str] = (),
) -> str:
    """Render the landing page from the rate tables and the run report (all text escaped);
    ``incomplete`` are lines naming each source's flagged months
    (:func:`psa_geo.completeness.incomplete_note`); ``force`` (default Devon & Cornwall) names
    the area; ``towns_page`` and ``hotspots_page`` are the folder indexes;
    ``inequality_tables`` the CSVs of the assessment page's deprivation section (none: no
    link to it)."""
    force = load_force(force)
    note = location_note(force)
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["num"] = lambda n: f"{n:,}"
    source = resources.files("psa_geo.templates").joinpath("index.html.j2")
    template = env.from_string(source.read_text(encoding="utf-8"))
    csp, pen = tables["csp"], tables["peninsula"]
    blocks = []
    for category in [c for c in (ALL_CRIME, ASB, ALL_RECORDS) if c in set(csp["category"])]:
        pen_rows = pen[pen["category"] == category]
        without = int(pen_rows["without_location"].sum())
        outside = int(pen_rows["placed_outside"].sum())
        blocks.append(
            {
                "caption": f"{category} by Community Safety Partnership",
                "rows": _rows(csp[csp["category"] == category]) + _rows(pen_rows),
                "note": note
                if force.part_of_force
                else f"{note} Here: {without:,} events without a location and {outside:,} "
                f"placed outside the force area count in the {force.parent_label} row.",
            }
        )
    headline = next(
        (g for g in (ALL_CRIME, ALL_RECORDS) if g in set(csp["category"])), csp["category"].iloc[0]
    )
    overview = overview_html(
        csp,
        pen,
        headline=headline,
        study=report["study_period"]["label"],
        comparison=report["comparison_period"]["label"],
        force=force,
    )
    return template.render(
        overview=overview,
        study=report["study_period"]["label"],
        comparison=report["comparison_period"]["label"],
        period_rule=report.get("period_rule", ""),
        population=report.get("population", {}).get("sentence", ""),
        threshold_pct=f"{100 * report['trend_threshold']:g}",
        n_lsoa=n_lsoa,
        n_csp=n_csp,
        map_file=MAP_FILE,
        gpkg_file=GPKG_FILE,
        table_levels={**TABLE_LEVELS, "peninsula": force.parent_label},
        parent=force.parent_label,
        the_parent=force.the_parent,
        area_text=force.area_text,
        hotspot_pages=list(hotspot_pages),
        towns_page=towns_page,
        hotspots_page=hotspots_page,
        extra_pages=list(extra_pages),
        incomplete=list(incomplete),
        funnels=[(_funnel_label(p), p) for p in funnels],
        inequality_tables=[(_table_label(p), p) for p in inequality_tables],
        counts=report["sources"].get(COUNTS_SOURCE),
        tables=blocks,
        ingest=report["sources"]["police_uk"]["ingest"],
        placed=report["sources"]["police_uk"]["assignment"],
        notes=[n for n in report["notes"] if n != note],
        attribution=ATTRIBUTION,
        version=__version__,
        generated=report["generated"],
    )


def _funnel_label(path: str) -> str:
    """ "CSPs, all crime" from ``funnels/funnel_csp_all_crime.svg``."""
    level, _, group = Path(path).stem.removeprefix("funnel_").partition("_")
    group = {"all_crime": "all crime", "asb": "ASB"}.get(group, group.replace("_", " "))
    return f"{level.upper()}s, {group}"


def _table_label(path: str) -> str:
    """ "by IMD decile" from ``tables/inequality_imd_decile.csv``."""
    part = Path(path).stem.removeprefix("inequality_")
    return {"imd_decile": "by IMD decile", "rural_urban": "by rural-urban class"}.get(
        part, part.replace("_", " ")
    )


def _number(value, pattern: str = "{:,}") -> str:
    return NO_DATA if pd.isna(value) else pattern.format(value)


def _rows(frame: pd.DataFrame) -> list[dict]:
    return [
        {
            "area_name": r.area_name,
            "population": f"{r.population:,}" if r.population else NO_DATA,
            "comparison_count": _number(r.comparison_count),
            "count": _number(r.count),
            "rate": _number(r.rate_per_1000, "{:.1f}"),
            "change": "" if pd.isna(r.change_pct) else f"{r.change_pct:+.1f}%",
            "trend": r.trend,
            "trend_word": r.trend_word,
            "trend_class": {"▲": "up", "▼": "down"}.get(r.trend, ""),
        }
        for r in frame.itertuples()
    ]
