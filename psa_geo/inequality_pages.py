"""The assessment's deprivation and rurality section: its tables as CSV, a concentration curve
per area (SVG) and the HTML the assessment page carries (:mod:`psa_geo.inequality` computes)."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from markupsafe import Markup

from ._figures import figure_with_margins
from .csvfile import write_csv
from .errors import PsaGeoError
from .filenames import unique_names
from .force import Force, load_force
from .inequality import (
    MIN_DECILES,
    MOST_DEPRIVED,
    inequality_summary,
    inequality_table,
)
from .measures import ALL_CRIME, ASB
from .overview import RAG
from .templating import inline_svg
from .templating import template as load_template

FOLDER = "inequality"
"""The site folder of the concentration curves (the tables go to ``tables/``)."""
TABLES = {
    "imd_decile": "inequality_imd_decile.csv",
    "rural_urban": "inequality_rural_urban.csv",
    "summary": "inequality_summary.csv",
}
CURVE_STYLES = (("#0072B2", "-", "o"), ("#D55E00", "--", "s"), ("#009E73", ":", "^"))
"""Okabe–Ito blue, vermilion and green with their own dashes and markers (colour not needed)."""
CURVE_MARGINS = {"left": 42, "right": 4, "top": 20, "bottom": 34}
"""In points, at 9-point text: the axes' labels and ticks (0 to 100) and the title above."""
CAVEATS = (
    "Located events only, placed in their LSOA; events without a location are in no decile or "
    "class. Rates are per 1,000 residents of the LSOAs of each decile or class.",
    "Deciles are national: decile 1 holds the LSOAs among England's most deprived 10% by the "
    "Index of Multiple Deprivation 2019 (MHCLG), decile 10 the least deprived 10%. An area need "
    "not have LSOAs in every decile; a decile with no residents has no rate.",
    "The IMD is an area measure: a high rate in deprived LSOAs does not show that deprived "
    "people are more often victims or offenders (the ecological fallacy). The IMD also has a "
    "crime domain (recorded violence, burglary, theft and criminal damage, weighted 9.3%), so "
    "part of the link is built in.",
    "Resident rates run high where people visit: town centres, often in deprived deciles, draw "
    "shoppers, workers and the night-time economy.",
    "The slope index of inequality (SII) is the gap in the rate from the most to the least "
    "deprived end of a straight line fitted to the decile rates, weighted by residents "
    "(OHID's method); the relative index (RII) is the ratio of its two ends. Crime rises "
    f"steeply in the most deprived decile, so the line fits loosely: where it reaches 0 before "
    "the least deprived end the RII is not computed, and the decile 1 to 10 ratio and the "
    "curve show the shape. The 95% limits come from 100,000 simulated sets of decile rates. "
    f"Both need residents in at least {MIN_DECILES} deciles and an event in each.",
    "Rural-urban classes are ONS's 2011 Rural Urban Classification of LSOAs; the 'sparse "
    "setting' classes hold few LSOAs and have wide intervals.",
)


def _decile_label(decile: int) -> str:
    return {1: "1 (most deprived)", 10: "10 (least deprived)"}.get(int(decile), str(decile))


