"""A fault hook for tests: ``PSA_GEO_FAULT=<step>`` kills the process as that step starts.

Kill tests need to stop a build at an exact point (a map write, the GeoPackage write, a town
profile, the swap of the new site) to check that the output folder is never left half
written. The process sends itself SIGKILL, as an out-of-memory killer or a closed laptop
would: no ``finally`` block or exit handler runs.

The steps, each named where it is called:

- ``map``: as the Peninsula map (``peninsula_map.html``) is written (``build._write_maps``);
- ``gpkg``: during the GeoPackage write, after each layer of ``psa_geo_rates.gpkg``
  (so the first call stops it between layers);
- ``profile``: as the Safer Towns profiles are written (``build._write_towns``, in
  ``build`` and ``profile``);
- ``swap``: between the two renames that swap a new site or subfolder in
  (``site.swap``); :func:`psa_geo.site.recover` undoes it at the next start.
"""

from __future__ import annotations

import os
import signal

ENV = "PSA_GEO_FAULT"


def fault_point(step: str) -> None:
    """Kill this process at once if ``$PSA_GEO_FAULT`` names ``step``; otherwise do nothing."""
    if os.environ.get(ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)
