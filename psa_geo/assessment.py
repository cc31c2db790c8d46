"""The assessment's tables: quick facts, the CSP league table and the seasonality summary."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ._version import __version__
from .credits import credits
from .csvfile import write_csv
from .force import Force, load_force
from .measures import ALL_CRIME, NO_DATA
from .overview import RAG, overview_html
from .templating import template as load_template

CAVEATS = (
    "Source: police.uk street-level crime and ASB. Figures differ slightly from the published "
    "iQuanta figures: police.uk is extracted once a month and not revised when records are "
    "reclassified or cancelled.",
    "Rates are per 1,000 residents (ONS mid-2018). In town centres and visitor areas many "
    "victims and offenders are not residents, so resident rates run high there.",
    "'Higher' or 'lower' than {the_parent} means {the_parent}'s located-only rate (events with "
    "a location, as every CSP counts them) lies outside the area's 95% confidence interval "
    "(public-health profile method); otherwise 'similar'.",
    "A change is called significant when an exact Poisson test of the two counts gives "
    "p < 0.05; the arrow alone (±5%) says nothing about chance.",
)


def quick_facts(csp: pd.DataFrame, peninsula: pd.DataFrame) -> pd.DataFrame:
    """One row per area (Peninsula, then each CSP) and group, as in the assessment."""
    frame = pd.concat([peninsula, csp], ignore_index=True)
    if "vs_parent_95" not in frame:
        frame["vs_parent_95"] = ""
    out = pd.DataFrame(
        {
            "area": frame["area_name"],
            "group": frame["category"],
            "trend": frame["trend"],
            "trend_word": frame["trend_word"],
            "rate_per_1000": frame["rate_per_1000"],
            "rate_lower_95": frame["rate_lower_95"],
            "rate_upper_95": frame["rate_upper_95"],
            "count": frame["count"],
            "previous_count": frame["comparison_count"],
            "change_pct": frame["change_pct"],
            "change_significance": frame["change_significance"],
            "vs_peninsula": frame["vs_parent_95"].fillna("").replace("", "(benchmark)"),
            "period": frame["period"],
            "comparison_period": frame["comparison_period"],
        }
    )
    return out


def league_table(csp: pd.DataFrame) -> pd.DataFrame:
    """CSPs ranked by rate within each group (1 = highest), with 'highest' and 'lowest'."""
    out = csp[
        [
            "category",
            "area_name",
            "population",
            "count",
            "rate_per_1000",
            "rate_lower_95",
            "rate_upper_95",
            "vs_parent_95",
            "period",
        ]
    ].copy()
    out = out.rename(
        columns={"category": "group", "area_name": "area", "vs_parent_95": "vs_peninsula"}
    )
    out["rank"] = out.groupby("group", sort=False)["rate_per_1000"].rank(
        ascending=False, method="min"
    )
    size = out.groupby("group", sort=False)["rank"].transform("max")
    out["note"] = ""
    out.loc[out["rank"] == 1, "note"] = "highest"
    out.loc[out["rank"] == size, "note"] = "lowest"
    out.loc[out["rank"].isna(), "note"] = NO_DATA
    out["rank"] = out["rank"].astype("Int64")
    order = pd.Categorical(
        out["group"], categories=list(dict.fromkeys(csp["category"])), ordered=True
    )
    return (
        out.assign(_g=order).sort_values(["_g", "rank"]).drop(columns="_g").reset_index(drop=True)
    )


def assessment_html(
    quick: pd.DataFrame,
    league: pd.DataFrame,
    season: pd.DataFrame,
    *,
    headline_groups: list[str],
    incomplete: str = "",
    population: str = "",
    force: Force | None = None,
    rates: dict[str, pd.DataFrame] | None = None,
    inequality: str = "",
) -> str:
    """The three tables as one print-friendly page, every cell escaped; ``incomplete`` is a
    line naming flagged months in the periods (:func:`psa_geo.completeness.incomplete_note`),
    ``population`` the line saying which population estimates the rates use. With ``rates``
    (the ``csp`` and ``peninsula`` rate tables) the page opens with the overview grid
    (:func:`psa_geo.overview.overview_html`) and names the parent's located-only rate.
    ``inequality`` is the deprivation and rurality section
    (:func:`psa_geo.inequality_pages.inequality_html`), placed before the caveats."""
    force = load_force(force)
    template = load_template("assessment.html.j2", missing="")
    areas = list(dict.fromkeys(quick["area"]))
    overview, located = "", {}
    if rates is not None:
        csp = rates["csp"]
        groups = [g for g in headline_groups if g in set(csp["category"])] or list(csp["category"])
        headline = ALL_CRIME if ALL_CRIME in groups else groups[0]
        overview = overview_html(
            csp,
            rates["peninsula"],
            headline=headline,
            study=quick["period"].iloc[0],
            comparison=quick["comparison_period"].iloc[0],
            force=force,
        )
        located = (
            csp.dropna(subset=["parent_rate_per_1000"])
            .groupby("category", sort=False)["parent_rate_per_1000"]
            .first()
            .to_dict()
        )
    return template.render(
        overview=overview,
        inequality=inequality,
        located=located,
        quick={a: quick[quick["area"] == a].to_dict("records") for a in areas},
        league={g: league[league["group"] == g].to_dict("records") for g in headline_groups},
        season=season[season["category"].isin(headline_groups)].to_dict("records"),
        study=quick["period"].iloc[0],
        comparison=quick["comparison_period"].iloc[0],
        rag=RAG,
        caveats=[c.format(the_parent=force.the_parent) for c in CAVEATS],
        version=__version__,
        attribution=credits("boundaries", "police_uk", *(["deprivation"] if inequality else [])),
        home="index.html",
        incomplete=incomplete,
        population=population,
        parent=force.parent_label,
        the_parent=force.the_parent,
        location_note=(
            f"The {force.parent_name} total counts located events only."
            if force.part_of_force
            else f"Events without a location count in {force.the_parent} (force) total only; "
            "comparisons use located events."
        ),
        season_note=(
            f"The {force.parent_label} row counts located events only."
            if force.part_of_force
            else f"The {force.parent_label} row is the force total (including events without "
            "a location)."
        ),
    )


def write_assessment(
    out_dir: Path,
    quick: pd.DataFrame,
    league: pd.DataFrame,
    season: pd.DataFrame,
    *,
    headline_groups: list[str],
    incomplete: str = "",
    population: str = "",
    force: Force | None = None,
    rates: dict[str, pd.DataFrame] | None = None,
    inequality: str = "",
) -> list[Path]:
    """Write the three tables as CSV (under tables/) and the page ``assessment.html``
    (opening with the overview grid when ``rates`` are given, with the ``inequality``
    section when given, as for :func:`assessment_html`)."""
    (out_dir / "tables").mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in (("quick_facts", quick), ("league_table", league), ("seasonality", season)):
        path = out_dir / "tables" / f"{name}.csv"
        write_csv(frame, path, float_format="%.3f")
        written.append(path)
    page = out_dir / "assessment.html"
    page.write_text(
        assessment_html(
            quick,
            league,
            season,
            headline_groups=headline_groups,
            incomplete=incomplete,
            population=population,
            force=force,
            rates=rates,
            inequality=inequality,
        ),
        encoding="utf-8",
    )
    return [*written, page]
