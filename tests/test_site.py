"""The output site (psa_geo.site): marker, carry-over, links, lock, recovery, and kill tests."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import REPO, run_cli

from psa_geo.errors import PsaGeoError
from psa_geo.site import (
    MARKER,
    REPORT,
    SiteBuild,
    SubfolderUpdate,
    lock_path,
    read_report,
    recover,
)


def make_site(out: Path, files: dict[str, str]) -> list[Path]:
    """A site at ``out`` written through SiteBuild with ``files`` (relative path -> text)."""
    with SiteBuild(out) as site:
        written = []
        for rel, text in files.items():
            path = site.staging / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            written.append(path)
        return site.commit({"psa_geo_version": "test"}, written)


def leftovers(*folders: Path) -> list[Path]:
    """psa-geo's temporary folders and files left in ``folders`` (not the lock, not the marker)."""
    return [p for f in folders for p in f.iterdir()
            if re.search(r"\.psa-geo-(new|old|report|tmp)", p.name)]  # fmt: skip


def snapshot(folder: Path) -> dict[str, str]:
    """Relative path -> content hash (or link target) of everything under ``folder``."""
    out = {}
    for path in sorted(folder.rglob("*")):
        rel = str(path.relative_to(folder))
        if path.is_symlink():
            out[rel] = "-> " + os.readlink(path)
        elif path.is_file():
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def test_a_new_site_has_the_marker_and_a_complete_report(tmp_path):
    out = tmp_path / "maps"
    written = make_site(out, {"index.html": "<p>", "tables/a.csv": "x\n1\n"})
    assert written == [out / "index.html", out / "tables" / "a.csv"]
    assert (out / MARKER).is_file()
    report = read_report(out)
    assert report["complete"] is True and report["outputs"] == ["index.html", "tables/a.csv"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".maps.psa-geo-lock", "maps"]


def test_an_empty_folder_is_fine_a_foreign_one_is_refused(tmp_path):
    make_site(tmp_path / "empty", {"a.html": "a"})  # an existing empty folder
    home = tmp_path / "home"
    home.mkdir()
    (home / "thesis.docx").write_text("years of work")
    with pytest.raises(PsaGeoError, match="not empty and was not written by psa-geo") as err:
        make_site(home, {"a.html": "a"})
    assert "\n" not in str(err.value)
    assert snapshot(home) == {"thesis.docx": snapshot(home)["thesis.docx"]}
    assert not (tmp_path / ".home.psa-geo-new").exists()


def test_files_it_did_not_write_are_carried_over_links_as_links(tmp_path):
    out = tmp_path / "maps"
    make_site(out, {"index.html": "old", "old_only.html": "stale", "towns/a.html": "a"})
    secret = tmp_path / "secret.txt"
    secret.write_text("outside")
    (out / "README.md").write_text("kept in git")
    (out / "towns" / "notes.txt").write_text("mine")
    (out / "link.txt").symlink_to(secret)
    make_site(out, {"index.html": "new", "towns/a.html": "a2"})
    assert (out / "README.md").read_text() == "kept in git"
    assert (out / "towns" / "notes.txt").read_text() == "mine"
    assert (out / "link.txt").is_symlink() and os.readlink(out / "link.txt") == str(secret)
    assert not (out / "old_only.html").exists()  # psa-geo's own, not written again: gone
    assert (out / "index.html").read_text() == "new"
    assert read_report(out)["outputs"] == ["index.html", "towns/a.html"]  # only its own


def test_a_report_that_is_a_link_is_never_written_through(tmp_path):
    out = tmp_path / "maps"
    make_site(out, {"index.html": "x", "towns/a.html": "a"})
    target = tmp_path / "precious.json"
    target.write_text("do not touch")
    (out / REPORT).unlink()
    (out / REPORT).symlink_to(target)
    with SubfolderUpdate(out, "towns", command="profile") as site:
        (site.staging / "b.html").write_text("b")
        site.commit([site.staging / "b.html"])
    assert target.read_text() == "do not touch"
    assert not (out / REPORT).is_symlink()
    assert read_report(out)["outputs"] == ["towns/b.html"]  # a link is not read either
    (out / REPORT).unlink()
    (out / REPORT).symlink_to(target)
    make_site(out, {"index.html": "y"})
    assert target.read_text() == "do not touch" and not (out / REPORT).is_symlink()


