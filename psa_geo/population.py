"""Population estimates by year: the data directory's ONS mid-2018 estimates and the user's
``--population`` files as one long table (2011 LSOA, year, population), and the year a study
period uses (the mid-year estimate nearest the middle of the period).

A user's file has an LSOA code (2011 or 2021), a population and, optionally, a year; headers
are matched case- and space-insensitively (:data:`ALIASES`). 2021 codes become 2011 codes
with the weights of :func:`lsoa21_weights` (mid-2018 shares), so a split LSOA's children
sum to their parent and a merged 2021 LSOA is shared between its parents, never given whole
to each.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from .datadir import dataset_path
from .errors import InputFileError, PsaGeoError
from .periods import Period
from .userfiles import match_columns, read_user_csv

log = logging.getLogger(__name__)

#: The year of the data directory's population dataset (ONS SAPE, mid-2018).
BASE_YEAR = 2018
#: What one LSOA may hold, and the years a file may give.
MAX_POPULATION = 100_000
FIRST_YEAR = 2001
#: How :func:`nearest_year` chooses (for the run report).
RULE = (
    "the mid-year (30 June) estimate nearest the middle of the study period; "
    "on a tie, the later year"
)
COLUMNS = ["lsoa_code", "year", "population", "source"]
#: Accepted header (lower case, runs of other characters as "_") -> column.
ALIASES = {
    **dict.fromkeys(("lsoa_code", "lsoa11cd", "lsoa21cd", "lsoa", "lsoa11_code", "lsoa21_code",
                     "lsoa_2011_code", "lsoa_2021_code", "lsoa_11_code", "lsoa_21_code",
                     "area_code", "code"), "lsoa_code"),
    **dict.fromkeys(("population", "pop", "count", "all_ages", "persons", "total_population",
                     "usual_residents"), "population"),
    **dict.fromkeys(("year", "mid_year", "midyear", "mid_year_estimate", "estimate_year"),
                    "year"),
}  # fmt: skip
_YEAR_IN_NAME = re.compile(r"(?<!\d)((?:19|20)\d{2})(?!\d)")
_YEAR_CELL = re.compile(r"(?:mid[-_ ]?)?(\d{4})", re.IGNORECASE)
_EXPECTED = "expected an LSOA code, a population and optionally a year"
_WHOLE = re.compile(r"\d{1,3}(?:,\d{3})+|\d+(?:\.0*)?")


def base_estimates(areas: pd.DataFrame, *, data_dir=None) -> pd.DataFrame:
    """The areas' own population (the data directory's ONS mid-2018 dataset) as year
    :data:`BASE_YEAR` of the long table."""
    source = str(dataset_path("population", data_dir)) if data_dir is not None else "ONS"
    return pd.DataFrame(
        {
            "lsoa_code": areas["lsoa_code"].to_numpy(),
            "year": BASE_YEAR,
            "population": areas["population"].astype("int64").to_numpy(),
            "source": source,
        }
    )


def status_line(data_dir=None) -> str:
    """The population years of the data directory, one line for ``psa-geo data status``."""
    try:
        path = dataset_path("population", data_dir)
    except PsaGeoError:
        return "population estimates: none (the population dataset is missing)"
    return (
        f"population estimates: mid-{BASE_YEAR} ({path.name}); "
        "add other years with --population FILE"
    )


def load_lsoa_pairs(data_dir=None) -> pd.DataFrame:
    """The 2011/2021 LSOA pairs (``LSOA11CD``, ``LSOA21CD``) of the data directory."""
    path = dataset_path("lsoa11_lsoa21_lookup", data_dir)
    pairs = read_user_csv(path, ["LSOA11CD", "LSOA21CD"])
    return pairs[["LSOA11CD", "LSOA21CD"]].apply(lambda col: col.str.strip())


def lsoa21_weights(areas: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """``lsoa21_code``, ``lsoa_code`` (2011) and ``weight``: the share of a 2021 LSOA's
    population that goes to each of its 2011 parents in the study area,
    w = pop2018(parent) / sum of pop2018 over the 2021 LSOA's parents. Unchanged and split
    LSOAs have weight 1; the weights of one 2021 LSOA sum to 1."""
    pop = areas.set_index("lsoa_code")["population"].astype(float)
    frame = (
        pairs.loc[pairs["LSOA11CD"].isin(pop.index), ["LSOA21CD", "LSOA11CD"]]
        .drop_duplicates()
        .rename(columns={"LSOA21CD": "lsoa21_code", "LSOA11CD": "lsoa_code"})
        .reset_index(drop=True)
    )
    share = frame["lsoa_code"].map(pop)
    groups = frame.groupby("lsoa21_code")["lsoa_code"]
    total = share.groupby(frame["lsoa21_code"]).transform("sum")
    equal = 1.0 / groups.transform("size")  # parents of no residents: equal shares
    frame["weight"] = (share / total).where(total > 0, equal)
    return frame


def read_population(
    path: str | Path,
    *,
    areas: pd.DataFrame,
    pairs: pd.DataFrame,
    return_report: bool = False,
):
    """A population file as the long table (:data:`COLUMNS`) of the study's 2011 LSOAs.

    Columns (any order, others ignored): an LSOA code (2011 or 2021), a population (a whole
    number from 0 to 100,000) and optionally a year (2001 to this year); without a year
    column the file name must hold exactly one year (``mid2022.csv``). Codes outside the
    study area are counted (``outside``), not used. A file that leaves a study LSOA without
    a population for one of its years, gives an LSOA twice in a year, or mixes 2011 and 2021
    codes in a year is refused. ``pairs`` are :func:`load_lsoa_pairs`.
    """
    path = Path(path)
    try:
        raw = read_user_csv(path, [])
    except InputFileError as exc:
        if exc.problem.startswith("the file is empty"):
            raise InputFileError(path, "the file is empty; " + _EXPECTED) from None
        raise
    columns = _columns(raw, path)
    codes = raw[columns["lsoa_code"]].str.strip().str.upper()
    has_code = codes != ""
    years = _years(raw, columns.get("year"), has_code, path)
    population = _populations(raw[columns["population"]], has_code, codes, path)
    weights = lsoa21_weights(areas, pairs)
    study11 = set(areas["lsoa_code"])
    study21 = set(weights["lsoa21_code"])
    vintage = np.where(codes.isin(study11), "2011", np.where(codes.isin(study21), "2021", ""))
    frame = pd.DataFrame(
        {"code": codes, "year": years, "population": population, "vintage": vintage}
    )
    used = frame[frame["vintage"] != ""]
    report = {
        "file": str(path),
        "rows": len(raw),
        "outside": int((has_code & (frame["vintage"] == "")).sum()),
        "without_code": int((~has_code).sum()),
        "years": sorted(int(y) for y in used["year"].unique()),
        "lsoa_codes": "",
    }
    if used.empty:
        raise InputFileError(path, "no LSOA code of the study area (2011 or 2021 codes)")
    twice = used.duplicated(["code", "year"], keep=False)
    if twice.any():
        first = used[twice].iloc[0]
        raise InputFileError(
            path, f"LSOA {first['code']} is given more than once for {int(first['year'])}"
        )
    parts = []
    vintages = set()
    for year, rows in used.groupby("year", sort=True):
        only11 = rows["code"].isin(study11 - study21)
        only21 = rows["code"].isin(study21 - study11)
        if only11.any() and only21.any():
            raise InputFileError(
                path,
                f"mixes 2011 codes ({rows.loc[only11, 'code'].iloc[0]}) and 2021 codes "
                f"({rows.loc[only21, 'code'].iloc[0]}) for {year}; give one kind per year",
            )
        kind = "2021" if only21.any() else "2011"
        vintages.add(kind)
        expected = sorted(study21 if kind == "2021" else study11)
        missing = [code for code in expected if code not in set(rows["code"])]
        if missing:
            raise InputFileError(
                path,
                f"no population for LSOA {missing[0]} in {year} "
                f"({len(missing)} study LSOAs missing); every LSOA needs one",
            )
        given = rows.set_index("code")["population"]
        if kind == "2011":
            parts.append(pd.DataFrame({"lsoa_code": given.index, "population": given.to_numpy()})
                         .assign(year=int(year)))  # fmt: skip
        else:
            parts.append(_to_lsoa11(given, weights).assign(year=int(year)))
    report["lsoa_codes"] = " and ".join(sorted(vintages))
    table = pd.concat(parts, ignore_index=True).assign(source=str(path))[COLUMNS]
    table = table.sort_values(["year", "lsoa_code"], ignore_index=True)
    log.info(
        "%s: population estimates for %s (%s LSOA codes), %d rows outside the study area",
        path, ", ".join(map(str, report["years"])), report["lsoa_codes"], report["outside"],
    )  # fmt: skip
    return (table, report) if return_report else table


def load_estimates(
    areas: pd.DataFrame, paths=None, *, data_dir=None, pairs: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The long table of every estimate: the areas' mid-2018 population and each file of
    ``paths`` (:func:`read_population`; a file's year replaces the data directory's same
    year; two files giving one year are refused). ``attrs["files"]`` holds each file's
    report."""
    tables = [base_estimates(areas, data_dir=data_dir)]
    reports = []
    given: dict[int, str] = {}
    for path in paths or []:
        if pairs is None:
            pairs = load_lsoa_pairs(data_dir)
        table, report = read_population(path, areas=areas, pairs=pairs, return_report=True)
        for year in report["years"]:
            if year in given:
                raise InputFileError(
                    path, f"gives mid-{year} estimates, as {given[year]} does; give each year once"
                )
            given[year] = str(path)
        tables.append(table)
        reports.append(report)
    estimates = pd.concat(tables, ignore_index=True)
    if given:
        base = estimates["year"].isin(list(given)) & (estimates.index < len(tables[0]))
        estimates = estimates[~base].reset_index(drop=True)
    estimates.attrs["files"] = reports
    return estimates


