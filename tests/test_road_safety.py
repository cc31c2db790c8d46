"""The road-safety section on the real STATS19 data: tables, page, map and command.

Figures are checked against counts made here straight from the files with pandas: the STATS19
collisions placed by DfT's LSOA (else by the LSOA polygon holding the point), the ONS lookup and
the ONS mid-2018 population.
"""

from __future__ import annotations

import re
from types import SimpleNamespace

import browser_support
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from conftest import REPO, run_cli
from scipy import stats
from test_profiles import tables_of

import psa_geo
from psa_geo.road_safety import _popup, load_road_safety, road_safety_tables, write_road_safety

ACCIDENTS = "stats19_accidents_devon_cornwall_pf50_2015_2017.csv.gz"
CASUALTIES = "stats19_casualties_devon_cornwall_pf50_2015_2019.csv.gz"
MISSING = "Data missing or out of range"


@pytest.fixture(scope="module")
def road_safety(mirror, areas):
    return load_road_safety(mirror, areas)


@pytest.fixture(scope="module")
def tables(road_safety):
    return road_safety_tables(road_safety)


@pytest.fixture(scope="module")
def lookup(mirror) -> pd.DataFrame:
    """The ONS LSOA lookup with each LSOA's mid-2018 population, by LSOA code."""
    lookup = pd.read_csv(mirror / "lookups" / "lsoa11_master_lookup_devon_cornwall.csv", dtype=str)
    population = pd.read_csv(mirror / "population" / "lsoa11_population_mid2018_devon_cornwall.csv",
                             dtype={"LSOA11CD": str})  # fmt: skip
    return lookup.merge(population[["LSOA11CD", "POP_MID2018"]], on="LSOA11CD").set_index(
        "LSOA11CD"
    )


@pytest.fixture(scope="module")
def raw(mirror, lookup) -> pd.DataFrame:
    """Every STATS19 casualty of the files with its year, severity, type, home fields and, for
    the years with collision rows, the LSOA, LAD and CSP codes of its collision: DfT's LSOA,
    else the LSOA polygon holding the collision's easting/northing (none: outside them all)."""
    accidents = pd.read_csv(mirror / "collisions" / ACCIDENTS, dtype=str, keep_default_na=False)
    blank = accidents["LSOA_of_Accident_Location"] == ""
    points = gpd.GeoDataFrame(
        geometry=gpd.points_from_xy(
            accidents.loc[blank, "Location_Easting_OSGR"].astype(float),
            accidents.loc[blank, "Location_Northing_OSGR"].astype(float),
        ),
        index=accidents.index[blank],
        crs="EPSG:27700",
    )
    lsoas = gpd.read_file(mirror / "boundaries" / "lsoa2011_devon_cornwall.geojson")
    inside = points.sjoin(lsoas[["LSOA11CD", "geometry"]].to_crs("EPSG:27700"), how="left",
                          predicate="within")  # fmt: skip
    inside = inside[~inside.index.duplicated()]["LSOA11CD"]
    lsoa = accidents["LSOA_of_Accident_Location"].mask(blank, inside)
    by_index = pd.Series(lsoa.to_numpy(), index=accidents["Accident_Index"])
    casualties = pd.read_csv(mirror / "collisions" / CASUALTIES, dtype={"Accident_Index": str})
    out = pd.DataFrame(
        {
            "year": casualties["Accident_Index"].str[:4].astype(int),
            "ksi": casualties["Casualty_Severity"].isin([1, 2]),
            "casualty_type": casualties["Casualty_Type"],
            "imd_decile": casualties["Casualty_IMD_Decile"],
            "home_area_type": casualties["Casualty_Home_Area_Type"],
            "lsoa": casualties["Accident_Index"].map(by_index),
        }
    )
    out["csp_code"] = out["lsoa"].map(lookup["CSP18CD"])
    out["lad_code"] = out["lsoa"].map(lookup["LAD19CD"])
    return out


@pytest.fixture(scope="module")
def written(road_safety, tmp_path_factory):
    out = tmp_path_factory.mktemp("collisions")
    write_road_safety(road_safety, out)
    return out


