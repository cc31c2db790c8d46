"""Benchmark (issue 18, item 5): ``psa-geo tables`` at national volume, on both engines.

Makes police.uk street files of 1e5, 1e6, 1e7 and 2e7 rows and runs ``psa-geo tables`` on
them with each engine, cold (empty cache folder) and warm (the cache the cold run filled),
each run a fresh process. Prints a markdown table: the scaling curve of wall time and peak
memory. Asserts nothing. From the repository root:

    .venv/bin/python benchmarks/bench_national.py --rows 100000 1000000
    .venv/bin/python benchmarks/bench_national.py                    # 1e5 1e6 1e7 2e7
    .venv/bin/python benchmarks/bench_national.py --engines dask --scheduler tcp://host:8786

Options: ``--rows`` (sizes), ``--engines pandas dask``, ``--scheduler ADDRESS`` (Dask runs
only), ``--timeout`` (seconds per run), ``--memory-limit`` (GB of the process tree at which a
run is stopped; default 75% of the machine's memory), ``--python`` (the interpreter that
runs psa_geo; default this one), ``--work DIR`` (where input files are kept across runs;
default ``$TMPDIR/psa_geo_bench_national``), ``--mirror`` (default ``$PSA_GEO_MIRROR``, else
``../shared/data``) and ``--make-only`` (make the input, run nothing).

**Input.** The real rows of the mirror's ``crime/policeuk_street_devon_cornwall_2018.csv.gz``
and ``..._2019.csv.gz`` (281,720 rows, every police.uk column as published) are resampled
with replacement, month by month in the real months' proportions (so the same 24 months,
2018-01 to 2019-12, and the default study and comparison periods of the real build). Each
row gets a new Crime ID (64 lower-case hex digits, unique: 16 from a bijective mix of the row
number, 48 random; an ASB row keeps its blank Crime ID, as police.uk's do) and one of the 43
territorial police.uk forces as ``Reported by`` and ``Falls within``, dealt out evenly within
each month. ``psa_geo.police_uk.police_forces()`` lists 45: British Transport Police and
the Police Service of Northern Ireland are left out. Locations, LSOAs, crime types and
outcomes are the real rows', so every row lies in one of the 1,034 Peninsula LSOAs, or has
no location (4.3% of the real rows), or (0.09%) a neighbouring LSOA that police.uk gave.
One plain CSV per force and month, as police.uk lays them out:
``WORK/rows-N/<force slug>/YYYY-MM/YYYY-MM-<force slug>-street.csv`` (1,032 files), all
passed to the run by ``--crime`` (files named directly are always read, whatever their
force), so the reader's "same force and month once" rule keeps every row. Each run's
``run_report.json`` is checked: the last column says whether police.uk accepted every row
made and rejected none (``overlapping_file`` or otherwise).

Making the input (numpy and pyarrow, one month at a time) is done once per size and kept in
``--work`` (a ``manifest.json`` marks a finished size). Measured on this 2-core machine
(shared with other jobs): 1e5 rows take 1.5 s (21 MB of CSV), 1e6 rows 3 s (211 MB) with a
peak of 0.5 GB; by extrapolation (not measured) 1e7 rows take about 25 s (2.1 GB) and 2e7
about 50 s (4.2 GB) with a peak near 1 GB, more where the disk is slow. The disk needs that
much free space, plus the cache of the run in progress.

**Data directory.** ``WORK/data`` holds a symbolic link to every entry of the mirror but
``crime/``, and an empty ``crime/``, so only the rows made here are read (the mirror's own
street files are not added to them); the run report confirms it.

**Measuring.** Each run is ``PYTHON -m psa_geo --data-dir WORK/data --out OUT --quiet
tables [--engine ENGINE [--scheduler ADDRESS]] --cache-dir CACHE --crime FILE ...`` in a new
session. Every 0.2 s the resident set (RSS, from ``/proc/PID/stat``) of the process and all
its descendants (the Dask engine's workers) is summed; ``peak tree MB`` is the largest sum
(an upper bound: pages shared between processes count once per process). ``main VmHWM`` is
the main process's own peak (``/proc/PID/status``) and ``largest process`` the largest VmHWM
of any process of the tree, each as last read (up to 0.2 s before the process ended). Not
``wait4``'s ``ru_maxrss``: the kernel carries into it this benchmark's own resident set from
before the child's exec. MB are 10^6 bytes. ``--engine`` is tried first; where the
CLI refuses it (exit 2, "unrecognized arguments": the engine is not built yet) the pandas
rows run without it, labelled ``pandas (no --engine yet)``, and the Dask rows say so. A run
that fails, is killed, or passes ``--timeout`` or ``--memory-limit`` (stopped here before
the kernel's OOM killer picks a process, perhaps another user's) is a row saying so; its
stderr is kept in ``WORK/runs/``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from psa_geo.police_uk import police_forces

REPO = Path(__file__).resolve().parent.parent
COLUMNS = [
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
REAL_FILES = (
    "policeuk_street_devon_cornwall_2018.csv.gz",
    "policeuk_street_devon_cornwall_2019.csv.gz",
)
#: police.uk forces that are not one of the 43 territorial forces of England and Wales.
NOT_TERRITORIAL = ("btp", "northern-ireland")
#: Bumped when the files made change, so an old ``--work`` folder is made anew.
INPUT_VERSION = 1
SEED = 18
SAMPLE_S = 0.2
PAGE = os.sysconf("SC_PAGE_SIZE")
MEMORY = PAGE * os.sysconf("SC_PHYS_PAGES")
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


# --- the input ---------------------------------------------------------------------------


def territorial_forces() -> list[tuple[str, str]]:
    """(slug, name) of the 43 territorial police.uk forces."""
    forces = police_forces()
    forces = forces[~forces["slug"].isin(NOT_TERRITORIAL)]
    if len(forces) != 43:
        raise SystemExit(f"expected 43 territorial forces, police_forces() gives {len(forces)}")
    return list(forces.itertuples(index=False, name=None))


def read_real(mirror: Path) -> pa.Table:
    """The real street rows, every column as text, as published."""
    options = pacsv.ConvertOptions(
        column_types=dict.fromkeys(COLUMNS, pa.string()), strings_can_be_null=False
    )
    tables = [
        pacsv.read_csv(mirror / "crime" / name, convert_options=options) for name in REAL_FILES
    ]
    return pa.concat_tables(tables).select(COLUMNS)


def share_out(weights: np.ndarray, total: int) -> np.ndarray:
    """``total`` split in proportion to ``weights`` (largest remainders)."""
    exact = weights / weights.sum() * total
    whole = np.floor(exact).astype(np.int64)
    whole[np.argsort(whole - exact)[: total - whole.sum()]] += 1
    return whole


def crime_ids(first: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` Crime IDs as 64 lower-case hex digits (S64): 16 from a bijection (splitmix64's
    mixer) of the row numbers ``first..first+n-1``, so none repeats, and 48 random."""
    z = np.arange(first, first + n, dtype=np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    raw = np.concatenate(
        [z.astype(">u8").view(np.uint8).reshape(n, 8), rng.integers(0, 256, (n, 24), np.uint8)],
        axis=1,
    )
    digits = np.empty((n, 64), dtype=np.uint8)
    digits[:, 0::2], digits[:, 1::2] = _HEX[raw >> 4], _HEX[raw & 15]
    return digits.view("S64").ravel()


def make_input(real: pa.Table, rows: int, folder: Path) -> tuple[list[Path], float]:
    """Write ``rows`` resampled rows to ``folder``, one plain CSV per force and month;
    the files and the seconds it took. Kept: a finished folder has a manifest and is reused."""
    manifest = folder / "manifest.json"
    if manifest.exists():
        made = json.loads(manifest.read_text())
        if made.get("version") == INPUT_VERSION and made.get("rows") == rows:
            return [folder / f for f in made["files"]], made["seconds"]
    shutil.rmtree(folder, ignore_errors=True)
    start = time.perf_counter()
    forces = territorial_forces()
    names = pa.array([name for _, name in forces], pa.string())
    rng = np.random.default_rng([SEED, rows])
    months = real.column("Month")
    month_names = sorted(pc.unique(months).to_pylist())
    by_month = [np.flatnonzero(pc.equal(months, m).to_numpy(zero_copy_only=False))
                for m in month_names]  # fmt: skip
    sizes = share_out(np.array([len(r) for r in by_month], dtype=float), rows)
    header = (",".join(COLUMNS) + "\n").encode()
    options = pacsv.WriteOptions(include_header=False, quoting_style="none")
    files, first = [], 0
    tmp = folder.with_name(folder.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    for month, real_rows, n in zip(month_names, by_month, sizes, strict=True):
        force = rng.permutation(n) % len(forces)  # dealt out evenly
        order = np.argsort(force, kind="stable")
        picked = real.take(rng.choice(real_rows, n)[order])
        ids = pa.array(crime_ids(first, n, rng), pa.binary(64)).cast(pa.string())
        # ASB rows keep their blank Crime ID, as published
        blank = pc.equal(picked.column("Crime ID").combine_chunks(), "")
        force_names = names.take(pa.array(force[order]))
        picked = picked.set_column(0, "Crime ID", pc.if_else(blank, "", ids))
        picked = picked.set_column(2, "Reported by", force_names)
        picked = picked.set_column(3, "Falls within", force_names)
        bounds = np.searchsorted(force[order], np.arange(len(forces) + 1))
        for (slug, _), lo, hi in zip(forces, bounds[:-1], bounds[1:], strict=True):
            path = Path(slug) / month / f"{month}-{slug}-street.csv"
            (tmp / path).parent.mkdir(parents=True, exist_ok=True)
            with open(tmp / path, "wb") as out:
                out.write(header)
                pacsv.write_csv(picked.slice(lo, hi - lo), out, options)
            files.append(str(path))
        first += n
    seconds = round(time.perf_counter() - start, 1)
    made = {"version": INPUT_VERSION, "rows": rows, "seconds": seconds, "files": files}
    (tmp / "manifest.json").write_text(json.dumps(made))
    tmp.rename(folder)
    return [folder / f for f in files], seconds


def data_dir(mirror: Path, folder: Path) -> Path:
    """A data directory: the mirror's entries as symbolic links, but an empty ``crime/``."""
    folder.mkdir(parents=True, exist_ok=True)
    for entry in mirror.iterdir():
        link = folder / entry.name
        if entry.name != "crime" and not link.is_symlink():
            link.symlink_to(entry.resolve())
    (folder / "crime").mkdir(exist_ok=True)
    return folder


# --- measuring ---------------------------------------------------------------------------


@dataclass
class Run:
    status: str
    wall: float = float("nan")
    peak_tree: int = 0  # bytes
    main_hwm: int = 0  # bytes
    largest: int = 0  # bytes
    stderr: str = ""
    report: dict | None = None


def tree_memory(root: int) -> tuple[int, dict[int, int]]:
    """The summed RSS in bytes of ``root`` and its descendants, and the VmHWM in bytes of
    each of them (by pid)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        pid = int(entry.name)
        children.setdefault(int(fields[1]), []).append(pid)  # fields[1]: ppid
        rss[pid] = int(fields[21]) * PAGE  # fields[21]: rss in pages
    total, hwm, todo = 0, {}, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += children.get(pid, [])
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    hwm[pid] = int(line.split()[1]) * 1024
    return total, hwm


def measure(command: list[str], log: Path, timeout: float, memory_limit: float) -> Run:
    """Run ``command`` in a new session; its wall time and peak memory (see the docstring)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    peak, hwm = 0, {}
    with open(log, "wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True,
            cwd=log.parent,
        )  # fmt: skip
        over = None
        while proc.poll() is None:
            total, now = tree_memory(proc.pid)
            peak = max(peak, total)
            hwm.update({pid: max(hwm.get(pid, 0), b) for pid, b in now.items()})
            over = "timeout" if time.perf_counter() - start > timeout else None
            over = over or ("memory" if total > memory_limit else None)
            if over:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                break
            time.sleep(SAMPLE_S)
        wall = time.perf_counter() - start
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # workers left behind by a failed run
    code = proc.returncode
    if over == "timeout":
        status = f"timeout ({timeout:g} s)"
    elif over == "memory":
        status = f"stopped: tree above {memory_limit / 1e9:g} GB"
    elif code < 0:
        status = f"killed ({signal.Signals(-code).name})"
    else:
        status = "ok" if code == 0 else f"exit {code}"
    main_hwm, largest = hwm.get(proc.pid, 0), max(hwm.values(), default=0)
    return Run(status, wall, peak, main_hwm, largest, log.read_text(errors="replace"))


class Runner:
    """Runs ``psa-geo tables`` and measures it; learns from the first run whether the CLI
    has ``--engine`` (without it, pandas runs as it is and Dask does not run)."""

    def __init__(self, python: str, data: Path, *, scheduler: str | None, limits: tuple):
        self.python, self.data, self.scheduler, self.limits = python, data, scheduler, limits
        self.has_engine: bool | None = None  # unknown until the CLI accepts or refuses it

    def run(self, engine: str, files: list[Path], out: Path, cache: Path, warmth: str):
        """(the row's engine label, the measured run) of one run, ``warmth`` cold or warm."""
        log = out.parent / f"{warmth}.stderr.txt"
        if self.has_engine is not False:
            chosen = ["--engine", engine]
            label = engine
            if engine == "dask" and self.scheduler:
                chosen += ["--scheduler", self.scheduler]
                label = f"dask (scheduler {self.scheduler})"
            run = measure(self.command(chosen, files, out, cache), log, *self.limits)
            if not refused_engine(run):
                self.has_engine = True
                return label, run
            self.has_engine = False
        if engine != "pandas":
            return engine, Run("not run: the CLI has no --engine yet")
        run = measure(self.command([], files, out, cache), log, *self.limits)
        return "pandas (no --engine yet)", run

    def command(self, chosen: list[str], files: list[Path], out: Path, cache: Path) -> list[str]:
        crime = [arg for f in files for arg in ("--crime", str(f))]
        return [self.python, "-m", "psa_geo", "--data-dir", str(self.data), "--out", str(out),
                "--quiet", "tables", *chosen, "--cache-dir", str(cache), *crime]  # fmt: skip


def refused_engine(run: Run) -> bool:
    """Whether argparse refused ``--engine`` (exit 2, "unrecognized arguments: --engine")."""
    return run.status == "exit 2" and any(
        "unrecognized arguments" in line and "--engine" in line for line in run.stderr.splitlines()
    )


def ingest_check(report: dict | None, rows: int) -> str:
    """What the run report says of the police.uk rows, against the ``rows`` made."""
    if report is None:
        return "no run report"
    ingest = report.get("sources", {}).get("police_uk", {}).get("ingest", {})
    accepted, rejected = ingest.get("accepted"), ingest.get("rejected", {})
    if accepted == rows and not rejected:
        return f"all {rows:,} accepted"
    said = ", ".join(f"{n:,} {why}" for why, n in sorted(rejected.items()))
    return f"{accepted:,} of {rows:,} accepted; rejected: {said or 'none'}"


# --- the table ---------------------------------------------------------------------------

HEADER = (
    "| rows | engine | cache | exit | wall s | peak tree MB | peak bytes/row "
    "| main VmHWM MB | largest process MB | police.uk ingest |"
)


def table_row(rows: int, engine: str, cache: str, run: Run, check: str) -> str:
    if run.wall != run.wall:  # not run
        cells = ["", "", "", "", ""]
    else:
        cells = [
            f"{run.wall:,.1f}",
            f"{run.peak_tree / 1e6:,.0f}",
            f"{run.peak_tree / rows:,.0f}",
            f"{run.main_hwm / 1e6:,.0f}",
            f"{run.largest / 1e6:,.0f}",
        ]
    return f"| {rows:,} | {engine} | {cache} | {run.status} | {' | '.join(cells)} | {check} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_mirror = os.environ.get("PSA_GEO_MIRROR", str(REPO.parent / "shared" / "data"))
    parser.add_argument("--mirror", type=Path, default=Path(default_mirror))
    parser.add_argument(
        "--rows", type=float, nargs="+", default=[1e5, 1e6, 1e7, 2e7], help="sizes (1e6 or 1000000)"
    )
    parser.add_argument(
        "--engines", nargs="+", choices=["pandas", "dask"], default=["pandas", "dask"]
    )
    parser.add_argument("--scheduler", help="Dask scheduler address (default: a LocalCluster)")
    parser.add_argument(
        "--timeout", type=float, default=4 * 3600, help="seconds per run (default 4 h)"
    )
    parser.add_argument(
        "--memory-limit", type=float, default=round(0.75 * MEMORY / 1e9, 1),
        help="stop a run whose process tree passes this many GB (default 75%% of the memory)",
    )  # fmt: skip
    parser.add_argument("--python", default=sys.executable, help="interpreter that runs psa_geo")
    parser.add_argument(
        "--work", type=Path, default=Path(tempfile.gettempdir()) / "psa_geo_bench_national",
        help="folder of the input files, kept across runs, and of the runs",
    )  # fmt: skip
    parser.add_argument("--make-only", action="store_true", help="make the input; run nothing")
    args = parser.parse_args()
    sizes = [int(r) for r in args.rows]
    work = args.work.resolve()
    real = read_real(args.mirror)
    data = data_dir(args.mirror.resolve(), work / "data")
    inputs = {}
    for rows in sizes:
        files, seconds = make_input(real, rows, work / f"rows-{rows}")
        size = sum(f.stat().st_size for f in files)
        print(f"input {rows:,} rows: {len(files)} files, {size / 1e6:,.0f} MB, "
              f"made in {seconds:,.1f} s", file=sys.stderr)  # fmt: skip
        inputs[rows] = files
    del real
    if args.make_only:
        return
    print(HEADER)
    print("|" + "---|" * HEADER.count(" |"))
    limits = (args.timeout, args.memory_limit * 1e9)
    runner = Runner(args.python, data, scheduler=args.scheduler, limits=limits)
    for rows in sizes:
        for engine in args.engines:
            place = work / "runs" / f"rows-{rows}-{engine}"
            shutil.rmtree(place, ignore_errors=True)
            for warmth in ("cold", "warm"):
                out = place / f"out-{warmth}"
                label, run = runner.run(engine, inputs[rows], out, place / "cache", warmth)
                report_file = out / "run_report.json"
                if report_file.exists():
                    run.report = json.loads(report_file.read_text())
                    shutil.copy(report_file, place / f"{warmth}.run_report.json")
                shutil.rmtree(out, ignore_errors=True)
                check = ingest_check(run.report, rows) if run.wall == run.wall else ""
                print(table_row(rows, label, warmth, run, check), flush=True)
                if run.status != "ok" and run.wall == run.wall:
                    tail = run.stderr.strip().splitlines()[-3:]
                    print(f"  {rows:,} {label} {warmth}: {run.status}; stderr ends: "
                          f"{' / '.join(tail) or '(nothing)'}", file=sys.stderr)  # fmt: skip
            shutil.rmtree(place / "cache", ignore_errors=True)  # up to a few GB at 2e7 rows


if __name__ == "__main__":
    main()
