"""read_points (needle finds, rough-sleeping reports, bins, own sources) and point counts."""

import csv
from datetime import date
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import csv_line, make_events, write_lines
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import psa_geo
from psa_geo.errors import InputFileError, PsaGeoError
from psa_geo.point_counts import NOT_PLACED, finds_near_bins, report_counts
from psa_geo.points import (
    FIXES,
    REJECT_REASONS,
    SYNTHETIC_STAMP,
    is_synthetic,
    parse_points_option,
    read_points,
)

FINDS = ["date", "time", "longitude", "latitude", "easting", "northing", "items", "reported_by",
         "collected", "notes"]  # fmt: skip
# Penzance, Market Jew Street: (147,430, 30,432) on the grid, (-5.534661, 50.120106) in WGS84.
E, N = "147430", "30432"
LON, LAT = "-5.534661", "50.120106"


def find(date="2019-06-01", time="", lon="", lat="", east=E, north=N, items="1",
         reported_by="Outreach team", collected="yes", notes=""):  # fmt: skip
    return [date, time, lon, lat, east, north, items, reported_by, collected, notes]


def write_csv(path, rows, header=FINDS, encoding="utf-8"):
    with path.open("w", newline="", encoding=encoding) as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def read(tmp_path, rows, header=FINDS, source="drug_litter", **options):
    path = write_csv(tmp_path / "finds.csv", rows, header)
    events, report = read_points(path, source=source, return_report=True, **options)
    report.check()
    return events, report


def xy(events, i=0):
    point = events.geometry.iloc[i]
    return point.x, point.y


def test_canonical_events_from_a_drug_litter_file(tmp_path):
    rows = [
        find(date="2019-06-01", time="14:30", items="3", reported_by="Member of the public"),
        find(date="02/07/2019", items="", reported_by="Council staff", collected="No"),
        find(date="03/07/2019 00:00", reported_by="PCSO Smith", collected=""),
        find(date="2019-07-04 09:15", reported_by="my neighbour", collected="Y"),
        find(date="2019-07-05", reported_by=""),
    ]
    events, report = read(tmp_path, rows)
    psa_geo.validate_events(events)
    assert events.crs.to_epsg() == 27700
    assert events["source"].eq("drug_litter").all()
    assert events["category"].eq("needle_find").all()
    assert events["event_id"].tolist() == [f"finds.csv:{i}" for i in range(2, 7)]
    assert events["date"].iloc[0] == pd.Timestamp("2019-06-01 14:30")
    assert events["date_precision"].tolist() == ["minute", "day", "day", "minute", "day"]
    assert events["date"].iloc[1] == pd.Timestamp("2019-07-02")  # day first, never month first
    assert events["weight"].tolist() == [3, 1, 1, 1, 1]
    assert events["reported_by"].tolist() == ["public", "council", "police", "other", "unknown"]
    assert events["collected"].tolist()[:2] == [True, False]
    assert pd.isna(events["collected"].iloc[2])
    assert xy(events) == (147430, 30432)
    assert not events["sensitive"].any() and not events.attrs["sensitive"]
    assert not is_synthetic(events)
    assert any("no items count" in note for note in report.notes)
    assert report.rows_read == report.accepted == report.located == 5
    assert report.months == ["2019-06", "2019-07"]