def wanted_year(period: Period) -> int:
    """The year whose mid-year (30 June) is nearest the middle of ``period``; on a tie, the
    later year. Distances are in months; a mid-year estimate stands at the end of 30 June."""
    middle = (_months(period.start) + _months(period.end)) / 2
    return math.floor((middle - 6) / 12 + 0.5)


def nearest_year(period: Period, years) -> int:
    """Of ``years``, the one whose mid-year (30 June) estimate is nearest the middle of
    ``period``, measured in months (an estimate stands at the end of 30 June, so the middle
    of a calendar year is exactly its mid-year). On a tie the later year is preferred:
    July 2018 - June 2019 uses 2019 when both 2018 and 2019 are there."""
    years = sorted({int(y) for y in years})
    if not years:
        raise PsaGeoError("no population estimates to choose from")
    middle = (_months(period.start) + _months(period.end)) / 2
    return min(years, key=lambda y: (abs(middle - (12 * y + 6)), -y))


def population_for(
    areas: pd.DataFrame, period: Period, estimates: pd.DataFrame
) -> tuple[pd.DataFrame, dict]:
    """``areas`` with ``population`` replaced by the estimates of :func:`nearest_year`, and
    what was used: ``year``, ``wanted_year`` (:func:`wanted_year`), ``rule``, ``sources``
    (the files of that year), ``files`` (every file read, with rows outside the study area)
    and ``sentence`` (one line for the pages)."""
    year = nearest_year(period, estimates["year"].unique())
    wanted = wanted_year(period)
    chosen = estimates[estimates["year"] == year]
    values = chosen.set_index("lsoa_code")["population"]
    new = areas["lsoa_code"].map(values)
    if new.isna().any():
        first = areas.loc[new.isna(), "lsoa_code"].iloc[0]
        raise PsaGeoError(f"no mid-{year} population for LSOA {first}")
    if (new <= 0).any():
        first = areas.loc[new <= 0, "lsoa_code"].iloc[0]
        raise InputFileError(
            chosen["source"].iloc[0],
            f"LSOA {first} has population 0 in mid-{year}; a rate needs residents",
        )
    out = areas.copy()
    out["population"] = new.astype("int64").to_numpy()
    sources = sorted(chosen["source"].unique())
    info = {
        "year": int(year),
        "wanted_year": int(wanted),
        "rule": RULE,
        "sources": sources,
        "files": estimates.attrs.get("files", []),
        "sentence": _sentence(year, wanted, sources, estimates),
    }
    if year != wanted:
        log.warning("rates use mid-%d population estimates; mid-%d would be nearest", year, wanted)
    return out, info


