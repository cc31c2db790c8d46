"""The road-safety section on the real STATS19 data: tables, page, map and command."""

from __future__ import annotations

import re
from types import SimpleNamespace

import browser_support
import pandas as pd
import pytest
from conftest import run_cli
from test_profiles import tables_of

import psa_geo
from psa_geo.road_safety import _popup, load_road_safety, road_safety_tables, write_road_safety


@pytest.fixture(scope="module")
def road_safety(mirror, areas):
    return load_road_safety(mirror, areas)


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


@pytest.mark.data
@pytest.mark.browser
def test_collision_map_in_a_browser(road_safety, written):
    browser_support.require_browser()
    located = road_safety.collisions[~road_safety.collisions.geometry.is_empty]
    per_year = located.groupby("collision_year").size()
    casualties = road_safety.casualties
    ksi = casualties[casualties["casualty_severity_label"].isin(["Fatal", "Serious"])]
    ksi_collisions = located["collision_index"].isin(ksi["collision_index"]).sum()
    with browser_support.open_page(written / "collision_map.html") as session:
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
def test_collisions_command(mirror, tmp_path):
    result = run_cli("collisions", "--data-dir", mirror, "--out", tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "collisions" / "collision_map.html").is_file()
    assert (tmp_path / "collisions" / "casualties_peninsula.csv").is_file()


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
