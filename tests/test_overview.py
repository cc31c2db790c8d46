"""The one-glance overview on index.html and assessment.html, and the towns' coverage caution."""

import html
import re

import pandas as pd
import pytest

import psa_geo
from psa_geo.measures import ALL_CRIME, ASB

GRID = re.compile(r'<table id="overview">.*?</table>', re.S)


def _text(fragment: str) -> str:
    """A cell's text as a screen reader gets it: tags dropped, <br> a space."""
    plain = re.sub(r"<[^>]+>", "", fragment.replace("<br>", " "))
    return " ".join(html.unescape(plain).split())


def grid_cells(page: str) -> tuple[list[str], dict[tuple[str, str], str]]:
    """The overview table of ``page``: its column headers, and (row header, column) → text."""
    table = GRID.search(page).group(0)
    head = re.search(r"<thead>(.*?)</thead>", table, re.S).group(1)
    columns = [_text(c) for c in re.findall(r'<th scope="col">(.*?)</th>', head, re.S)][1:]
    cells = {}
    for row in re.findall(r"<tr>(.*?)</tr>", table, re.S):
        name = re.match(r'<th scope="row">(.*?)</th>', row)
        if name:
            values = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
            assert len(values) == len(columns)
            for column, value in zip(columns, values, strict=True):
                cells[(_text(name.group(1)), column)] = _text(value)
    return columns, cells


@pytest.fixture(scope="module")
def rates(built):
    out, _ = built
    read = {
        level: pd.read_csv(out / "tables" / f"rates_{level}.csv", encoding="utf-8-sig")
        for level in ("csp", "peninsula")
    }
    for frame in read.values():
        frame["trend"] = frame["trend"].fillna("")
    return read


@pytest.fixture(scope="module")
def index_page(built):
    return (built[0] / "index.html").read_text(encoding="utf-8")


@pytest.mark.data
@pytest.mark.parametrize("page", ["index.html", "assessment.html"])
def test_grid_cells_equal_the_rate_table(built, rates, page):
    text = (built[0] / page).read_text(encoding="utf-8")
    columns, cells = grid_cells(text)
    csp = rates["csp"]
    assert columns == list(dict.fromkeys(csp["category"]))  # the 13 groups, in their order
    assert len(columns) == 13
    for row in csp.itertuples():
        expected = f"{row.vs_parent_95} {row.trend} {row.trend_word}"
        assert cells[(row.area_name, row.category)] == expected, (row.area_name, row.category)
    pen = rates["peninsula"]
    for row in pen.itertuples():  # the last row: the Peninsula rate (all events) and trend
        got = cells[("Peninsula rate per 1,000", row.category)]
        assert got == f"{row.rate_per_1000:.1f} {row.trend} {row.trend_word}"
    assert len(cells) == 9 * 13
    # every coloured cell carries its word, in the colour the assessment uses for it
    for word, colour in psa_geo.overview.RAG.items():
        assert re.search(rf'<td style="background:{colour}">{word}<br>', text)


@pytest.mark.data
def test_one_sentence_per_csp(rates, index_page):
    assert "<li>Plymouth: highest of 8, 80.5 per 1,000; stable</li>" in index_page
    crime = rates["csp"][rates["csp"]["category"] == ALL_CRIME]
    crime = crime.sort_values("rate_per_1000", ascending=False, ignore_index=True)
    expected = []
    for i, row in crime.iterrows():
        ordinal = {1: "2nd", 2: "3rd"}.get(i, f"{i + 1}th")
        place = {0: "highest", 7: "lowest"}.get(i, f"{ordinal} highest")
        expected.append(f"{row.area_name}: {place} of 8, {row.rate_per_1000:.1f} per 1,000; "
                        f"{row.trend_word}")  # fmt: skip
    assert psa_geo.csp_sentences(rates["csp"], group=ALL_CRIME) == expected
    listed = re.search(r'<ul class="sentences">(.*?)</ul>', index_page, re.S).group(1)
    assert [html.unescape(s) for s in re.findall(r"<li>(.*?)</li>", listed)] == expected