def test_a_subfolder_is_replaced_and_the_report_kept_true(tmp_path):
    out = tmp_path / "maps"
    make_site(out, {"index.html": "x", "towns/a.html": "a", "hotspots/p.html": "p"})
    with SubfolderUpdate(out, "towns", command="profile") as site:
        (site.staging / "b.html").write_text("b")
        written = site.commit([site.staging / "b.html"])
    assert written == [out / "towns" / "b.html"]
    assert sorted(os.listdir(out / "towns")) == ["b.html"]
    with SubfolderUpdate(out, "hotspots", command="hotspots", keep_others=True) as site:
        (site.staging / "q.html").write_text("q")
        site.commit([site.staging / "q.html"])
    assert sorted(os.listdir(out / "hotspots")) == ["p.html", "q.html"]  # other areas kept
    report = read_report(out)
    assert sorted(report["outputs"]) == ["hotspots/p.html", "hotspots/q.html", "index.html",
                                         "towns/b.html"]  # fmt: skip
    assert report["complete"] and [u["command"] for u in report["updates"]] == [
        "profile",
        "hotspots",
    ]
    assert not leftovers(out, tmp_path)


def test_a_failed_command_leaves_the_site_and_names_the_file_on_a_full_disk(tmp_path):
    out = tmp_path / "maps"
    make_site(out, {"index.html": "x"})
    before = snapshot(out)
    with pytest.raises(PsaGeoError) as err, SiteBuild(out) as site:
        (site.staging / "tables").mkdir()
        (site.staging / "tables" / "rates_lsoa.csv").write_text("area,n\n")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    message = str(err.value)
    assert message.startswith(f"could not write {out / 'tables' / 'rates_lsoa.csv'}: No space")
    assert "left as it was" in message and "\n" not in message
    assert snapshot(out) == before
    pyogrio_errors = pytest.importorskip("pyogrio.errors")
    gpkg = out / "rates.gpkg"

    def gdal_fails():
        with SiteBuild(out) as site:
            (site.staging / "rates.gpkg").write_bytes(b"SQLite")
            raise pyogrio_errors.DataLayerError("sqlite3_exec failed: database or disk is full")

    with pytest.raises(PsaGeoError, match=f"could not write {gpkg}: sqlite3_exec failed: data"):
        gdal_fails()
    with pytest.raises(PsaGeoError, match="unknown town"), SiteBuild(out) as site:
        raise PsaGeoError("unknown town 'Atlantis'")  # other errors pass unchanged
    assert snapshot(out) == before
    assert not leftovers(tmp_path)


HOLD_LOCK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(120)
"""


def test_a_second_writer_fails_at_once_and_the_lock_dies_with_its_holder(tmp_path):
    out = tmp_path / "maps"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(lock_path(out))], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        start = time.monotonic()
        with pytest.raises(PsaGeoError, match="another psa-geo command is writing") as err:
            make_site(out, {"a.html": "a"})
        assert time.monotonic() - start < 5 and "\n" not in str(err.value)
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    make_site(out, {"a.html": "a"})  # the OS freed the lock when its holder died
    assert (out / "a.html").is_file()


KILLED_SWAP = """
import sys
from pathlib import Path
from psa_geo.site import SiteBuild, SubfolderUpdate
out = Path(sys.argv[1])
if sys.argv[2] == "site":
    with SiteBuild(out) as site:
        (site.staging / "index.html").write_text("new")
        site.commit({}, [site.staging / "index.html"])
else:
    with SubfolderUpdate(out, "towns", command="profile") as site:
        (site.staging / "new.html").write_text("new")
        site.commit([site.staging / "new.html"])
"""


@pytest.mark.parametrize("level", ["site", "subfolder"])
def test_a_kill_between_the_two_renames_is_recovered_at_the_next_start(tmp_path, level):
    out = tmp_path / "maps"
    make_site(out, {"index.html": "old", "towns/old.html": "old"})
    (out / "README.md").write_text("kept")
    before = snapshot(out)
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_SWAP, str(out), level],
        cwd=REPO,
        env={**os.environ, "PSA_GEO_FAULT": "swap"},
        capture_output=True,
        timeout=60,
    )
    assert killed.returncode == -9, killed.stderr
    if level == "site":
        assert not out.exists() and (tmp_path / ".maps.psa-geo-old").is_dir()
    else:
        assert not (out / "towns").exists() and (tmp_path / ".maps.psa-geo-old.towns").is_dir()
    done = recover(out)
    assert any("restored" in line for line in done)
    assert snapshot(out) == before  # the previous complete site, report included
    assert not leftovers(tmp_path, out)


def test_recovery_applies_the_report_of_a_finished_subfolder_swap(tmp_path):
    out = tmp_path / "maps"
    make_site(out, {"index.html": "x", "towns/a.html": "a"})
    report = {**read_report(out), "outputs": ["index.html", "towns/b.html"]}
    shutil.rmtree(out / "towns")  # killed after the swap, before the report was replaced
    (out / "towns").mkdir()
    (out / "towns" / "b.html").write_text("b")
    (tmp_path / ".maps.psa-geo-report.towns").write_text(json.dumps(report))
    recover(out)
    assert read_report(out)["outputs"] == ["index.html", "towns/b.html"]
    assert not leftovers(tmp_path)


@pytest.fixture
def read_only(tmp_path):
    """A read-only folder (for root, immutable: root ignores permission bits)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    (folder / MARKER).write_text("x")
    folder.chmod(0o555)
    immutable = os.geteuid() == 0
    if immutable and subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode:
        pytest.skip("root without chattr: cannot make a read-only folder")
    yield folder
    if immutable:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    folder.chmod(0o755)


