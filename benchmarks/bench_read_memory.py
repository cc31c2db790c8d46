"""Benchmark: peak memory of ``read_police_uk`` per police.uk row, at 1.5M and 5.6M rows.

The real rows of the mirror's street files are repeated into one plain CSV of N rows; a
fresh interpreter (``--python``, e.g. a venv installed from pyproject.toml) reads it (without
the cache, where the version has one), and the growth of its resident set from just before
the call to the peak during it is divided by N.
Prints figures; asserts nothing. From the repository root:

    .venv/bin/python benchmarks/bench_read_memory.py [--rows 1500000 5600000] [--python PY]
"""

from __future__ import annotations

import argparse
import gzip
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

CHILD = r"""
import sys, time
from pathlib import Path

def rss_kb(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1])

import inspect
import psa_geo
parameters = inspect.signature(psa_geo.read_police_uk).parameters
no_cache = {"use_cache": False} if "use_cache" in parameters else {}
Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM)
before = rss_kb("VmRSS")
start = time.perf_counter()
events = psa_geo.read_police_uk(sys.argv[1], **no_cache)
wall = time.perf_counter() - start
peak = rss_kb("VmHWM")
print(len(events), before, peak, wall)
"""


def write_rows(mirror: Path, rows: int, path: Path) -> Path:
    """A plain CSV of ``rows`` rows: the mirror's street-file rows, repeated; each copy's
    Crime IDs made its own (the last 6 hex digits replaced by the copy's number), so the
    IDs repeat no more than the real ones do."""
    files = sorted((mirror / "crime").glob("policeuk_street_*.csv.gz"))
    header, lines = None, []
    for file in files:
        with gzip.open(file, "rt", encoding="utf-8", newline="") as f:
            header, *body = f.read().splitlines(keepends=True)
            lines += body
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(header)
        for copy in range(-(-rows // len(lines))):
            block = lines[: min(len(lines), rows - copy * len(lines))]
            if copy:
                block = [f"{line[:58]}{copy:06x}{line[64:]}" if line[0] != "," else line
                         for line in block]  # fmt: skip
            out.write("".join(block))
    return path


def measure(python: str, path: Path) -> tuple[int, float, float]:
    """(rows, peak RSS growth in bytes per row, wall seconds) of one fresh read."""
    done = subprocess.run(  # from the file's folder: the interpreter's own psa_geo, not this one
        [python, "-c", CHILD, str(path)], capture_output=True, text=True, cwd=path.parent
    )
    if done.returncode:
        raise SystemExit(f"{python} could not read {path}:\n{done.stderr}")
    n, before, peak, wall = done.stdout.split()
    return int(n), (int(peak) - int(before)) * 1024 / int(n), float(wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_mirror = os.environ.get("PSA_GEO_MIRROR", str(REPO.parent / "shared" / "data"))
    parser.add_argument("--mirror", type=Path, default=Path(default_mirror))
    parser.add_argument("--rows", type=int, nargs="+", default=[1_500_000, 5_600_000])
    parser.add_argument("--python", default=sys.executable, help="interpreter to measure")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for rows in args.rows:
            path = write_rows(args.mirror, rows, Path(tmp) / f"street_{rows}.csv")
            n, per_row, wall = measure(args.python, path)
            print(
                f"read_police_uk {n:,} rows ({args.python}): peak RSS growth "
                f"{per_row:,.0f} bytes per row, {wall:.1f} s"
            )
            path.unlink()


if __name__ == "__main__":
    main()
