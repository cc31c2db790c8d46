"""A site that holds together (issue 15, items 5 and 8): every non-map page has lang="en-GB",
a title and a link back to the index and credits only the sources it uses; the towns and
hotspots folders keep an index rebuilt from the files present; names are matched ignoring
case, with a suggestion for a near miss, before the crime data are read."""

import json
import os
import re
import shutil
from pathlib import Path

import browser_support
import pandas as pd
import pytest
from conftest import REPO, run_cli

TEN_TOWNS = {"St Austell", "Newquay", "Truro", "Penzance", "Falmouth", "Bodmin", "Camborne",
             "Redruth", "Liskeard", "Saltash"}  # fmt: skip
EXPECTED = ["assessment.html", "towns/index.html", "towns/penzance.html", "hotspots/index.html",
            "collisions/index.html", "rough_sleeping/index.html", "a38/index.html",
            "outcomes/index.html"]  # fmt: skip


def non_map_pages(out: Path) -> list[Path]:
    """Every HTML page of the site that is not a Leaflet map, the index itself left out."""
    pages = sorted(out.rglob("*.html"))
    return [p for p in pages if p != out / "index.html" and "leaflet" not in _text(p).lower()]


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def page_facts(path: Path) -> dict:
    """The page's lang, the title in its head, and the link of its site navigation."""
    text = _text(path)
    lang = re.search(r'<html lang="([^"]*)"', text)
    head = text.split("</head>", 1)[0]
    title = re.search(r"<title>(.*?)</title>", head, flags=re.S)
    back = re.search(r'<nav class="site"><a href="([^"]+)"', text)
    return {
        "lang": lang and lang.group(1),
        "title": title and title.group(1).strip(),
        "back": back and back.group(1),
    }


def table_rows(html: str, table_id: str) -> list[str]:
    """The first cell's text of each body row of the table ``table_id``."""
    body = html.split(f'id="{table_id}"', 1)[1].split("</tbody>", 1)[0]
    return re.findall(r"<tr><td><a href=\"[^\"]+\">([^<]+)</a>", body)


@pytest.mark.data
def test_every_non_map_page_has_lang_a_title_and_a_link_back(built):
    out, _ = built
    pages = non_map_pages(out)
    names = {str(p.relative_to(out)) for p in pages}
    assert set(EXPECTED) <= names
    assert len([n for n in names if n.startswith("towns/") and n != "towns/index.html"]) == 10
    for page in pages:
        facts = page_facts(page)
        assert facts["lang"] == "en-GB", page
        assert facts["title"], page
        assert facts["back"], page
        assert (page.parent / facts["back"]).resolve() == (out / "index.html").resolve(), page
    assert page_facts(out / "index.html")["lang"] == "en-GB"


@pytest.mark.data
def test_pages_credit_only_the_sources_they_use(built):
    out, _ = built
    for name in ("a38/index.html", "a38/corridor_map.html", "collisions/index.html",
                 "collisions/collision_map.html", "rough_sleeping/index.html"):  # fmt: skip
        text = _text(out / name)
        assert "police.uk" not in text, name
        assert "Open Government Licence" in text, name
    assert "STATS19" in _text(out / "collisions/index.html")
    for name in ("towns/index.html", "towns/truro.html", "hotspots/index.html", "assessment.html",
                 "outcomes/index.html"):  # fmt: skip
        assert "data.police.uk" in _text(out / name), name


@pytest.mark.data
def test_the_corridor_page_shows_names_not_codes_or_local_paths(built):
    out, _ = built
    text = _text(out / "a38" / "index.html")
    assert "A38 in Cornwall, from section" in text
    assert "The districts are Cornwall " in text
    assert "E06000052" not in text
    assert str(REPO) not in text and "/boundaries/" not in text
    assert "<dd>a38_corridor.toml</dd>" in text


@pytest.mark.data
def test_the_index_links_the_folder_indexes_and_the_hotspot_index_lists_every_map(built):
    out, _ = built
    index = _text(out / "index.html")
    assert 'href="towns/index.html"' in index and 'href="hotspots/index.html"' in index
    hotspots = _text(out / "hotspots" / "index.html")
    maps = sorted(p.name for p in (out / "hotspots").glob("hotspots_*.html"))
    assert len(maps) >= 7
    linked = re.findall(r'<td><a href="(hotspots_[^"]+\.html)">', hotspots)
    assert sorted(linked) == maps
    areas = table_rows(hotspots, "hotspot-maps")
    assert {"Plymouth", "Cornwall", "Exeter", "Torbay"} <= set(areas)
    assert all((out / "hotspots" / name).is_file() for name in linked)