def _sentence(year: int, wanted: int, sources: list[str], estimates) -> str:
    user = {report["file"] for report in estimates.attrs.get("files", [])}
    names = [Path(s).name for s in sources if s in user]
    origin = f"from {', '.join(names)}" if names else "ONS"
    if year == wanted:
        return (
            f"Rates use mid-{year} population estimates ({origin}), "
            "the nearest to the middle of the study period."
        )
    return (
        f"Rates use mid-{year} population estimates ({origin}), the nearest available to the "
        f"middle of the study period; mid-{wanted} would be nearest."
    )


def _months(when: pd.Timestamp) -> float:
    when = pd.Timestamp(when)
    return 12 * when.year + when.month - 1 + (when.day - 1) / when.days_in_month


def _columns(raw: pd.DataFrame, path: Path) -> dict[str, str]:
    columns = match_columns(raw.columns, ALIASES, path)
    missing = [name for name in ("lsoa_code", "population") if name not in columns]
    if missing:
        raise InputFileError(
            path,
            f"not a population file: missing columns {' and '.join(missing)} ({_EXPECTED})",
        )
    return columns


def _years(raw: pd.DataFrame, column: str | None, has_code: pd.Series, path: Path) -> pd.Series:
    this_year = dt.date.today().year
    if column is None:
        found = sorted(set(_YEAR_IN_NAME.findall(path.stem)))
        if len(found) != 1:
            raise InputFileError(
                path, "no year column, and the file name does not hold exactly one year: "
                "add a column 'year' (the mid-year of the estimates)"
            )  # fmt: skip
        year = int(found[0])
        if not FIRST_YEAR <= year <= this_year:
            raise InputFileError(
                path, f"the year in the file name, {year}, is not from {FIRST_YEAR} to {this_year}"
            )
        return pd.Series(year, index=raw.index)
    years = []
    for row, (text, coded) in enumerate(zip(raw[column].str.strip(), has_code, strict=True), 1):
        if not coded:  # a total or note row: counted, not used
            years.append(0)
            continue
        match = _YEAR_CELL.fullmatch(text)
        year = int(match[1]) if match else None
        if year is None or not FIRST_YEAR <= year <= this_year:
            raise InputFileError(
                path,
                f"row {row}: year {text!r} is not a year from {FIRST_YEAR} to {this_year}",
            )
        years.append(year)
    return pd.Series(years, index=raw.index)


