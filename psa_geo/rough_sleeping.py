"""The official rough-sleeping snapshot (DLUHC, one autumn night a year, 2010-2022) by local
authority (LAD), CSP and the Peninsula, with the South West and England beside them.

These are published figures, shown as published and never suppressed. LAD rates are DLUHC's
own. CSP and Peninsula rates are computed here from the summed counts over the ONS mid-2018
population (the only population in the data), and labelled so.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ._version import __version__
from .credits import HOME, credits
from .csvfile import write_csv
from .datadir import dataset_path, resolve_data_dir
from .errors import InputFileError
from .measures import trend_arrow
from .templating import inline_svg
from .templating import template as load_template

FOLDER = "rough_sleeping"
COLUMNS = {
    "AREA_CODE": "area_code",
    "AREA_NAME": "area_name",
    "YEAR": "year",
    "ROUGH_SLEEPERS_COUNT": "count",
    "RATE_PER_100K_PEOPLE": "rate_per_100k",
    "AREA_LEVEL": "level",
}
LEVELS = {"LAD": "lad", "region": "region", "country": "country"}
PENINSULA = ("E92PEN", "Peninsula (Devon, Cornwall and the Isles of Scilly)")
PUBLISHED = "published by DLUHC"
SUMMED = "computed: summed counts per 100,000 residents, ONS mid-2018 population"
SNAPSHOT_CAVEAT = (
    "The snapshot is a single autumn night's count or estimate of people seen sleeping rough "
    "(councils choose a street count or an evidence-based estimate, and the method can change "
    "from year to year). It undercounts: people out of sight, moving between places or sofa "
    "surfing are missed. It is not comparable with street-level outreach records."
)
# Okabe-Ito for the CSPs (black is the Peninsula's); each line is also named at its end.
LINE_COLOURS = ("#E69F00", "#56B4E9", "#009E73", "#0072B2", "#D55E00", "#CC79A7", "#999999",
                "#F0E442")  # fmt: skip


#: The largest count one area and year may give (England's whole snapshot peaked under 5,000).
MAX_SNAPSHOT_COUNT = 100_000


def read_snapshot(path: str | Path) -> pd.DataFrame:
    """The snapshot file (one row per area and year) with columns ``area_code, area_name,
    year, count, rate_per_100k, level`` (``lad``, ``region`` or ``country``).

    A missing column, a year outside 2010-2100, a count that is not a whole number from 0 to
    :data:`MAX_SNAPSHOT_COUNT`, a rate that is not a finite number of 0 or more, or an area
    and year given twice is a one-line error naming the file.
    """
    path = Path(path)
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise InputFileError(path, f"cannot read the rough-sleeping snapshot ({exc})") from None
    missing = [c for c in COLUMNS if c not in raw]
    if missing:
        raise InputFileError(path, f"missing columns {', '.join(missing)}")
    frame = raw[list(COLUMNS)].rename(columns=COLUMNS)
    year = pd.to_numeric(frame["year"], errors="coerce")
    count = pd.to_numeric(frame["count"], errors="coerce")
    rate = pd.to_numeric(frame["rate_per_100k"], errors="coerce")
    for bad, what in (
        (~year.between(2010, 2100) | (year % 1 != 0), "a year that is not 2010 to 2100"),
        (
            ~count.between(0, MAX_SNAPSHOT_COUNT) | (count % 1 != 0),
            f"a count that is not a whole number from 0 to {MAX_SNAPSHOT_COUNT:,}",
        ),
        (~rate.between(0, np.finfo(float).max), "a rate that is not a finite number of 0 or more"),
        (~frame["level"].isin(list(LEVELS)), f"a level other than {', '.join(LEVELS)}"),
    ):
        if bad.any():
            line = int(np.flatnonzero(bad.to_numpy())[0]) + 2
            raise InputFileError(path, f"line {line} has {what}")
    frame = frame.assign(year=year.astype(int), count=count.astype(int), rate_per_100k=rate,
                         level=frame["level"].map(LEVELS))  # fmt: skip
    twice = frame.duplicated(["area_code", "year"])
    if twice.any():
        row = frame[twice].iloc[0]
        raise InputFileError(path, f"{row['area_name']} {row['year']} is given twice")
    return frame.sort_values(["level", "area_code", "year"], ignore_index=True)


def snapshot_table(snapshot: pd.DataFrame, areas: pd.DataFrame) -> pd.DataFrame:
    """LAD, CSP, Peninsula, region and England rows for every year, with the rate's basis and
    the change from the year before and from the first year.

    ``areas`` is the LSOA table (:func:`load_areas`): it maps LADs to CSPs and gives the
    mid-2018 population of CSPs and the Peninsula. Rates of LADs, the region and England are
    DLUHC's; ``rate_basis`` says which is which.
    """
    lads = areas.groupby("lad_code").agg(csp_code=("csp_code", "first"),
                                         csp_name=("csp_name", "first"))  # fmt: skip
    local = snapshot[snapshot["level"] == "lad"].join(lads, on="area_code")
    unknown = local[local["csp_code"].isna()]
    if not unknown.empty:
        raise InputFileError("rough-sleeping snapshot", f"LAD {unknown['area_code'].iloc[0]} is "
                             "not in the areas (a LAD outside Devon and Cornwall?)")  # fmt: skip
    population = areas.groupby("csp_code")["population"].sum()
    csp = local.groupby(["csp_code", "csp_name", "year"], as_index=False)["count"].sum()
    csp = csp.rename(columns={"csp_code": "area_code", "csp_name": "area_name"})
    csp["population"] = csp["area_code"].map(population)
    pen = local.groupby("year", as_index=False)["count"].sum()
    pen = pen.assign(area_code=PENINSULA[0], area_name=PENINSULA[1],
                     population=population.sum())  # fmt: skip
    summed = pd.concat([csp.assign(level="csp"), pen.assign(level="peninsula")])
    summed["rate_per_100k"] = 100_000 * summed["count"] / summed["population"]
    table = pd.concat([snapshot.assign(rate_basis=PUBLISHED),
                       summed.assign(rate_basis=SUMMED)], ignore_index=True)  # fmt: skip
    order = {"lad": 0, "csp": 1, "peninsula": 2, "region": 3, "country": 4}
    table = table.sort_values(["level", "area_code", "year"], key=lambda s: s.map(order)
                              if s.name == "level" else s, ignore_index=True)  # fmt: skip
    by_area = table.groupby("area_code")["count"]
    previous = by_area.shift(1)
    first = by_area.transform("first")
    table["change_from_previous"] = table["count"] - previous
    table["change_pct_from_previous"] = (
        100 * table["change_from_previous"] / previous.where(previous > 0)
    )
    table["trend"] = [
        "" if pd.isna(p) else trend_arrow(c, p) for c, p in zip(table["count"], previous,
                                                                 strict=True)
    ]  # fmt: skip
    table["change_from_first_year"] = table["count"] - first
    columns = ["level", "area_code", "area_name", "year", "count", "rate_per_100k", "rate_basis",
               "population", "change_from_previous", "change_pct_from_previous", "trend",
               "change_from_first_year"]  # fmt: skip
    return table[columns]


def snapshot_chart_svg(table: pd.DataFrame) -> str:
    """Inline SVG: people sleeping rough on the snapshot night by CSP and the Peninsula, each
    line named at its end."""
    from matplotlib.figure import Figure

    lines = table[table["level"].isin(["csp", "peninsula"])]
    fig = Figure(figsize=(9, 5), layout="constrained")
    ax = fig.add_subplot()
    last_year = int(lines["year"].max())
    ends = []
    colours = iter(LINE_COLOURS)
    for name, rows in lines.groupby("area_name", sort=True):
        rows = rows.sort_values("year")
        peninsula = name == PENINSULA[1]
        colour = "#000000" if peninsula else next(colours)
        ax.plot(rows["year"], rows["count"], color=colour, lw=2.6 if peninsula else 1.6,
                marker="o", ms=3)  # fmt: skip
        ends.append((float(rows["count"].iloc[-1]), name, colour))
    ends.sort()
    top = max(y for y, _, _ in ends)
    gap, placed = top * 0.045, []
    for y, name, colour in ends:
        label_y = max(y, placed[-1] + gap) if placed else y
        placed.append(label_y)
        ax.annotate(f"{name.split(' (')[0]} {int(y)}", (last_year, y), xytext=(last_year + 0.25,
                    label_y), color="black", fontsize=8, va="center",
                    arrowprops={"arrowstyle": "-", "color": colour, "lw": 0.8})  # fmt: skip
    first_year = int(lines["year"].min())
    ax.set_xlim(first_year - 0.3, last_year + 3.2)
    ax.set_xticks(range(first_year, last_year + 1, 2))
    ax.set_ylim(bottom=0)
    ax.set_xlabel("Year of the autumn snapshot")
    ax.set_ylabel("People sleeping rough on the night")
    ax.set_title("Rough sleeping snapshot by CSP, autumn 2010 to 2022", parse_math=False)
    desc = "; ".join(f"{name} {int(y)} in {last_year}" for y, name, _ in reversed(ends))
    return inline_svg(fig, "People sleeping rough on the snapshot night by CSP", desc)


def write_snapshot(data_dir: str | Path | None, out_dir: str | Path, areas) -> list[Path]:
    """Write ``out_dir/rough_sleeping/``: ``rough_sleeping_snapshot.csv`` (every level and
    year) and ``index.html`` (the latest year's table, the trend chart and the caveat)."""
    path = dataset_path("rough_sleeping_snapshot", resolve_data_dir(data_dir))
    table = snapshot_table(read_snapshot(path), areas)
    folder = Path(out_dir) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    csv_path = folder / "rough_sleeping_snapshot.csv"
    write_csv(table, csv_path, float_format="%.2f")
    latest = int(table["year"].max())
    wide = table[table["level"].isin(["csp", "peninsula"])].pivot_table(
        index="area_name", columns="year", values="count", sort=False
    )
    page = folder / "index.html"
    page.write_text(
        load_template("rough_sleeping.html.j2").render(
            latest=latest,
            rows=table[table["year"] == latest].to_dict("records"),
            years=list(wide.columns),
            wide=[(name, list(row)) for name, row in wide.iterrows()],
            chart_svg=snapshot_chart_svg(table),
            caveat=SNAPSHOT_CAVEAT,
            attribution=credits("boundaries", "population"),
            version=__version__,
            home=HOME,
        ),
        encoding="utf-8",
    )
    return [csv_path, page]
