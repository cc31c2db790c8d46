import csv
import datetime
import gc
import gzip
import io
import zipfile

import numpy as np
import pandas as pd
import pytest
from conftest import csv_line, write_lines

import psa_geo
from psa_geo import _fastcsv, police_uk
from psa_geo.police_uk import REQUIRED_COLUMNS

HEADER = [
    "Crime ID",
    "Month",
    "Reported by",
    "Falls within",
    "Longitude",
    "Latitude",
    "Location",
    "LSOA code",
    "LSOA name",
    "Crime type",
    "Last outcome category",
    "Context",
]
DC = "Devon & Cornwall Police"


def row(
    month="2019-01",
    lon="-4.142",
    lat="50.371",
    crime_id="c1",
    crime="Burglary",
    force=DC,
    lsoa="E01015077",
    location="On or near Park",
):
    return [crime_id, month, force, force, lon, lat, location, lsoa, "Plymouth 030D", crime, "", ""]


def write_csv(path, rows, header=HEADER):
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


ASB = row(crime_id="", crime="Anti-social behaviour")
ASB_FEB = row(month="2019-02", crime_id="", crime="Anti-social behaviour")


def test_identical_asb_rows_are_distinct_incidents(tmp_path):
    path = write_csv(tmp_path / "2019-01-devon-and-cornwall-street.csv", [ASB, ASB, ASB, row()])
    events, report = psa_geo.read_police_uk(path, return_report=True)
    assert len(events) == 4
    assert events["event_id"].is_unique
    assert (events["category"] == "Anti-social behaviour").sum() == 3
    assert events.loc[3, "event_id"] == "c1"
    assert report.rows_read == report.accepted == 4


def test_repeated_crime_ids_are_kept_with_unique_event_ids(tmp_path):
    path = write_csv(tmp_path / "a.csv", [row(), row(month="2019-02")])
    events, report = psa_geo.read_police_uk(path, return_report=True)
    assert events["event_id"].tolist() == ["c1", "c1#2"]
    assert events["crime_id"].tolist() == ["c1", "c1"]
    assert any("Crime ID" in note for note in report.notes)


def test_only_numbered_repeats_are_counted_not_crime_ids_holding_a_hash(tmp_path):
    path = write_csv(tmp_path / "a.csv", [row(crime_id="x#2"), row(), row(), row()])
    _, report = psa_geo.read_police_uk(path, return_report=True, use_cache=False)
    assert [note.split(":")[0] for note in report.notes if "repeat" in note] == [
        "2 rows repeat a Crime ID already read"
    ]


def test_canonical_columns_crs_and_dates(tmp_path):
    path = write_csv(tmp_path / "a.csv", [row(month="2019-03")])
    events = psa_geo.read_police_uk(path)
    psa_geo.validate_events(events)
    assert events.crs.to_epsg() == 27700
    assert str(events["date"].iloc[0].date()) == "2019-03-01"
    assert events["date_precision"].iloc[0] == "month"
    # Plymouth city centre is about (247,600, 54,400) on the British National Grid.
    x, y = events.geometry.iloc[0].x, events.geometry.iloc[0].y
    assert 246_000 < x < 249_000 and 53_000 < y < 56_000
    assert events["published_lsoa_code"].iloc[0] == "E01015077"


def test_rows_without_location_are_kept(tmp_path):
    no_loc = row(lon="", lat="", lsoa="", location="No Location")
    path = write_csv(tmp_path / "a.csv", [no_loc, row()])
    events, report = psa_geo.read_police_uk(path, return_report=True)
    assert len(events) == 2
    assert events.geometry.is_empty.tolist() == [True, False]
    assert (report.located, report.without_location) == (1, 1)


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (row(month="2019-13"), "bad_month"),
        (row(month="Jan 2019"), "bad_month"),
        (row(lon="west"), "non_numeric_coordinates"),
        (row(lon=""), "partial_coordinates"),
        (row(lon="2.35", lat="48.85"), "outside_great_britain"),
        (row(force="Atlantis Constabulary"), "unknown_force"),
        (row(crime=""), "missing_crime_type"),
    ],
    ids=["month13", "month-words", "lon-text", "lon-blank", "paris", "force", "no-type"],
)
def test_malformed_rows_are_rejected_with_a_reason(tmp_path, bad, reason):
    path = write_csv(tmp_path / "a.csv", [row(), bad])
    events, report = psa_geo.read_police_uk(path, return_report=True)
    assert len(events) == 1
    assert report.rejected == {reason: 1}
    rejected = report.rejected_rows
    assert rejected["reason"].tolist() == [reason]
    assert rejected["source_row"].tolist() == [3]  # line 3 of the file
    assert report.rows_read == report.accepted + 1


