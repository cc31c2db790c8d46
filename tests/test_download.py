"""fetch_online against a real HTTP server on 127.0.0.1 serving small publisher-like files."""

from __future__ import annotations

import csv
import datetime as dt
import functools
import gzip
import io
import json
import logging
import shutil
import socket
import threading
import time
import urllib.parse
import zipfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

import psa_geo
from psa_geo import cli, download
from psa_geo.datadir import Dataset, Manifest
from psa_geo.download import fetch_online, fetch_police_uk_months
from psa_geo.errors import MissingDataError

LADS = ("E06000052", "E06000026", "E07000041")
HEADER = (
    "Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,"
    "LSOA code,LSOA name,Crime type,Last outcome category,Context"
)
FORCES = {
    "devon-and-cornwall": "Devon & Cornwall Police",
    "avon-and-somerset": "Avon and Somerset Constabulary",
}
PAGE_MAX = 3  # the fake ArcGIS server's maxRecordCount
# LSOA features: 5 in the force's LADs, 2 outside (Bristol, Cardiff).
LSOAS = [
    (f"E0101{i:04d}", lad) for i, lad in enumerate(LADS + LADS[:2] + ("E06000023", "W06000015"))
]


def street_rows(force: str, month: str) -> list[str]:
    name = FORCES[force]
    by = f"{month},{name},{name}"
    rows = [
        f"c-{force}-{month}-1,{by},-4.14,50.37,On or near Park,E01015077,Plymouth 030D,"
        "Burglary,Under investigation,",
        f"c-{force}-{month}-2,{by},,,No Location,,,Vehicle crime,Unable to prosecute suspect,",
    ]
    if force == "devon-and-cornwall":  # ASB: no Crime ID
        rows.append(
            f",{by},-5.05,50.26,On or near Lemon Street,E01018853,Cornwall 050B,"
            "Anti-social behaviour,,"
        )
    return rows


class Handler(SimpleHTTPRequestHandler):
    """Static files from the fixture folder, a fake ArcGIS query service and a slow path."""

    queries: ClassVar[list[dict]] = []

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/slow":
            time.sleep(1.0)
            return self.send_error(500)
        if url.path.startswith("/cut/"):  # the whole size announced, half of it sent
            path = Path(self.directory) / "archive" / url.path[5:]
            if not path.is_file():
                return self.send_error(404)
            body = path.read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
            return None
        if not url.path.endswith("/FeatureServer/0/query"):
            return super().do_GET()
        q = dict(urllib.parse.parse_qsl(url.query))
        Handler.queries.append(q)
        wanted = set(
            q.get("where", "").partition(" IN (")[2].rstrip(")").replace("'", "").split(",")
        )
        if not (q.get("where", "").startswith("LAD11CD IN (") and set(LADS) <= wanted):
            return self._json({"error": {"code": 400, "message": "bad where"}})
        table = "lookup" in url.path
        matching = [
            {
                "type": "Feature",
                "id": i,
                "properties": {"FID": i, "LSOA11CD": code, "LAD11CD": lad},
                "geometry": None
                if table
                else {"type": "Point", "coordinates": [-4.0 - i / 10, 50.5]},
            }
            for i, (code, lad) in enumerate(LSOAS)
            if lad in wanted
        ]
        offset, count = int(q["resultOffset"]), min(int(q["resultRecordCount"]), PAGE_MAX)
        page = {"type": "FeatureCollection", "features": matching[offset : offset + count]}
        if offset + count < len(matching):  # real services put the flag in either place
            if table:
                page["exceededTransferLimit"] = True
            else:
                page["properties"] = {"exceededTransferLimit": True}
        self._json(page)

    def _json(self, obj) -> None:
        body = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/geo+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server(tmp_path):
    """(base URL, folder it serves) for a ThreadingHTTPServer on 127.0.0.1."""
    root = tmp_path / "www"
    root.mkdir()
    Handler.queries = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=root))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def write_archive(path: Path) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for month in ("2019-02", "2019-01", "2018-12"):
            for force in FORCES:
                text = "\n".join([HEADER, *street_rows(force, month)]) + "\n"
                z.writestr(f"{month}/{month}-{force}-street.csv", text)
            z.writestr(f"{month}/{month}-devon-and-cornwall-outcomes.csv", "Crime ID,Month\nx,y\n")


