"""The outcomes page, ``outcomes/index.html``, and its CSVs (figures: :mod:`psa_geo.outcomes`)."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from ._version import __version__
from .credits import HOME, credits
from .crime_files import month_ranges
from .csvfile import write_csv
from .force import force_of
from .groups import load_crime_groups
from .measures import ALL_CRIME
from .outcomes import (
    NOT_GROUPED,
    PENDING,
    UNKNOWN,
    crimes_kept,
    extract_key,
    file_extracts,
    file_name,
    load_outcome_groups,
    outcome_table,
    outcome_texts,
    outcomes_by_file,
    outcomes_by_month,
)
from .overview import RAG
from .periods import Period
from .templating import inline_svg
from .templating import template as load_template

log = logging.getLogger(__name__)

FOLDER = "outcomes"
#: Paul Tol's muted scheme (colour-blind safe) in the order of the default groups, then more;
#: texts in no group are black. Every colour stands beside the group's name or its number.
COLOURS = (
    "#332288",
    "#88CCEE",
    "#44AA99",
    "#DDCC77",
    "#999933",
    "#AA4499",
    "#CC6677",
    "#BBBBBB",
    "#117733",
    "#882255",
)
NOT_GROUPED_COLOUR = "#000000"
#: The month chart marks and names the files when there are at most this many.
MARKED_FILES = 6
CAVEATS = (
    "Each crime carries police.uk's 'Last outcome category': the latest outcome known when its "
    "file was extracted. Outcomes mature, so the crimes of the last months before an extract "
    "are mostly 'Under investigation' or 'Awaiting court outcome'. Compare shares only between "
    "periods of the same age in the same kind of extract.",
    "Shares are of all crimes (excl. ASB, which has no outcome) in the period, 'Status update "
    "unavailable' included, so each row adds up to 100%. Intervals are 95% Wilson score "
    "intervals.",
    "'Higher' or 'lower' than {the_parent}: {the_parent}'s share of located crimes lies outside "
    "the area's 95% interval (a score test of the two shares at 5%); otherwise 'similar'. "
    "A higher share of 'No suspect identified' reflects the mix of crimes as much as policing.",
    "police.uk outcomes are not the Home Office's outcome statistics: they are the outcome as at "
    "the extract, and a crime's outcome is not revised in a file once it is published.",
)


def write_outcomes(
    events: pd.DataFrame,
    areas: pd.DataFrame,
    out_dir: str | Path,
    *,
    study: Period,
    groups: dict[str, list[str]] | None = None,
    outcome_groups: dict[str, list[str]] | None = None,
    towns: pd.DataFrame | None = None,
    extracts: dict[str, str] | None = None,
) -> tuple[list[Path], dict]:
    """Write ``out_dir/outcomes/``: ``index.html`` and ``outcomes_by_area.csv`` (the
    Peninsula, each CSP and each town of ``towns`` by crime group, ``study``),
    ``outcomes_by_month.csv``, ``outcomes_by_file.csv`` and ``outcome_texts.csv``.

    Returns the files and the run report's ``outcomes`` part: the crimes, the texts in no
    outcome group with their counts, each file with its extract date (``extracts``, from
    :func:`file_extracts`), and the page's sentence on the study period's extracts. Without
    street-file crimes (counts tables only) the page says there are no outcomes.
    """
    groups = groups or load_crime_groups()
    outcome_groups = outcome_groups or load_outcome_groups()
    folder = Path(out_dir) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    force = force_of(areas)
    kw = {"outcome_groups": outcome_groups}
    with crimes_kept():  # every table below reads the same crimes
        texts = outcome_texts(events, **kw)
        in_study = outcome_texts(events, period=study, **kw)
        if extracts is None:
            street = events["source"] == "police_uk"
            files = events.loc[street, "source_file"].unique() if street.any() else []
            extracts = file_extracts(files)
        months = outcomes_by_month(events, areas, extracts=extracts, **kw)
        by_file = outcomes_by_file(events, areas, extracts=extracts, **kw)
        tables = {}
        if int(in_study["crimes"].sum()):
            levels = {"peninsula": None, "csp": None}
            if towns is not None and len(towns):
                levels["town"] = towns
            tables = {
                level: outcome_table(
                    events, areas, period=study, level=level, groups=groups, towns=towns_, **kw
                )
                for level, towns_ in levels.items()
            }
    unmapped = texts[texts["outcome_group"] == NOT_GROUPED]
    for text, n in zip(unmapped["outcome"], unmapped["crimes"], strict=True):
        log.warning("outcomes: %d crimes have an outcome in no outcome group: %r", n, text)
    reason = _no_outcomes(study, in_study, texts)
    sentence = None if reason else _extract_sentence(months, study)
    written = _write_tables(folder, tables, months, by_file, texts, in_study, study)
    page = folder / "index.html"
    page.write_text(
        _page(
            tables,
            months,
            by_file,
            texts,
            in_study,
            study=study,
            names=_names(months, tables),
            sentence=sentence,
            reason=reason,
            force=force,
        ),
        encoding="utf-8",
    )
    report = {
        "crimes": int(texts["crimes"].sum()),
        "study_crimes": int(in_study["crimes"].sum()),
        "outcome_groups": list(outcome_groups),
        "unmapped": dict(zip(unmapped["outcome"], unmapped["crimes"].astype(int), strict=True)),
        "unmapped_total": int(unmapped["crimes"].sum()),
        "files": _file_report(by_file),
        "study_extracts": _extract_count(months, study),
        "extracts": sentence,
        "no_outcomes": reason,
    }
    return [*written, page], report


def outcome_notes(report: dict) -> list[str]:
    """Lines for the run report and the index: the outcome texts in no group, and why there
    are no outcomes (none of the study period)."""
    notes = []
    if report["unmapped"]:
        named = ", ".join(f"{text!r} ({n:,})" for text, n in report["unmapped"].items())
        notes.append(f"outcome texts in no outcome group (counted as {NOT_GROUPED!r}): {named}")
    if report["no_outcomes"]:
        notes.append(f"no crime outcomes: {report['no_outcomes']}")
    return notes


def _no_outcomes(study: Period, in_study: pd.DataFrame, texts: pd.DataFrame) -> str | None:
    """Why there are no outcomes of the study period, or None when there are."""
    if not int(texts["crimes"].sum()):
        return "no police.uk street-level crimes were read, and counts tables carry no outcome"
    if not int(in_study["crimes"].sum()):
        return (
            f"no police.uk street-level crimes of {study.label} were read (counts tables carry "
            "no outcome)"
        )
    return None


def _extract_sentence(months: pd.DataFrame, study: Period) -> str:
    """What the page says of the extracts the study period's crimes come from."""
    rows = _study_files(months, study)
    parts = [
        f"{file_name(f)} ({_span(r['month'])}, extracted {_date(r['extract_date'].iloc[0])})"
        for f, r in rows.groupby("source_file", sort=False)
    ]
    count = _extract_count(months, study)
    if count == 1:
        return f"The crimes of {study.label} come from one police.uk extract: {'; '.join(parts)}."
    return (
        f"The crimes of {study.label} span {count} police.uk extracts: {'; '.join(parts)}. "
        "Each gives the outcomes known when it was extracted, so the shares of "
        f"{study.label} mix outcomes of different ages: the months just before an "
        "extract are far less resolved than those a year before it (see the months "
        "below)."
    )