@pytest.mark.data
def test_peninsula_table_matches_provenance(road_safety):
    table = road_safety_tables(road_safety)["casualties_peninsula"]
    by = table.set_index(["measure", "year"])["casualties"]
    assert [by[m, 2018] for m in ("Fatal", "Serious", "Slight")] == [59, 794, 3901]
    assert [by[m, 2017] for m in ("Fatal", "Serious", "Slight")] == [63, 807, 4135]
    assert by["KSI", 2018] == 59 + 794


@pytest.mark.data
def test_csp_rows_add_up_and_gaps_are_explained(road_safety):
    table = road_safety_tables(road_safety)["casualties_by_csp"]
    totals = road_safety.casualties.groupby("collision_year").size()
    assert road_safety.located_years == [2015, 2017]
    for year, rows in table.groupby("year"):
        if year in road_safety.located_years:
            assert rows["casualties"].sum() == totals[year]
            assert rows["casualties"].notna().all()
        else:
            areas = rows[rows["area"] != "(not placed in an area)"]
            assert areas["casualties"].isna().all()
            assert areas["note"].str.contains(f"no collision locations for {year}").all()
    cornwall = table[(table["year"] == 2017) & (table["area"] == "Cornwall")]
    assert cornwall["ksi"].iloc[0] > 0


@pytest.mark.data
def test_page_numbers_equal_the_tables(road_safety, written):
    page = tables_of(written / "index.html")
    header, *rows = page["peninsula"]
    table = road_safety_tables(road_safety)["casualties_peninsula"]
    for row in rows:
        measure = row[0]
        for year in (2015, 2016, 2017, 2018, 2019):
            expected = table[(table["measure"] == measure) & (table["year"] == year)]
            assert row[header.index(str(year))] == f"{int(expected['casualties'].iloc[0]):,}"
    html = (written / "index.html").read_text(encoding="utf-8")
    assert html.count("injury-based") >= 4  # the CRASH caveat under every table
    csp_years = {r[0] for r in page["by-csp"][1:]}
    assert csp_years == {"2015", "2017"}
    for name in (
        "casualties_by_road_user.csv",
        "casualties_by_age_band.csv",
        "casualty_linkage.csv",
    ):
        assert not pd.read_csv(written / name, encoding="utf-8-sig").empty


def test_popup_text_is_escaped():
    row = SimpleNamespace(
        date=pd.Timestamp("2017-05-01 08:30"), category="Serious",
        first_road_class_label="<script>alert(1)</script>", first_road_number=38,
        number_of_casualties=2, number_of_vehicles=1,
    )  # fmt: skip
    popup = _popup(row)
    assert "<script>" not in popup and "&lt;script&gt;" in popup
    assert popup.startswith("<b>Serious collision</b><br>01 May 2017 08:30")


@pytest.fixture(scope="module")
def browser():
    """One browser for the module's pages."""
    browser_support.require_browser()
    with browser_support.launch_browser() as browser:
        yield browser


@pytest.mark.data
@pytest.mark.browser
def test_collision_map_in_a_browser(road_safety, written, browser):
    located = road_safety.collisions[~road_safety.collisions.geometry.is_empty]
    per_year = located.groupby("collision_year").size()
    casualties = road_safety.casualties
    ksi = casualties[casualties["casualty_severity_label"].isin(["Fatal", "Serious"])]
    ksi_collisions = located["collision_index"].isin(ksi["collision_index"]).sum()
    with browser_support.open_page(written / "collision_map.html", browser=browser) as session:
        page = session.page
        page.wait_for_selector(".marker-cluster")

        def shown() -> int:
            page.wait_for_timeout(1000)  # let the zoom and cluster animations finish
            clusters = sum(int(t) for t in page.locator(".marker-cluster").all_inner_texts())
            return clusters + page.locator("path.psa-collision").count()

        assert shown() == per_year[2017]  # one view at a time: the latest year at first
        page.get_by_label("Collisions 2015").check()
        assert shown() == per_year[2015]
        page.get_by_label("Collisions with a killed or seriously injured casualty").check()
        assert shown() == ksi_collisions  # one KSI view, not a second set over the first
        # Each cluster says its severity mix in words and in its ring.
        words = page.locator(".psa-cluster div").first.get_attribute("title")
        total, fatal, serious, slight = map(int, re.findall(r"\d+", words))
        assert total == fatal + serious + slight and slight == 0
        assert session.errors == [] and session.unexpected == []
        assert "Serious" in page.locator("#psa-legend").inner_text()