STATS19 = [
    ["Accident_Index", "Police_Force", "Location", "Accident_Severity"],
    ["2015500001", "50", "Truro, A390", "3"],
    ["2015010001", "1", "London", "2"],
    ["2015500002", "50", "Exeter", "1"],
    ["2015150001", "150", "Nowhere", "3"],
    ["2015050001", "5", "Somewhere", "3"],
]


def csv_bytes(rows) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    return ("\ufeff" + buf.getvalue()).encode()


def dataset(name, path, url, download) -> Dataset:
    return Dataset(name, name, path, "test", "OGL", origin="download", url=url, download=download)


def manifest_for(base: str, root: Path) -> Manifest:
    write_archive(root / "2019-02.zip")
    (root / "collisions.csv").write_bytes(csv_bytes(STATS19))
    with zipfile.ZipFile(root / "collisions.zip", "w") as z:
        z.writestr("Accidents_2015.csv", csv_bytes(STATS19))
    police = {"kind": "police_uk_archive", "force": "devon-and-cornwall"}
    stats = {"kind": "csv_filter", "filter_column": "police_force", "filter_values": ["50"]}
    arc = f"{base}/arcgis/rest/services/{{}}/FeatureServer/0/query"
    datasets = [
        dataset(
            "police",
            "crime/pc.csv.gz",
            f"{base}/2019-02.zip",
            police | {"months": ["2019-01", "2019-02"]},
        ),
        dataset("stats", "collisions/s.csv.gz", f"{base}/collisions.csv", stats),
        dataset("stats_zip", "collisions/z.csv", f"{base}/collisions.zip", stats),
        dataset(
            "lsoa",
            "boundaries/l.geojson",
            arc.format("lsoa"),
            {"kind": "arcgis_query", "filter_field": "LAD11CD"},
        ),
        dataset(
            "lookup",
            "lookups/l.csv",
            arc.format("lookup"),
            {"kind": "arcgis_query", "filter_field": "LAD11CD", "format": "csv"},
        ),
        dataset("imd", "deprivation/i.csv", f"{base}/imd.xlsx", {"kind": "none"}),
        Dataset("master", "master", "lookups/m.csv", "test", "OGL", origin="mirror"),
    ]
    return Manifest({d.name: d for d in datasets}, force_lads=LADS)


