"""Hostile input end to end: payloads in every text field of accepted rows, absurd counts and
dates, and broken lines, through ``build --groups --points``, ``profile --towns`` and
``corridor --spec`` on a cut-down data folder. Nothing runs in a browser, every CSV cell that
holds a payload is defused, every bad row is rejected with a reason, every line is counted."""

from __future__ import annotations

import csv
import gzip
import json
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import browser_support
import pandas as pd
import pytest
from conftest import REPO, run_cli

from psa_geo.csvfile import FORMULA_PREFIXES
from psa_geo.filenames import safe_name
from psa_geo.groups import load_crime_groups

pytestmark = pytest.mark.data

MARK = "window.__pwned"


def payload(field: str) -> str:
    """A payload naming ``field``: a formula prefix, a template-literal breakout, a script end,
    an attribute breakout with an event handler, a javascript: URL, Jinja markup (folium
    renders templates) and the JSON line ends."""
    return (
        f"={field} ${{{MARK}=1}} `{MARK}=2` </script><script>{MARK}=3</script> "
        f'"><img src=x onerror="{MARK}=4"> javascript:{MARK}=5 {{{{ 7 * 191 }}}} {{# c #}} '
        "\u2028\u2029end"
    )


def _top_point(frame: pd.DataFrame, mask) -> pd.Series:
    """Rows at the busiest police.uk snap point among ``mask``."""
    located = frame[mask & (frame["Longitude"] != "")]
    lon, lat = located.groupby(["Longitude", "Latitude"]).size().idxmax()
    return (frame["Longitude"] == lon) & (frame["Latitude"] == lat)