def _study_files(months: pd.DataFrame, study: Period) -> pd.DataFrame:
    dates = pd.to_datetime(months["month"] + "-01")
    return months[study.contains(dates)].drop_duplicates(["month", "source_file"])


def _extract_count(months: pd.DataFrame, study: Period) -> int:
    rows = _study_files(months, study)
    return len(
        {extract_key(f, e) for f, e in zip(rows["source_file"], rows["extract_date"], strict=True)}
    )


def _span(months) -> str:
    return month_ranges(sorted(set(months)))


def _date(extract: str) -> str:
    return "at an unknown date" if extract == UNKNOWN else f"in {extract}"


def _file_report(by_file: pd.DataFrame) -> list[dict]:
    rows = by_file.drop_duplicates("source_file")
    return [
        {"file": f, "extract_date": e, "first_month": a, "last_month": b, "crimes": int(n)}
        for f, e, a, b, n in rows[
            ["source_file", "extract_date", "first_month", "last_month", "crimes"]
        ].itertuples(index=False)
    ]


def _names(months: pd.DataFrame, tables: dict) -> list[str]:
    """The outcome groups shown, in order (the tables', else the months')."""
    frame = tables.get("peninsula", months)
    return list(dict.fromkeys(frame["outcome_group"]))


def _colours(names: list[str]) -> dict[str, str]:
    plain = [n for n in names if n != NOT_GROUPED]
    colours = {n: COLOURS[i % len(COLOURS)] for i, n in enumerate(plain)}
    return {**colours, **({NOT_GROUPED: NOT_GROUPED_COLOUR} if NOT_GROUPED in names else {})}