@pytest.mark.data
@pytest.mark.browser
def test_the_back_links_work_in_a_browser(built):
    browser_support.require_browser()
    out, _ = built
    home = (out / "index.html").resolve().as_uri()
    with browser_support.launch_browser() as browser:
        for name in EXPECTED:
            with browser_support.open_page(out / name, wait_for="nav.site a",
                                           browser=browser) as session:  # fmt: skip
                page = session.page
                assert page.evaluate("() => document.documentElement.lang") == "en-GB"
                assert page.title()
                page.locator("nav.site a").first.click()
                page.wait_for_url(home)
                assert page.locator("h1").first.inner_text()
                assert session.errors == [] and session.unexpected == []


def _inodes(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_ino for p in folder.iterdir() if p.is_file()}


@pytest.fixture(scope="module")
def partial(built, mirror, tmp_path_factory):
    """A copy of the full build after ``profile --town penzance`` and ``hotspots --area
    ' plymouth '``: (site, inodes of towns/ and hotspots/ before, the two processes)."""
    out = tmp_path_factory.mktemp("partial") / "maps"
    shutil.copytree(built[0], out, symlinks=True)
    before = {folder: _inodes(out / folder) for folder in ("towns", "hotspots")}
    index_before = _text(out / "index.html")
    profile = run_cli("--quiet", "profile", "--town", "penzance", "--data-dir", mirror,
                      "--out", out)  # fmt: skip
    hot = run_cli("--quiet", "hotspots", "--area", " plymouth ", "--data-dir", mirror,
                  "--out", out)  # fmt: skip
    return out, before, index_before, profile, hot


@pytest.mark.data
def test_profile_of_one_town_after_a_build_leaves_ten_towns(partial):
    out, before, _, profile, _ = partial
    assert profile.returncode == 0, profile.stderr
    towns = out / "towns"
    after = _inodes(towns)
    assert after["penzance.html"] != before["towns"]["penzance.html"]  # written again
    assert after["truro.html"] == before["towns"]["truro.html"]  # kept as it was
    index = _text(towns / "index.html")
    assert set(table_rows(index, "towns")) == TEN_TOWNS
    assert re.search(r"<td>[0-9]+</td>\s*<td>[0-9,]+</td>", index)  # ranks and figures
    match = pd.read_csv(towns / "town_definitions.csv", encoding="utf-8-sig")
    assert set(match["town"]) == TEN_TOWNS
    report = json.loads(_text(out / "run_report.json"))
    assert {f"towns/{t}.html" for t in ("penzance", "truro", "st-austell")} <= set(
        report["outputs"]
    )
    assert [u["command"] for u in report["updates"]] == ["profile", "hotspots"]


@pytest.mark.data
def test_hotspots_of_one_area_write_into_hotspots_and_keep_the_others(partial):
    out, before, index_before, _, hot = partial
    assert hot.returncode == 0, hot.stderr
    folder = out / "hotspots"
    after = _inodes(folder)
    plymouth = "hotspots_plymouth.html"
    assert after[plymouth] != before["hotspots"][plymouth]
    assert after["hotspots_cornwall.html"] == (before["hotspots"]["hotspots_cornwall.html"])
    assert set(after) == set(before["hotspots"])  # nothing new at the top, nothing lost
    assert not list(out.glob("hotspots_*"))  # never written to the site's root
    areas = table_rows(_text(folder / "index.html"), "hotspot-maps")
    assert len(areas) == len(list(folder.glob("hotspots_*.html"))) >= 7
    assert "Plymouth" in areas
    assert _text(out / "index.html") == index_before


@pytest.mark.data
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("profile", "--town", "Penzanse"), "no town called 'Penzanse'; did you mean Penzance?"),
        (("hotspots", "--area", "Plymoth"), "no CSP called 'Plymoth'; did you mean Plymouth?"),
    ],
    ids=["profile", "hotspots"],
)
def test_a_misspelt_name_is_refused_with_a_suggestion_before_the_crime_is_read(
    args, message, mirror, tmp_path
):
    # The crime file given does not exist: had it been read first, it would be the error.
    result = run_cli(*args, "--crime", tmp_path / "absent.csv", "--data-dir", mirror,
                     "--out", tmp_path / "maps")  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == f"psa-geo: error: {message}"
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "maps").exists()


@pytest.mark.data
def test_synth_matches_the_town_ignoring_case(mirror, tmp_path):
    bad = run_cli("synth", "--source", "drug_litter", "--town", "penzanse", "--data-dir",
                  mirror, "--out", tmp_path)  # fmt: skip
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines()[-1] == (
        "psa-geo: error: no town called 'penzanse'; did you mean Penzance?"
    )
    good = run_cli("--quiet", "synth", "--source", "needle_bins", "--town", "PENZANCE",
                   "--data-dir", mirror, "--out", tmp_path)  # fmt: skip
    assert good.returncode == 0, good.stderr
    [written] = tmp_path.glob("synthetic_needle_bins_*.csv")
    assert "penzance" in written.name
    assert os.path.getsize(written) > 0
