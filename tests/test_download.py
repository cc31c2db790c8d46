"""fetch_online against a real HTTP server on 127.0.0.1 serving small publisher-like files."""

from __future__ import annotations

import csv
import functools
import gzip
import io
import json
import logging
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
from psa_geo.datadir import Dataset, Manifest
from psa_geo.download import fetch_online
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
