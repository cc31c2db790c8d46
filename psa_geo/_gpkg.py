"""GeoPackage writing without a disk flush per layer.

A GeoPackage is an SQLite file, and GDAL commits each layer it writes with a flush to disk
(``fsync``). Behind a build's other output that flush waits for every page written before it,
so a file of a dozen layers took seconds. The files written here are new (each replaced
whole, inside a site folder that is only swapped in once complete), so nothing is gained by
flushing them layer by layer: :func:`unflushed_writes` turns the flush off while they are
written. The bytes of the file are the same.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pyogrio

_SYNCHRONOUS = "OGR_SQLITE_SYNCHRONOUS"


@contextmanager
def unflushed_writes() -> Iterator[None]:
    """Within the block, GDAL writes SQLite files (GeoPackages) without ``fsync``; GDAL's
    previous setting comes back after it."""
    previous = pyogrio.get_gdal_config_option(_SYNCHRONOUS)
    pyogrio.set_gdal_config_options({_SYNCHRONOUS: "OFF"})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({_SYNCHRONOUS: previous})
