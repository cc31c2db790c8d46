"""A classed surface as a PNG image for a Leaflet map: reprojected to Web Mercator, embedded
as a ``data:`` URI so that the page works offline from one HTML file."""

from __future__ import annotations

import base64
import functools
import math
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from affine import Affine
from rasterio.warp import Resampling, reproject, transform_bounds

from .surface import Surface

WEB_MERCATOR = "EPSG:3857"
EARTH_RADIUS = 6_378_137.0
"""Web Mercator's sphere, in metres."""
UPSAMPLE = 2
"""Image pixels per cell side (about): cells keep crisp edges after the small rotation from
the National Grid to Web Mercator."""
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_PIXELS = 4_000_000
"""Above this many image pixels, about one pixel per cell (a very large surface)."""


@dataclass(frozen=True)
class ClassImage:
    """A PNG ``url`` (``data:image/png;base64,...``), its ``bounds`` for Leaflet
    (``[[south, west], [north, east]]`` in degrees) and its size in ``png_bytes``."""

    url: str
    bounds: list[list[float]]
    png_bytes: int


def class_image(classes: np.ndarray, surface: Surface, colours: Sequence[str]) -> ClassImage:
    """Draw ``classes`` (0 = not drawn, k = ``colours[k - 1]``) on ``surface``'s raster as a
    PNG in Web Mercator.

    Leaflet stretches an image overlay linearly between its corners in Web Mercator (its
    map projection), so the classes are reprojected from the National Grid to Web Mercator
    first (nearest cell: classes are never blended), on pixels about half a cell across; the
    corners are then exact in degrees. The PNG is palette-based (one entry per class, 0
    transparent), so it stays small.

    Parameters
    ----------
    classes
        (rows, cols) integers on ``surface``'s raster, 0 to ``len(colours)``.
    surface
        Gives the raster's transform and CRS.
    colours
        '#rrggbb' per class.
    """
    classes = np.asarray(classes, dtype="uint8")
    rows, cols = classes.shape
    west, south, east, north = _mercator_bounds(surface.crs, surface.bounds)
    # Web Mercator stretches ground distances by 1/cos(latitude): keep pixels near the cells
    lat = math.degrees(math.atan(math.sinh((north + south) / 2 / EARTH_RADIUS)))
    per_cell = surface.cell_size / math.cos(math.radians(lat))
    scale = UPSAMPLE if rows * cols * UPSAMPLE**2 <= MAX_PIXELS else 1
    size = per_cell / scale
    width = max(1, math.ceil((east - west) / size))
    height = max(1, math.ceil((north - south) / size))
    transform = Affine(size, 0.0, west, 0.0, -size, north)
    image = np.zeros((height, width), dtype="uint8")
    reproject(
        classes,
        image,
        src_transform=surface.transform,
        src_crs=surface.crs,
        src_nodata=0,
        dst_transform=transform,
        dst_crs=WEB_MERCATOR,
        dst_nodata=0,
        resampling=Resampling.nearest,
    )
    east, south = transform @ (width, height)
    lon0, lat0, lon1, lat1 = transform_bounds(WEB_MERCATOR, "EPSG:4326", west, south, east, north)
    png = _palette_png(image, colours)
    url = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    bounds = [[round(lat0, 6), round(lon0, 6)], [round(lat1, 6), round(lon1, 6)]]
    return ClassImage(url, bounds, len(png))


@functools.lru_cache(maxsize=16)
def _mercator_bounds(crs: str, bounds: tuple[float, ...]) -> tuple[float, ...]:
    """``bounds`` in Web Mercator (kept: an area's density and risk images share theirs, and
    each transformation from the National Grid takes GDAL tens of milliseconds to set up)."""
    return tuple(transform_bounds(crs, WEB_MERCATOR, *bounds))


def _palette_png(image: np.ndarray, colours: Sequence[str]) -> bytes:
    """``image`` (palette indices, uint8) as a palette PNG; index 0 transparent."""
    palette = bytes([0, 0, 0]) + b"".join(bytes.fromhex(c[1:]) for c in colours)
    alpha = bytes([0] + [255] * len(colours))
    height, width = image.shape
    rows = np.hstack([np.zeros((height, 1), dtype="uint8"), image])  # filter 0 on each row
    header = struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0)  # 8-bit palette
    return b"".join([
        PNG_SIGNATURE,
        _chunk(b"IHDR", header),
        _chunk(b"PLTE", palette),
        _chunk(b"tRNS", alpha),
        _chunk(b"IDAT", zlib.compress(rows.tobytes(), 9)),
        _chunk(b"IEND", b""),
    ])  # fmt: skip


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