def _hostile_crime(path: Path, out: Path, penzance: set[str]) -> int:
    """Payloads into accepted rows of ``path``; absurd months and broken lines appended.
    Returns the number of bad rows added."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    in_2019 = frame["Month"].str.startswith("2019")
    if not in_2019.any():  # the 2018 file, as it is
        out.symlink_to(path.resolve())
        return 0
    plymouth = in_2019 & frame["LSOA name"].str.startswith("Plymouth")
    for mask in (plymouth, in_2019 & frame["LSOA code"].isin(penzance)):
        if mask.any():
            frame.loc[_top_point(frame, mask), "Location"] = payload("location")
    some = frame.index[plymouth][:40]
    frame.loc[some[:10], "Crime ID"] = [f"{payload('crime_id')} {i}" for i in range(10)]
    frame.loc[some[10:20], "LSOA name"] = payload("lsoa_name")
    frame.loc[some[20:30], "Last outcome category"] = payload("outcome")
    frame.loc[some[30:40], "Context"] = payload("context")
    frame.loc[some, "Reported by"] = payload("reported_by")
    frame.loc[frame.index[plymouth][40:70], "Crime type"] = payload("crime_type")
    bad = frame.loc[frame.index[plymouth][:4]].copy()
    bad["Month"] = ["2999-01", "2009-01", "2019-13", "2019-01"]
    bad["Location"] = [payload("rejected"), "x", "x", "line one\nline two"]
    text = frame.to_csv(index=False) + bad.to_csv(index=False, header=False) + "\n"
    with gzip.open(out, "wt", encoding="utf-8", newline="") as f:
        f.write(text)
    return len(bad)


def _hostile_collisions(source: Path, folder: Path) -> None:
    """Three A38 collisions of 2017 whose Accident_Index holds a payload; one collision of
    year 2999 and one with an absurd speed limit and casualty count."""
    folder.mkdir()
    for path in source.iterdir():
        if "accidents" not in path.name:
            (folder / path.name).symlink_to(path.resolve())
    name = "stats19_accidents_devon_cornwall_pf50_2015_2017.csv.gz"
    frame = pd.read_csv(source / name, dtype=str, keep_default_na=False)
    a38 = frame[
        (frame["1st_Road_Number"] == "38")
        & (frame["Local_Authority_(Highway)"] == "E06000052")  # Cornwall
        & frame["Accident_Index"].str.startswith("2017")
    ]
    rows = a38.iloc[:5].copy()
    rows["Accident_Index"] = [f"2017{payload(f'accident{i}')}" for i in range(3)] + [
        "2999500000001",
        "2017500000002",
    ]
    rows.iloc[4, rows.columns.get_loc("Speed_limit")] = "abc"
    rows.iloc[4, rows.columns.get_loc("Number_of_Casualties")] = "1e308"
    pd.concat([frame, rows]).to_csv(folder / name, index=False)


def _spoilt_snapshot(source: Path, folder: Path) -> None:
    """The rough-sleeping snapshot with one absurd count: an optional dataset the build must
    leave out with a note, going on with the rest."""
    folder.mkdir()
    for path in source.glob("*.csv"):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        frame.loc[0, "ROUGH_SLEEPERS_COUNT"] = "1e308"
        frame.to_csv(folder / path.name, index=False)


def _point_files(folder: Path, penzance_centre: tuple[float, float]) -> dict[str, Path]:
    """Drug-litter finds, needle bins and rough-sleeping reports around Penzance, with
    payloads in every text column and absurd counts and dates in some rows."""
    e0, n0 = penzance_centre
    finds = [
        {"date": f"2019-{1 + i % 12:02d}-{1 + i % 27:02d}", "easting": e0 + (i % 9) * 70 - 300,
         "northing": n0 + (i // 9) * 70 - 300, "items": 1 + i % 3,
         "reported_by": payload("reported_by_find"), "collected": "yes"}
        for i in range(60)
    ]  # fmt: skip
    finds += [
        {**finds[0], "items": "1e308"},
        {**finds[1], "items": "inf"},
        {**finds[2], "date": "2999-01-01"},
    ]
    bins = [
        {"easting": e0 + 50 * i, "northing": n0, "bin_id": payload(f"bin{i}"),
         "site": payload(f"site{i}")}
        for i in range(3)
    ]  # fmt: skip
    reports = [
        {"date": f"2019-{1 + i % 12:02d}-10", "easting": e0 + 40 * (i % 5),
         "northing": n0 + 40 * (i % 4), "people": 1, "person_id": payload(f"person{i % 4}")}
        for i in range(20)
    ]  # fmt: skip
    reports += [{**reports[0], "people": "inf"}, {**reports[1], "people": "1e308"}]
    paths = {}
    for source, rows in (("drug_litter", finds), ("needle_bins", bins),
                         ("rough_sleeping", reports)):  # fmt: skip
        paths[source] = folder / f"{source}.csv"
        pd.DataFrame(rows).to_csv(paths[source], index=False)
    return paths


@pytest.fixture(scope="module")
def hostile(small_data, areas, tmp_path_factory):
    """The hostile data folder, user files and the outputs of the three commands."""
    root = tmp_path_factory.mktemp("hostile")
    data = root / "data"
    data.mkdir()
    for folder in small_data.iterdir():
        if folder.name not in ("crime", "collisions", "rough_sleeping"):
            (data / folder.name).symlink_to(folder.resolve())
    _spoilt_snapshot(small_data / "rough_sleeping", data / "rough_sleeping")
    towns = pd.read_csv(REPO / "boundaries" / "safer_towns.csv", dtype=str)
    penzance = set(towns.loc[towns["town"] == "Penzance", "lsoa_code"])
    (data / "crime").mkdir()
    bad_rows = 0
    for path in sorted((small_data / "crime").glob("*.csv.gz")):
        bad_rows += _hostile_crime(path, data / "crime" / path.name, penzance)
    _hostile_collisions(small_data / "collisions", data / "collisions")
    centre = areas[areas["lsoa_code"].isin(penzance)].union_all().centroid
    points = _point_files(root, (round(centre.x), round(centre.y)))
    groups_file = root / "groups.csv"
    rows = [(g, c) for g, members in load_crime_groups().items() for c in members]
    rows += [(payload("group"), payload("crime_type")), (payload("group"), "Burglary")]
    pd.DataFrame(rows, columns=["group", "crime_type"]).to_csv(groups_file, index=False)
    towns_file = root / "towns.csv"
    pd.DataFrame({"town": payload("town"), "lsoa_code": sorted(penzance)}).to_csv(
        towns_file, index=False
    )
    spec = (REPO / "boundaries" / "a38_corridor.toml").read_text(encoding="utf-8")
    title = tomllib.loads(spec)["title"]
    spec_file = root / "spec.toml"
    spec_file.write_text(spec.replace(json.dumps(title), json.dumps(payload("title"))), "utf-8")
    out = {name: root / name for name in ("build", "profile", "corridor")}
    commands = {
        "build": ("build", "--data-dir", data, "--out", out["build"], "--groups", groups_file,
                  *(f"--points={s}={p}" for s, p in points.items())),
        "profile": ("profile", "--data-dir", data, "--out", out["profile"], "--towns",
                    towns_file, "--all"),
        "corridor": ("corridor", "--data-dir", data, "--out", out["corridor"], "--spec",
                     spec_file),
    }  # fmt: skip
    with ThreadPoolExecutor(len(commands)) as pool:  # three processes at once
        runs = dict(zip(commands, pool.map(lambda a: run_cli(*a), commands.values()), strict=True))
    return {"data": data, "out": out, "runs": runs, "bad_police_rows": bad_rows}


def test_every_command_succeeds(hostile):
    for name, run in hostile["runs"].items():
        assert run.returncode == 0, (name, run.stderr[-2000:])


def _cells(path: Path):
    with path.open(encoding="utf-8-sig", newline="") as f:
        for row in csv.reader(f):
            yield from row


def test_payloads_in_csvs_are_defused(hostile):
    found, defused = set(), 0
    for out in hostile["out"].values():
        for path in out.rglob("*.csv"):
            for cell in _cells(path):
                if MARK in cell:
                    assert not cell.startswith(FORMULA_PREFIXES), (path, cell[:60])
                    found.add(path.name)
                    defused += cell.startswith("'=")
    assert {"rejected_rows.csv", "rates_csp.csv", "quick_facts.csv", "membership.csv"} <= found
    assert any(name.endswith("_figures.csv") for name in found)
    assert defused > 0


def test_absurd_values_rejected_with_reasons(hostile):
    report = json.loads((hostile["out"]["build"] / "run_report.json").read_text("utf-8"))
    police = report["sources"]["police_uk"]["ingest"]
    assert {"future_month", "early_month", "bad_month", "line_break_in_field"} <= set(
        police["rejected"]
    )
    assert police["rejected_total"] == hostile["bad_police_rows"]
    finds = report["sources"]["drug_litter"]["ingest"]["rejected"]
    assert finds.get("bad_items") == 2 and finds.get("future_date") == 1
    assert report["sources"]["rough_sleeping"]["ingest"]["rejected"].get("bad_people") == 2
    rejected = pd.read_csv(hostile["out"]["build"] / "rejected_rows.csv", dtype=str)
    assert len(rejected) == police["rejected_total"] + sum(finds.values()) + 2
    assert rejected["reason"].notna().all()
    corridor = (hostile["out"]["corridor"] / "a38" / "index.html").read_text("utf-8")
    assert "2999" not in corridor


def test_an_unusable_optional_file_is_a_note_and_the_build_goes_on(hostile):
    out = hostile["out"]["build"]
    report = json.loads((out / "run_report.json").read_text("utf-8"))
    [note] = [n for n in report["notes"] if n.startswith("no rough-sleeping snapshot: ")]
    assert "rough_sleeping_snapshot" in note and "\n" not in note
    assert not (out / "rough_sleeping").exists()
    index = (out / "index.html").read_text("utf-8")
    assert "rough_sleeping/index.html" not in index
    assert "no rough-sleeping snapshot: " in index  # the partner sees why
    assert report["complete"] is True
    assert {"a38/index.html", "towns/index.html"} <= set(report["outputs"])  # steps after it


def test_every_physical_line_is_counted(hostile):
    report = json.loads((hostile["out"]["build"] / "run_report.json").read_text("utf-8"))
    police = report["sources"]["police_uk"]["ingest"]
    lines = sum(
        len(gzip.decompress(path.read_bytes()).splitlines())
        for path in sorted((hostile["data"] / "crime").glob("*.csv.gz"))
    )
    assert police["lines_read"] == lines
    assert lines == police["header_lines"] + police["row_lines"] + police["blank_lines"]
    assert police["rows_read"] == police["accepted"] + police["rejected_total"]


@pytest.mark.browser
def test_no_payload_runs_in_any_page_and_each_shows_as_text(hostile):
    browser_support.require_browser()
    pages = [
        path
        for out in hostile["out"].values()
        for path in sorted(out.rglob("*.html"))
        if MARK in path.read_text(encoding="utf-8")
    ]
    # The ten Safer Town pages of the build share one template and hold the payload only in
    # their group names: Penzance stands for them (its map also holds a payload location).
    towns = hostile["out"]["build"] / "towns"
    skip = {p for p in towns.glob("*.html") if p.name not in ("penzance.html", "index.html")}
    checked = {}
    with browser_support.launch_browser() as browser:
        for path in pages:
            text = path.read_text(encoding="utf-8")
            assert "<script>window" not in text and "<img src=x" not in text
            if "leaflet" in text:
                checked[path.name] = browser_support.check_text_page(path, browser=browser)
                continue
            if path in skip:
                continue
            with browser_support.open_page(path, wait_for="body", browser=browser) as session:
                session.page.wait_for_timeout(200)
                assert session.page.evaluate(f"() => {MARK}") is None
                assert session.errors == []
    plymouth = next(v for k, v in checked.items() if k.startswith("hotspots_plymouth"))
    assert any(payload("location") in t for t in plymouth["tooltip"])
    assert any(payload("bin0") in t for t in checked["drug_litter_map.html"]["popup"])
    assert any(payload("accident1") in t for t in checked["corridor_map.html"]["popup"])
    town_map = checked[f"{safe_name(payload('town'))}_map.html"]
    assert any(payload("location") in t for t in town_map["tooltip"])
