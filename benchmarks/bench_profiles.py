"""Benchmark: `psa-geo profile --all` (Cornwall's ten Safer Towns) on the real data.

Run from the repository root (prints figures; asserts nothing):

    .venv/bin/python benchmarks/bench_profiles.py [--mirror ../shared/data]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", type=Path, default=REPO.parent / "shared" / "data")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "psa_geo", "profile", "--all", "--data-dir", str(args.mirror),
             "--out", out, "--quiet"],
            check=True,
        )  # fmt: skip
        wall = time.perf_counter() - start
        pages = len(list(Path(out, "towns").glob("*.html")))
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"psa-geo profile --all: {pages} HTML files, {wall:.1f} s, peak RSS {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