@pytest.mark.data
def test_collisions_command(mirror, lookup, tmp_path):
    """``psa-geo collisions --population``: the section alone, with the rates of each year on
    the estimate nearest it (a mid-2016 file: 2015 uses it, 2017 the later of a tie, 2018)."""
    mid_2016 = tmp_path / "mid2016.csv"
    pd.DataFrame({"LSOA11CD": lookup.index, "population": lookup["POP_MID2018"] + 100}).to_csv(
        mid_2016, index=False
    )
    result = run_cli("collisions", "--data-dir", mirror, "--out", tmp_path / "out",
                     "--population", mid_2016)  # fmt: skip
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "out" / "collisions"
    assert (folder / "collision_map.html").is_file()
    assert (folder / "casualties_peninsula.csv").is_file()
    rates = pd.read_csv(folder / "casualty_rates_lad.csv", encoding="utf-8-sig")
    used = rates.groupby("year")["population_year"].unique().to_dict()
    assert used == {2015: [2016], 2017: [2018]}
    plymouth = rates[(rates["area_code"] == "E06000026") & (rates["year"] == 2015)].iloc[0]
    residents = lookup.loc[lookup["LAD19CD"] == "E06000026", "POP_MID2018"] + 100
    assert plymouth["population"] == residents.sum()
    page = (folder / "index.html").read_text(encoding="utf-8")
    assert "the mid-2016 estimates for 2015 (mid-2015 would be nearer" in page
    assert "Population: ONS mid-year estimates" in page  # credited


@pytest.mark.data
def test_a_bad_population_file_is_one_line_naming_it(mirror, tmp_path):
    bad = tmp_path / "mid2016.csv"
    bad.write_text("LSOA11CD,population\nE01018293,lots\n", encoding="utf-8")
    result = run_cli("collisions", "--data-dir", mirror, "--out", tmp_path / "out",
                     "--population", bad)  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith(f"psa-geo: error: {bad}: ") and "not a whole number" in line
    assert not (tmp_path / "out" / "collisions").exists()


def _data_with(mirror, dest, changes):
    """A data folder like the mirror whose STATS19 files are rewritten by ``changes``
    ({file name: function(frame) -> frame})."""
    import gzip

    dest.mkdir()
    for folder in mirror.iterdir():
        if folder.is_dir() and folder.name != "collisions":
            (dest / folder.name).symlink_to(folder)
    (dest / "collisions").mkdir()
    for path in (mirror / "collisions").iterdir():
        change = next((f for name, f in changes.items() if name in path.name), None)
        if change is None:
            (dest / "collisions" / path.name).symlink_to(path)
            continue
        frame = change(pd.read_csv(path, dtype=str, keep_default_na=False))
        with gzip.open(dest / "collisions" / path.name, "wt", encoding="utf-8") as f:
            frame.to_csv(f, index=False)
    return dest


@pytest.mark.data
def test_bad_values_in_stats19_reject_rows_not_the_section(mirror, areas, tmp_path):
    def spoil(frame):
        frame.loc[0, "Speed_limit"] = "abc"
        frame.loc[1, "Number_of_Casualties"] = "1e308"
        frame.loc[2, "Accident_Index"] = "2999" + frame.loc[2, "Accident_Index"][4:]
        return frame

    data = _data_with(mirror, tmp_path / "data", {"accidents": spoil})
    study = load_road_safety(data, areas)
    assert study.located_years == [2015, 2017]  # no 2999
    assert str(study.collisions["speed_limit"].dtype) == "Int64"
    assert study.collisions["number_of_casualties"].max() < 1000


