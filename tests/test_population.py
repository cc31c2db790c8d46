"""Populations of the study year (issue 14, item 5): the estimate nearest the middle of the
study period, --population files with 2011 or 2021 codes (2021 codes shared by mid-2018
shares), and the year stated in the run report and on the pages. The mirror has only
mid-2018, so other years are made here from it."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from conftest import REPO, run_cli

from psa_geo.errors import InputFileError
from psa_geo.periods import calendar_year, financial_year, parse_period
from psa_geo.population import (
    BASE_YEAR,
    load_estimates,
    load_lsoa_pairs,
    lsoa21_weights,
    nearest_year,
    population_for,
    read_population,
    wanted_year,
)

#: Looe: the 2021 LSOA E01034858 merges Cornwall 037C and 037D.
LOOE_21, LOOE_11 = "E01034858", ("E01018775", "E01018776")
#: Plymouth 013? (E01015135) split into two 2021 LSOAs.
SPLIT_11, SPLIT_21 = "E01015135", ("E01034157", "E01034158")


@pytest.fixture(scope="module")
def pairs(mirror):
    return load_lsoa_pairs(mirror)


def _grown(areas, factor):
    """Each study LSOA's mid-2018 population times ``factor``, as whole numbers."""
    return (areas.set_index("lsoa_code")["population"] * factor).round().astype("int64")


def _as_lsoa21(areas, pairs, factor):
    """2021-code populations made from the 2011 ones without :mod:`psa_geo.population`: a
    split parent's people are shared out between its children (whole numbers, summing to
    the parent), a merged 2021 LSOA gets the sum of its parents."""
    grown = _grown(areas, factor)
    study = pairs[pairs["LSOA11CD"].isin(grown.index)]
    values: dict[str, int] = {}
    for code11, rows in study.groupby("LSOA11CD"):
        children = sorted(rows["LSOA21CD"].unique())
        share, extra = divmod(int(grown[code11]), len(children))
        for i, code21 in enumerate(children):
            values[code21] = values.get(code21, 0) + share + (extra if i == 0 else 0)
    return pd.Series(values).sort_index()


@pytest.fixture(scope="module")
def file_2024(areas, pairs, tmp_path_factory):
    """Mid-2018 x 1.1 as "mid-2024" estimates in 2021 codes, the year in the file name."""
    values = _as_lsoa21(areas, pairs, 1.1)
    path = tmp_path_factory.mktemp("pop") / "lsoa21_population_mid2024.csv"
    pd.DataFrame({"LSOA21CD": values.index, "Population": values.to_numpy()}).to_csv(
        path, index=False
    )
    return path, values


@pytest.fixture(scope="module")
def file_2019(areas, pairs, tmp_path_factory):
    """Mid-2018 x 1.1 as 2019 estimates in 2021 codes, with a year column and other headers."""
    values = _as_lsoa21(areas, pairs, 1.1)
    path = tmp_path_factory.mktemp("pop") / "estimates.csv"
    frame = pd.DataFrame({"LSOA code": values.index, "Year": "2019", "POP": values.to_numpy()})
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def converted_2019(areas, pairs, file_2019):
    return read_population(file_2019, areas=areas, pairs=pairs).set_index("lsoa_code")


@pytest.mark.parametrize(
    ("period", "years", "used", "wanted"),
    [
        (calendar_year(2019), [2018], 2018, 2019),
        (calendar_year(2019), [2018, 2019, 2020], 2019, 2019),
        (financial_year(2024), [2018, 2024, 2025], 2024, 2024),
        (financial_year(2024), [2018, 2023], 2023, 2024),
        (financial_year(2018), [2018], 2018, 2018),
        # ties: the middle is as far from both mid-years; the later year wins
        (parse_period("2018-07:2019-06"), [2018, 2019], 2019, 2019),
        (calendar_year(2018), [2017, 2019], 2019, 2018),
    ],
    ids=[
        "cal2019-only2018",
        "cal2019",
        "fy2024",
        "fy2024-only2023",
        "fy2018",
        "tie-jul-jun",
        "tie-two-away",
    ],
)
def test_nearest_year(period, years, used, wanted):
    assert nearest_year(period, years) == used
    assert wanted_year(period) == wanted


