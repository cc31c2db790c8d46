"""Inequality (issue 16 item 2): rates by national IMD decile and rural-urban class, the
deprived share, the slope and relative indices of inequality, and where they appear: the
assessment page's section (also in a browser), the town profiles, the LSOA table and layer.

FY2018/19 goes through the Python API (the shared build is calendar 2019); the page through
the shared ``built`` fixture. Expected figures are counted here with pandas from the raw files.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import browser_support
import numpy as np
import pandas as pd
import pyogrio
import pytest
from conftest import REPO

import psa_geo
from psa_geo.inequality import MIN_DECILES
from psa_geo.measures import ALL_CRIME, ASB

STREET = "crime/policeuk_street_devon_cornwall_{}.csv.gz"
IMD = "deprivation/imd2019_lsoa11_devon_cornwall.csv"
RURAL = "deprivation/rural_urban_class2011_lsoa11_devon_cornwall.csv"
POPULATION = "population/lsoa11_population_mid2018_devon_cornwall.csv"
LOOKUP = "lookups/lsoa11_master_lookup_devon_cornwall.csv"


# --- the slope index on a constructed example --------------------------------------------


def test_sii_of_a_constructed_example_equals_the_hand_worked_value():
    # Five quantiles, most deprived first: residents 10,000, 30,000, 20,000, 20,000, 20,000
    # (shares a = .1, .3, .2, .2, .2) and events 600, 1200, 600, 400, 200, so rates y per 1,000 =
    # 60, 40, 30, 20, 10. Cumulative shares .1, .4, .6, .8, 1 give mid-points
    # x = .05, .25, .5, .7, .9. Weighted means: x̄ = Σax = .5, ȳ = Σay = 30.
    # Sxy = Σa(x - x̄)(y - ȳ) = .1(-.45)(30) + .3(-.25)(10) + 0 + .2(.2)(-10) + .2(.4)(-20)
    #     = -1.35 - .75 - .4 - 1.6 = -4.1
    # Sxx = Σa(x - x̄)² = .1(.2025) + .3(.0625) + 0 + .2(.04) + .2(.16) = .079
    # slope = -4.1/.079 = -4100/79, so SII = 4100/79 = 51.899 per 1,000 (most minus least);
    # intercept = 30 + .5 × 4100/79 = 4420/79 (the most deprived end, x = 0);
    # least deprived end (x = 1) = 4420/79 - 4100/79 = 320/79; RII = 4420/320 = 13.8125.
    counts, residents = [600, 1200, 600, 400, 200], [10_000, 30_000, 20_000, 20_000, 20_000]
    result = psa_geo.slope_index(counts, residents)
    assert result.sii == pytest.approx(4100 / 79, rel=1e-12)
    assert result.rii == pytest.approx(13.8125, rel=1e-12)
    assert result.sii_lower < result.sii < result.sii_upper
    assert result.rii_lower < result.rii < result.rii_upper
    assert psa_geo.slope_index(counts, residents) == result  # the same draws (seed 1)
    # With a tenth of the events the line's least deprived end (4.05) is too uncertain for a
    # ratio: it falls to 0 in more than 2.5% of the simulated fits. The SII stands.
    small = psa_geo.slope_index([60, 120, 60, 40, 20], [1000, 3000, 2000, 2000, 2000])
    assert small.sii == pytest.approx(4100 / 79, rel=1e-12) and np.isnan(small.rii)


def test_simulated_limits_agree_with_the_delta_method_for_large_counts():
    """With large counts the simulated limits of the SII approach SII ± z·SE, the SE from the
    weighted fit's linear weights and each decile's variance (rate × log-scale SE)²."""
    counts = np.array([16438, 14419, 13837, 16085, 12048, 9667, 6681, 5065, 3894, 1299])
    residents = np.array([102201, 118058, 185304, 326954, 262396, 240706, 192290, 149361,
                          131572, 53534])  # fmt: skip
    result = psa_geo.slope_index(counts, residents, level=0.95)
    a = residents / residents.sum()
    x = np.cumsum(a) - a / 2
    rate = 1000 * counts / residents
    design = np.column_stack([np.ones_like(x), x]) * np.sqrt(a)[:, None]
    fitted = np.linalg.lstsq(design, rate * np.sqrt(a), rcond=None)[0]
    assert result.sii == pytest.approx(-fitted[1], rel=1e-9)
    # The slope is c·y with c the second row of (XᵀWX)⁻¹XᵀW.
    c = np.linalg.pinv(design)[1] * np.sqrt(a)
    _, lower, upper = psa_geo.rate_ci(counts, residents)
    sd = rate * (np.log(upper) - np.log(lower)) / (2 * 1.959964)
    half = 1.959964 * np.sqrt(np.sum(c**2 * sd**2))
    assert result.sii_lower == pytest.approx(result.sii - half, rel=0.01)
    assert result.sii_upper == pytest.approx(result.sii + half, rel=0.01)


@pytest.mark.parametrize(
    ("counts", "residents", "message"),
    [
        ([5, 0, 3], [100, 100, 100], "at least one event"),
        ([5, 2, 3], [100, 0, 100], "needs residents"),
        ([5], [100], "2 or more quantiles"),
    ],
    ids=["no-events", "no-residents", "one-quantile"],
)
def test_slope_index_refuses_what_it_cannot_fit(counts, residents, message):
    with pytest.raises(ValueError, match=message):
        psa_geo.slope_index(counts, residents)


# --- FY2018/19 through the API, against a direct count -------------------------------------


@pytest.fixture(scope="module")
def fy_lsoa(assigned_all, areas):
    fy = psa_geo.financial_year("2018/19")
    groups = psa_geo.load_crime_groups()
    return psa_geo.rate_table(
        assigned_all, areas, level="lsoa", study=fy, comparison=fy.previous(), groups=groups
    )


def _street(mirror, years, months) -> pd.DataFrame:
    """The police.uk rows of ``months`` placed in an LSOA of the area, read with pandas."""
    frame = pd.concat(
        [pd.read_csv(mirror / STREET.format(y), dtype=str, keep_default_na=False) for y in years]
    )
    lookup = pd.read_csv(mirror / LOOKUP, dtype=str)
    frame = frame[frame["Month"].isin(months) & frame["LSOA code"].isin(lookup["LSOA11CD"])]
    return frame.assign(group=np.where(frame["Crime type"] == ASB, ASB, ALL_CRIME))


def _lsoa_facts(mirror) -> pd.DataFrame:
    lookup = pd.read_csv(mirror / LOOKUP, dtype=str)[["LSOA11CD", "CSP18CD"]]
    imd = pd.read_csv(mirror / IMD)
    population = pd.read_csv(mirror / POPULATION)[["LSOA11CD", "POP_MID2018"]]
    rural = pd.read_csv(mirror / RURAL)[["LSOA11CD", "RUC11"]]
    return (
        lookup.merge(imd, on="LSOA11CD")
        .merge(population, on="LSOA11CD")
        .merge(rural, on="LSOA11CD")
    )


def _direct(street: pd.DataFrame, facts: pd.DataFrame, by: str) -> pd.DataFrame:
    """Counts and residents by (area, group, class) for the Peninsula ("peninsula") and CSPs."""
    counts = street.groupby(["LSOA code", "group"]).size().unstack(fill_value=0)
    lsoas = facts.set_index("LSOA11CD")
    parts = []
    for group in (ALL_CRIME, ASB):
        per_lsoa = lsoas.assign(n=counts[group].reindex(lsoas.index, fill_value=0), group=group)
        for area, frame in (("peninsula", per_lsoa), *per_lsoa.groupby("CSP18CD")):
            sums = frame.groupby(by)[["n", "POP_MID2018"]].sum().reset_index()
            parts.append(sums.assign(area=area, group=group))
    return pd.concat(parts, ignore_index=True)


@pytest.mark.data
def test_fy2018_19_rates_by_decile_equal_a_direct_count(fy_lsoa, areas, mirror):
    months = [f"2018-{m:02d}" for m in range(4, 13)] + ["2019-01", "2019-02", "2019-03"]
    facts = _lsoa_facts(mirror)
    direct = _direct(_street(mirror, (2018, 2019), months), facts, "IMD19_DECILE")
    table = psa_geo.inequality_table(fy_lsoa, areas, by="imd_decile")
    area = np.where(table["level"] == "peninsula", "peninsula", table["area_code"])
    merged = direct.merge(
        table.assign(area=area),
        left_on=["area", "group", "IMD19_DECILE"],
        right_on=["area", "category", "imd_decile"],
        validate="one_to_one",
    )
    present = 10 + facts.groupby("CSP18CD")["IMD19_DECILE"].nunique().sum()  # area × decile
    assert len(merged) == len(direct) == 2 * present
    assert (merged["count"] == merged["n"]).all()
    assert (merged["population"] == merged["POP_MID2018"]).all()
    np.testing.assert_allclose(merged["rate_per_1000"], 1000 * merged["n"] / merged["POP_MID2018"])
    _, lower, upper = psa_geo.rate_ci(merged["n"], merged["POP_MID2018"])
    np.testing.assert_allclose(merged["rate_lower_95"], lower)
    np.testing.assert_allclose(merged["rate_upper_95"], upper)
    assert len(table) == 9 * 13 * 10  # every area, group and decile, with or without residents

    # The deprived share (the issue: 31.0% of crime against 12.5% of residents) and the ratio.
    pen = direct[(direct["area"] == "peninsula") & (direct["group"] == ALL_CRIME)]
    pen = pen.set_index("IMD19_DECILE")
    share = 100 * pen.loc[[1, 2], "n"].sum() / pen["n"].sum()
    residents = 100 * pen.loc[[1, 2], "POP_MID2018"].sum() / pen["POP_MID2018"].sum()
    rate = 1000 * pen["n"] / pen["POP_MID2018"]
    summary = psa_geo.inequality_summary(table, repetitions=2000)
    row = summary[(summary["level"] == "peninsula") & (summary["category"] == ALL_CRIME)].iloc[0]
    assert row["deprived_count_share_pct"] == pytest.approx(share)
    assert row["deprived_population_share_pct"] == pytest.approx(residents)
    assert (round(share, 1), round(residents, 1)) == (31.0, 12.5)
    assert row["decile_1_to_10_ratio"] == pytest.approx(rate[1] / rate[10])
    # The SII: numpy's weighted polynomial fit of the direct rates on the mid-point ranks.
    a = pen["POP_MID2018"] / pen["POP_MID2018"].sum()
    x = np.cumsum(a) - a / 2
    slope, intercept = np.polyfit(x, rate, 1, w=np.sqrt(a))
    assert row["sii"] == pytest.approx(-slope)
    assert row["rii"] == pytest.approx(intercept / (intercept + slope))
    assert row["sii_lower_95"] < row["sii"] < row["sii_upper_95"]


@pytest.mark.data
def test_fy2018_19_rates_by_rural_urban_class_equal_a_direct_count(fy_lsoa, areas, mirror):
    months = [f"2018-{m:02d}" for m in range(4, 13)] + ["2019-01", "2019-02", "2019-03"]
    direct = _direct(_street(mirror, (2018, 2019), months), _lsoa_facts(mirror), "RUC11")
    table = psa_geo.inequality_table(fy_lsoa, areas, by="rural_urban")
    pen = table[(table["level"] == "peninsula") & table["category"].isin([ALL_CRIME, ASB])]
    pen = pen.set_index(["category", "rural_urban"])
    expected = direct[direct["area"] == "peninsula"].set_index(["group", "RUC11"])
    assert set(pen.index) == set(expected.index)
    assert (pen.loc[expected.index, "count"] == expected["n"]).all()
    np.testing.assert_allclose(pen.loc[expected.index, "rate_per_1000"],
                               1000 * expected["n"] / expected["POP_MID2018"])  # fmt: skip
    # The classes come most urban first, as ONS codes them (C1, C2, D1, D2, E1, E2).
    codes = pd.read_csv(mirror / RURAL).drop_duplicates("RUC11").sort_values("RUC11CD")
    assert list(pen.loc[ALL_CRIME].index) == codes["RUC11"].tolist()


@pytest.mark.data
def test_the_summary_says_why_an_sii_is_missing(fy_lsoa, areas):
    deciles = psa_geo.inequality_table(fy_lsoa, areas, by="imd_decile")
    summary = psa_geo.inequality_summary(deciles, repetitions=1000)
    lived = deciles[deciles["population"] > 0]
    few = lived.groupby(["area_code", "category"])["imd_decile"].nunique()
    empty = lived[lived["count"] == 0].groupby(["area_code", "category"])["imd_decile"].apply(list)
    for row in summary.itertuples():
        key = (row.area_code, row.category)
        if few[key] < MIN_DECILES:
            assert row.sii_note.startswith(f"not computed: residents in {few[key]} decile")
        elif key in empty:
            listed = ", ".join(map(str, empty[key]))
            assert row.sii_note == f"not computed: no events in decile {listed}"
        else:
            assert not np.isnan(row.sii), key
    scilly = summary[summary["area_name"] == "Isles of Scilly"]
    assert scilly["sii"].isna().all() and len(scilly) == 13


def test_an_lsoa_with_no_data_is_left_out(tiny_areas):
    """A counts table's LSOA with no row (population 0, count blank) is in no class."""
    rates = pd.DataFrame({
        "level": "lsoa", "area_code": ["E01000001", "E01000002", "E01000003"],
        "category": "Burglary", "period": "2019", "population": [2000, 0, 500],
        "count": pd.array([4, pd.NA, 1], dtype="Int64"),
    })  # fmt: skip
    table = psa_geo.inequality_table(rates, tiny_areas, by="imd_decile", levels=("csp",))
    lived = table[table["population"] > 0].set_index(["area_code", "imd_decile"])
    assert lived["count"].to_dict() == {("E22000001", 7): 4, ("E22000002", 10): 1}
    town = table[table["area_code"] == "E22000001"].set_index("imd_decile")
    assert town.loc[1, "population"] == 0 and town.loc[1, "vs_area_95"] == "no residents"
    with pytest.raises(psa_geo.PsaGeoError, match="rural-urban"):
        psa_geo.inequality_table(rates, tiny_areas, by="rural_urban")