def _write_tables(folder, tables, months, by_file, texts, in_study, study) -> list[Path]:
    """The CSVs (file names without their folders)."""
    written = []
    frames = {
        "outcomes_by_area": pd.concat(tables.values(), ignore_index=True) if tables else None,
        "outcomes_by_month": months.assign(source_file=months["source_file"].map(file_name)),
        "outcomes_by_file": by_file.assign(source_file=by_file["source_file"].map(file_name)),
        "outcome_texts": texts.merge(
            in_study[["outcome", "crimes"]].rename(columns={"crimes": "crimes_in_study_period"}),
            on="outcome",
            how="left",
        )
        .fillna({"crimes_in_study_period": 0})
        .assign(study_period=study.label),
    }
    for name, frame in frames.items():
        if frame is not None:
            written.append(write_csv(frame, folder / f"{name}.csv", float_format="%.3f"))
    return written


def _wide(table: pd.DataFrame, keys: list[str], names: list[str]) -> list[dict]:
    """One row per ``keys`` with ``crimes`` and a cell per outcome group (share, limits, vs)."""
    rows = []
    for key, part in table.groupby(keys, sort=False):
        part = part.set_index("outcome_group")
        cells = [part.loc[n].to_dict() if n in part.index else {} for n in names]
        first = part.iloc[0]
        rows.append(
            {
                "key": key if isinstance(key, tuple) else (key,),
                "crimes": first["crimes"],
                "cells": cells,
                **first.to_dict(),
            }
        )
    return rows


def _page(tables, months, by_file, texts, in_study, *, study, names, sentence, reason, force):
    colours = _colours(names)
    the_parent = force.the_parent
    context = {
        "study": study.label,
        "parent": force.parent_label,
        "the_parent": the_parent,
        "names": names,
        "colours": colours,
        "rag": RAG,
        "sentence": sentence,
        "reason": reason,
        "has_outcomes": bool(tables),
        "pending": " or ".join(f"'{p}'" for p in PENDING),
        "caveats": [c.format(the_parent=the_parent) for c in CAVEATS],
        "attribution": credits("boundaries", "police_uk"),
        "version": __version__,
        "home": HOME,
        "texts": texts.merge(
            in_study[["outcome", "crimes"]].rename(columns={"crimes": "study"}),
            on="outcome",
            how="left",
        )
        .fillna({"study": 0})
        .to_dict("records"),
        "area_chart": "",
        "month_chart": "",
        "areas": [],
        "crime_groups": [],
        "towns": [],
        "months": [],
        "files": [],
    }
    if tables:
        all_crime = _headline(tables["peninsula"])
        areas = pd.concat([tables["peninsula"], tables["csp"]], ignore_index=True)
        areas = areas[areas["crime_group"] == all_crime]
        context.update(
            all_crime=all_crime,
            areas=_wide(areas, ["area_name"], names),
            crime_groups=_wide(tables["peninsula"], ["crime_group"], names),
            towns=_wide(
                tables["town"][tables["town"]["crime_group"] == all_crime], ["area_name"], names
            )
            if "town" in tables
            else [],
            area_chart=_area_chart_svg(areas, names, colours, all_crime, study.label),
        )
    if len(months):
        context.update(
            months=_wide(
                months.assign(file=months["source_file"].map(file_name)),
                ["month", "source_file"],
                names,
            ),
            files=_wide(
                by_file.assign(file=by_file["source_file"].map(file_name)), ["source_file"], names
            ),
            month_chart=_month_chart_svg(months, names, colours),
        )
    return load_template("outcomes.html.j2").render(**context)


def _headline(table: pd.DataFrame) -> str:
    groups = list(dict.fromkeys(table["crime_group"]))
    return ALL_CRIME if ALL_CRIME in groups else groups[0]


