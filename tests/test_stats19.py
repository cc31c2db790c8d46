"""STATS19 reader (psa_geo.stats19) and casualty tables (psa_geo.casualties) on the real data."""

import csv
import datetime
import gzip

import numpy as np
import pandas as pd
import pytest
from geopandas.testing import assert_geodataframe_equal

import psa_geo
from psa_geo import stats19
from psa_geo.casualties import (
    ADJUSTED_MEASURES,
    NOT_PLACED,
    casualties_by_area,
    casualty_table,
    road_user,
    severity_counts,
)
from psa_geo.stats19 import link_casualties, read_stats19

pytestmark = pytest.mark.data

COLLISIONS = "stats19_accidents_devon_cornwall_pf50_2015_2017.csv.gz"
CASUALTIES = "stats19_casualties_devon_cornwall_pf50_2015_2019.csv.gz"
VEHICLES = "stats19_vehicles_devon_cornwall_pf50_2015_2019.csv.gz"
# PROVENANCE.md section 23, checked against the Peninsula Strategic Assessment.
PUBLISHED = {2017: (63, 807, 4135), 2018: (59, 794, 3901)}

# DfT's own names in its 2021-2023 files (lower case, accident_*) for the older capitalised
# ones; the names not listed here are simply lower-cased.
LOWER_CASE = {
    "Accident_Index": "accident_index",
    "Accident_Severity": "accident_severity",
    "Local_Authority_(District)": "local_authority_district",
    "Local_Authority_(Highway)": "local_authority_highway",
    "1st_Road_Class": "first_road_class",
    "1st_Road_Number": "first_road_number",
    "2nd_Road_Class": "second_road_class",
    "2nd_Road_Number": "second_road_number",
    "Pedestrian_Crossing-Human_Control": "pedestrian_crossing_human_control",
    "Pedestrian_Crossing-Physical_Facilities": "pedestrian_crossing_physical_facilities",
    "Vehicle_Location-Restricted_Lane": "vehicle_location_restricted_lane",
    "1st_Point_of_Impact": "first_point_of_impact",
    "Was_Vehicle_Left_Hand_Drive?": "vehicle_left_hand_drive",
    "Engine_Capacity_(CC)": "engine_capacity_cc",
}
# DfT's current (2024 on) names for the accident_* ones.
CURRENT = {
    "accident_index": "collision_index",
    "accident_year": "collision_year",
    "accident_reference": "collision_ref_no",
    "accident_severity": "collision_severity",
}


@pytest.fixture(scope="module")
def paths(mirror):
    folder = mirror / "collisions"
    files = {"collisions": COLLISIONS, "casualties": CASUALTIES, "vehicles": VEHICLES}
    return {name: folder / file for name, file in files.items()}


@pytest.fixture(scope="module")
def raw(paths):
    """The files as plain strings, read without psa_geo, for independent expectations."""
    return {
        name: pd.read_csv(path, dtype=str, keep_default_na=False) for name, path in paths.items()
    }


@pytest.fixture(scope="module")
def collisions(paths):
    return read_stats19(paths["collisions"], table="collisions", return_report=True)


@pytest.fixture(scope="module")
def casualties(paths):
    return read_stats19(paths["casualties"], table="casualties", return_report=True)


def write_rows(path, header, rows):
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def head(raw_frame, n=40):
    return raw_frame.head(n).copy()


def to_file(path, frame):
    return write_rows(path, list(frame.columns), frame.to_numpy().tolist())


# --- the published figures ---------------------------------------------------------------


@pytest.mark.parametrize("year", sorted(PUBLISHED), ids=str)
def test_published_casualty_figures(casualties, year):
    counts = severity_counts(casualties[0]).set_index("year").loc[year]
    fatal, serious, slight = PUBLISHED[year]
    assert (counts["fatal"], counts["serious"], counts["slight"]) == (fatal, serious, slight)
    assert counts["ksi"] == fatal + serious
    table = casualty_table(casualties[0]).set_index(["measure", "year"])["casualties"]
    assert table[("KSI", year)] == fatal + serious
    assert table[("All casualties", year)] == fatal + serious + slight


def test_ksi_counts_casualties_not_collisions(casualties, collisions, raw):
    cas = raw["casualties"]
    year = cas["Accident_Index"].str[:4]
    ksi = severity_counts(casualties[0]).set_index("year")["ksi"]
    for y in (2015, 2017):
        expected = int((cas["Casualty_Severity"].isin(["1", "2"]) & (year == str(y))).sum())
        events = collisions[0]
        ksi_collisions = int(
            (events["category"].isin(["Fatal", "Serious"]) & (events["collision_year"] == y)).sum()
        )
        assert ksi[y] == expected
        assert ksi[y] != ksi_collisions