# --- the outputs of the shared build (calendar 2019) ---------------------------------------


@pytest.mark.data
def test_the_lsoa_table_and_layer_carry_deprivation_and_rurality(built, mirror):
    out, _ = built
    imd = pd.read_csv(mirror / IMD).merge(pd.read_csv(mirror / RURAL), on="LSOA11CD")
    expected = imd.set_index("LSOA11CD")
    csv = pd.read_csv(out / "tables" / "rates_lsoa.csv", encoding="utf-8-sig")
    layer = pyogrio.read_dataframe(out / "psa_geo_rates.gpkg", layer="lsoa", read_geometry=False)
    for frame in (csv.drop_duplicates("area_code"), layer):
        frame = frame.set_index("area_code").loc[expected.index]
        for ours, theirs in (("imd_rank", "IMD19_RANK"), ("imd_decile", "IMD19_DECILE"),
                             ("idaci_rank", "IDACI_RANK"), ("rural_urban", "RUC11")):  # fmt: skip
            assert (frame[ours] == expected[theirs]).all(), ours
        np.testing.assert_allclose(frame["idaci_score"], expected["IDACI_SCORE"])


def _section(out) -> str:
    page = (out / "assessment.html").read_text(encoding="utf-8")
    return page.split('<section id="inequality"', 1)[1].split("</section>", 1)[0]


