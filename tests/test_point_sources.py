"""Point files in a run: figures by LSOA, town and CSP, suppression of the sensitive source,
profile sections, the demo apart from the real outputs, and the maps in a browser."""

import csv
import re

import browser_support
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import run_cli
from test_profiles import tables_of

import psa_geo
from psa_geo.build import build_study
from psa_geo.errors import InputFileError
from psa_geo.periods import calendar_year
from psa_geo.point_sources import load_point_sources, point_tables
from psa_geo.points import SYNTHETIC_STAMP, load_points_config
from psa_geo.towns import with_towns

pytestmark = pytest.mark.data

STUDY = calendar_year(2019)  # the default: the latest 12 months of police.uk data
FREE_TEXT = "doorway of the chapel"
BAD_DATE_XY = (181_912.0, 44_871.0)  # a rejected rough-sleeping row's location (Truro)


def random_points(areas, towns, names, n, rng) -> gpd.GeoDataFrame:
    """``n`` points spread over the LSOAs of the towns ``names``, as a council would record."""
    codes = towns.loc[towns["town"].isin(names), "lsoa_code"].to_numpy()
    shapes = areas.set_index("lsoa_code").loc[codes, "geometry"]
    points = []
    while len(points) < n:
        shape = shapes.iloc[rng.integers(len(shapes))]
        x0, y0, x1, y1 = shape.bounds
        p = shapely.Point(rng.uniform(x0, x1), rng.uniform(y0, y1))
        if shape.contains(p):
            points.append(p)
    days = pd.Timestamp("2018-01-01") + pd.to_timedelta(rng.integers(0, 730, n), unit="D")
    return gpd.GeoDataFrame({"date": days}, geometry=points, crs="EPSG:27700")