def test_weights_share_merged_lsoas_by_mid_2018_population(areas, pairs):
    weights = lsoa21_weights(areas, pairs)
    assert weights.groupby("lsoa21_code")["weight"].sum().round(12).eq(1).all()
    looe = weights[weights["lsoa21_code"] == LOOE_21].set_index("lsoa_code")["weight"]
    pop = areas.set_index("lsoa_code").loc[list(LOOE_11), "population"]
    assert looe.to_dict() == pytest.approx((pop / pop.sum()).to_dict())
    assert 0 < looe.min() < looe.max() < 1  # never the whole to both
    split = weights[weights["lsoa21_code"].isin(SPLIT_21)]
    assert split["lsoa_code"].eq(SPLIT_11).all() and split["weight"].eq(1).all()


def test_2021_codes_convert_conserving_the_total(areas, pairs, file_2024):
    path, values = file_2024
    table, report = read_population(path, areas=areas, pairs=pairs, return_report=True)
    assert report["years"] == [2024] and report["lsoa_codes"] == "2021"
    assert report["outside"] == 0 and report["rows"] == len(values)
    assert set(table["year"]) == {2024} and set(table["source"]) == {str(path)}
    assert sorted(table["lsoa_code"]) == sorted(areas["lsoa_code"])
    assert table["population"].sum() == values.sum()
    by_code = table.set_index("lsoa_code")["population"]
    # a split's children sum to the parent
    assert by_code[SPLIT_11] == values[list(SPLIT_21)].sum()
    assert by_code[SPLIT_11] == _grown(areas, 1.1)[SPLIT_11]
    # the merged Looe LSOA is shared by mid-2018 shares, in whole people
    pop18 = areas.set_index("lsoa_code").loc[list(LOOE_11), "population"]
    looe = by_code[list(LOOE_11)]
    assert looe.sum() == values[LOOE_21]
    assert (looe - values[LOOE_21] * pop18 / pop18.sum()).abs().max() <= 1
    # an unchanged LSOA keeps its figure
    assert by_code["E01015023"] == values["E01015023"]


def test_rows_outside_the_study_area_are_counted_not_used(areas, pairs, tmp_path):
    grown = _grown(areas, 1.0)
    lines = ["lsoa11cd,count,mid_year"]
    lines += [f"{code},{value},mid-2020" for code, value in grown.items()]
    lines += ["E01000001,1500,2020", ",1760000,"]  # City of London 001A; a total row
    path = tmp_path / "pop.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    table, report = read_population(path, areas=areas, pairs=pairs, return_report=True)
    assert report["outside"] == 1 and report["without_code"] == 1 and report["rows"] == 1036
    assert report["lsoa_codes"] == "2011" and report["years"] == [2020]
    assert table.set_index("lsoa_code")["population"].to_dict() == grown.to_dict()


def test_estimates_choose_the_year_and_say_so(areas, pairs, file_2024, mirror):
    path, _ = file_2024
    estimates = load_estimates(areas, [path], data_dir=mirror, pairs=pairs)
    assert sorted(estimates["year"].unique()) == [BASE_YEAR, 2024]
    new, info = population_for(areas, financial_year(2024), estimates)
    assert info["year"] == info["wanted_year"] == 2024
    assert info["sources"] == [str(path)] and info["files"][0]["file"] == str(path)
    assert info["sentence"] == (
        "Rates use mid-2024 population estimates (from lsoa21_population_mid2024.csv), "
        "the nearest to the middle of the study period."
    )
    assert new["population"].sum() == estimates.query("year == 2024")["population"].sum()
    assert areas["population"].sum() == 1_762_376  # the input is not changed
    old, info = population_for(areas, calendar_year(2019), estimates)
    assert info["year"] == 2018 and info["wanted_year"] == 2019
    assert "mid-2018 population estimates (ONS)" in info["sentence"]
    assert "mid-2019 would be nearest" in info["sentence"]
    assert old["population"].tolist() == areas["population"].tolist()