@pytest.mark.parametrize(
    "row, reason",
    [
        (find(date=""), "missing_date"),
        (find(date="2019-02-30"), "bad_date"),
        (find(date="06/31/2019"), "bad_date"),
        (find(date="1 June 2019"), "bad_date"),
        (find(date="01/06/19"), "bad_date"),
        (find(date="2099-01-01"), "future_date"),
        (find(east="147430", north=""), "partial_coordinates"),
        (find(east="", north="", lon="-5.5"), "partial_coordinates"),
        (find(east="147430m", north="30432"), "non_numeric_coordinates"),
        (find(east="", north="", lon="20.5", lat="10.1"), "outside_great_britain"),
        (find(east="9999999", north="5"), "outside_great_britain"),
        (find(items="0"), "bad_items"),
        (find(items="1.5"), "bad_items"),
        (find(items="two"), "bad_items"),
        (find(items="1e308"), "bad_items"),
        (find(items="inf"), "bad_items"),
        (find(items="-1"), "bad_items"),
        (find(items="10001"), "bad_items"),
        (find(date="1999-12-31"), "early_date"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_unusable_rows_are_rejected_with_a_reason(tmp_path, row, reason):
    events, report = read(tmp_path, [find(), row, find()])
    assert len(events) == 2
    assert report.rejected == {reason: 1}
    assert reason in REJECT_REASONS
    rejected = report.rejected_rows
    assert rejected["reason"].tolist() == [reason]
    assert rejected["source_row"].tolist() == [3]
    assert rejected["date"].tolist() == [row[0]]  # the row as the file gave it


def test_rows_without_coordinates_are_kept_without_location(tmp_path):
    events, report = read(tmp_path, [find(east="", north=""), find()])
    assert events.geometry.is_empty.tolist() == [True, False]
    assert (report.located, report.without_location) == (1, 1)


@pytest.mark.parametrize(
    "row, fix",
    [
        (find(east="", north="", lon=LAT, lat=LON), "swapped_lat_lon"),
        (find(east="", north="", lon=E, lat=N), "grid_in_lonlat_columns"),
        (find(east=LON, north=LAT), "lonlat_in_grid_columns"),
        (find(east=LAT, north=LON), "lonlat_in_grid_columns"),
        (find(east="830432", north="147430"), "swapped_easting_northing"),  # easting > 700 km
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_location_mistakes_are_fixed_and_counted(tmp_path, row, fix):
    events, report = read(tmp_path, [find(east="", north="", lon=LON, lat=LAT), row])
    assert report.fixed == {fix: 1} and fix in FIXES
    assert events["location_fix"].tolist() == [None, fix]
    assert not report.rejected
    if fix != "swapped_easting_northing":
        assert np.allclose(xy(events, 1), xy(events, 0), atol=5)
        assert np.allclose(xy(events, 0), (147430, 30432), atol=1)
    assert any(FIXES[fix] in note for note in report.notes)


def test_swapped_grid_columns_need_the_area_when_both_readings_are_in_britain(tmp_path, areas):
    rows = [find(east=N, north=E)]  # (30,432, 147,430): the sea off Pembrokeshire
    events, report = read(tmp_path, rows)
    assert xy(events) == (30432, 147430) and not report.fixed
    events, report = read(tmp_path, rows, area=areas)
    assert xy(events) == (147430, 30432)
    assert report.fixed == {"swapped_easting_northing": 1}
    assert report.outside_area == 0


def test_points_outside_the_area_are_kept_and_flagged(tmp_path, areas):
    bristol = find(east="358800", north="172900")
    events, report = read(tmp_path, [find(), bristol, find(east="", north="")], area=areas)
    assert events["outside_area"].tolist() == [False, True, False]
    assert report.outside_area == 1 and report.accepted == 3
    assert any("outside the study area" in note for note in report.notes)
    placed = psa_geo.assign_areas(events, areas)
    assert placed["area_status"].tolist() == ["inside", "outside", "no_location"]


def test_area_without_crs_is_refused(tmp_path, areas):
    with pytest.raises(PsaGeoError, match="EPSG:27700"):
        read(tmp_path, [find()], area=areas.to_crs("EPSG:4326"))


@pytest.mark.parametrize(
    "header, missing",
    [
        (["time", "easting", "northing"], "date"),
        (["date", "easting", "latitude"], "longitude/latitude or easting/northing"),
        (["date", "x", "y"], "longitude/latitude or easting/northing"),
    ],
)
def test_missing_columns_give_one_line_naming_the_file(tmp_path, header, missing):
    path = write_csv(tmp_path / "council.csv", [["1"] * len(header)], header)
    with pytest.raises(InputFileError) as info:
        read_points(path, source="drug_litter")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path)) and f"missing columns {missing}" in message


def test_file_problems_are_named(tmp_path):
    with pytest.raises(InputFileError, match="no such file"):
        read_points(tmp_path / "nope.csv", source="drug_litter")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(InputFileError, match="empty"):
        read_points(tmp_path / "empty.csv", source="drug_litter")
    path = write_csv(tmp_path / "twice.csv", [], ["date", "lat", "Latitude", "lon"])
    with pytest.raises(InputFileError, match="both give latitude"):
        read_points(path, source="drug_litter")
    with pytest.raises(PsaGeoError, match="own reader"):
        read_points(path, source="police_uk")
    with pytest.raises(PsaGeoError, match="snake_case"):
        read_points(path, source="Needle Finds")


def test_headers_are_case_insensitive_with_aliases_and_windows_text(tmp_path):
    header = ["Date Found", "LAT", "Lon", "Quantity", "Reporter", "Location description"]
    path = write_csv(
        tmp_path / "excel.csv",
        [["05/08/2019", LAT, LON, "2", "Outreach", "Café doorway"]],
        header,
        encoding="cp1252",
    )
    events, report = read_points(path, source="drug_litter", return_report=True)
    assert events["weight"].tolist() == [2]
    assert events["reported_by"].tolist() == ["outreach"]
    assert events["location_description"].tolist() == ["Café doorway"]
    assert report.columns["latitude"] == "LAT"
    assert any("Windows-1252" in note for note in report.notes)


RS = ["date", "time", "easting", "northing", "people", "person_id", "notes", "Category"]


def test_rough_sleeping_is_sensitive_and_carries_no_free_text(tmp_path):
    rows = [
        ["2019-06-01", "06:10", E, N, "1", "RS001", "J. Smith, knows staff", "x"],
        ["2019-06-02", "", E, N, "2", "", "couple in doorway of no. 4", "y"],
        ["bad", "", E, N, "1", "RS001", "told us his name", "z"],
    ]
    events, report = read(tmp_path, rows, RS, source="rough_sleeping")
    assert events["category"].eq("rough_sleeper_report").all()
    assert events["weight"].tolist() == [1, 2]
    assert events["person_id"].tolist() == ["RS001", None]
    assert events["sensitive"].all() and events.attrs["sensitive"] and report.sensitive
    assert report.dropped_columns == ["notes", "Category"]
    for frame in (events, report.rejected_rows):
        text = [str(cell) for cell in frame.to_numpy().ravel()]
        assert not any("name" in cell or "Smith" in cell or "doorway" in cell for cell in text)
    assert "notes" not in report.rejected_rows.columns
    with pytest.raises(PsaGeoError, match="always sensitive"):
        read(tmp_path, rows, RS, source="rough_sleeping", sensitive=False)


def test_any_source_can_be_marked_sensitive(tmp_path):
    rows = [find(notes="outside Flat 2", reported_by="Mrs Jones, resident"), find(date="x")]
    events, report = read(tmp_path, rows, sensitive=True)
    assert "notes" not in events and report.dropped_columns == ["notes"]
    assert events["reported_by"].tolist() == ["public"]
    assert report.rejected_rows["reported_by"].tolist() == ["outreach"]  # normalised, no name
    events, _ = read(tmp_path, rows)
    assert events["notes"].tolist() == ["outside Flat 2"]  # not sensitive: kept


def test_own_source_with_category_and_weight(tmp_path):
    header = ["date", "easting", "northing", "category", "weight", "source"]
    rows = [["2019-01-02", E, N, "graffiti", "2.5", "app"], ["2019-01-03", E, N, "", "", "app"],
            ["2019-01-04", E, N, "", "-1", "app"]]  # fmt: skip
    events, report = read(tmp_path, rows, header, source="street_issues")
    assert events["source"].eq("street_issues").all()
    assert events["category"].tolist() == ["graffiti", "street_issues"]
    assert events["weight"].tolist() == [2.5, 1.0]
    assert events["file_source"].tolist() == ["app", "app"]  # a taken name gets file_
    assert report.rejected == {"bad_weight": 1}


def test_needle_bins_need_no_date(tmp_path):
    header = ["bin_id", "site", "easting", "northing"]
    events, _ = read(tmp_path, [["B1", "Library", E, N]], header, source="needle_bins")
    assert events["category"].tolist() == ["needle_bin"]
    assert events["date"].isna().all() and events["bin_id"].tolist() == ["B1"]


def test_synthetic_stamp_is_carried_and_never_mixed_with_real_files(tmp_path):
    header = ["synthetic", *FINDS]
    fake = write_csv(tmp_path / "fake.csv", [[SYNTHETIC_STAMP, *find()]], header)
    events, report = read_points(fake, source="drug_litter", return_report=True)
    assert events.attrs["synthetic"] and events["synthetic"].all() and report.synthetic
    assert is_synthetic(events) and is_synthetic(pd.concat([make_events([(0, 0)]), events]))
    real = write_csv(tmp_path / "real.csv", [find()])
    with pytest.raises(InputFileError, match="together with real data"):
        read_points([real, fake], source="drug_litter")
    mixed = write_csv(tmp_path / "mixed.csv", [[SYNTHETIC_STAMP, *find()], ["", *find()]], header)
    with pytest.raises(InputFileError, match="never mixes"):
        read_points(mixed, source="drug_litter")


def test_several_files_and_folders(tmp_path):
    (tmp_path / "in").mkdir()
    write_csv(tmp_path / "in" / "a.csv", [find(), find()])
    write_csv(tmp_path / "in" / "b.csv", [find(date="x")])
    events, report = read_points(tmp_path / "in", source="drug_litter", return_report=True)
    assert events["event_id"].tolist() == ["a.csv:2", "a.csv:3"]
    assert report.rows_read == 3 and report.rejected == {"bad_date": 1}
    assert len(report.files) == 2


def test_parse_points_option():
    assert parse_points_option("drug_litter=data/finds.csv") == (
        "drug_litter",
        Path("data/finds.csv"),
    )
    with pytest.raises(PsaGeoError, match="SOURCE=FILE"):
        parse_points_option("finds.csv")
    with pytest.raises(PsaGeoError, match="at most 40 characters"):
        parse_points_option("a" * 41 + "=finds.csv")
    with pytest.raises(PsaGeoError, match="snake_case"):
        parse_points_option("../x=finds.csv")


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    day=st.dates(min_value=date(2010, 1, 1), max_value=date(2024, 12, 31)),
    minute=st.one_of(st.none(), st.integers(0, 24 * 60 - 1)),
    uk_date=st.booleans(),
    east=st.integers(85_000, 335_000),
    north=st.integers(10_000, 145_000),
    as_lonlat=st.booleans(),
    items=st.integers(1, 500),
    who=st.sampled_from(["public", "outreach", "council", "police"]),
    collected=st.booleans(),
)  # fmt: skip
def test_any_documented_row_round_trips(tmp_path, day, minute, uk_date, east, north, as_lonlat,
                                        items, who, collected):  # fmt: skip
    lon, lat = psa_geo.events.to_national_grid().transform(east, north, direction="INVERSE")
    row = find(
        date=day.strftime("%d/%m/%Y" if uk_date else "%Y-%m-%d"),
        time="" if minute is None else f"{minute // 60:02d}:{minute % 60:02d}",
        lon=f"{lon:.6f}" if as_lonlat else "",
        lat=f"{lat:.6f}" if as_lonlat else "",
        east="" if as_lonlat else str(east),
        north="" if as_lonlat else str(north),
        items=str(items),
        reported_by=who.upper(),
        collected="yes" if collected else "no",
    )
    events, report = read(tmp_path, [row])
    assert report.accepted == 1 and not report.fixed
    expected = pd.Timestamp(day) + pd.Timedelta(minutes=minute or 0)
    assert events["date"].iloc[0] == expected
    assert events["date_precision"].iloc[0] == ("day" if minute is None else "minute")
    assert events["weight"].iloc[0] == items and events["reported_by"].iloc[0] == who
    assert bool(events["collected"].iloc[0]) is collected
    assert np.allclose(xy(events), (east, north), atol=0.5)


def rough_events(tiny_areas):
    """Five reports in the tiny areas: A twice by p1, B by p1 and p2, one without an id."""
    events = make_events(
        [(50, 50), (60, 50), (150, 50), (160, 50), (250, 50), None],
        dates=["2019-01-05", "2019-01-20", "2019-01-21", "2019-02-02", "2019-02-03", "2019-02-04"],
    )
    events["source"] = "rough_sleeping"
    events["category"] = "rough_sleeper_report"
    events["weight"] = [1, 1, 2, 1, 1, 1]
    events["person_id"] = ["p1", "p1", "p1", "p2", None, "p3"]
    return psa_geo.assign_areas(events, tiny_areas)


def test_report_counts_by_area_and_period(tiny_areas):
    table = report_counts(rough_events(tiny_areas), tiny_areas, level="lsoa", period="month")
    assert list(table.columns) == [
        "area_code", "area_name", "period", "period_start", "reports",
        "people", "distinct_people", "reports_without_person_id",
    ]  # fmt: skip
    got = table.set_index(["area_name", "period"])
    assert got.loc[("Town 001B", "2019-01"), ["reports", "people", "distinct_people"]].tolist() == [
        2, 2, 1]  # fmt: skip
    assert got.loc[("Town 001A", "2019-01"), "distinct_people"] == 1
    assert got.loc[("Town 001A", "2019-02"), "distinct_people"] == 1
    assert got.loc[("Town 001B", "2019-02"), "reports"] == 0  # every area, every month
    assert got.loc[("Village 001C", "2019-02"), "reports_without_person_id"] == 1
    assert got.loc[(NOT_PLACED, "2019-02"), "reports"] == 1
    assert table["reports"].sum() == 6 and table["people"].sum() == 7
    assert len(table) == 3 * 2 + 1


def test_distinct_people_do_not_add_up_across_areas(tiny_areas):
    events = rough_events(tiny_areas)
    by_lad = report_counts(events, tiny_areas, level="lad", period="year")
    assert by_lad.set_index("area_name").loc["Townshire", "distinct_people"] == 2
    whole = report_counts(events, level="peninsula", period="year")
    assert whole["distinct_people"].tolist() == [2, 1]  # p1, p2 placed; p3 has no location
    assert whole["area_name"].tolist() == ["Peninsula (Devon & Cornwall)", NOT_PLACED]


def test_report_counts_checks_its_inputs(tiny_areas):
    events = rough_events(tiny_areas)
    with pytest.raises(PsaGeoError, match="'period'"):
        report_counts(events, period="week")
    with pytest.raises(PsaGeoError, match="assign_towns"):
        report_counts(events, level="town")
    with pytest.raises(PsaGeoError, match="assign_areas"):
        report_counts(make_events([(1, 1)]), level="lsoa")


def test_finds_near_bins_match_brute_force():
    rng = np.random.default_rng(3)
    find_xy = rng.uniform(0, 2000, size=(300, 2))
    bin_xy = rng.uniform(0, 2000, size=(6, 2))
    finds = make_events([tuple(p) for p in find_xy] + [None])
    finds["weight"] = rng.integers(1, 5, size=len(finds))
    bins = gpd.GeoDataFrame({"bin_id": [f"B{i}" for i in range(6)]},
                            geometry=shapely.points(bin_xy), crs="EPSG:27700")  # fmt: skip
    result = finds_near_bins(finds, bins, distance_m=250)
    dist = np.hypot(*(find_xy[:, None, :] - bin_xy[None, :, :]).transpose(2, 0, 1))
    nearest, within = dist.argmin(axis=1), dist.min(axis=1) <= 250
    weights = finds["weight"].to_numpy()[:-1]
    expected = [int((within & (nearest == b)).sum()) for b in range(6)]
    assert result.bins["finds_within"].tolist() == expected
    assert result.bins["items_within"].tolist() == [
        int(weights[within & (nearest == b)].sum()) for b in range(6)
    ]
    assert result.located == 300 and result.without_location == 1
    assert result.share_within_pct == pytest.approx(100 * within.mean())
    assert result.items_share_within_pct == pytest.approx(
        100 * weights[within].sum() / weights.sum()
    )
    assert len(result.uncovered) == int((~within).sum())
    assert result.bins["share_pct"].sum() == pytest.approx(result.share_within_pct)


def test_finds_near_bins_checks_its_inputs():
    finds = make_events([(0, 0)])
    bins = gpd.GeoDataFrame(geometry=[shapely.Point(0, 0)], crs="EPSG:4326")
    with pytest.raises(PsaGeoError, match="EPSG:27700"):
        finds_near_bins(finds, bins)
    with pytest.raises(PsaGeoError, match="distance_m"):
        finds_near_bins(finds, bins.set_crs("EPSG:27700", allow_override=True), distance_m=0)


@pytest.mark.parametrize("people", ["1e308", "inf", "-inf", "nan", "0", "-1", "501", "2.5"])
def test_people_beyond_reason_are_rejected(tmp_path, people):
    header = ["date", "easting", "northing", "people"]
    events, report = read(tmp_path, [["2019-06-01", E, N, "500"], ["2019-06-01", E, N, people]],
                          header, source="rough_sleeping")  # fmt: skip
    assert events["weight"].tolist() == [500]
    assert report.rejected == {"bad_people": 1}


def test_own_weights_must_be_finite_and_above_zero(tmp_path):
    header = ["date", "easting", "northing", "weight"]
    rows = [["2019-06-01", E, N, w] for w in ("0.5", "inf", "1e308", "0", "-2", "")]
    events, report = read(tmp_path, rows, header, source="own")
    assert events["weight"].tolist() == [0.5, 1e308, 1.0]
    assert report.rejected == {"bad_weight": 3}


def test_dates_are_checked_against_the_given_today(tmp_path):
    rows = [find(date="2024-06-15"), find(date="2024-06-16"), find(date="2024-06-17"),
            find(date="2000-01-01")]  # fmt: skip
    events, report = read(tmp_path, rows, today=date(2024, 6, 15))
    assert report.rejected == {"future_date": 1}  # a day's grace for clocks and time zones
    assert report.rejected_rows["source_row"].tolist() == [4]
    assert len(events) == 3


def test_blank_lines_and_line_breaks_keep_source_row_the_physical_line(tmp_path):
    path = write_lines(
        tmp_path / "finds.csv",
        [csv_line(FINDS), csv_line(find(notes="a note\nover\nthree lines")), "\n",
         csv_line(find(reported_by="Outreach\nteam")), "\r\n", csv_line(find(items="x")),
         csv_line(find())],
    )  # fmt: skip
    events, report = read_points(path, source="drug_litter", return_report=True)
    report.check()
    assert events["source_row"].tolist() == [2, 10]
    assert events["notes"].iloc[0] == "a note\nover\nthree lines"  # a column it only carries
    assert report.rejected == {"line_break_in_field": 1, "bad_items": 1}
    assert report.rejected_rows.set_index("reason")["source_row"].to_dict() == {
        "line_break_in_field": 6, "bad_items": 9}  # fmt: skip
    assert (report.lines_read, report.blank_lines, report.rows_read) == (10, 2, 4)
    assert report.to_dict()["lines_read"] == 10


@pytest.mark.parametrize("column", ["notes", "reported_by"])
def test_a_quote_left_open_over_rows_rejects_the_row_that_swallowed_them(tmp_path, column):
    at = FINDS.index(column)
    opened = find()
    opened[at] = "OPEN"
    closing = find()
    closing[at] = "CLOSE"
    lines = [csv_line(FINDS), csv_line(find()), csv_line(opened).replace("OPEN", '"open', 1),
             *[csv_line(find()) for _ in range(4)], csv_line(closing).replace("CLOSE", 'close"', 1),
             csv_line(find())]  # fmt: skip
    path = write_lines(tmp_path / "finds.csv", lines)
    events, report = read_points(path, source="drug_litter", return_report=True)
    report.check()
    assert events["source_row"].tolist() == [2, 9]
    assert report.rejected == {"unclosed_quote": 1}
    assert report.rejected_rows["source_row"].tolist() == [3]
    assert report.lines_read == 9 == report.header_lines + report.row_lines


def test_a_sensitive_source_drops_a_multi_line_column_and_still_counts_its_lines(tmp_path):
    header = ["date", "easting", "northing", "people", "notes"]
    lines = [csv_line(header), csv_line(["2019-06-01", E, N, "1", "a\nb"]),
             csv_line(["2019-06-02", E, N, "1", ""])]  # fmt: skip
    path = write_lines(tmp_path / "rs.csv", lines)
    events, report = read_points(path, source="rough_sleeping", return_report=True)
    assert events["source_row"].tolist() == [2, 4]
    assert report.lines_read == 4 and "notes" in report.dropped_columns