@pytest.fixture(scope="module")
def records(areas, tmp_path_factory):
    """A needle-find file (grid references) and a rough-sleeping file (WGS84, person ids, free
    text, two rows with impossible dates) in Truro, Falmouth and Penzance."""
    folder = tmp_path_factory.mktemp("records")
    towns = psa_geo.load_towns(areas=areas)
    rng = np.random.default_rng(7)
    finds = random_points(areas, towns, ["Truro", "Falmouth", "Penzance"], 240, rng)
    finds["items"] = rng.integers(1, 6, len(finds))
    with (folder / "finds.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Date found", "Easting", "Northing", "Items", "Reported by", "Notes"])
        for row in finds.itertuples():
            w.writerow([row.date.strftime("%d/%m/%Y"), round(row.geometry.x), round(row.geometry.y),
                        row.items, "Member of the public", "near the bus stop"])  # fmt: skip
    reports = random_points(areas, towns, ["Truro", "Falmouth"], 90, rng)
    reports["people"] = rng.choice([1, 1, 1, 2], len(reports))
    reports["person_id"] = [f"P{k:03d}" for k in rng.integers(0, 25, len(reports))]
    wgs = reports.to_crs("EPSG:4326")
    with (folder / "reports.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["date", "latitude", "longitude", "people", "person_id", "notes"])
        for row, p in zip(reports.itertuples(), wgs.geometry, strict=True):
            w.writerow([row.date.date(), f"{p.y:.6f}", f"{p.x:.6f}", row.people, row.person_id,
                        FREE_TEXT])  # fmt: skip
        bad = gpd.GeoSeries([shapely.Point(BAD_DATE_XY)], crs="EPSG:27700").to_crs("EPSG:4326")
        for day in ("2019-02-31", "2019-13-01"):
            w.writerow([day, f"{bad[0].y:.6f}", f"{bad[0].x:.6f}", 1, "P900", FREE_TEXT])
    return folder, finds, reports, towns


@pytest.fixture(scope="module")
def run(mirror, records, tmp_path_factory):
    folder = records[0]
    out = tmp_path_factory.mktemp("maps")
    points = [("drug_litter", folder / "finds.csv"), ("rough_sleeping", folder / "reports.csv")]
    result = build_study(mirror, out, points=points, demo=True)
    return out, result


def placed(frame, areas, towns):
    """Independent placing by a spatial join: LSOA, CSP and town of each record."""
    joined = gpd.sjoin(frame, areas[["lsoa_code", "csp_code", "geometry"]], predicate="within")
    return joined.assign(town=joined["lsoa_code"].map(towns.set_index("lsoa_code")["town"]))


def test_finds_by_town_and_csp_equal_a_direct_count(run, records, areas):
    out, _ = run
    _, finds, _, towns = records
    mine = placed(finds[STUDY.contains(finds["date"])], areas, towns)
    town = pd.read_csv(out / "points" / "drug_litter_town.csv").set_index("area_name")
    for name in ("Truro", "Falmouth", "Penzance", "Bodmin"):
        rows = mine[mine["town"] == name]
        assert town.loc[name, "count"] == len(rows), name
        assert town.loc[name, "items"] == rows["items"].sum(), name
    pop = areas.loc[areas["lsoa_code"].isin(towns.loc[towns["town"] == "Truro", "lsoa_code"])]
    rate = 1000 * (mine["town"] == "Truro").sum() / pop["population"].sum()
    assert town.loc["Truro", "rate_per_1000"] == pytest.approx(rate, abs=1e-3)
    assert town.loc["Truro", "per_km2"] == pytest.approx(
        (mine["town"] == "Truro").sum() / pop["area_km2"].sum(), abs=1e-3
    )
    csp = pd.read_csv(out / "points" / "drug_litter_csp.csv").set_index("area_name")
    assert csp.loc["Cornwall", "count"] == len(mine)
    # The finds are all in Cornwall: elsewhere no data was supplied, which is not 0 finds.
    assert pd.isna(csp.loc["Plymouth", "count"]) and pd.isna(csp.loc["Plymouth", "rate_per_1000"])
    assert csp.loc["Plymouth", "trend_word"] == "no data supplied"
    before = placed(finds[calendar_year(2018).contains(finds["date"])], areas, towns)
    assert csp.loc["Cornwall", "comparison_count"] == len(before)


def lines_of(tables: dict[str, pd.DataFrame], areas) -> list[list[str]]:
    """The shown cells of each line that adds up: each CSP and town with its LSOAs."""
    lines = []
    lsoa = tables["lsoa"].set_index("area_code")["reports"]
    for level in ("csp", "town"):
        table = tables[level].set_index("area_name")
        parent = with_towns(areas, psa_geo.load_towns(areas=areas)).set_index("lsoa_code")[
            f"{level}_name"
        ]
        for name, value in table["reports"].items():
            lines.append([value, *lsoa[parent.index[parent == name]].tolist()])
    return lines


def test_rough_sleeping_counts_are_suppressed(run, records, areas):
    out, _ = run
    _, _, reports, towns = records
    mine = placed(reports[STUDY.contains(reports["date"])], areas, towns)
    tables = {
        level: pd.read_csv(out / "points" / f"rough_sleeping_{level}.csv", dtype=str)
        for level in ("lsoa", "csp", "town")
    }
    truth = {"lsoa": mine.groupby("lsoa_code").size(), "town": mine.groupby("town").size(),
             "csp": mine.groupby("csp_code").size()}  # fmt: skip
    key = {"lsoa": "area_code", "town": "area_name", "csp": "area_code"}
    # The file covers the local authorities it has a record in (all reports: any period).
    lads = set(
        placed(reports, areas, towns)["lsoa_code"].map(areas.set_index("lsoa_code")["lad_code"])
    )
    covered = areas[areas["lad_code"].isin(lads)]
    known = {"lsoa": set(covered["lsoa_code"]), "csp": set(covered["csp_code"]),
             "town": set(towns["town"])}  # fmt: skip
    for level, table in tables.items():
        for k, shown in zip(table[key[level]], table["reports"], strict=True):
            true = int(truth[level].get(k, 0))
            if k not in known[level]:
                assert shown == "no data supplied", (level, k)
            elif 1 <= true <= 4:
                assert shown == "<5", (level, k)
            elif shown != "x":  # x: hidden so that a "<5" cannot be worked out
                assert shown == str(true), (level, k)
    assert (tables["lsoa"]["reports"] == "<5").sum() >= 2  # the data do have small counts
    for line in lines_of(tables, areas):
        assert sum(v in ("<5", "x") for v in line) != 1, line
    # The CSP-by-quarter grid: no row or column with a single hidden cell.
    grid = pd.read_csv(out / "points" / "rough_sleeping_csp_quarter.csv", dtype=str)
    grid = grid[grid["measure"] == "reports"].drop(columns=["measure", "area_code", "area_name"])
    hidden = grid.isin(["<5", "x"]).to_numpy()
    assert (hidden.sum(axis=0) != 1).all() and (hidden.sum(axis=1) != 1).all()


def test_no_free_text_or_rejected_location_from_the_sensitive_source(run):
    out, result = run
    rejected = pd.read_csv(out / "rejected_rows.csv", dtype=str)
    rough = rejected[rejected["source"] == "rough_sleeping"]
    assert len(rough) == 2 and set(rough["reason"]) == {"bad_date"}
    assert (rough["latitude"] == "(withheld: sensitive source)").all()
    assert result.report["sources"]["rough_sleeping"]["ingest"]["rejected"] == {"bad_date": 2}
    for path in out.rglob("*"):
        if path.suffix in (".html", ".csv", ".json"):
            assert FREE_TEXT not in path.read_text(encoding="utf-8-sig"), path


def test_profiles_show_the_town_figures(run):
    out, _ = run
    town = pd.read_csv(out / "points" / "drug_litter_town.csv").set_index("area_name")
    rough = pd.read_csv(out / "points" / "rough_sleeping_town.csv", dtype=str)
    rough = rough.set_index("area_name")
    truro = tables_of(out / "towns" / "truro.html")
    assert truro["drug_litter"][1][0] == f"{town.loc['Truro', 'count']:,}"
    assert truro["drug_litter"][1][1] == f"{town.loc['Truro', 'items']:,}"
    cells = dict(truro["rough_sleeping"][1:])
    assert cells["Reports"] == rough.loc["Truro", "reports"]
    assert cells["Distinct people"] == rough.loc["Truro", "distinct_people"]
    # A town with no records in the file shows zeros, and the index links the page.
    bodmin = tables_of(out / "towns" / "bodmin.html")
    assert bodmin["drug_litter"][1][0] == "0"
    assert 'href="points/index.html"' in (out / "index.html").read_text(encoding="utf-8")


def test_the_demo_is_stamped_and_apart_from_the_real_outputs(run):
    out, _ = run
    demo = out / "demo"
    for path in [*(demo / "points").iterdir(), *(demo / "data").glob("*.csv")]:
        assert SYNTHETIC_STAMP in path.read_text(encoding="utf-8-sig").lower(), path
    for page in ("towns/penzance.html", "towns/index.html"):
        assert "SYNTHETIC EXAMPLE DATA" in (demo / page).read_text(encoding="utf-8"), page
    for path in out.rglob("*"):
        if path.suffix in (".html", ".csv", ".json") and demo not in path.parents:
            assert SYNTHETIC_STAMP not in path.read_text(encoding="utf-8-sig").lower(), path


def test_point_and_demo_pages_link_back_and_credit_no_crime_data(run):
    from test_site_pages import non_map_pages, page_facts

    out, _ = run
    pages = {str(p.relative_to(out)): p for p in non_map_pages(out)}
    wanted = {"points/index.html", "demo/points/index.html", "demo/towns/index.html",
              "demo/towns/penzance.html"}  # fmt: skip
    assert wanted <= set(pages)
    for name in wanted:
        facts = page_facts(pages[name])
        assert facts["lang"] == "en-GB" and facts["title"], name
        assert (pages[name].parent / facts["back"]).resolve() == (out / "index.html").resolve()
    for name in ("points/index.html", "demo/points/index.html"):
        assert "police.uk" not in pages[name].read_text(encoding="utf-8"), name


def test_synthetic_and_real_files_never_mix(run, records, areas):
    out, _ = run
    synthetic = out / "demo" / "data" / "synthetic_drug_litter.csv"
    with pytest.raises(InputFileError, match=r"synthetic example data.*--demo") as err:
        load_point_sources([("drug_litter", synthetic)], areas)
    assert str(synthetic) in str(err.value) and "\n" not in str(err.value)
    real = records[0] / "finds.csv"
    with pytest.raises(InputFileError, match="not synthetic"):
        load_point_sources([("drug_litter", real)], areas, synthetic=True)


def test_cli_refuses_a_bad_points_option(mirror, tmp_path):
    result = run_cli("build", "--data-dir", mirror, "--out", tmp_path, "--points", "finds.csv")
    assert result.returncode != 0
    assert "SOURCE=FILE" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    missing = tmp_path / "points.toml"
    result = run_cli("build", "--data-dir", mirror, "--out", tmp_path, "--points-config", missing)
    assert result.returncode != 0 and str(missing) in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.browser
def test_point_maps_in_a_browser(run, areas):
    browser_support.require_browser()
    out, _ = run
    rough = out / "points" / "rough_sleeping_map.html"
    with browser_support.open_page(rough) as session:
        page = session.page
        n_cornwall = int((areas["csp_name"] == "Cornwall").sum())
        assert page.locator("path.leaflet-interactive").count() == n_cornwall
        assert page.locator(".leaflet-marker-icon").count() == 0
        assert "Fewer than 5" in page.locator(".psa-legend").inner_text()
        assert session.errors == [] and session.unexpected == []
    demo = out / "demo" / "points" / "drug_litter_map.html"
    bins = pd.read_csv(out / "demo" / "data" / "synthetic_needle_bins.csv")
    with browser_support.open_page(demo) as session:
        assert session.page.locator(".psa-bin").count() == len(bins)
        assert "synthetic example data" in session.page.locator(".psa-title").inner_text()
        assert session.errors == [] and session.unexpected == []


def test_every_map_of_a_points_and_demo_build_links_back_to_the_site_index(run):
    out, _ = run
    pages = [p for p in out.rglob("*_map.html") if p.parent.name in ("points", "towns")]
    assert {p.parent.relative_to(out).as_posix() for p in pages} == {
        "points",
        "towns",
        "demo/points",
        "demo/towns",
    }
    for page in pages:
        href = re.search(r'<div id="psa-home"[^>]*><a href="([^"]+)"', page.read_text("utf-8"))
        assert (page.parent / href.group(1)).resolve() == (out / "index.html").resolve(), page
    assert (out / "index.html").is_file()


@pytest.mark.parametrize("threshold", [3, 10])
def test_the_suppression_threshold_is_configurable(records, areas, threshold):
    folder, _, _, towns = records
    placed_areas = with_towns(areas, towns)
    source = load_point_sources([("rough_sleeping", folder / "reports.csv")], placed_areas,
                                towns=towns)["rough_sleeping"]  # fmt: skip
    tables = point_tables(source, placed_areas, study=STUDY, comparison=calendar_year(2018),
                          threshold=threshold)  # fmt: skip
    shown = pd.concat([tables[level]["reports"] for level in ("lsoa", "town", "csp")])
    numbers = pd.to_numeric(shown, errors="coerce").dropna()
    assert not numbers.between(1, threshold - 1).any()
    assert (shown == f"<{threshold}").any()


def test_points_config_file(records, tmp_path):
    folder = records[0]
    config = folder / "points.toml"
    text = '[points]\ndrug_litter = "finds.csv"\nrough_sleeping = "reports.csv"\n'
    config.write_text(text, encoding="utf-8-sig")  # a BOM is fine
    assert load_points_config(config) == [
        ("drug_litter", folder / "finds.csv"),
        ("rough_sleeping", folder / "reports.csv"),
    ]
    for text, message in (
        ("[other]\n", "no \\[points\\] table"),
        ('[points]\n"Bad Name" = "x.csv"\n', "snake_case"),
        ("[points]\ndrug_litter = 3\n", "should be a file or folder"),
        ("[points\n", "not valid TOML"),
        ("[points]\n" + "x" * 41 + ' = "x.csv"\n', "at most 40 characters"),
        ("\ufeff[points]\ndrug_litter = 'x.csv'\n".encode("utf-16"), "it is UTF-16"),
        ("[points]\n# café\n".encode("latin-1"), "byte 0xe9 on line 2; save it as UTF-8 TOML"),
        ("", "no \\[points\\] table"),
    ):
        bad = tmp_path / "bad.toml"
        bad.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
        with pytest.raises(InputFileError, match=message) as err:
            load_points_config(bad)
        assert str(bad) in str(err.value) and "\n" not in str(err.value)


@pytest.mark.data
def test_a_sensitive_source_with_no_accepted_record_still_writes_its_page(areas, tmp_path):
    towns = psa_geo.load_towns(areas=areas)
    path = tmp_path / "reports.csv"
    path.write_text("date,easting,northing,people\n2019-13-01,182000,44300,1\n", encoding="utf-8")
    placed_areas = with_towns(areas, towns)
    sources = load_point_sources([("rough_sleeping", path)], placed_areas, towns=towns)
    assert sources["rough_sleeping"].read.rejected == {"bad_date": 1}
    tables = point_tables(sources["rough_sleeping"], placed_areas, study=STUDY,
                          comparison=calendar_year(2018))  # fmt: skip
    # No record, so no local authority is covered: no data supplied, not 0, anywhere.
    assert "people" in tables["csp"] and (tables["csp"]["people"] == "no data supplied").all()
    psa_geo.write_point_sources(sources, placed_areas, tmp_path / "out", study=STUDY,
                                comparison=calendar_year(2018))  # fmt: skip
    page = (tmp_path / "out" / "points" / "index.html").read_text(encoding="utf-8")
    assert "People seen" in page and "No map: no record was placed in the area." in page
    assert not (tmp_path / "out" / "points" / "rough_sleeping_map.html").exists()


def test_points_config_coverage(records, areas, tmp_path):
    folder = records[0]
    config = folder / "coverage.toml"
    config.write_text(
        '[points]\ndrug_litter = { file = "finds.csv", coverage = ["cornwall", "E06000026"] }\n',
        encoding="utf-8",
    )
    assert load_points_config(config) == [
        ("drug_litter", folder / "finds.csv", ("cornwall", "E06000026"))
    ]
    sources = load_point_sources(load_points_config(config), areas)
    assert sources["drug_litter"].coverage == ("Cornwall", "Plymouth")  # names, any case
    for text, message in (
        ('[points]\ndrug_litter = { file = "x.csv", coverage = "Cornwall" }\n', "a list of"),
        ('[points]\ndrug_litter = { file = "x.csv", area = ["Cornwall"] }\n', "'area'"),
        ('[points]\ndrug_litter = { coverage = ["Cornwall"] }\n', "file or folder name"),
    ):
        bad = tmp_path / "bad.toml"
        bad.write_text(text, encoding="utf-8")
        with pytest.raises(InputFileError, match=message) as err:
            load_points_config(bad)
        assert str(bad) in str(err.value) and "\n" not in str(err.value)
    config.write_text('[points]\ndrug_litter = { file = "finds.csv", coverage = ["Cornwal"] }\n')
    with pytest.raises(InputFileError, match="did you mean Cornwall") as err:
        load_point_sources(load_points_config(config), areas)
    assert "finds.csv" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.browser
def test_a_few_finds_in_one_town_are_mapped_as_markers_where_they_are(areas, tmp_path):
    """Eight finds in Penzance, from a file covering Cornwall and Plymouth: the map shows each
    find (too few for hotspots), first fitted to them; Plymouth has 0 finds, Torbay and the
    towns elsewhere no data."""
    browser_support.require_browser()
    towns = psa_geo.load_towns(areas=areas)
    placed_areas = with_towns(areas, towns)
    finds = random_points(areas, towns, ["Penzance"], 8, np.random.default_rng(7))
    wgs = finds.to_crs("EPSG:4326")
    path = tmp_path / "finds.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["date", "latitude", "longitude", "items"])
        for i, p in enumerate(wgs.geometry):
            w.writerow([f"2019-0{1 + i % 9}-1{i}", f"{p.y:.6f}", f"{p.x:.6f}", 1 + i % 3])
    sources = load_point_sources([("drug_litter", path, ("Cornwall", "Plymouth"))], placed_areas,
                                 towns=towns)  # fmt: skip
    _, tables = psa_geo.write_point_sources(sources, placed_areas, tmp_path / "out", study=STUDY,
                                            comparison=calendar_year(2018))  # fmt: skip
    csp = tables["drug_litter"]["csp"].set_index("area_name")
    assert csp.loc["Cornwall", "count"] == 8 and csp.loc["Plymouth", "count"] == 0
    assert pd.isna(csp.loc["Torbay", "count"]) and csp.loc["Torbay", "population"] == 0
    page = tmp_path / "out" / "points" / "drug_litter_map.html"
    with browser_support.open_page(page, wait_for=browser_support.FITTED) as session:
        shown = session.page.evaluate(
            """() => {
              const map = Object.values(window).find(v => v instanceof L.Map);
              const b = map.getBounds(), study = map.psaStudyBounds;
              return {south: study.getSouth(), west: study.getWest(), north: study.getNorth(),
                      east: study.getEast(), inView: b.contains(study)};
            }"""
        )
        legend = session.page.locator("#psa-legend").inner_text()
        markers = session.page.locator("path.leaflet-interactive, .psa-cluster").count()
        assert session.errors == [] and session.unexpected == []
    west, south, east, north = wgs.total_bounds
    assert shown["inView"] and shown["west"] <= west and shown["east"] >= east
    assert shown["south"] <= south and shown["north"] >= north
    assert shown["east"] - shown["west"] < 0.2  # about Penzance, not Cornwall (2.5 degrees wide)
    assert "Fewer than 30 finds" in legend and "Hot spot" not in legend
    assert markers > 0