def test_a_file_replaces_the_base_year_and_two_files_may_not_share_a_year(
    areas, pairs, mirror, tmp_path
):
    grown = _grown(areas, 2.0)
    frame = pd.DataFrame({"lsoa_code": grown.index, "population": grown.to_numpy()})
    first, second = tmp_path / "mid2018.csv", tmp_path / "again_2018.csv"
    frame.to_csv(first, index=False)
    frame.to_csv(second, index=False)
    estimates = load_estimates(areas, [first], data_dir=mirror, pairs=pairs)
    assert estimates["population"].sum() == grown.sum()
    new, info = population_for(areas, financial_year(2018), estimates)
    assert info["sources"] == [str(first)] and new["population"].sum() == grown.sum()
    with pytest.raises(InputFileError, match=r"gives mid-2018 estimates, as .* does"):
        load_estimates(areas, [first, second], data_dir=mirror, pairs=pairs)


def _lines_2011(areas, *, header="LSOA11CD,population,year", edit=None):
    grown = _grown(areas, 1.0)
    rows = [[code, str(value), "2022"] for code, value in grown.items()]
    if edit:
        edit(rows)
    return header + "\n" + "".join(",".join(row) + "\n" for row in rows)


def _set(index, column, value):
    def edit(rows):
        rows[index][column] = value

    return edit


def _mix(rows):  # the split Plymouth LSOA given by its 2021 children
    rows[:] = [row for row in rows if row[0] != SPLIT_11]
    rows += [[code, "900", "2022"] for code in SPLIT_21]


@pytest.mark.parametrize(
    ("name", "header", "edit", "message"),
    [
        ("pop.csv", "LSOA11CD,people_total,year", None, "missing columns population"),
        (
            "pop.csv",
            None,
            _set(4, 1, "-12"),
            "row 5 (LSOA E01015027): population '-12' is "
            "negative; expected a whole number from 0 to 100,000",
        ),
        ("pop.csv", None, _set(0, 1, "n/a"), "population 'n/a' is not a whole number"),
        ("pop.csv", None, _set(2, 1, "12.5"), "population '12.5' is not a whole number"),
        ("pop.csv", None, _set(1, 1, "250000"), "population 250,000 is more than 100,000"),
        (
            "pop.csv",
            "LSOA11CD,population,note",
            None,
            "no year column, and the file name does not hold exactly one year: add a column 'year'",
        ),
        ("pop_2019_2020.csv", "LSOA11CD,population,note", None, "add a column 'year'"),
        ("pop.csv", None, _set(3, 2, "1999"), "row 4: year '1999' is not a year from 2001 to"),
        ("pop.csv", None, _set(3, 2, "next year"), "year 'next year' is not a year"),
        ("pop.csv", None, lambda rows: rows.pop(7), "no population for LSOA E01015030 in 2022"),
        (
            "pop.csv",
            None,
            lambda rows: rows.append(rows[0]),
            "LSOA E01015023 is given more than once for 2022",
        ),
        ("pop.csv", None, _mix, "mixes 2011 codes (E01015157) and 2021 codes (E01034157)"),
    ],
    ids=[
        "missing-column",
        "negative",
        "not-a-number",
        "fraction",
        "too-many",
        "no-year",
        "two-years-in-name",
        "year-too-early",
        "year-not-a-year",
        "missing-lsoa",
        "twice",
        "mixed-codes",
    ],
)
def test_a_bad_population_file_is_one_line_before_any_work(
    small_data, areas, tmp_path, name, header, edit, message
):
    path = tmp_path / name
    path.write_text(_lines_2011(areas, header=header or "LSOA11CD,population,year", edit=edit))
    out = tmp_path / "out"
    result = run_cli("tables", "--data-dir", small_data, "--out", out, "--population", path,
                     "--quiet")  # fmt: skip
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"psa-geo: error: {path}: ") and message in line, line
    assert not out.exists()


@pytest.fixture(scope="module")
def tables_2019(mirror, file_2019, tmp_path_factory):
    """``psa-geo tables`` on the real 2018-19 data with 2019 estimates: the output folder."""
    out = tmp_path_factory.mktemp("tables_2019")
    result = run_cli("tables", "--data-dir", mirror, "--out", out, "--population", file_2019,
                     "--study", "2019")  # fmt: skip
    assert result.returncode == 0, result.stderr
    return out


def _rates(folder, level):
    return pd.read_csv(folder / "tables" / f"rates_{level}.csv", dtype={"area_code": str})