# --- reading -------------------------------------------------------------------------------


def test_collisions_are_canonical_events(collisions, raw):
    events, report = collisions
    psa_geo.validate_events(events)
    assert events.crs.to_epsg() == 27700
    assert report.rows_read == len(raw["collisions"]) == report.accepted
    assert not report.rejected
    assert events["event_id"].tolist() == raw["collisions"]["Accident_Index"].tolist()
    assert set(events["category"]) == {"Fatal", "Serious", "Slight"}
    assert (events["weight"] == 1).all() and (events["source"] == "stats19").all()
    assert (events["date_precision"] == "minute").all()
    first = raw["collisions"].iloc[0]
    assert events["date"].iloc[0] == pd.to_datetime(
        f"{first['Date']} {first['Time']}", format="%d/%m/%Y %H:%M"
    )
    x = pd.to_numeric(raw["collisions"]["Location_Easting_OSGR"]).to_numpy()
    np.testing.assert_allclose(events.geometry.x.to_numpy(), x)
    assert report.rows_by_year == {
        int(y): int(n)
        for y, n in raw["collisions"]["Accident_Index"].str[:4].value_counts().items()
    }
    assert "collision_year" in report.derived_columns


def test_report_check_and_dict(collisions, casualties):
    for _, report in (collisions, casualties):
        report.check()
        d = report.to_dict()
        assert d["rows_read"] == d["accepted"] + d["rejected_total"]
        assert d["schema"].startswith("capitalised")


def test_labels_from_the_data_guide(collisions, casualties, mirror):
    guide = pd.read_csv(mirror / "collisions" / "stats19_data_guide.csv", dtype=str)

    def labels(variable):
        rows = guide[guide["variable"] == variable]
        codes = pd.to_numeric(rows["code/format"], errors="coerce")
        known = codes.notna()
        return dict(zip(codes[known].astype(int), rows["label"][known], strict=True))

    events, cas = collisions[0], casualties[0]
    for frame, column, variable in (
        (cas, "casualty_severity", "casualty_severity"),
        (cas, "casualty_type", "casualty_type"),
        (cas, "police_force", "police_force"),
        (events, "collision_severity", "accident_severity"),
        (events, "first_road_class", "first_road_class"),
    ):
        coded = frame[column].notna()
        expected = frame.loc[coded, column].astype(int).map(labels(variable))
        assert (frame.loc[coded, f"{column}_label"] == expected).all(), column


def test_minus_one_codes_become_missing(collisions, casualties, raw):
    events, cas = collisions[0], casualties[0]
    minus_one = (raw["collisions"]["Junction_Control"] == "-1").to_numpy()
    assert minus_one.any()
    assert (events["junction_control"].isna().to_numpy() == minus_one).all()
    assert events.loc[minus_one, "junction_control_label"].isna().all()
    ages = (raw["casualties"]["Age_of_Casualty"] == "-1").to_numpy()
    assert ages.any() and (cas["age_of_casualty"].isna().to_numpy() == ages).all()
    assert cas["age_of_casualty"].min() >= 0


def test_year_and_force_from_the_index(casualties, raw):
    cas, report = casualties
    index = raw["casualties"]["Accident_Index"]
    assert cas["collision_year"].tolist() == index.str[:4].astype(int).tolist()
    assert cas["police_force"].tolist() == index.str[4:6].astype(int).tolist()
    assert report.derived_columns == ["collision_year", "police_force"]
    assert any("collision index" in note for note in report.notes)
    assert report.rows_by_year == index.str[:4].astype(int).value_counts().to_dict()


def test_every_casualty_and_vehicle_linked_or_reported(paths, casualties, collisions):
    vehicles = read_stats19(paths["vehicles"], table="vehicles")
    for table in (casualties[0], vehicles):
        linked = link_casualties(table, collisions[0]).set_index("collision_year")
        assert (linked["linked"] + linked["unlinked"] == linked["casualties"]).all()
        assert linked["casualties"].sum() == len(table)
        years_with_collisions = set(collisions[0]["collision_year"])
        for year, row in linked.iterrows():
            if year in years_with_collisions:
                assert row["unlinked"] == 0 and row["note"] == ""
            else:
                assert row["linked"] == 0 and f"no collision rows for {year}" in row["note"]
        assert (linked["collisions_without_casualties"] == 0).all()


# --- column-name vintages --------------------------------------------------------------