def _populations(text: pd.Series, has_code: pd.Series, codes: pd.Series, path: Path):
    values = []
    for row, (cell, coded, code) in enumerate(zip(text.str.strip(), has_code, codes,
                                                   strict=True), start=1):  # fmt: skip
        if not coded:
            values.append(0)
            continue
        if not _WHOLE.fullmatch(cell):
            problem = "is not a whole number" if cell else "is blank"
            if re.fullmatch(r"-\s*[\d,.]+", cell):
                problem = "is negative"
            raise InputFileError(
                path,
                f"row {row} (LSOA {code}): population {cell!r} {problem}; "
                f"expected a whole number from 0 to {MAX_POPULATION:,}",
            )
        value = int(float(cell.replace(",", "")))
        if value > MAX_POPULATION:
            raise InputFileError(
                path,
                f"row {row} (LSOA {code}): population {value:,} is more than "
                f"{MAX_POPULATION:,}, too many for one LSOA",
            )
        values.append(value)
    return pd.Series(values, index=text.index, dtype="int64")


def _to_lsoa11(given: pd.Series, weights: pd.DataFrame) -> pd.DataFrame:
    """2021-code populations as whole numbers of 2011 LSOAs: each 2021 LSOA's population is
    shared by its weights, rounded by largest remainder so its parts sum to it exactly."""
    frame = weights.assign(given=weights["lsoa21_code"].map(given))
    exact = frame["given"] * frame["weight"]
    frame["population"] = np.floor(exact + 1e-9)
    frame["remainder"] = exact - frame["population"]
    short = (frame.groupby("lsoa21_code")["given"].transform("first")
             - frame.groupby("lsoa21_code")["population"].transform("sum")).round()  # fmt: skip
    order = frame.sort_values(["lsoa21_code", "remainder", "lsoa_code"],
                              ascending=[True, False, True])  # fmt: skip
    rank = order.groupby("lsoa21_code").cumcount()
    frame.loc[order.index, "population"] += (rank < short.loc[order.index]).astype(float)
    out = frame.groupby("lsoa_code", as_index=False)["population"].sum()
    out["population"] = out["population"].round().astype("int64")
    return out
