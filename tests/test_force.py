"""The force definition (psa_geo.force) and a build for part of a force: Cornwall and the
Isles of Scilly, defined from the real data, against the full Devon & Cornwall build."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from conftest import REPO, run_cli

import psa_geo
from psa_geo.areas import PENINSULA
from psa_geo.crime_files import FORCE
from psa_geo.force import load_force
from psa_geo.measures import FORCE_NAME

AREA = "Cornwall and the Isles of Scilly"
CIOS_LADS = {"E06000052", "E06000053"}

CORNWALL_TOML = f"""\
# Cornwall and the Isles of Scilly: part of the Devon & Cornwall police force area.
name = "Devon & Cornwall Police"
police_uk = "devon-and-cornwall"
part_of_force = true

[parent]
code = "E06000052"
name = "{AREA}"
short_name = "{AREA}"

[[csp]]
code = "E22000356"
name = "Cornwall"
label = "Cornwall"
lads = {{ E06000052 = "Cornwall" }}

[[csp]]
code = "E22000050"
name = "Isles of Scilly"
label = "Isles of Scilly"
lads = {{ E06000053 = "Isles of Scilly" }}

[sections]
towns = "{(REPO / "boundaries" / "safer_towns.csv").as_posix()}"
"""


def _write(folder: Path, text: str, name: str = "force.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def cornwall(mirror, tmp_path_factory):
    """``psa-geo build --force cornwall.toml`` on the real data: (output folder, report)."""
    folder = tmp_path_factory.mktemp("cornwall")
    force = _write(folder, CORNWALL_TOML)
    out = folder / "maps"
    result = run_cli("build", "--data-dir", mirror, "--out", out, "--force", force)
    assert result.returncode == 0, result.stderr
    return out, json.loads((out / "run_report.json").read_text(encoding="utf-8"))


def _rates(out: Path, level: str) -> pd.DataFrame:
    return pd.read_csv(
        out / "tables" / f"rates_{level}.csv", dtype={"area_code": str}, encoding="utf-8-sig"
    )


@pytest.mark.data
def test_every_page_names_the_area_and_none_devon(cornwall):
    out, _ = cornwall
    pages = sorted(out.rglob("*.html"))
    assert {"index.html", "assessment.html", "peninsula_map.html"} <= {p.name for p in pages}
    assert any(p.parent.name == "towns" for p in pages)
    assert any(p.parent.name == "hotspots" for p in pages)
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert AREA in text, page
        # As words: the search box of a map lists real ward names such as "Rame Peninsular".
        assert not re.search(r"\bDevon\b", text), page
        assert not re.search(r"\bPeninsula\b", text), page


@pytest.mark.data
@pytest.mark.parametrize("level", ["lsoa", "ward", "lad", "csp"])
def test_counts_equal_those_of_the_same_areas_in_the_full_build(cornwall, built, level):
    ours = _rates(cornwall[0], level)
    full = _rates(built[0], level)
    full = full[full["area_code"].isin(ours["area_code"])]
    keys = ["area_code", "category"]
    columns = ["area_name", "population", "count", "comparison_count", "rate_per_1000"]
    left = ours.set_index(keys)[columns].sort_index()
    right = full.set_index(keys)[columns].sort_index()
    assert len(left) > 0
    pd.testing.assert_frame_equal(left, right)


@pytest.fixture(scope="module")
def _data_dir_areas(mirror, tmp_path_factory):
    force = _write(tmp_path_factory.mktemp("force"), CORNWALL_TOML)
    return psa_geo.load_areas(mirror, force=force)


@pytest.mark.data
def test_load_areas_keeps_the_force_lsoas_and_the_force(_data_dir_areas, areas):
    ours = _data_dir_areas
    assert set(ours["lad_code"]) == CIOS_LADS
    assert len(ours) == areas["lad_code"].isin(CIOS_LADS).sum()
    assert ours.attrs["force"].parent_name == AREA
    assert areas.attrs["force"].parent_name == PENINSULA[1]
    assert ours[ours["csp_code"] == "E22000050"].copy().attrs["force"] is ours.attrs["force"]
    parent = psa_geo.dissolve_areas(ours, level="peninsula")
    assert parent["area_name"].tolist() == [AREA]
    assert parent["population"].sum() == ours["population"].sum()


@pytest.mark.data
def test_the_parent_total_is_of_located_events_only_and_says_so(cornwall):
    out, report = cornwall
    parent, csp = _rates(out, "peninsula"), _rates(out, "csp")
    assert parent["area_name"].unique().tolist() == [AREA]
    assert (parent["without_location"] == 0).all() and (parent["placed_outside"] == 0).all()
    assert (parent["count"] == parent["located_count"]).all()
    by_group = csp.groupby("category")[["count", "comparison_count", "population"]].sum()
    merged = parent.set_index("category").join(by_group.add_suffix("_csps"))
    assert (merged["count"] == merged["count_csps"]).all()
    assert (merged["comparison_count"] == merged["comparison_count_csps"]).all()
    assert (merged["population"] == merged["population_csps"]).all()
    note = f"The {AREA} total counts located events only"
    assert report["notes"][0].startswith(note)
    assert note in (out / "index.html").read_text(encoding="utf-8")
    assert note in (out / "assessment.html").read_text(encoding="utf-8")
    assert report["sources"]["police_uk"]["assignment"]["without_location"] > 0  # left out


@pytest.mark.data
def test_sections_the_force_does_not_name_are_skipped_with_a_note(cornwall):
    out, report = cornwall
    expected = [
        "no road-safety section: the force definition names no STATS19 police force",
        "no rough-sleeping snapshot: the force definition names none",
        "no road corridor: the force definition names no corridor",
    ]
    index = (out / "index.html").read_text(encoding="utf-8")
    for note in expected:
        assert note in report["notes"]
        assert note in index
    assert not (out / "collisions").exists() and not (out / "a38").exists()
    assert (out / "towns" / "index.html").exists()  # named: run


def test_the_default_definition_is_todays_devon_and_cornwall():
    force = load_force()
    assert (force.name, force.police_uk) == (FORCE_NAME, FORCE)
    assert (force.parent_code, force.parent_name, force.parent_label) == (*PENINSULA, "Peninsula")
    assert not force.part_of_force and force.place is None
    labels = {csp.code: csp.label for csp in force.csps}
    assert len(labels) == 8
    assert labels["E22000363"] == "North Devon (with Torridge)"
    membership = psa_geo.load_csp_membership()
    assert len(membership) == 12 and membership["lad_code"].is_unique
    torridge = membership.set_index("lad_code").loc["E07000046"]
    assert (torridge["csp_code"], torridge["csp_name"]) == ("E22000363", "North Devon")
    assert force.stats19_police_force == (50,)
    assert force.towns == (REPO / "boundaries" / "safer_towns.csv").resolve()
    assert force.corridor == (REPO / "boundaries" / "a38_corridor.toml").resolve()
    assert force.rough_sleeping_snapshot == "rough_sleeping_snapshot"


def test_every_key_of_the_default_file_is_commented():
    lines = (REPO / "boundaries" / "devon_and_cornwall.toml").read_text().splitlines()
    table = ""
    for i, line in enumerate(lines):
        if line.startswith("["):
            table = line
        elif "=" in line and not line.startswith("#") and table != "[[csp]]":
            assert lines[i - 1].startswith("#"), line
    first_csp = lines.index("[[csp]]")
    above = " ".join(line for line in lines[first_csp - 6 : first_csp] if line.startswith("#"))
    for key in ("Codes and names", "`label`", "`lads`"):
        assert key in above


def _broken(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('part_of_force = true', 'part_of_force = true\ncolour = "red"', "unknown key 'colour'"),
        ('police_uk = "devon-and-cornwall"\n', "", "missing key 'police_uk' in the file"),
        ('short_name = "', 'shortname = "', "unknown key 'shortname' in [parent]"),
        ('label = "Isles of Scilly"\n', "", "missing key 'label' in CSP 2"),
        ('{ E06000053 = "Isles of Scilly" }', '{ E06000052 = "Cornwall" }',
         "LAD E06000052 is in two CSPs (E22000356 and E22000050)"),
        ('code = "E22000050"', 'code = "22000050"', "CSP 2 code '22000050' is not an ONS code"),
        ("E06000053 =", "X6000053 =", "LAD 'X6000053' is not an ONS code"),
        ('code = "E06000052"', 'code = "Cornwall"', "[parent] code 'Cornwall' is not an ONS"),
        ('police_uk = "devon-and-cornwall"', 'police_uk = "Devon and Cornwall"',
         "is not a police.uk slug"),
        ("part_of_force = true", 'part_of_force = "yes"', "part_of_force should be true or"),
        ("[sections]", "[sections]\nstats19_police_force = [500]", "codes 1-99"),
        ('name = "Devon', 'name = = "Devon', "not a readable TOML force definition"),
    ],
    ids=["unknown-key", "missing-key", "unknown-parent-key", "missing-csp-key",
         "lad-in-two-csps", "bad-csp-code", "bad-lad-code", "bad-parent-code", "bad-slug",
         "bad-flag", "bad-stats19-code", "not-toml"],
)  # fmt: skip
def test_load_force_errors_name_the_file_in_one_line(tmp_path, old, new, message):
    path = _write(tmp_path, _broken(CORNWALL_TOML, old, new))
    with pytest.raises(psa_geo.InputFileError) as info:
        load_force(path)
    text = str(info.value)
    assert text.startswith(f"{path}: ")
    assert message in text
    assert "\n" not in text


def test_load_force_gathers_every_problem(tmp_path):
    text = _broken(CORNWALL_TOML, "police_uk", "police")
    text = _broken(text, 'code = "E22000050"', 'code = "E22000356"')
    path = _write(tmp_path, text)
    with pytest.raises(psa_geo.InputFileError) as info:
        load_force(path)
    message = str(info.value)
    for part in ("unknown key 'police'", "missing key 'police_uk'", "CSP E22000356 is defined"):
        assert part in message


def test_a_missing_force_file_is_one_line(tmp_path):
    with pytest.raises(psa_geo.InputFileError, match="cannot read the force definition"):
        load_force(tmp_path / "absent.toml")


@pytest.mark.data
def test_a_force_lad_absent_from_the_lookup_is_named(mirror, tmp_path):
    text = _broken(CORNWALL_TOML, "E06000053 =", "E06000099 =")
    path = _write(tmp_path, text)
    with pytest.raises(psa_geo.InputFileError, match="LAD E06000099 has no LSOA"):
        psa_geo.load_areas(mirror, force=path)


@pytest.mark.data
def test_the_cli_refuses_a_bad_force_file_in_one_line(mirror, tmp_path):
    path = _write(tmp_path, _broken(CORNWALL_TOML, "[parent]", "[parents]"))
    result = run_cli("tables", "--data-dir", mirror, "--out", tmp_path / "o", "--force", path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"psa-geo: error: {path}: ") and "unknown key 'parents'" in last
    status = run_cli("data", "status", "--data-dir", mirror, "--force", path)
    assert status.returncode != 0 and "unknown key 'parents'" in status.stderr


@pytest.mark.data
def test_data_status_reads_the_force_slug(crime_2019, tmp_path):
    month = tmp_path / "data" / "crime" / "2019-01"
    month.mkdir(parents=True)
    rows = pd.read_csv(crime_2019, dtype=str, keep_default_na=False, nrows=50)
    rows.to_csv(month / "2019-01-devon-and-cornwall-street.csv", index=False)
    kent = _write(tmp_path, _broken(CORNWALL_TOML, '"devon-and-cornwall"', '"kent"'))
    ours = run_cli("data", "status", "--data-dir", tmp_path / "data", "--force", kent)
    default = run_cli("data", "status", "--data-dir", tmp_path / "data")
    assert "months: 2019-01\n" in default.stdout
    assert "months: 2019-01" not in ours.stdout
    assert "2019-01-devon-and-cornwall-street.csv" in ours.stdout  # listed as skipped