@pytest.mark.data
def test_a_header_only_casualties_file_is_one_line(mirror, areas, tmp_path):
    data = _data_with(mirror, tmp_path / "data", {"casualties": lambda frame: frame.head(0)})
    with pytest.raises(psa_geo.InputFileError, match="header but no rows") as info:
        load_road_safety(data, areas)
    assert "\n" not in str(info.value) and "casualties" in str(info.value)
    result = run_cli("collisions", "--data-dir", data, "--out", tmp_path / "out")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "header but no rows" in result.stderr


# --- rates per 100,000, road users and home areas (issue 16 item 3) ---------------------


@pytest.mark.data
@pytest.mark.parametrize(("level", "column"), [("csp", "CSP18CD"), ("lad", "LAD19CD")])
def test_casualty_rates_are_counts_over_mid_2018_residents(tables, raw, lookup, level, column):
    table = tables[f"casualty_rates_{level}"]
    residents = lookup.groupby(column)["POP_MID2018"].sum()
    located = raw[raw["year"].isin([2015, 2017])]
    assert sorted(table["year"].unique()) == [2015, 2017]
    assert (table["population_year"] == 2018).all()
    for year, rows in table.groupby("year"):
        in_year = located[located["year"] == year]
        counts = in_year.groupby(f"{level}_code").agg(
            casualties=("ksi", "size"), ksi=("ksi", "sum")
        )
        areas, parent = rows.iloc[:-1].set_index("area_code"), rows.iloc[-1]
        assert sorted(areas.index) == sorted(residents.index)
        for measure in ("casualties", "ksi"):
            expected = counts[measure].reindex(residents.index, fill_value=0)
            assert (areas[measure] == expected.reindex(areas.index)).all(), (year, measure)
            rate = 100_000 * expected / residents
            assert np.allclose(areas[f"{measure}_per_100k"], rate.reindex(areas.index))
            assert parent[measure] == expected.sum()  # the Peninsula: casualties placed in it
            assert parent[f"{measure}_per_100k"] == pytest.approx(
                100_000 * expected.sum() / residents.sum()
            )
        assert (areas["population"] == residents.reindex(areas.index)).all()
        assert parent["population"] == lookup["POP_MID2018"].sum()
        assert f"mid-2018 estimates; mid-{year} would be nearest" in parent["note"]
        unplaced = in_year[f"{level}_code"].isna().sum()
        assert (f"{unplaced} casualties of {year} are in no area" in parent["note"]) == (
            unplaced > 0
        )


@pytest.mark.data
def test_rate_intervals_are_poisson_and_comparisons_follow_them(tables):
    table = tables["casualty_rates_lad"]
    for measure in ("casualties", "ksi"):
        count, residents = table[measure].to_numpy(), table["population"].to_numpy()
        lower = np.where(count > 0, stats.chi2.ppf(0.025, 2 * count) / 2, 0) * 1e5 / residents
        upper = stats.chi2.ppf(0.975, 2 * count + 2) / 2 * 1e5 / residents
        small = count < 10  # exact limits; Byar's approximation from 10 is within 1% of them
        for got, exact in ((f"{measure}_per_100k_lower_95", lower),
                           (f"{measure}_per_100k_upper_95", upper)):  # fmt: skip
            assert np.allclose(table[got][small], exact[small], rtol=1e-9)
            assert np.allclose(table[got][~small], exact[~small], rtol=0.01)
        for _, rows in table.groupby("year"):
            benchmark = rows[f"{measure}_per_100k"].iloc[-1]
            areas = rows.iloc[:-1]
            expected = np.where(areas[f"{measure}_per_100k_lower_95"] > benchmark, "higher",
                                np.where(areas[f"{measure}_per_100k_upper_95"] < benchmark,
                                         "lower", "similar"))  # fmt: skip
            assert (areas[f"{measure}_vs_parent"] == expected).all()
            assert rows[f"{measure}_vs_parent"].iloc[-1] == ""