def test_fetch_online_cuts_every_kind(server, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="psa_geo.download")
    base, root = server
    manifest = manifest_for(base, root)
    out = tmp_path / "data"
    written = fetch_online(out, manifest=manifest, timeout=10)
    assert [p.relative_to(out).as_posix() for p in written] == [
        "crime/pc.csv.gz",
        "collisions/s.csv.gz",
        "collisions/z.csv",
        "boundaries/l.geojson",
        "lookups/l.csv",
    ]
    assert "police: wrote 6 rows" in caplog.text and "stats: wrote 2 rows" in caplog.text
    assert "imd: no direct download" in caplog.text
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == sorted(
        [
            *(p.relative_to(out).as_posix() for p in written),
            "crime",
            "collisions",
            "boundaries",
            "lookups",
        ]
    )  # no temporary files left, nothing for the "none" and mirror-only datasets

    # police.uk: 2019-01 and 2019-02 (not 2018-12), Devon & Cornwall only, one header
    with gzip.open(out / "crime/pc.csv.gz", "rt", encoding="utf-8", newline="") as f:
        lines = f.read().splitlines()
    assert lines[0] == HEADER and lines.count(HEADER) == 1
    assert lines[1:] == street_rows("devon-and-cornwall", "2019-01") + street_rows(
        "devon-and-cornwall", "2019-02"
    )
    events, report = psa_geo.read_police_uk(out / "crime/pc.csv.gz", return_report=True)
    assert report.accepted == 6 and report.months == ["2019-01", "2019-02"]
    assert report.without_location == 2 and not report.rejected
    assert set(events["falls_within"]) == {"Devon & Cornwall Police"}
    assert (events["category"] == "Anti-social behaviour").sum() == 2

    # csv_filter: header matched case-insensitively, BOM dropped, only exact "50" kept
    with gzip.open(out / "collisions/s.csv.gz", "rt", encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert rows == [STATS19[0], STATS19[1], STATS19[3]]
    with open(out / "collisions/z.csv", encoding="utf-8", newline="") as f:
        assert list(csv.reader(f)) == rows

    # arcgis_query: the where clause names the LADs; two pages of 3 + 2 features
    lsoa = json.loads((out / "boundaries/l.geojson").read_text(encoding="utf-8"))
    assert lsoa["type"] == "FeatureCollection"
    assert [f["properties"]["LSOA11CD"] for f in lsoa["features"]] == [c for c, _ in LSOAS[:5]]
    assert all("FID" not in f["properties"] for f in lsoa["features"])
    assert lsoa["features"][4]["geometry"]["coordinates"] == [-4.4, 50.5]
    lsoa_queries = [q for q in Handler.queries if q["returnGeometry"] == "true"]
    assert [q["resultOffset"] for q in lsoa_queries] == ["0", "3"]
    assert {(q["f"], q["outSR"], q["outFields"]) for q in Handler.queries} == {
        ("geojson", "4326", "*")
    }
    with open(out / "lookups/l.csv", encoding="utf-8", newline="") as f:
        table = list(csv.DictReader(f))
    assert [r["LSOA11CD"] for r in table] == [c for c, _ in LSOAS[:5]]
    assert list(table[0]) == ["LSOA11CD", "LAD11CD"]


def test_names_selects_datasets(server, tmp_path):
    base, root = server
    written = fetch_online(tmp_path / "d", manifest=manifest_for(base, root), names=["stats_zip"])
    assert written == [tmp_path / "d" / "collisions/z.csv"]
    with pytest.raises(MissingDataError, match="no dataset 'nope'"):
        fetch_online(tmp_path / "d", manifest=manifest_for(base, root), names=["nope"])


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    ("name", "url", "problem"),
    [
        ("police", "{base}/missing.zip", "HTTP 404"),
        ("police", "http://127.0.0.1:{port}/x.zip", "cannot connect"),
        ("police", "{base}/collisions.csv", "not a zip archive"),
        ("stats", "{base}/2019-02.zip", "the zip holds 9 CSV files, not one"),
        ("stats", "{base}/slow", "timed out"),
        ("lsoa", "{base}/arcgis/x/FeatureServer/0/query", "ArcGIS error 400"),
        ("lsoa", "{base}/collisions.csv", "not JSON"),
    ],
)
def test_download_errors(server, tmp_path, name, url, problem):
    base, root = server
    manifest = manifest_for(base, root)
    url = url.format(base=base, port=closed_port())
    ds = manifest[name]
    if problem == "ArcGIS error 400":  # a where clause on the wrong field
        ds = dataset(name, ds.path, url, ds.download | {"filter_field": "LSOA11CD"})
    else:
        ds = dataset(name, ds.path, url, ds.download)
    manifest = Manifest({name: ds}, force_lads=LADS)
    out = tmp_path / "data"
    with pytest.raises(MissingDataError) as info:
        fetch_online(out, manifest=manifest, timeout=0.3)
    message = str(info.value)
    assert message.startswith(f"{name}: download from {ds.url} failed (")
    assert problem in message and "\n" not in message
    assert [p for p in out.rglob("*") if p.is_file()] == []


def test_missing_months_are_named(server, tmp_path):
    base, root = server
    manifest = manifest_for(base, root)
    ds = manifest["police"]
    ds = dataset("police", ds.path, ds.url, ds.download | {"months": ["2018-11", "2019-04"]})
    with pytest.raises(
        MissingDataError, match=r"lacks devon-and-cornwall .* 2018-11, 2019-03, 2019-04\)$"
    ):
        fetch_online(tmp_path / "d", manifest=Manifest({"police": ds}, force_lads=LADS))
    assert [p for p in (tmp_path / "d").rglob("*") if p.is_file()] == []


# --- fetch_police_uk_months: police.uk archives of 36 months each ---------------------------

TODAY = dt.date(2026, 5, 10)  # police.uk has published up to the 2026-03 archive


def month_add(month: str, n: int) -> str:
    index = int(month[:4]) * 12 + int(month[5:]) - 1 + n
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def member_text(force: str, month: str, archive: str) -> str:
    """A street file whose first Crime ID names the archive it came from."""
    rows = street_rows(force, month)
    return "\n".join([HEADER, f"from-{archive}{rows[0]}", *rows[1:]]) + "\n"