# Coordinates pyarrow reads as numbers (a plain file), each written its own way, some rejected.
PLAIN_COORDINATES = [("-4.142000", "50.371000"), (" -4.1", "50.3 "), ("-4.1e0", ".5e2"),
                     ("-4", "+50"), ("", ""), ("-4.142", ""), ("2.35", "48.85")]  # fmt: skip
# Coordinates that are not finite numbers: pandas reads the file.
ODD_COORDINATES = [("west", "50.3"), ("nan", "50.3"), ("-inf", "50.3"), ("  ", "  ")]


@pytest.mark.parametrize("odd", [None, *ODD_COORDINATES])
def test_coordinates_read_as_numbers_give_what_pandas_reading_the_text_gives(
    tmp_path, monkeypatch, odd
):
    pairs = PLAIN_COORDINATES if odd is None else [*PLAIN_COORDINATES, odd]
    rows = [row(crime_id=f"c{i}", lon=lon, lat=lat) for i, (lon, lat) in enumerate(pairs)]
    rows.append(row(crime_id="m", month="2019-13", lon="-4.100000"))
    path = write_csv(tmp_path / "a.csv", rows)
    read_plain, plain = _fastcsv.read_plain, []

    def spied(*args, **kwargs):
        plain.append(read_plain(*args, **kwargs))
        return plain[-1]

    monkeypatch.setattr(_fastcsv, "read_plain", spied)
    fast, fast_report = psa_geo.read_police_uk(path, return_report=True, use_cache=False)
    assert bool(plain) == (odd is None)  # pyarrow read the file only if it was plain
    if plain:
        assert plain[0]["Longitude"].dtype == "float64"

    def not_plain(*args, **kwargs):
        raise _fastcsv.NotPlain("as if")

    monkeypatch.setattr(_fastcsv, "read_plain", not_plain)
    text, text_report = psa_geo.read_police_uk(path, return_report=True, use_cache=False)
    pd.testing.assert_frame_equal(fast, text)
    assert fast_report.to_dict() == text_report.to_dict()
    pd.testing.assert_frame_equal(fast_report.rejected_rows, text_report.rejected_rows)
    rejected = fast_report.rejected_rows.set_index("source_row")
    assert rejected.loc[len(rows) + 1, "Longitude"] == "-4.100000"  # as written
    assert rejected.loc[7, "reason"] == "partial_coordinates"  # ("-4.142", "")
    assert rejected.loc[8, "reason"] == "outside_great_britain"  # Paris


def test_a_file_pyarrow_reads_and_one_pandas_reads_join(tmp_path):
    plain = write_csv(tmp_path / "a.csv", [row(crime_id="a"), row(crime_id="b", lon="", lat="")])
    park = 'On or near "The" Park'  # quoted: pandas reads the file
    february = [row(crime_id="c", location=park), row(crime_id="d", lon="", lat="")]
    for line in february:
        line[1] = "2019-02"
    quoted = write_csv(tmp_path / "b.csv", february)
    events = psa_geo.read_police_uk([plain, quoted], use_cache=False)
    assert events["event_id"].tolist() == ["a", "b", "c", "d"]
    assert events.geometry.is_empty.tolist() == [False, True, False, True]
    assert events.geometry.iloc[0].equals(events.geometry.iloc[2])


def test_coordinate_pairs_that_share_a_mix_of_bits_are_told_apart():
    mix = police_uk._PAIR_MIX
    lon = np.array([-4.1, -4.2, -4.1, -4.2, np.nan])
    lat = np.array([50.3, 0.0, 50.3, 50.3, np.nan])
    lat[1:2] = (
        lon[:1].view(np.uint64) * mix ^ lat[:1].view(np.uint64) ^ lon[1:2].view(np.uint64) * mix
    ).view(np.float64)
    mixed = lon.view(np.uint64) * mix ^ lat.view(np.uint64)
    assert mixed[0] == mixed[1] and mixed[0] != mixed[3]  # rows 0 and 1 share a mix
    which, first = police_uk._pairs(lon, lat)
    assert which.tolist() == [0, 1, 0, 2, 3]
    assert first.tolist() == [0, 1, 3, 4]
    points, located = police_uk._points(lon, lat)
    assert located.tolist() == [True, True, True, True, False]
    assert points[0] is points[2] and points[4].is_empty
    x, y = police_uk.to_national_grid().transform(lon[:4], lat[:4])
    assert [(p.x, p.y) for p in points[:4]] == list(zip(x, y, strict=True))  # each its own