@pytest.mark.parametrize("table", ["collisions", "casualties", "vehicles"])
def test_every_vintage_reads_to_the_same_frame(tmp_path, raw, table):
    old = head(raw[table])
    lower = old.rename(columns=lambda c: LOWER_CASE.get(c, c.lower()))
    lower.insert(1, "accident_year", lower["accident_index"].str[:4])
    lower.insert(2, "accident_reference", lower["accident_index"].str[4:])
    current = lower.rename(columns=lambda c: CURRENT.get(c, c))
    frames = {}
    for name, frame in (("old", old), ("lower", lower), ("current", current)):
        path = to_file(tmp_path / f"{name}.csv", frame)
        out, report = read_stats19(path, table=table, return_report=True)
        frames[name] = out.drop(columns=["source_file", "collision_ref_no"], errors="ignore")
        assert report.accepted == len(old)
        assert ("collision_year" in report.derived_columns) == (name == "old")
    compare = assert_geodataframe_equal if table == "collisions" else pd.testing.assert_frame_equal
    compare(frames["lower"], frames["old"])
    compare(frames["current"], frames["old"])


def test_gzipped_and_several_files(tmp_path, raw):
    old = head(raw["casualties"], 20)
    a = to_file(tmp_path / "a.csv", old.iloc[:10])
    b = write_rows(tmp_path / "b.csv.gz", list(old.columns), old.iloc[10:].to_numpy().tolist())
    cas, report = read_stats19([a, b], table="casualties", return_report=True)
    assert len(cas) == report.rows_read == 20
    assert report.files == [str(a), str(b)]
    assert cas["source_row"].tolist() == list(range(2, 12)) * 2


# --- errors ----------------------------------------------------------------------------


def test_a_file_that_is_not_stats19(mirror):
    path = mirror / "crime" / "policeuk_street_devon_cornwall_2019.csv.gz"
    with pytest.raises(psa_geo.InputFileError, match="not a STATS19 casualties table") as err:
        read_stats19(path, table="casualties")
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_the_wrong_table(paths):
    with pytest.raises(psa_geo.InputFileError, match="missing columns collision_severity"):
        read_stats19(paths["casualties"], table="collisions")
    with pytest.raises(ValueError, match="'table' should be one of"):
        read_stats19(paths["casualties"], table="accidents")


def test_mixed_column_vintages_are_an_error(tmp_path, raw):
    old = head(raw["casualties"], 5)
    current = old.rename(columns=lambda c: CURRENT.get(LOWER_CASE.get(c, c.lower()), c.lower()))
    a, b = to_file(tmp_path / "old.csv", old), to_file(tmp_path / "new.csv", current)
    with pytest.raises(psa_geo.InputFileError, match="in its own call") as err:
        read_stats19([a, b], table="casualties")
    assert str(a) in str(err.value) and str(b) in str(err.value)
    assert "\n" not in str(err.value)


def test_mixed_columns_are_an_error(tmp_path, raw):
    old = head(raw["casualties"], 5)
    a = to_file(tmp_path / "a.csv", old)
    b = to_file(tmp_path / "b.csv", old.drop(columns="Casualty_IMD_Decile"))
    with pytest.raises(psa_geo.InputFileError, match="only there: casualty_imd_decile"):
        read_stats19([a, b], table="casualties")


# --- rows kept, rows rejected ------------------------------------------------------------


def test_missing_coordinates_are_kept_and_counted(tmp_path, raw):
    rows = head(raw["collisions"], 10)
    rows.loc[[1, 2], ["Location_Easting_OSGR", "Location_Northing_OSGR"]] = ""
    rows.loc[3, "Location_Easting_OSGR"] = "NULL"
    rows.loc[4, "Location_Northing_OSGR"] = "99999999"  # off the British National Grid
    path = to_file(tmp_path / "a.csv", rows)
    events, report = read_stats19(path, table="collisions", return_report=True)
    empty = events.geometry.is_empty.to_numpy()
    assert len(events) == 10 and empty.tolist() == [i in (1, 2, 3, 4) for i in range(10)]
    assert (report.located, report.without_location) == (6, 4)
    assert any("4 collisions have no usable easting/northing (2 blank" in n for n in report.notes)


def test_dates_without_time_or_unreadable_are_kept(tmp_path, raw):
    rows = head(raw["collisions"], 3)
    rows.loc[1, "Time"] = ""
    rows.loc[2, "Date"] = "31/02/2015"
    path = to_file(tmp_path / "a.csv", rows)
    events, report = read_stats19(path, table="collisions", return_report=True)
    assert events["date_precision"].tolist() == ["minute", "day", "year"]
    assert events["date"].iloc[1] == pd.to_datetime(rows.loc[1, "Date"], format="%d/%m/%Y")
    assert events["date"].iloc[2] == pd.Timestamp(f"{rows.loc[2, 'Accident_Index'][:4]}-01-01")
    assert report.accepted == 3 and len([n for n in report.notes if "date_precision" in n]) == 2