@pytest.mark.data
def test_sentences_say_joint_no_data_and_not_comparable(rates):
    csp = rates["csp"][rates["csp"]["category"] == ASB].copy()
    names = csp["area_name"].tolist()
    csp.loc[csp["area_name"] == names[0], "rate_per_1000"] = float("nan")
    csp.loc[csp["area_name"] == names[0], ["trend_word", "vs_parent_95"]] = "no data"
    top = csp["rate_per_1000"].max()
    second = csp.sort_values("rate_per_1000", ascending=False)["area_name"].iloc[1]
    csp.loc[csp["area_name"] == second, "rate_per_1000"] = top
    csp["trend_word"] = csp["trend_word"].where(
        csp["trend_word"] == "no data", "not comparable: 2019-03 looks incomplete"
    )
    sentences = psa_geo.csp_sentences(csp, group=ASB)
    assert sentences[-1] == f"{names[0]}: no data"
    assert sentences[0].split(": ")[1].startswith("joint highest of 7, ")
    assert sentences[1].split(": ")[1].startswith("joint highest of 7, ")
    assert all(s.endswith("; trend not comparable") for s in sentences[:-1])
    grid = psa_geo.overview_grid(csp)
    assert set(grid["trend_text"]) == {"no data", "not comparable"}


@pytest.mark.data
def test_one_peninsula_rate_and_the_unlocated_share(rates, index_page, built):
    pen = rates["peninsula"].set_index("category").loc[ALL_CRIME]
    located = rates["csp"].loc[rates["csp"]["category"] == ALL_CRIME, "parent_rate_per_1000"]
    share = 100 * pen["without_location"] / pen["count"]
    unlocated = re.search(r'<span id="unlocated">(.*?)</span>', index_page).group(1)
    assert unlocated == (
        f"{pen['without_location']:,} of these crimes ({share:.1f}%) have no location "
        "and so count in no CSP"
    )
    assert 5 < share < 7
    para = " ".join(re.search(r'<p class="parent-rate".*?</p>', index_page, re.S).group(0).split())
    assert f"is <strong>{pen['rate_per_1000']:.1f} per 1,000</strong>" in para
    assert f"located-only rate, {located.iloc[0]:.1f} per 1,000" in para
    # the assessment names the located-only rate wherever it compares with it
    page = (built[0] / "assessment.html").read_text(encoding="utf-8")
    assert "vs Peninsula (located-only rate)" in page and "(benchmark)" not in page
    assert f"benchmark: located-only rate {located.iloc[0]:.1f}" in page
    assert "Peninsula's located-only rate (events with a location" in html.unescape(page)


@pytest.mark.data
def test_grid_sits_above_the_long_tables(index_page):
    assert index_page.index('id="overview"') < index_page.index("by Community Safety Partnership")
    assert '<caption id="overview-caption">' in index_page
    assert index_page.count('<th scope="row">') >= 9


@pytest.mark.data
def test_towns_with_little_of_their_built_up_area_carry_a_caution(built):
    page = (built[0] / "towns" / "index.html").read_text(encoding="utf-8")
    pattern = r'<tr><td><a href="[^"]+">([^<]+)</a></td>(.*?)</tr>'
    rows = dict(re.findall(pattern, page, re.S))
    assert len(rows) == 10
    for town, pct in (("Liskeard", 41), ("Bodmin", 38), ("Redruth", 47)):
        assert f"caution: its LSOAs cover {pct}% of the built-up area" in rows[town], town
    for town in ("Penzance", "Truro", "St Austell", "Camborne"):
        assert "caution" not in rows[town], town
    cautions = re.search(r'<ul class="note" id="cautions">(.*?)</ul>', page, re.S).group(1)
    assert "Liskeard: its 3 LSOAs (4,124 residents) cover 41% of its built-up area" in cautions
    assert cautions.count("<li>") == 3
    # Liskeard ranks first, and its caution sits beside that rate
    first = re.search(r"<tbody>\s*<tr><td><a[^>]*>([^<]+)</a></td><td>1</td>", page)
    assert first.group(1) == "Liskeard"
    # and each town's own profile, where it is compared with Cornwall and the other towns
    for town, has in (("liskeard", True), ("bodmin", True), ("penzance", False)):
        profile = (built[0] / "towns" / f"{town}.html").read_text(encoding="utf-8")
        assert ('id="coverage-caution"' in profile) is has, town
    profile = (built[0] / "towns" / "liskeard.html").read_text(encoding="utf-8")
    assert "Caution: Liskeard: its 3 LSOAs (4,124 residents) cover 41%" in profile