def test_the_garbage_collector_is_left_as_it_was(tmp_path):
    path = write_csv(tmp_path / "a.csv", [row()])
    psa_geo.read_police_uk(path, use_cache=False)  # the collector is paused to make points
    assert gc.isenabled()
    gc.disable()
    try:
        psa_geo.read_police_uk(path, use_cache=False)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_overlapping_files_are_read_once_and_reported(tmp_path):
    first = write_csv(tmp_path / "one.csv", [row(month="2019-01"), row(month="2019-02")])
    second = write_csv(tmp_path / "two.csv", [row(month="2019-02"), row(month="2019-03")])
    events, report = psa_geo.read_police_uk([first, second], return_report=True)
    assert sorted(events["month"]) == ["2019-01", "2019-02", "2019-03"]
    assert report.rejected == {"overlapping_file": 1}
    assert report.overlaps == [
        {
            "force": DC,
            "month": "2019-02",
            "file": str(second),
            "first_file": str(first),
            "rows_skipped": 1,
        }
    ]


def test_folder_gzip_and_zip_layouts(tmp_path):
    folder = tmp_path / "download"
    write_csv(folder / "2019-01" / "2019-01-devon-and-cornwall-street.csv", [row("2019-01")])
    write_csv(
        folder / "2019-02" / "2019-02-devon-and-cornwall-street.csv", [row("2019-02"), ASB_FEB]
    )
    write_csv(folder / "2019-02" / "2019-02-devon-and-cornwall-outcomes.csv", [row("2019-02")])
    assert len(psa_geo.read_police_uk(folder)) == 3  # outcomes files are not street files

    gz = tmp_path / "2019-03-devon-and-cornwall-street.csv.gz"
    buffer = io.StringIO()
    csv.writer(buffer).writerows([HEADER, row("2019-03")])
    gz.write_bytes(gzip.compress(buffer.getvalue().encode()))
    archive = tmp_path / "police.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(
            "2019-04/2019-04-devon-and-cornwall-street.csv",
            buffer.getvalue().replace("2019-03", "2019-04"),
        )
    events = psa_geo.read_police_uk([gz, archive])
    assert sorted(events["month"]) == ["2019-03", "2019-04"]
    assert events["source_file"].str.contains("police.zip!2019-04/").sum() == 1


