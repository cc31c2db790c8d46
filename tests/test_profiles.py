"""Safer Towns profiles on the real data: figures, pages, CLI and browser."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import browser_support
import pandas as pd
import pytest
from conftest import run_cli

import psa_geo
from psa_geo.build import load_study
from psa_geo.groups import load_crime_groups
from psa_geo.measures import ALL_CRIME, ASB

STUDY, COMPARISON = psa_geo.calendar_year(2019), psa_geo.calendar_year(2018)
TEN = ["St Austell", "Newquay", "Truro", "Penzance", "Falmouth",
       "Bodmin", "Camborne", "Redruth", "Liskeard", "Saltash"]  # fmt: skip


@pytest.fixture(scope="module")
def study(mirror):
    areas, events, _, _ = load_study(mirror, {})
    return areas, events


@pytest.fixture(scope="module")
def profiles(study):
    areas, events = study
    return psa_geo.town_profiles(
        events, areas, psa_geo.load_towns(areas=areas), study=STUDY, comparison=COMPARISON,
        groups=load_crime_groups(),
    )  # fmt: skip


@pytest.fixture(scope="module")
def pages(profiles, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("towns")
    psa_geo.write_profiles(profiles, out)
    return out


class _Tables(HTMLParser):
    """Cell texts of every table, by table id."""

    def __init__(self):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._id = self._row = self._cell = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self._id = dict(attrs).get("id") or f"table{len(self.tables)}"
            self.tables[self._id] = []
        elif tag == "tr" and self._id:
            self._row = []
            self.tables[self._id].append(self._row)
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "table":
            self._id = self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def tables_of(path: Path) -> dict[str, list[list[str]]]:
    parser = _Tables()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser.tables


@pytest.mark.data
def test_every_safer_town_has_a_profile(profiles, pages):
    assert [p.town for p in profiles] == TEN
    for p in profiles:
        assert p.population > 0 and p.deprivation["lsoas"] >= 3
        assert set(p.headline()["category"]) == {ALL_CRIME, ASB}
        for name in (f"{p.slug}.html", f"{p.slug}_map.html", f"{p.slug}_figures.csv"):
            assert (pages / name).is_file(), name
        html = (pages / f"{p.slug}.html").read_text(encoding="utf-8")
        assert "<svg" in html and "data:image/png;base64," in html
        # Sections without supplied data say so, and carry no figures.
        assert html.count('class="no-data"') == 2


@pytest.mark.data
def test_town_counts_are_the_sum_over_its_lsoas(study, profiles):
    areas, events = study
    towns = psa_geo.load_towns(areas=areas)
    groups = load_crime_groups()
    in_study = events[(events["area_status"] == "inside") & STUDY.contains(events["date"])]
    for p in profiles:
        codes = set(towns.loc[towns["town"] == p.town, "lsoa_code"])
        assert set(p.lsoas["lsoa_code"]) == codes
        crime = p.figures.set_index("category").loc[ALL_CRIME]
        assert crime["count"] == p.lsoas["count"].sum()
        direct = in_study["lsoa_code"].isin(codes) & in_study["category"].isin(groups[ALL_CRIME])
        assert crime["count"] == in_study.loc[direct, "weight"].sum()
        assert p.population == areas.loc[areas["lsoa_code"].isin(codes), "population"].sum()
        monthly = p.monthly[p.monthly["category"] == ALL_CRIME]
        assert monthly.loc[STUDY.contains(monthly["month"]), "count"].sum() == crime["count"]


@pytest.mark.data
def test_html_numbers_equal_the_python_figures(profiles, pages):
    for p in profiles:
        tables = tables_of(pages / f"{p.slug}.html")
        rows = {r[0]: r for r in tables["crime-types"][1:]}
        assert list(rows) == p.figures["category"].tolist()
        for record in p.figures.itertuples():
            row = rows[record.category]
            assert row[3] == f"{record.count:,}" and row[4] == f"{record.comparison_count:,}"
            assert row[2].startswith(f"{record.rate_per_1000:,.1f} (")
            assert row[1].startswith(record.trend)
        headline = {r[0]: r for r in tables["headline"][1:]}
        for record in p.headline().itertuples():
            assert headline[record.category][1] == f"{record.count:,}"
            assert record.vs_other_towns_95 in headline[record.category][8]
        repeats = p.hotspots[ALL_CRIME].repeats
        first = next(t for name, t in tables.items() if name.startswith("table"))
        assert first[1][1] == repeats["location"].iloc[0]


@pytest.mark.data
def test_index_ranks_the_towns(profiles, pages):
    rows = tables_of(pages / "index.html")["towns"][1:]
    assert sorted(r[0] for r in rows) == sorted(TEN)
    rates = {p.town: p.figures.set_index("category").loc[ALL_CRIME, "rate_per_1000"]
             for p in profiles}  # fmt: skip
    ranked = sorted(rates, key=rates.get, reverse=True)
    assert [r[0] for r in rows] == ranked
    assert [r[1] for r in rows] == [str(i) for i in range(1, 11)]


@pytest.mark.data
def test_other_towns_comparison_pools_the_rest(profiles):
    crime = pd.DataFrame(
        [p.figures.set_index("category").loc[ALL_CRIME] for p in profiles], index=TEN
    )
    rest = crime.drop("Truro")
    expected = 1000 * rest["count"].sum() / rest["population"].sum()
    assert crime.loc["Truro", "other_towns_rate_per_1000"] == pytest.approx(expected)
    assert (crime["parent_name"] == "Cornwall").all()


@pytest.mark.data
def test_any_town_from_a_list_of_lsoas_with_a_hostile_name(study, tmp_path):
    areas, events = study
    name = '../../<script>alert("x")</script>'
    exeter = areas.loc[areas["lad_name"] == "Exeter", "lsoa_code"].head(12).tolist()
    towns = psa_geo.define_town(name, areas, lsoas=exeter)
    [profile] = psa_geo.town_profiles(events, areas, towns, study=STUDY, comparison=COMPARISON,
                                      groups=load_crime_groups(), hotspots=False)  # fmt: skip
    assert profile.figures["parent_name"].iloc[0] == "Exeter"
    written = psa_geo.write_profiles([profile], tmp_path / "out")
    assert all(path.parent == tmp_path / "out" for path in written)
    html = written[0].read_text(encoding="utf-8")
    assert "<script>alert" not in html and "&lt;script&gt;" in html
    assert "other towns" in html  # a lone town has no other towns: shown as a dash
    assert re.search(r"vs_other_towns|–\)", html)


def test_unknown_town_lists_the_known_ones(study):
    areas, events = study
    with pytest.raises(psa_geo.PsaGeoError, match="no town called 'Atlantis'; choose one of: St"):
        psa_geo.town_profiles(events, areas, psa_geo.load_towns(), names=["Atlantis"],
                              study=STUDY, comparison=COMPARISON)  # fmt: skip


@pytest.mark.data
def test_profile_command(mirror, tmp_path):
    result = run_cli("profile", "--town", "Liskeard", "--study", "2019", "--data-dir", mirror,
                     "--out", tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "towns" / "liskeard.html").is_file()
    match = pd.read_csv(tmp_path / "towns" / "town_definitions.csv", encoding="utf-8-sig")
    assert match["town"].tolist() == ["Liskeard"]
    assert 0 < match["lsoa_in_bua_pct"].iloc[0] <= 100 and match["lsoa_count"].iloc[0] >= 3
    index = (tmp_path / "towns" / "index.html").read_text(encoding="utf-8")
    assert "How each town is defined" in index
    bad = run_cli("profile", "--town", "Atlantis", "--data-dir", mirror, "--out", tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines()[-1].startswith("psa-geo: error: no town called")


@pytest.mark.data
@pytest.mark.browser
def test_profile_and_index_in_a_browser(pages):
    browser_support.require_browser()
    with browser_support.open_page(pages / "penzance.html", wait_for="iframe",
                                   viewport=(1100, 900)) as session:  # fmt: skip
        frame = session.page.frame_locator("iframe")
        frame.locator(".leaflet-container").wait_for(state="attached")
        assert frame.locator("path.leaflet-interactive").count() >= 10
        frame.get_by_label("Emerging hot and cold spots (monthly Gi* trend)").check()
        assert "Persistent hot spot" in frame.locator("#psa-legend").inner_text()
        assert session.errors == [] and session.unexpected == []
        session.page.emulate_media(media="print")
        assert session.page.locator("img.print-only").is_visible()
        assert not session.page.locator("iframe").is_visible()
        session.page.screenshot(path=str(pages / "penzance_print.png"), full_page=True)
    with browser_support.open_page(pages / "index.html", wait_for="table#towns") as session:
        assert session.errors == [] and session.unexpected == []
        session.page.get_by_role("link", name="Penzance").click()
        session.page.wait_for_selector("h1")
        assert "Penzance: town profile" in session.page.locator("h1").inner_text()


@pytest.mark.data
def test_each_town_links_to_its_own_page_and_csv_names_are_defused(study, tmp_path):
    """Town names that differ only in case or punctuation would share one file: an error
    before anything is written; distinct names each get a page, linked from the index, and
    a formula in a name is defused in the CSVs."""
    import dataclasses

    areas, events = study
    codes = areas.loc[areas["lad_name"] == "Exeter", "lsoa_code"].tolist()
    names = ['=HYPERLINK("http://x","Exeter")', "Exeter North", "exeter-north 2"]
    towns = pd.concat(
        [psa_geo.define_town(n, areas, lsoas=codes[4 * i : 4 * i + 4]) for i, n in enumerate(names)]
    )
    profiles = psa_geo.town_profiles(events, areas, towns, study=STUDY, comparison=COMPARISON,
                                     groups=load_crime_groups(), hotspots=False)  # fmt: skip
    out = tmp_path / "out"
    clash = [dataclasses.replace(profiles[1], town="St Ives"),
             dataclasses.replace(profiles[2], town="St. Ives")]  # fmt: skip
    with pytest.raises(psa_geo.PsaGeoError, match=r"'St Ives' and 'St\. Ives' would share"):
        psa_geo.write_profiles(clash, out)
    assert not out.exists()

    psa_geo.write_profiles(profiles, out)
    index = (out / "index.html").read_text(encoding="utf-8")
    links = [h for h in re.findall(r'href="([^"#]+\.html)"', index) if not h.endswith("_map.html")]
    own = {p.town: p.slug + ".html" for p in profiles}
    assert len(set(own.values())) == 3 and set(own.values()) <= set(links)
    for town, page in own.items():
        html = (out / page).read_text(encoding="utf-8")
        assert f"<h1>{town}" in html.replace("&#34;", '"').replace("&quot;", '"')
        figures = pd.read_csv(out / page.replace(".html", "_figures.csv"), encoding="utf-8-sig",
                              dtype=str)  # fmt: skip
        assert set(figures["area_name"]) == {("'" if town.startswith("=") else "") + town}