def _text_colour(colour: str) -> str:
    """Black or white, whichever reads better on ``colour`` (#RRGGBB)."""
    r, g, b = (int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.55 else "white"


def _stack(ax, positions, shares: pd.DataFrame, names, colours, *, horizontal: bool, label_min):
    """100% stacked bars of ``shares`` (rows = bars, columns = ``names``), each segment of at
    least ``label_min`` per cent labelled with its share."""
    start = pd.Series(0.0, index=shares.index)
    bar = ax.barh if horizontal else ax.bar
    for name in names:
        values = shares[name].fillna(0.0)
        base = {"left": start} if horizontal else {"bottom": start}
        bar(
            positions,
            values,
            0.75,
            color=colours[name],
            label=name,
            edgecolor="white",
            linewidth=0.4,
            **base,
        )
        for pos, value, low in zip(positions, values, start, strict=True):
            if value >= label_min:
                xy = (low + value / 2, pos) if horizontal else (pos, low + value / 2)
                ax.annotate(
                    f"{value:.0f}",
                    xy,
                    ha="center",
                    va="center",
                    fontsize=7,
                    color=_text_colour(colours[name]),
                    annotation_clip=False,
                )
        start = start + values


def _area_chart_svg(areas: pd.DataFrame, names, colours, group: str, period: str) -> str:
    """Inline SVG: each area's outcome shares as one 100% bar, the Peninsula first."""
    from matplotlib import rc_context

    with rc_context({"text.parse_math": False}):  # names from files are text, never maths
        return _area_chart(areas, names, colours, group, period)


def _area_chart(areas, names, colours, group, period) -> str:
    from matplotlib.figure import Figure

    shares = areas.pivot_table(
        index="area_name", columns="outcome_group", values="share_pct", sort=False
    ).reindex(columns=names)
    fig = Figure(figsize=(10, 0.45 * len(shares) + 2.2), layout="constrained")
    ax = fig.add_subplot()
    positions = list(range(len(shares)))[::-1]
    _stack(ax, positions, shares, names, colours, horizontal=True, label_min=4)
    ax.set_yticks(positions, [str(n) for n in shares.index])
    ax.set_xlim(0, 100)
    ax.set_xlabel("Share of the crimes (%)")
    title = f"Outcomes of {group} by CSP, {period}"
    ax.set_title(title, parse_math=False)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=3, fontsize=8, frameon=False)
    first = shares.iloc[0].dropna()
    desc = f"{shares.index[0]}: " + "; ".join(f"{n} {v:.1f}%" for n, v in first.items())
    return inline_svg(fig, title, desc + ". The table below gives every share.")


def _month_chart_svg(months: pd.DataFrame, names, colours) -> str:
    """Inline SVG: the outcome shares of each month's crimes as 100% columns, with the file
    of each run of months named above it."""
    from matplotlib import rc_context

    with rc_context({"text.parse_math": False}):  # file and group names are text, never maths
        return _month_chart(months, names, colours)


def _month_chart(months, names, colours) -> str:
    from matplotlib.figure import Figure

    shares = months.pivot_table(
        index=["month", "source_file"], columns="outcome_group", values="share_pct", sort=True
    ).reindex(columns=names)
    fig = Figure(figsize=(10, 4.8), layout="constrained")
    ax = fig.add_subplot()
    positions = list(range(len(shares)))
    _stack(ax, positions, shares, names, colours, horizontal=False, label_min=8)
    labels = [m for m, _ in shares.index]
    step = max(1, len(labels) // 12)
    ax.set_xticks(positions[::step], labels[::step], rotation=45, ha="right", fontsize=8)
    ax.set_ylim(0, 100)
    ax.set_ylabel("Share of the month's crimes (%)")
    files = [f for _, f in shares.index]
    starts = [i for i, f in enumerate(files) if i == 0 or f != files[i - 1]]
    for i in starts if len(starts) <= MARKED_FILES else []:  # more would crowd the months
        if i:
            ax.axvline(i - 0.5, color="black", lw=1.2, ls=(0, (4, 2)))
        ax.annotate(file_name(files[i]), (i - 0.4, 101), fontsize=7, annotation_clip=False,
                    va="bottom", parse_math=False)  # fmt: skip
    title = "Outcomes by month of the crime, as each police.uk file gives them"
    ax.set_title(title, parse_math=False, pad=16)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=3, fontsize=8, frameon=False)
    pending = months.drop_duplicates(["month", "source_file"])
    desc = "Share not final yet (under investigation or awaiting court) by month: " + ", ".join(
        f"{m} {p:.0f}%" for m, p in zip(pending["month"], pending["pending_pct"], strict=True)
    )
    return inline_svg(fig, title, desc + ". The table below gives every share.")