def _cells(row_html: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>",
                                                                   row_html, re.S)]  # fmt: skip


@pytest.mark.data
def test_the_assessment_page_shows_the_section_with_the_decile_ratio(built, mirror):
    out, _ = built
    section = _section(out)
    months = [f"2019-{m:02d}" for m in range(1, 13)]
    direct = _direct(_street(mirror, (2019,), months), _lsoa_facts(mirror), "IMD19_DECILE")
    pen = direct[(direct["area"] == "peninsula") & (direct["group"] == ALL_CRIME)]
    rate = (1000 * pen["n"] / pen["POP_MID2018"]).to_numpy()
    share = 100 * pen["n"].iloc[:2].sum() / pen["n"].sum()
    overview = section.split('id="inequality-overview-1"', 1)[1].split("</table>", 1)[0]
    assert f"{ALL_CRIME}: share in the most deprived LSOAs" in overview
    rows = re.findall(r"<tr><th scope=\"row\">.*?</tr>", overview, re.S)
    assert len(rows) == 9  # the Peninsula and the 8 CSPs
    first = _cells(rows[0])
    assert first[0].startswith("Peninsula")
    assert first[1] == f"{share:.1f}%"
    assert first[3:6] == [f"{rate[0]:.1f}", f"{rate[-1]:.1f}", f"{rate[0] / rate[-1]:.1f}"]
    assert "The rate in decile 1 is" in section and "times that in decile 10" in section
    # Per area: a decile table and every group; a rural-urban table; charts for all but Scilly.
    assert section.count('<table class="inequality-deciles">') == 9
    assert section.count('<table class="inequality-rural">') == 9
    assert section.count('<table class="inequality-groups">') == 9
    charts = re.findall(r'<img src="(inequality/[^"]+\.svg)"[^>]*alt="([^"]+)"', section)
    assert len(charts) == 8 and "LSOAs are all in one decile" in section
    for href, alt in charts:
        svg = ET.parse(out / href).getroot()
        titles = [e.text for e in svg if e.tag.endswith("title")]
        assert titles and "deprivation decile" in titles[0], href
        assert "table below" in alt
    for caveat in ("ecological fallacy", "crime domain", "OHID"):
        assert caveat in section
    for name in ("inequality_imd_decile", "inequality_rural_urban", "inequality_summary"):
        assert f'href="tables/{name}.csv"' in section and (out / "tables" / f"{name}.csv").is_file()
    index = (out / "index.html").read_text(encoding="utf-8")
    assert 'href="assessment.html#inequality"' in index
    page = (out / "assessment.html").read_text(encoding="utf-8")
    assert "Indices of Deprivation 2019" in page.rsplit("Sources and licences", 1)[1]