def concentration_curve_svg(
    deciles: pd.DataFrame, path: str | Path, *, area_code: str, groups: list[str], title: str
) -> Path:
    """Write the concentration curve of one area: the cumulative share of each group's events
    against the cumulative share of residents, LSOAs ordered from national decile 1 (most
    deprived), beside the diagonal of equal shares; the points are numbered by decile and the
    deciles 1-2 point is labelled with its two shares. An SVG with a title and description."""
    from matplotlib import rc_context

    rows = deciles[(deciles["area_code"] == area_code) & (deciles["population"] > 0)]
    if rows.empty:
        raise PsaGeoError(f"no deciles with residents for area {area_code!r}")
    with rc_context({"font.size": 9}):
        fig, ax = figure_with_margins((7.0, 5.2), **CURVE_MARGINS)
        ax.plot([0, 100], [0, 100], color="#555555", ls=(0, (4, 3)), lw=1,
                label="Equal shares (events in proportion to residents)")  # fmt: skip
        for group, (colour, dash, marker) in zip(groups, CURVE_STYLES, strict=False):
            curve = rows[rows["category"] == group].sort_values("imd_decile")
            if curve["cumulative_count_share_pct"].isna().any():
                continue  # no events: no curve
            x = [0.0, *curve["cumulative_population_share_pct"]]
            y = [0.0, *curve["cumulative_count_share_pct"]]
            ax.plot(x, y, color=colour, ls=dash, marker=marker, markersize=4, label=group)
            if group != groups[0]:
                continue
            for decile, px, py in zip(curve["imd_decile"], x[1:], y[1:], strict=True):
                ax.annotate(str(decile), (px, py), xytext=(-9, 3), textcoords="offset points",
                            fontsize=7, parse_math=False)  # fmt: skip
            deprived = curve[curve["imd_decile"] <= MOST_DEPRIVED]
            if len(deprived):
                px = deprived["cumulative_population_share_pct"].iloc[-1]
                py = deprived["cumulative_count_share_pct"].iloc[-1]
                ax.annotate(
                    f"Deciles 1–{MOST_DEPRIVED}: {py:.1f}% of events,\n{px:.1f}% of residents",
                    (px, py), xytext=(0.42, 0.16), textcoords="axes fraction", fontsize=8,
                    arrowprops={"arrowstyle": "-", "lw": 0.6, "color": "0.3"}, parse_math=False,
                )  # fmt: skip
        ax.set_xlim(0, 102)
        ax.set_ylim(0, 104)
        ax.set_xlabel("Cumulative % of residents, from the most deprived decile")
        ax.set_ylabel("Cumulative % of events")
        ax.set_title(title, parse_math=False)
        ax.legend(loc="upper left", fontsize=8, frameon=False)
        ax.spines[["top", "right"]].set_visible(False)
    desc = (
        "Each point is a national IMD 2019 decile, numbered, from decile 1 (most deprived) at "
        "the left; a curve above the diagonal means events are concentrated in the more "
        "deprived LSOAs. The table beside the chart gives the same figures."
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(inline_svg(fig, title, desc), encoding="utf-8")
    return path


def _cells(frame: pd.DataFrame, by: str, groups: list[str]) -> list[dict]:
    """One row per class: its LSOAs and residents, and per group its figures."""
    rows = []
    for value, part in frame.groupby(by, sort=False):
        first = part.iloc[0]
        by_group = part.set_index("category")
        rows.append(
            {
                "label": _decile_label(value) if by == "imd_decile" else value,
                "lsoas": first["lsoas"],
                "population": first["population"],
                "population_share_pct": first["population_share_pct"],
                "groups": [by_group.loc[g].to_dict() for g in groups],
            }
        )
    return rows


def _lead(row: dict, the_parent: str) -> str:
    """One sentence of the area's deprived share and decile 1 to 10 ratio."""
    name = the_parent if row["level"] == "peninsula" else row["area_name"]
    group = {ALL_CRIME: "crime (excl. ASB)", ASB: "ASB"}.get(row["category"], row["category"])
    if not row["deprived_population_share_pct"] > 0:
        text = (f"{row['area_name']} has no LSOAs among England's most deprived 20% (national "
                f"deciles 1–{MOST_DEPRIVED}).")  # fmt: skip
    else:
        text = (
            f"LSOAs among England's most deprived 20% (national deciles 1–{MOST_DEPRIVED}) hold "
            f"{row['deprived_count_share_pct']:.1f}% of {name}'s {group} and "
            f"{row['deprived_population_share_pct']:.1f}% of its residents."
        )
    ratio = row["decile_1_to_10_ratio"]
    if not math.isnan(ratio):
        text += f" The rate in decile 1 is {ratio:.1f} times that in decile 10."
    return text


def inequality_html(
    deciles: pd.DataFrame,
    rural: pd.DataFrame | None,
    summary: pd.DataFrame,
    *,
    headline_groups: list[str],
    charts: dict[str, str],
    force: Force | None = None,
    tables: dict[str, str] | None = None,
) -> Markup:
    """The section (``<section id="inequality">``) of the assessment page: for the headline
    groups, every area's deprived share, decile 1 to 10 ratio, SII and RII side by side; then
    per area its concentration curve (``charts``: area code → image path), its rates by decile
    and by rural-urban class (``rural`` None: the classification is not in the data), and
    every group's summary; the caveats under it. Every value is escaped."""
    force = load_force(force)
    groups = [g for g in headline_groups if g in set(deciles["category"])]
    if not groups:
        raise PsaGeoError("none of the headline groups is in the decile table")
    order = list(dict.fromkeys(deciles["area_code"]))
    rank = summary["area_code"].map(order.index)
    summary = summary.assign(_o=rank).sort_values("_o", kind="stable").drop(columns="_o")
    areas = []
    for code in order:
        rows = summary[summary["area_code"] == code]
        lead = rows[rows["category"] == groups[0]].iloc[0].to_dict()
        areas.append(
            {
                "code": code,
                "name": lead["area_name"],
                "lead": _lead(lead, force.the_parent),
                "chart": charts.get(code),
                "deciles": _cells(deciles[deciles["area_code"] == code], "imd_decile", groups),
                "rural": None
                if rural is None
                else _cells(rural[rural["area_code"] == code], "rural_urban", groups),
                "summary": rows.to_dict("records"),
            }
        )
    return Markup(
        load_template("inequality.html.j2").render(
            groups=groups,
            overview={g: summary[summary["category"] == g].to_dict("records") for g in groups},
            areas=areas,
            study=deciles["period"].iloc[0],
            rag=RAG,
            caveats=CAVEATS,
            tables=tables or {},
            most_deprived=MOST_DEPRIVED,
        )
    )


def write_inequality(
    out_dir: str | Path,
    lsoa_rates: pd.DataFrame,
    areas: pd.DataFrame,
    *,
    headline_groups: list[str],
    force: Force | None = None,
    notes: list[str] | None = None,
) -> tuple[list[Path], Markup]:
    """Write ``tables/inequality_*.csv`` (:func:`inequality_table` by decile and by rural-urban
    class, :func:`inequality_summary`) and ``inequality/concentration_<area>.svg`` for the
    Peninsula and each CSP with residents in two or more deciles; return the files and the
    section's HTML (:func:`inequality_html`). Without the rural-urban classification its
    table is left out, with a line in ``notes``."""
    out_dir = Path(out_dir)
    (out_dir / "tables").mkdir(parents=True, exist_ok=True)
    deciles = inequality_table(lsoa_rates, areas, by="imd_decile")
    rural = None
    if "rural_urban" in areas and areas["rural_urban"].notna().any():
        rural = inequality_table(lsoa_rates, areas, by="rural_urban")
    elif notes is not None:
        notes.append("no rates by rural-urban class: the classification is not in the data")
    summary = inequality_summary(deciles)
    written = []
    for key, frame in (("imd_decile", deciles), ("rural_urban", rural), ("summary", summary)):
        if frame is not None:
            written.append(write_csv(frame, out_dir / "tables" / TABLES[key], float_format="%.3f"))
    groups = [g for g in headline_groups if g in set(deciles["category"])]
    names = deciles.drop_duplicates("area_code").set_index("area_code")["area_name"]
    slugs = unique_names(names, what="area")
    lived = deciles[deciles["population"] > 0].groupby("area_code")["imd_decile"].nunique()
    charts = {}
    for code, name in names.items():
        if lived.get(code, 0) < 2:
            continue
        path = out_dir / FOLDER / f"concentration_{slugs[name]}.svg"
        title = f"{name}: share of events by deprivation decile, {deciles['period'].iloc[0]}"
        written.append(concentration_curve_svg(deciles, path, area_code=code, groups=groups,
                                               title=title))  # fmt: skip
        charts[code] = f"{FOLDER}/{path.name}"
    tables = {key: f"tables/{name}" for key, name in TABLES.items()}
    if rural is None:
        del tables["rural_urban"]
    html = inequality_html(deciles, rural, summary, headline_groups=groups, charts=charts,
                           force=force, tables=tables)  # fmt: skip
    return written, html
