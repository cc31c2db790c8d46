"""The one-glance overview: each CSP against its parent (the Peninsula) for every crime group,
with its trend, as one grid, one sentence per CSP and the parent's one rate."""

from __future__ import annotations

import math

import pandas as pd
from markupsafe import Markup

from .errors import PsaGeoError
from .force import Force, load_force
from .measures import ALL_CRIME, NO_DATA, TREND_WORDS
from .templating import template as load_template

RAG = {"higher": "#E69F00", "similar": "#D9D9D9", "lower": "#56B4E9"}
"""Okabe–Ito orange, grey and sky blue (colour-blind safe), always shown beside the word."""
NOT_COMPARABLE = "not comparable"
_GRID_COLUMNS = ("area_code", "area_name", "category", "rate_per_1000", "trend", "trend_word",
                 "vs_parent_95")  # fmt: skip


def overview_grid(csp: pd.DataFrame, *, groups: list[str] | None = None) -> pd.DataFrame:
    """One row per CSP and group of a CSP rate table (:func:`psa_geo.rate_table`, level "csp").

    Columns: ``area_code``, ``area_name``, ``group``, ``rate_per_1000``, ``vs_parent``
    (higher, similar, lower or "no data"), ``trend`` (the arrow, or "") and ``trend_text``
    (increasing, decreasing, stable, "not comparable" where the trend is withheld, or "no
    data"). ``groups`` (default: those of the table, in its order) are the grid's columns.
    """
    if not isinstance(csp, pd.DataFrame):
        raise PsaGeoError(f"'csp' should be a DataFrame, got {type(csp).__name__}")
    missing = [c for c in _GRID_COLUMNS if c not in csp]
    if missing:
        raise PsaGeoError(f"'csp' is not a CSP rate table: no column {', '.join(missing)}")
    groups = list(dict.fromkeys(csp["category"])) if groups is None else list(groups)
    unknown = [g for g in groups if g not in set(csp["category"])]
    if unknown:
        raise PsaGeoError(f"groups not in the rate table: {', '.join(map(str, unknown))}")
    rows = csp[csp["category"].isin(groups)]
    out = pd.DataFrame(
        {
            "area_code": rows["area_code"],
            "area_name": rows["area_name"],
            "group": rows["category"],
            "rate_per_1000": rows["rate_per_1000"],
            "vs_parent": rows["vs_parent_95"].fillna(NO_DATA),
            "trend": rows["trend"].fillna(""),
            "trend_text": [_trend_text(w) for w in rows["trend_word"]],
        }
    )
    order = pd.Categorical(out["group"], categories=groups, ordered=True)
    return (
        out.assign(_g=order)
        .sort_values(["area_code", "_g"])
        .drop(columns="_g")
        .reset_index(drop=True)
    )


def _trend_text(word) -> str:
    if isinstance(word, str) and word in TREND_WORDS.values():
        return word
    if isinstance(word, str) and word.startswith(NOT_COMPARABLE):
        return NOT_COMPARABLE
    return NO_DATA


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def csp_sentences(csp: pd.DataFrame, *, group: str) -> list[str]:
    """One sentence per CSP for ``group``, highest rate first (CSPs with no data last), e.g.
    "Plymouth: highest of 8, 80.5 per 1,000; stable". The rank is among the CSPs with data."""
    grid = overview_grid(csp, groups=[group])
    rates = grid["rate_per_1000"]
    ranks = rates.rank(ascending=False, method="min")
    n = int(rates.notna().sum())
    sentences = []
    pairs = sorted(
        zip(grid.itertuples(), ranks, strict=True),
        key=lambda pair: (math.isnan(pair[1]), pair[1], pair[0].area_name),
    )
    for row, rank in pairs:
        if math.isnan(rank):
            sentences.append(f"{row.area_name}: {NO_DATA}")
            continue
        r = int(rank)
        place = "highest" if r == 1 else "lowest" if r == n else f"{_ordinal(r)} highest"
        if (ranks == rank).sum() > 1:
            place = f"joint {place}"
        trend = row.trend_text if row.trend_text != NOT_COMPARABLE else "trend not comparable"
        sentences.append(
            f"{row.area_name}: {place} of {n}, {row.rate_per_1000:,.1f} per 1,000; {trend}"
        )
    return sentences


def parent_rates(csp: pd.DataFrame, peninsula: pd.DataFrame, *, group: str) -> dict:
    """The parent's figures for ``group``: ``rate`` (the one rate shown for it, counting events
    without a location), ``located_rate`` (located events only, the one comparisons use),
    ``count``, ``without_location``, ``placed_outside`` and ``unlocated_share``
    (``without_location / count``)."""
    pen = peninsula[peninsula["category"] == group]
    if pen.empty:
        raise PsaGeoError(f"group {group!r} is not in the peninsula rate table")
    pen = pen.iloc[0]
    located = csp.loc[csp["category"] == group, "parent_rate_per_1000"].dropna()
    count = pen["count"]
    without = int(pen.get("without_location", 0) or 0)
    return {
        "rate": pen["rate_per_1000"],
        "located_rate": located.iloc[0] if len(located) else math.nan,
        "count": count,
        "without_location": without,
        "placed_outside": int(pen.get("placed_outside", 0) or 0),
        "unlocated_share": without / count if count and not pd.isna(count) else math.nan,
    }


def overview_html(
    csp: pd.DataFrame,
    peninsula: pd.DataFrame,
    *,
    headline: str,
    study: str,
    comparison: str,
    force: Force | None = None,
    heading_level: int = 2,
) -> Markup:
    """The overview section (grid, sentences, the parent's rates) as escaped HTML to place
    in a page: a ``<table id="overview">`` with a caption and row and column headers."""
    force = load_force(force)
    grid = overview_grid(csp)
    groups = list(dict.fromkeys(grid["group"]))
    sentences = csp_sentences(csp, group=headline)
    order = {s.split(": ", 1)[0]: i for i, s in enumerate(sentences)}
    areas = sorted(dict.fromkeys(grid["area_name"]), key=lambda name: order.get(name, len(order)))
    cells = {(r.area_name, r.group): r for r in grid.itertuples()}
    pen = peninsula.set_index("category")
    parent_row = [
        {
            "rate": pen.loc[g, "rate_per_1000"],
            "trend": pen.loc[g, "trend"] or "",
            "trend_text": _trend_text(pen.loc[g, "trend_word"]),
        }
        for g in groups
    ]
    withheld = sorted({w for w in csp["trend_word"].dropna() if str(w).startswith(NOT_COMPARABLE)})
    return Markup(
        load_template("overview.html.j2").render(
            groups=groups,
            rows=[(a, [cells[(a, g)] for g in groups]) for a in areas],
            parent_row=parent_row,
            sentences=sentences,
            headline=headline,
            crimes="crimes" if headline == ALL_CRIME else "records",
            figures=parent_rates(csp, peninsula, group=headline),
            withheld=withheld,
            study=study,
            comparison=comparison,
            rag=RAG,
            parent=force.parent_label,
            the_parent=force.the_parent,
            part_of_force=force.part_of_force,
            n_csp=len(areas),
            h=f"h{heading_level}",
        )
    )