def write_window(root: Path, archive: str, *, lacking=()) -> Path:
    """``archive/YYYY-MM.zip``: both forces' street files (and outcomes) for 36 months."""
    path = root / "archive" / f"{archive}.zip"
    path.parent.mkdir(exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for back in range(36):
            month = month_add(archive, -back)
            for force in FORCES:
                if force == "devon-and-cornwall" and month in lacking:
                    continue
                z.writestr(
                    f"{month}/{month}-{force}-street.csv", member_text(force, month, archive)
                )
            z.writestr(f"{month}/{month}-devon-and-cornwall-outcomes.csv", "Crime ID\nx\n")
    return path


def fetch_months(base, out, **kw):
    kw.setdefault("today", TODAY)
    return fetch_police_uk_months(
        out, archive_url=f"{base}/archive/{{month}}.zip", timeout=10, **kw
    )


def written_months(out: Path) -> dict[str, str]:
    """month -> the archive its file came from; asserts the layout and the contents."""
    found = {}
    for path in sorted((out / "crime").rglob("*")):
        if path.is_dir():
            continue
        rel = path.relative_to(out / "crime").as_posix()
        month = rel[:7]
        assert rel == f"{month}/{month}-devon-and-cornwall-street.csv"
        text = path.read_text(encoding="utf-8")
        archive = text.split("\n")[1].split("from-")[1][:7]
        assert text == member_text("devon-and-cornwall", month, archive)
        found[month] = archive
    return found


def test_months_inside_one_archive(server, tmp_path):
    base, root = server
    write_window(root, "2026-03")
    write_window(root, "2026-02")
    out = tmp_path / "data"
    result = fetch_months(base, out, months=("2024-01", "2024-06"))
    # tried 2026-05 and 2026-04 (HTTP 404), then the newest, 2026-03
    assert result.archives == [f"{base}/archive/2026-03.zip"]
    assert result.months == [f"2024-0{m}" for m in range(1, 7)] and result.missing == []
    assert written_months(out) == {m: "2026-03" for m in result.months}
    assert result.written == [
        out / "crime" / m / f"{m}-devon-and-cornwall-street.csv" for m in result.months
    ]
    _events, report = psa_geo.read_police_uk(result.written[0], return_report=True)
    assert report.accepted == 3 and report.months == ["2024-01"]


def test_old_months_come_from_the_archive_that_starts_with_them(server, tmp_path):
    base, root = server
    write_window(root, "2020-12")  # 2018-01 to 2020-12, as the manifest's 2018 dataset
    result = fetch_months(base, tmp_path / "data", months=("2018-01", "2019-12"))
    assert result.archives == [f"{base}/archive/2020-12.zip"]
    assert len(result.months) == 24 and not result.missing


def test_months_across_two_archives(server, tmp_path):
    base, root = server
    write_window(root, "2026-03")  # 2023-04 to 2026-03
    write_window(root, "2023-03")  # 2020-04 to 2023-03
    result = fetch_months(base, tmp_path / "data", months=("2022-01", "2026-03"))
    assert result.archives == [f"{base}/archive/2026-03.zip", f"{base}/archive/2023-03.zip"]
    assert len(result.months) == 51 and not result.missing
    found = written_months(tmp_path / "data")
    assert found["2022-01"] == found["2023-03"] == "2023-03"
    assert found["2023-04"] == found["2026-03"] == "2026-03"
    assert [p.name for p in (tmp_path / "data" / "crime").iterdir() if p.name.startswith(".")] == []


def test_missing_month_is_reported_and_the_rest_written(server, tmp_path, caplog):
    base, root = server
    write_window(root, "2026-03", lacking={"2025-07", "2025-09"})
    result = fetch_months(base, tmp_path / "data", months=("2025-06", "2026-06"))
    # 2026-04 to 2026-06 are not published yet: missing too
    assert result.missing == ["2025-07", "2025-09", "2026-04", "2026-05", "2026-06"]
    assert sorted(written_months(tmp_path / "data")) == result.months
    assert len(result.months) == 8
    assert "police.uk has no devon-and-cornwall street file for 2025-07, 2025-09, 2026-04" in (
        caplog.text
    )


def test_latest_months(server, tmp_path):
    base, root = server
    write_window(root, "2026-03")
    write_window(root, "2026-02")
    result = fetch_months(base, tmp_path / "data", latest=3)
    assert (result.first, result.last) == ("2026-01", "2026-03")
    assert written_months(tmp_path / "data") == {
        m: "2026-03" for m in ("2026-01", "2026-02", "2026-03")
    }


def assert_one_line_nothing_written(info, out: Path, *needles) -> None:
    message = str(info.value)
    assert "\n" not in message and all(n in message for n in needles), message
    assert [p for p in out.rglob("*") if p.is_file()] == []
    assert [p for p in (out / "crime").iterdir()] == []


@pytest.mark.parametrize(
    ("months", "archives", "needles"),
    [
        pytest.param(
            ("2019-01", "2019-02"),
            [],
            ["no police.uk archive at", "/archive/{month}.zip", "from 2021-12 back to 2021-07"],
            id="no-archive",
        ),
        pytest.param(
            ("2022-01", "2026-03"),
            ["2026-03"],
            ["/archive/2023-03.zip: download failed (HTTP 404)"],
            id="second-archive-404",
        ),
        pytest.param(
            ("2026-04", "2026-06"),
            ["2026-03"],
            ["/archive/2026-03.zip, ends before 2026-04: none of 2026-04:2026-06"],
            id="not-published-yet",
        ),
    ],
)
def test_months_not_there(server, tmp_path, months, archives, needles):
    base, root = server
    for archive in archives:
        write_window(root, archive)
    with pytest.raises(MissingDataError) as info:
        fetch_months(base, tmp_path / "data", months=months)
    assert_one_line_nothing_written(info, tmp_path / "data", *needles)


@pytest.mark.parametrize("spoil", ["truncated", "not-a-zip"])
def test_broken_archive(server, tmp_path, spoil):
    base, root = server
    path = write_window(root, "2026-03")
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2] if spoil == "truncated" else b"<html>busy</html>")
    with pytest.raises(MissingDataError) as info:
        fetch_months(base, tmp_path / "data", months=("2025-01", "2025-12"))
    assert_one_line_nothing_written(
        info, tmp_path / "data", f"{base}/archive/2026-03.zip: not a readable zip archive"
    )