def test_files_read_ahead_keep_their_order_and_their_first_problem(tmp_path):
    # several members of one archive, read in threads ahead of the caller: all are read (the
    # archive stays open), in order; a bad file ahead of a missing path is the one named
    archive = tmp_path / "police.zip"
    months = [f"2019-{m:02d}" for m in range(1, 6)]
    with zipfile.ZipFile(archive, "w") as zf:
        for month in months:
            buffer = io.StringIO()
            csv.writer(buffer).writerows([HEADER, row(month), row(month)])
            zf.writestr(f"{month}/{month}-devon-and-cornwall-street.csv", buffer.getvalue())
    events, report = psa_geo.read_police_uk(archive, return_report=True, use_cache=False)
    assert list(events["month"]) == [m for m in months for _ in range(2)]
    assert report.files == [f"{archive}!{m}/{m}-devon-and-cornwall-street.csv" for m in months]
    bad = tmp_path / "bad-street.csv"
    bad.write_text("name,value\nx,1\n")
    with pytest.raises(psa_geo.InputFileError, match=r"bad-street\.csv.*not a police\.uk"):
        psa_geo.read_police_uk([bad, tmp_path / "missing.csv"], use_cache=False)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"name,value\nx,1\n", "not a police.uk street-level CSV"),
        ("Crime ID,Month,Location\n1,2019-01,Caf\xe9\n".encode("latin-1"), "not UTF-8"),
    ],
    ids=["empty", "other-csv", "latin-1"],
)
def test_wrong_files_give_one_line_naming_the_file(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(psa_geo.InputFileError, match=message) as info:
        psa_geo.read_police_uk(path)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_path_is_named(tmp_path):
    with pytest.raises(psa_geo.InputFileError, match="no such file"):
        psa_geo.read_police_uk(tmp_path / "nope.csv")


@pytest.mark.data
def test_real_2019_file_every_row_accounted_for(crime_2019, events_2019):
    events, report = events_2019
    with gzip.open(crime_2019, "rt", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert set(REQUIRED_COLUMNS) <= set(rows[0])
    assert report.rows_read == len(rows)
    assert report.accepted + sum(report.rejected.values()) == len(rows)
    no_coords = sum(1 for r in rows if not r["Longitude"])
    assert report.without_location == no_coords
    asb = sum(1 for r in rows if r["Crime type"] == "Anti-social behaviour")
    assert (events["category"] == "Anti-social behaviour").sum() == asb
    # police.uk repeats a few Crime IDs: the rows are kept and the ids made unique.
    assert events["event_id"].is_unique
    repeated = len(rows) - asb - len({r["Crime ID"] for r in rows if r["Crime ID"]})
    assert (events["event_id"].str.contains("#")).sum() == repeated


TODAY = datetime.date(2024, 6, 15)


@pytest.mark.parametrize(
    ("month", "reason"),
    [("2999-01", "future_month"), ("2024-07", "future_month"), ("2009-01", "early_month"),
     ("2010-11", "early_month")],
    ids=["2999", "next-month", "2009", "before-first"],
)  # fmt: skip
def test_months_outside_police_uk_publication_are_rejected(tmp_path, month, reason):
    path = write_csv(tmp_path / "a.csv", [row(), row(month="2010-12"), row(month="2024-06"),
                                          row(month=month)])  # fmt: skip
    events, report = psa_geo.read_police_uk(path, return_report=True, today=TODAY)
    assert len(events) == 3
    assert report.rejected == {reason: 1}
    assert report.rejected_rows["source_row"].tolist() == [5]


def test_source_row_is_the_physical_line_after_blank_lines(tmp_path):
    path = write_lines(
        tmp_path / "a.csv",
        [csv_line(HEADER), csv_line(row(crime_id="a")), "\n", "\r\n", csv_line(row(crime_id="b")),
         csv_line(row(crime_id="c", month="bad"))],
    )  # fmt: skip
    events, report = psa_geo.read_police_uk(path, return_report=True)
    assert events["source_row"].tolist() == [2, 5]
    assert report.rejected_rows["source_row"].tolist() == [6]
    assert (report.lines_read, report.blank_lines, report.rows_read) == (6, 2, 3)
    assert report.to_dict()["lines_read"] == 6


def test_line_break_in_a_used_field_rejects_the_row_and_in_a_dropped_one_is_accepted(tmp_path):
    header = [*HEADER, "Notes"]
    path = write_lines(
        tmp_path / "a.csv",
        [csv_line(header), csv_line([*row(crime_id="a"), "one\ntwo\nthree"]),
         csv_line([*row(crime_id="b", location="On or near\nPark"), ""]),
         csv_line([*row(crime_id="c"), ""])],
    )  # fmt: skip
    events, report = psa_geo.read_police_uk(path, return_report=True)
    assert events["event_id"].tolist() == ["a", "c"]
    assert events["source_row"].tolist() == [2, 7]
    assert report.rejected == {"line_break_in_field": 1}
    assert report.rejected_rows["source_row"].tolist() == [5]
    assert report.lines_read == 7 == report.header_lines + report.row_lines
    report.check()


def test_a_quote_left_open_over_rows_is_one_rejected_row_spanning_them(tmp_path):
    opened = csv_line(row(crime_id="x")).replace("On or near Park", '"On or near Park', 1)
    swallowed = [csv_line(row(crime_id=f"s{i}")) for i in range(5)]
    closing = csv_line(row(crime_id="y")).replace("On or near Park", 'On or near Park"', 1)
    lines = [csv_line(HEADER), csv_line(row(crime_id="a")), opened, *swallowed, closing,
             csv_line(row(crime_id="b"))]  # fmt: skip
    path = write_lines(tmp_path / "a.csv", lines)
    events, report = psa_geo.read_police_uk(path, return_report=True)
    assert events["event_id"].tolist() == ["a", "b"]
    assert report.rejected == {"unclosed_quote": 1}
    assert report.rejected_rows["source_row"].tolist() == [3]
    assert report.lines_read == 10 == report.header_lines + report.row_lines
    assert events["source_row"].tolist() == [2, 10]


def test_zip_members_beyond_the_cap_are_refused_in_one_line(tmp_path, monkeypatch):
    archive = tmp_path / "police.zip"
    text = "".join([csv_line(HEADER), *[csv_line(row()) for _ in range(50)]])
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("2019-01/2019-01-devon-and-cornwall-street.csv", text)
    assert len(psa_geo.read_police_uk(archive)) == 50
    monkeypatch.setattr("psa_geo._csvlines.MAX_UNCOMPRESSED_BYTES", 1000)
    with pytest.raises(psa_geo.InputFileError, match="cap") as info:
        psa_geo.read_police_uk(archive)
    message = str(info.value)
    assert str(archive) in message and "2019-01-devon-and-cornwall-street.csv" in message
    assert "\n" not in message


def test_a_member_larger_than_it_declares_is_stopped_at_the_cap(tmp_path):
    from psa_geo import _csvlines

    reader = _csvlines.CountingReader(io.BytesIO(b"x" * 5000), label="a.zip!m.csv", cap=1000)
    with pytest.raises(psa_geo.InputFileError, match=r"a\.zip!m\.csv: larger than 1,000"):
        reader.read()
