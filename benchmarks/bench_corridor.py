"""Benchmark: building maps/a38 (the A38 corridor report) on the real data.

Run from the repository root (prints figures; asserts nothing):

    .venv/bin/python benchmarks/bench_corridor.py [--mirror ../shared/data]

It runs the public API in a child process (as ``psa-geo corridor --road A38`` does), so the
time includes Python start-up and imports and the peak RSS is the child's alone.
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
_JOB = "import sys; from psa_geo.corridor_pages import corridor_job; corridor_job(*sys.argv[1:3])"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", type=Path, default=REPO.parent / "shared" / "data")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", _JOB, str(args.mirror), out], check=True,
                       capture_output=True)  # fmt: skip
        wall = time.perf_counter() - start
        files = sorted(p.name for p in Path(out, "a38").iterdir())
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"maps/a38 (A38 corridor): {len(files)} files, {wall:.1f} s, peak RSS {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