def test_unusable_rows_are_rejected_with_reasons(tmp_path, raw):
    rows = head(raw["casualties"], 6)
    rows.loc[1, "Accident_Index"] = ""
    rows.loc[2, "Casualty_Severity"] = "7"
    rows = pd.concat([rows, rows.iloc[[3]]], ignore_index=True)  # a repeated casualty
    path = to_file(tmp_path / "a.csv", rows)
    cas, report = read_stats19(path, table="casualties", return_report=True)
    assert report.rejected == {"missing_index": 1, "bad_severity": 1, "duplicate": 1}
    assert report.rows_read == 7 == report.accepted + 3 == len(cas) + 3
    assert report.rejected_rows["source_row"].tolist() == [3, 4, 8]


# --- casualty tables ---------------------------------------------------------------------


def test_road_users_add_up(casualties, raw):
    cas = casualties[0]
    users = road_user(cas)
    assert (users == "Pedestrian").sum() == (raw["casualties"]["Casualty_Type"] == "0").sum()
    assert not users.isna().any()
    by_user = severity_counts(cas, by="road_user").groupby("year")[["fatal", "ksi"]].sum()
    total = severity_counts(cas).set_index("year")[["fatal", "ksi"]]
    pd.testing.assert_frame_equal(by_user, total, check_dtype=False)


def test_age_bands_in_code_order_and_complete(casualties):
    counts = severity_counts(casualties[0], by="age_band")
    bands = list(dict.fromkeys(counts["age_band"]))
    assert bands[0] == "0 - 5" and bands[1] == "6 - 10" and bands[-1] == "Unknown"
    assert len(counts) == len(bands) * counts["year"].nunique()
    total = severity_counts(casualties[0]).set_index("year")["all_casualties"]
    assert (counts.groupby("year")["all_casualties"].sum() == total).all()


def test_change_and_trend_and_the_crash_flag(casualties):
    table = casualty_table(casualties[0]).set_index(["measure", "year"])
    fatal = table.loc[("Fatal", 2018)]
    assert fatal["previous"] == table.loc[("Fatal", 2017), "casualties"]
    assert fatal["change_pct"] == pytest.approx(
        psa_geo.change_pct(fatal["casualties"], fatal["previous"])
    )
    assert fatal["trend"] == psa_geo.trend_arrow(fatal["casualties"], fatal["previous"])
    for measure in ("Serious", "Slight", "KSI"):
        row = table.loc[(measure, 2016)]
        assert not row["comparable"] and row["trend"] == "" and "CRASH" in row["note"]
        assert table.loc[(measure, 2017), "comparable"]
    assert table.loc[("Fatal", 2016), "comparable"]
    assert table.loc[("All casualties", 2016), "comparable"]
    assert not table.loc[("Fatal", 2015), "comparable"]  # no 2014 figures
    unflagged = casualty_table(casualties[0], injury_based_from=None)
    assert unflagged.set_index(["measure", "year"]).loc[("KSI", 2016), "comparable"]


def test_adjusted_severities_are_used_where_the_file_has_them(casualties):
    cas = casualties[0]
    rng = np.random.default_rng(1)
    serious = np.where(cas["casualty_severity"] == 2, 1.0, rng.uniform(0, 0.3, len(cas)))
    adjusted = cas.assign(
        casualty_adjusted_severity_serious=serious,
        casualty_adjusted_severity_slight=1 - serious,
    )
    table = casualty_table(adjusted).set_index(["measure", "year"])
    assert set(ADJUSTED_MEASURES) <= set(table.index.get_level_values("measure"))
    in_2016 = (cas["collision_year"] == 2016) & (cas["casualty_severity"] != 1)
    fatal_2016 = table.loc[("Fatal", 2016), "casualties"]
    assert table.loc[("KSI (adjusted)", 2016), "casualties"] == pytest.approx(
        fatal_2016 + serious[in_2016.to_numpy()].sum()
    )
    assert table.loc[("KSI (adjusted)", 2016), "comparable"]
    assert "adjusted rows" in table.loc[("KSI", 2016), "note"]