def test_tables_use_the_2019_estimates_and_say_so(tables_2019, file_2019, converted_2019):
    report = json.loads((tables_2019 / "run_report.json").read_text(encoding="utf-8"))
    population = report["population"]
    assert population["year"] == population["wanted_year"] == 2019
    assert population["sources"] == [str(file_2019)]
    assert population["rule"].startswith("the mid-year (30 June) estimate nearest the middle")
    assert population["files"][0]["lsoa_codes"] == "2021"
    page = (tables_2019 / "assessment.html").read_text(encoding="utf-8")
    assert (
        "Rates use mid-2019 population estimates (from estimates.csv), the nearest to the "
        "middle of the study period." in page
    )


@pytest.mark.parametrize("level", ["lsoa", "csp", "peninsula"])
def test_tables_rates_divide_by_the_new_population(
    tables_2019, built, areas, converted_2019, level
):
    got = _rates(tables_2019, level)
    old = _rates(built[0], level)
    pd.testing.assert_series_equal(got["count"], old["count"])  # same events
    code = {"lsoa": "lsoa_code", "csp": "csp_code"}.get(level)
    per_lsoa = areas.assign(new=areas["lsoa_code"].map(converted_2019["population"]))
    if code:
        expected = got["area_code"].map(per_lsoa.groupby(code)["new"].sum())
    else:
        expected = pd.Series(per_lsoa["new"].sum(), index=got.index)
    assert (got["population"] == expected).all()
    assert (got["population"] > old["population"]).all()
    assert got["rate_per_1000"].to_numpy() == pytest.approx(
        (1000 * got["count"] / got["population"]).to_numpy(), abs=6e-4
    )


def test_without_a_file_the_2018_19_build_uses_mid_2018_and_says_so(built):
    out = built[0]
    report = json.loads((out / "run_report.json").read_text(encoding="utf-8"))
    assert report["population"]["year"] == 2018 and report["population"]["wanted_year"] == 2019
    assert report["population"]["sources"][0].endswith(
        "lsoa11_population_mid2018_devon_cornwall.csv"
    )
    sentence = (
        "Rates use mid-2018 population estimates (ONS), the nearest available to the middle of "
        "the study period; mid-2019 would be nearest."
    )
    for page in ("index.html", "assessment.html", "towns/index.html", "towns/truro.html"):
        assert sentence in (out / page).read_text(encoding="utf-8"), page
    assert "Residents (mid-2018)" in (out / "towns" / "truro.html").read_text(encoding="utf-8")


def test_profiles_use_the_file_and_escape_its_name(small_data, areas, converted_2019, file_2019,
                                                   tmp_path):  # fmt: skip
    path = tmp_path / "est<b>&.csv"
    path.write_bytes(file_2019.read_bytes())
    out = tmp_path / "out"
    result = run_cli("profile", "--town", "Truro", "--data-dir", small_data, "--out", out,
                     "--population", path, "--study", "2019", "--quiet")  # fmt: skip
    assert result.returncode == 0, result.stderr
    page = (out / "towns" / "truro.html").read_text(encoding="utf-8")
    assert "Rates use mid-2019 population estimates (from est&lt;b&gt;&amp;.csv)" in page
    assert "<b>&" not in page
    truro = pd.read_csv(REPO / "boundaries" / "safer_towns.csv", dtype=str).query("town == 'Truro'")
    residents = converted_2019.loc[truro["lsoa_code"], "population"].sum()
    assert f"Residents (mid-2019)<strong>{residents:,}</strong>" in page


def test_data_status_lists_the_population_years(mirror):
    result = run_cli("data", "status", "--data-dir", mirror)
    assert result.returncode == 0, result.stderr
    assert (
        "population estimates: mid-2018 (lsoa11_population_mid2018_devon_cornwall.csv); "
        "add other years with --population FILE" in result.stdout
    )


def test_an_empty_file_says_what_it_should_hold(areas, pairs, tmp_path):
    path = tmp_path / "mid2024.csv"
    path.write_text("", encoding="utf-8")
    with pytest.raises(InputFileError, match="the file is empty; expected an LSOA code, a pop"):
        read_population(path, areas=areas, pairs=pairs)