@pytest.mark.data
def test_a_town_profile_gives_the_deprived_share_and_its_lsoas(built, mirror):
    out, _ = built
    towns = pd.read_csv(REPO / "boundaries" / "safer_towns.csv", dtype=str)
    codes = set(towns.loc[towns["town"] == "Penzance", "lsoa_code"])
    street = _street(mirror, (2019,), [f"2019-{m:02d}" for m in range(1, 13)])
    crime = street[(street["group"] == ALL_CRIME) & street["LSOA code"].isin(codes)]
    facts = _lsoa_facts(mirror).set_index("LSOA11CD").loc[sorted(codes)]
    deprived = facts["IMD19_DECILE"] <= 2
    share = 100 * crime["LSOA code"].isin(facts.index[deprived]).mean()
    residents = 100 * facts.loc[deprived, "POP_MID2018"].sum() / facts["POP_MID2018"].sum()
    page = (out / "towns" / "penzance.html").read_text(encoding="utf-8")
    context = page.split('<p id="deprivation">', 1)[1].split("</p>", 1)[0]
    assert f"<strong>{share:.1f}%</strong> of the town's crime" in context
    assert f"<strong>{residents:.1f}%</strong> of its residents" in context
    table = page.split('<table id="lsoa-deprivation">', 1)[1].split("</table>", 1)[0]
    assert len(re.findall(r"<tr><th scope=\"row\">", table)) == len(codes)
    assert "<caption>" in table and "SII per 1,000" not in page  # a town gets no slope index
    assert "slope index of inequality is given only for larger areas" in page
    lsoas = pd.read_csv(out / "towns" / "penzance_lsoas.csv", encoding="utf-8-sig")
    assert set(lsoas["lsoa_code"]) == codes
    assert lsoas["imd_rank"].is_monotonic_increasing
    merged = lsoas.set_index("lsoa_code").loc[facts.index]
    assert (merged["imd_decile"] == facts["IMD19_DECILE"]).all()
    assert (merged["count"] == crime.groupby("LSOA code").size().reindex(facts.index)).all()


@pytest.mark.data
@pytest.mark.browser
def test_the_section_in_a_browser(built):
    browser_support.require_browser()
    out, _ = built
    with browser_support.open_page(out / "assessment.html", wait_for="#inequality") as session:
        page = session.page
        section = page.locator("#inequality")
        section.scroll_into_view_if_needed()
        assert section.locator("h2").inner_text() == "Deprivation and rurality"
        tables = section.locator("table")
        assert tables.count() == 2 + 9 * 3
        for i in range(tables.count()):
            assert tables.nth(i).locator("caption").inner_text().strip()
        images = section.locator("figure.curve img")
        assert images.count() == 8
        for i in range(images.count()):
            images.nth(i).scroll_into_view_if_needed()
            assert images.nth(i).evaluate("img => img.complete && img.naturalWidth > 0")
        ratio = section.locator("#inequality-overview-1 tbody tr").first.locator("td.ratio")
        assert re.fullmatch(r"\d+\.\d", ratio.inner_text())
        section.locator("#inequality-overview-1 tbody th a").nth(1).click()
        assert page.evaluate("() => location.hash").startswith("#inequality-E22")
        assert session.errors == [] and session.unexpected == []