def test_a_read_only_out_is_refused_before_any_work(read_only, tmp_path):
    start = time.monotonic()
    result = run_cli("build", "--data-dir", tmp_path / "no-data", "--out", read_only)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "is not writable" in lines[0], result.stderr
    assert str(read_only) in lines[0] and "data fetch" not in lines[0]  # before the data
    assert time.monotonic() - start < 30


def test_out_may_be_a_link_to_a_folder(tmp_path):
    real = tmp_path / "real"
    make_site(real, {"a.html": "a"})
    (tmp_path / "maps").symlink_to(real)
    written = make_site(tmp_path / "maps", {"b.html": "b"})
    assert written == [real / "b.html"]
    assert (tmp_path / "maps").is_symlink() and (tmp_path / "maps" / "b.html").is_file()


# Kill tests through the CLI on the cut-down data: one shared build is the previous site.


@pytest.fixture(scope="module")
def previous_site(small_built) -> Path:
    """A build into a folder holding what git keeps in the repository's maps/ (the shared
    ``build --study 2018/19`` of the cut-down data: read-only, the tests copy it)."""
    out, result = small_built
    assert result.returncode == 0, result.stderr
    for name in ("README.md", MARKER):  # git-tracked files survive a build unchanged
        assert (out / name).read_bytes() == (REPO / "maps" / name).read_bytes()
    return out


def assert_one_whole_site(out: Path, previous: Path) -> str:
    """``out`` is the previous site or a complete new one, never a mix; no empty file."""
    assert not [p for p in out.rglob("*") if p.is_file() and p.stat().st_size == 0]
    report = read_report(out)
    assert report["complete"] is True
    files = set(snapshot(out))
    assert not leftovers(out)
    assert files == set(report["outputs"]) | {MARKER, "README.md"}
    if snapshot(out) == snapshot(previous):
        return "previous"
    assert report["generated"] != read_report(previous)["generated"]
    return "new"


@pytest.mark.data
@pytest.mark.parametrize(
    ("step", "command"),
    [
        ("gpkg", ["build"]),
        ("map", ["build"]),
        ("profile", ["profile", "--town", "Penzance"]),
        ("swap", ["tables"]),
    ],
)
def test_a_killed_command_leaves_the_previous_site(previous_site, small_data, tmp_path,
                                                   step, command):  # fmt: skip
    out = tmp_path / "maps"
    shutil.copytree(previous_site, out, symlinks=True)
    env = {**os.environ, "PSA_GEO_FAULT": step}
    args = [*command, "--data-dir", small_data, "--out", out, "--quiet"]
    killed = run_cli(*args, env=env)
    assert killed.returncode == -9, killed.stderr
    if step == "swap":  # killed between the renames: the previous site waits beside
        assert not out.exists()
        old = tmp_path / ".maps.psa-geo-old"
        assert snapshot(old) == snapshot(previous_site)
    else:
        assert assert_one_whole_site(out, previous_site) == "previous"
    if step == "swap":  # the next command restores it, then succeeds
        after = run_cli("tables", "--data-dir", small_data, "--out", out, "--quiet")
        assert after.returncode == 0, after.stderr
        assert assert_one_whole_site(out, previous_site) == "new"
        assert (out / "README.md").read_bytes() == (REPO / "maps" / "README.md").read_bytes()


def test_fault_steps_are_documented():
    from psa_geo import faults

    for step in ("map", "gpkg", "profile", "swap"):
        assert f"``{step}``" in textwrap.dedent(faults.__doc__)


@pytest.mark.data
def test_a_second_build_during_a_first_fails_in_one_line(previous_site, small_data, tmp_path):
    out = tmp_path / "maps"
    shutil.copytree(previous_site, out, symlinks=True)
    args = ["build", "--data-dir", small_data, "--out", out, "--quiet"]
    with subprocess.Popen([sys.executable, "-m", "psa_geo", *map(str, args)]) as first:
        try:
            deadline = time.monotonic() + 60
            while not (tmp_path / ".maps.psa-geo-new").exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            second = run_cli("tables", "--data-dir", small_data, "--out", out)
            assert first.poll() is None  # the first was still writing
        finally:
            first.kill()  # killed at whatever step it had reached
    assert second.returncode == 2
    assert len(second.stderr.strip().splitlines()) == 1, second.stderr
    assert "another psa-geo command is writing" in second.stderr and str(out) in second.stderr
    assert assert_one_whole_site(out, previous_site) == "previous"