@pytest.mark.data
def test_rates_use_the_estimate_nearest_each_year(
    road_safety, areas, lookup, raw, mirror, tmp_path
):
    """With a mid-2016 file beside mid-2018, 2015 takes 2016 and 2017 (a tie) the later, 2018."""
    mid_2016 = tmp_path / "estimates.csv"
    doubled = 2 * lookup["POP_MID2018"]
    pd.DataFrame({"LSOA11CD": lookup.index, "year": 2016, "population": doubled}).to_csv(
        mid_2016, index=False
    )
    estimates = psa_geo.load_estimates(areas, [mid_2016], data_dir=mirror)
    table = psa_geo.casualty_rates(road_safety.casualties, road_safety.collisions, areas,
                                   level="csp", estimates=estimates)  # fmt: skip
    by_year = table.groupby("year")
    assert by_year["population_year"].unique().to_dict() == {2015: [2016], 2017: [2018]}
    cornwall = table[table["area_code"] == "E22000356"].set_index("year")
    in_cornwall = raw[raw["csp_code"] == "E22000356"].groupby("year").size()
    residents = lookup.loc[lookup["CSP18CD"] == "E22000356", "POP_MID2018"].sum()
    assert cornwall.loc[2015, "casualties_per_100k"] == pytest.approx(
        1e5 * in_cornwall[2015] / (2 * residents)
    )
    assert cornwall.loc[2017, "casualties_per_100k"] == pytest.approx(
        1e5 * in_cornwall[2017] / residents
    )
    assert cornwall.loc[2015, "note"] == "population: mid-2016 estimates; mid-2015 would be nearest"


@pytest.mark.data
def test_casualties_by_csp_and_road_user(tables, raw, areas):
    table = tables["casualties_by_csp_road_user"]
    groups = pd.read_csv(REPO / "psa_geo" / "resources" / "stats19_road_users.csv", comment="#")
    located = raw[raw["year"].isin([2015, 2017])]
    road_user = located["casualty_type"].map(groups.set_index("casualty_type")["road_user"])
    names = areas.drop_duplicates("csp_code").set_index("csp_code")["csp_name"]
    area = located["csp_code"].map(names).fillna("(not placed in an area)")
    expected = located.assign(road_user=road_user.fillna("Unknown"), area=area).groupby(
        ["year", "road_user", "area"]
    )
    got = table.set_index(["year", "road_user", "area"])
    assert sorted(table["year"].unique()) == [2015, 2017]
    assert set(got.index) >= set(expected.groups)
    assert (got["casualties"].reindex(expected.size().index) == expected.size()).all()
    assert (got["ksi"].reindex(expected.size().index) == expected["ksi"].sum()).all()
    missing = got.index.difference(expected.size().index)
    assert (got.loc[missing, "casualties"] == 0).all()  # every CSP and road user, 0 where none
    assert len(got) == 2 * road_user.nunique() * (len(names) + 1)


@pytest.mark.data
@pytest.mark.parametrize(
    ("by", "raw_column", "variable"),
    [("home_imd_decile", "imd_decile", "casualty_imd_decile"),
     ("home_area_type", "home_area_type", "casualty_home_area_type")],
)  # fmt: skip
def test_home_counts_and_shares(tables, raw, mirror, by, raw_column, variable):
    guide = pd.read_csv(mirror / "collisions" / "stats19_data_guide.csv", dtype=str)
    codes = guide[(guide["table"] == "Casualty") & (guide["variable"] == variable)]
    labels = dict(zip(codes["code/format"].astype(int), codes["label"], strict=True))
    table = tables[f"casualties_by_{by}"].set_index(["year", by])
    for year, rows in raw.groupby("year"):
        counts = rows[raw_column].map(labels).value_counts()
        got = table.loc[year]
        assert got["casualties"].to_dict() == counts.to_dict()
        assert got["share_pct"].to_dict() == pytest.approx((100 * counts / len(rows)).to_dict())
        known = counts.drop(MISSING)
        assert got["share_of_known_pct"].drop(MISSING).to_dict() == pytest.approx(
            (100 * known / known.sum()).to_dict()
        )
        assert np.isnan(got.loc[MISSING, "share_of_known_pct"])
    missing_2017 = (raw.loc[raw["year"] == 2017, raw_column] == -1).mean()
    assert missing_2017 > 0.5  # most 2017 casualties have no home value: the page must say so
    assert table.loc[(2017, MISSING), "share_pct"] == pytest.approx(100 * missing_2017)