def test_download_cut_short(server, tmp_path):
    base, root = server
    write_window(root, "2026-03")
    with pytest.raises(MissingDataError) as info:
        fetch_police_uk_months(
            tmp_path / "data",
            months=("2025-01", "2025-12"),
            archive_url=f"{base}/cut/{{month}}.zip",
            today=TODAY,
            timeout=10,
        )
    assert_one_line_nothing_written(
        info, tmp_path / "data", f"{base}/cut/2026-03.zip: truncated download ("
    )


def test_too_little_disk_space(server, tmp_path, monkeypatch):
    base, root = server
    write_window(root, "2026-03")
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(free=50 * 2**20))
    with pytest.raises(MissingDataError) as info:
        fetch_months(base, tmp_path / "data", months=("2025-01", "2025-12"))
    assert_one_line_nothing_written(
        info,
        tmp_path / "data",
        "too little free disk space",
        f"{base}/archive/2026-03.zip",
        "50.0 MB free",
    )


def test_second_archive_failing_leaves_the_first_unwritten(server, tmp_path):
    base, root = server
    write_window(root, "2026-03")
    (root / "archive" / "2023-03.zip").write_bytes(b"PK\x03\x04 cut short")
    with pytest.raises(MissingDataError) as info:
        fetch_months(base, tmp_path / "data", months=("2022-01", "2026-03"))
    assert_one_line_nothing_written(
        info, tmp_path / "data", "2023-03.zip: not a readable zip archive"
    )


def test_cli_latest_and_month_errors(server, tmp_path, monkeypatch, capsys):
    base, root = server
    this_month = f"{dt.date.today():%Y-%m}"
    newest = month_add(this_month, -1)  # this month's archive is not out yet: HTTP 404
    write_window(root, newest, lacking={month_add(newest, -1)})
    monkeypatch.setattr(download, "POLICE_UK_ARCHIVE_URL", f"{base}/archive/{{month}}.zip")
    data = tmp_path / "data"
    assert cli.main(["data", "fetch", "--online", "--latest", "3", "--data-dir", str(data)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    first = month_add(newest, -2)
    assert out == [
        f"Wrote 2 of the months {first}:{newest} to {data / 'crime'}; "
        f"police.uk lacks {month_add(newest, -1)}"
    ]
    assert sorted(written_months(data)) == [first, newest]

    for args, problem in [
        (["--online", "--months", "2023-13:2024-01"], "--months '2023-13:2024-01': write"),
        (["--online", "--months", "2024-02:2024-01"], "the first month is after the last"),
        (["--months", "2024-01:2024-02"], "--months downloads from police.uk: add --online"),
        (["--online", "--latest", "3", "--only", "imd"], "leave out --only"),
    ]:
        assert cli.main(["data", "fetch", *args, "--data-dir", str(data)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("psa-geo: error: ") and problem in err and "\n" not in err