def test_casualties_by_csp_with_years_without_locations(casualties, collisions, areas):
    cas = casualties[0]
    assigned = psa_geo.assign_areas(collisions[0], areas)
    names = sorted(areas["csp_name"].unique())
    table = casualties_by_area(cas, assigned, areas=names)
    total = severity_counts(cas).set_index("year")
    located_years = set(collisions[0]["collision_year"])
    assert set(table["year"]) == set(cas["collision_year"]) > located_years
    for year, rows in table.groupby("year"):
        assert rows["area"].tolist() == [*names, NOT_PLACED]
        assert rows["casualties"].sum() == total.loc[year, "all_casualties"]
        assert rows["ksi"].sum() == total.loc[year, "ksi"]
        placed = rows[rows["area"] != NOT_PLACED]
        if year in located_years:
            assert placed["casualties"].notna().all() and (placed["note"] == "").all()
        else:
            assert placed["casualties"].isna().all()
            assert (rows["note"] == f"no collision locations for {year}: counted in the "
                    "force total only").all()  # fmt: skip


# --- values within reason, lines accounted for (issue 13) --------------------------------


def test_years_and_dates_outside_stats19_are_rejected(tmp_path, raw):
    rows = head(raw["collisions"], 6)
    rows.loc[1, "Accident_Index"] = "2999" + rows.loc[1, "Accident_Index"][4:]
    rows.loc[2, "Date"] = "01/01/2999"
    rows.loc[3, "Date"] = "31/12/1978"
    rows.loc[4, "Date"] = "16/06/2024"  # the day after "today"
    path = to_file(tmp_path / "a.csv", rows)
    events, report = read_stats19(
        path, table="collisions", return_report=True, today=datetime.date(2024, 6, 15)
    )
    assert report.rejected == {"bad_year": 1, "date_out_of_range": 3}
    assert report.rejected_rows["source_row"].tolist() == [3, 4, 5, 6]
    assert len(events) == 2 and set(events["collision_year"]) <= {2015, 2016, 2017}


def test_a_year_column_beyond_today_is_rejected(tmp_path, raw):
    rows = head(raw["casualties"], 4)
    rows.insert(1, "Accident_Year", rows["Accident_Index"].str[:4])
    rows.loc[2, "Accident_Year"] = "2999"
    path = to_file(tmp_path / "a.csv", rows)
    cas, report = read_stats19(path, table="casualties", return_report=True)
    assert report.rejected == {"bad_year": 1} and len(cas) == 3


@pytest.mark.parametrize(
    ("column", "value"),
    [("Speed_limit", "abc"), ("Number_of_Casualties", "1e308"), ("Number_of_Casualties", "inf"),
     ("Number_of_Vehicles", "-7"), ("Speed_limit", "2000000")],
    ids=["speed-abc", "casualties-1e308", "casualties-inf", "vehicles-negative", "speed-huge"],
)  # fmt: skip
def test_a_bad_code_or_count_rejects_its_row_not_the_file(tmp_path, raw, column, value):
    rows = head(raw["collisions"], 5)
    rows.loc[2, column] = value
    path = to_file(tmp_path / "a.csv", rows)
    events, report = read_stats19(path, table="collisions", return_report=True)
    assert report.rejected == {"bad_number": 1}
    assert report.rejected_rows["source_row"].tolist() == [4]
    name = stats19.canonical_name(column, "collisions")
    assert str(events[name].dtype) == "Int64"
    assert any(name in note and "bad_number" in note for note in report.notes)


def test_a_header_only_file_is_one_line(tmp_path, raw):
    path = to_file(tmp_path / "cas.csv", head(raw["casualties"], 0))
    with pytest.raises(psa_geo.InputFileError, match="header but no rows") as info:
        read_stats19(path, table="casualties")
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)
    rows = head(raw["casualties"], 2)
    rows["Casualty_Severity"] = "9"
    with pytest.raises(psa_geo.InputFileError, match=r"no usable STATS19 casualties rows \(2 bad"):
        read_stats19(to_file(tmp_path / "bad.csv", rows), table="casualties")


def test_blank_lines_and_line_breaks_in_stats19(tmp_path, raw):
    rows = head(raw["collisions"], 4)
    rows.loc[1, "Time"] = "10:\n45"
    path = to_file(tmp_path / "a.csv", rows)
    text = path.read_text(encoding="utf-8").replace("\r\n", "\n")
    lines = text.splitlines(keepends=True)
    path.write_text("".join([*lines[:2], "\n", *lines[2:]]), encoding="utf-8", newline="")
    events, report = read_stats19(path, table="collisions", return_report=True)
    assert events["source_row"].tolist() == [2, 6, 7]
    assert report.rejected == {"line_break_in_field": 1}
    assert report.rejected_rows["source_row"].tolist() == [4]
    assert (report.lines_read, report.blank_lines) == (7, 1)
    report.check()