@pytest.mark.data
def test_page_shows_the_new_tables_with_their_caveats(tables, written, raw):
    page = tables_of(written / "index.html")
    html = (written / "index.html").read_text(encoding="utf-8")
    for level, table_id in (("csp", "rates-1"), ("lad", "rates-2")):
        header, *rows = page[table_id]
        table = tables[f"casualty_rates_{level}"]
        assert len(rows) == len(table)
        for row, expected in zip(rows, table.itertuples(), strict=True):
            assert row[header.index("Area")] == expected.area_name
            assert row[header.index("Per 100,000")] == f"{expected.casualties_per_100k:,.1f}"
            assert row[header.index("KSI per 100,000")] == f"{expected.ksi_per_100k:,.1f}"
            assert row[header.index("Population estimate")] == "mid-2018"
        csv = pd.read_csv(written / f"casualty_rates_{level}.csv", encoding="utf-8-sig")
        assert np.allclose(csv["casualties_per_100k"], table["casualties_per_100k"])
    caveats = html.split('id="rates-1"', 1)[1].split("<table", 1)[0]
    assert "not casualties who live there" in caveats
    assert "mid-2018 estimates for 2015 and 2017" in caveats and "mid-2015" in caveats
    header, *rows = page["csp-road-user"]
    assert header[:2] == ["CSP", "Road user"] and "2017 KSI" in header
    assert len(rows) == (tables["casualties_by_csp_road_user"]["area"] != "(not placed in an "
                         "area)").sum() / 2  # fmt: skip
    missing = 100 * (raw.loc[raw["year"] == 2017, "imd_decile"] == -1).mean()
    warning = html.split('id="home-1-missing"', 1)[1].split("</p>", 1)[0]
    assert f"{missing:.1f}% in 2017" in warning and "read that year with care" in warning
    decile_rows = page["home-1"][1:]
    assert decile_rows[0][0] == "Most deprived 10%" and decile_rows[-1][0] == MISSING
    assert decile_rows[-1][3].endswith("% of all)")
    assert "anywhere in England" in html.split('id="home-1"', 1)[1].split("<table", 1)[0]
    for name in ("casualties_by_csp_road_user", "casualties_by_home_imd_decile",
                 "casualties_by_home_area_type"):  # fmt: skip
        csv = pd.read_csv(written / f"{name}.csv", encoding="utf-8-sig")
        assert len(csv) == len(tables[name])
        assert csv["casualties"].sum() == tables[name]["casualties"].sum()


@pytest.mark.data
@pytest.mark.browser
def test_road_safety_page_in_a_browser(tables, written, raw, browser):
    with browser_support.open_page(written / "index.html", wait_for="#rates-1",
                                   browser=browser) as session:  # fmt: skip
        page = session.page
        road_users = tables["casualties_by_csp_road_user"]
        expected = {
            "rates-1": len(tables["casualty_rates_csp"]),
            "rates-2": len(tables["casualty_rates_lad"]),
            "csp-road-user": (road_users["area"] != "(not placed in an area)").sum() // 2,
            "home-1": tables["casualties_by_home_imd_decile"]["home_imd_decile"].nunique(),
            "home-2": tables["casualties_by_home_area_type"]["home_area_type"].nunique(),
        }
        for table_id, rows in expected.items():
            table = page.locator(f"#{table_id}")
            assert table.is_visible(), table_id
            assert table.locator("caption").inner_text(), table_id
            assert table.locator("tbody tr").count() == rows, table_id
        assert page.locator("table:not(:has(caption))").count() == 0
        assert page.locator("th:not([scope])").count() == 0
        missing = 100 * (raw.loc[raw["year"] == 2017, "imd_decile"] == -1).mean()
        warning = page.locator("#home-1-missing")
        assert warning.is_visible() and f"{missing:.1f}% in 2017" in warning.inner_text()
        page.get_by_role("link", name="By the deprivation decile of their home").click()
        assert page.evaluate("() => location.hash") == "#home-1"
        assert session.errors == [] and session.unexpected == []
