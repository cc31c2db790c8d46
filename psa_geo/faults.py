"""A fault hook for tests: ``PSA_GEO_FAULT=<step>`` kills the process as that step starts.

Kill tests need to stop a build at an exact point (a map write, the GeoPackage write, a town
profile, the swap of the new site) to check that the output folder is never left half
written. The process sends itself SIGKILL, as an out-of-memory killer or a closed laptop
would: no ``finally`` block or exit handler runs.
"""

from __future__ import annotations

import os
import signal

ENV = "PSA_GEO_FAULT"


def fault_point(step: str) -> None:
    """Kill this process at once if ``$PSA_GEO_FAULT`` names ``step``; otherwise do nothing."""
    if os.environ.get(ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)
