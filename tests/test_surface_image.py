"""A classed surface as a Web Mercator PNG: each class lands on its National Grid cell."""

from __future__ import annotations

import base64
import io

import geopandas as gpd
import numpy as np
import pyproj
import shapely
from PIL import Image

from psa_geo.kde import kde
from psa_geo.surface_image import class_image

# 2 km around Plymouth's city centre, 100 m cells: the raster is 20 x 20 cells
AREA = gpd.GeoSeries([shapely.box(247_000, 54_000, 249_000, 56_000)], crs="EPSG:27700")
COLOURS = ("#cbc9e2", "#9e9ac8")
TO_MERCATOR = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
TO_GRID = pyproj.Transformer.from_crs("EPSG:3857", "EPSG:27700", always_xy=True)


def decoded(url: str) -> Image.Image:
    assert url.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(url.removeprefix("data:image/png;base64,"))))


def test_each_class_lands_on_its_cell():
    """Pixels of a class, placed as Leaflet places the image (linearly in Web Mercator
    between its corners), fall in the class's cell of the National Grid, up to half a pixel
    (the image's pixels are about half a cell across)."""
    surface = kde(gpd.GeoSeries([shapely.Point(248_000, 55_000)], crs=27700), area=AREA,
                  cell_size=100, bandwidth=300)  # fmt: skip
    classes = np.zeros(surface.shape, dtype="uint8")
    classes[5, 7] = 1  # x 247,700-247,800, y 55,400-55,500
    classes[12, 3] = 2  # x 247,300-247,400, y 54,700-54,800
    image = class_image(classes, surface, COLOURS)
    png = decoded(image.url)
    assert png.mode == "P" and png.info["transparency"] == 0
    assert png.getpalette()[:9] == [0, 0, 0, 0xCB, 0xC9, 0xE2, 0x9E, 0x9A, 0xC8]
    assert image.png_bytes == len(base64.b64decode(image.url.split(",", 1)[1]))
    pixels = np.asarray(png)
    (south, west), (north, east) = image.bounds
    x0, y0 = TO_MERCATOR.transform(west, south)
    x1, y1 = TO_MERCATOR.transform(east, north)
    height, width = pixels.shape
    half_pixel = max((x1 - x0) / width, (y1 - y0) / height) / 2 * 0.7  # in grid metres, < 0.7
    for value, (cx0, cy0) in ((1, (247_700, 55_400)), (2, (247_300, 54_700))):
        rows, cols = np.nonzero(pixels == value)
        assert 2 <= len(rows) <= 9  # about 2 x 2 pixels a cell
        mx = x0 + (cols + 0.5) / width * (x1 - x0)
        my = y1 - (rows + 0.5) / height * (y1 - y0)
        gx, gy = TO_GRID.transform(mx, my)
        assert (gx > cx0 - half_pixel).all() and (gx < cx0 + 100 + half_pixel).all()
        assert (gy > cy0 - half_pixel).all() and (gy < cy0 + 100 + half_pixel).all()
    assert set(np.unique(pixels)) == {0, 1, 2}


def test_a_large_surface_gets_one_pixel_a_cell():
    big = gpd.GeoSeries([shapely.box(200_000, 40_000, 300_000, 140_000)], crs=27700)
    point = gpd.GeoSeries([shapely.Point(250_000, 90_000)], crs=27700)
    surface = kde(point, area=big, cell_size=50, bandwidth=500)  # 2,000 x 2,000 cells
    image = class_image(np.zeros(surface.shape, dtype="uint8"), surface, COLOURS)
    png = decoded(image.url)
    assert png.width * png.height < 2 * 2000 * 2000
    assert image.png_bytes < 50_000  # a transparent image compresses to almost nothing
