"""Hotspot map layers from a density raster: the density and risk-adjusted image overlays and
their legends in words."""

from __future__ import annotations

import re

import geopandas as gpd
import numpy as np
import pytest
import shapely

from psa_geo.errors import PsaGeoError
from psa_geo.hotspot_maps import hotspot_map
from psa_geo.kde import kde
from psa_geo.page_assets import save_map

AREA = gpd.GeoSeries([shapely.box(247_000, 54_000, 249_000, 56_000)], crs="EPSG:27700")
OUTLINE = AREA.to_frame("geometry")


@pytest.fixture(scope="module")
def surface():
    rng = np.random.default_rng(4)
    points = gpd.GeoSeries(shapely.points(rng.normal([248_000, 55_000], 400, (600, 2))), crs=27700)
    lsoas = gpd.GeoDataFrame(
        {"population": [6000, 9000, 5]},
        geometry=[shapely.box(247_000, 54_000, 248_000, 56_000),
                  shapely.box(248_000, 54_000, 249_000, 55_500),
                  shapely.box(248_000, 55_500, 249_000, 56_000)],
        crs=27700,
    )  # fmt: skip
    return kde(points, area=AREA, cell_size=100, bandwidth=500, population=lsoas)


def legend_part(html: str, heading: str) -> str:
    part = re.search(rf'<section class="psa-legend-part"[^>]*><strong>{heading}</strong>'
                     r".*?</section>", html)  # fmt: skip
    assert part, heading
    return part.group(0)


def class_ranges(part: str, units: str) -> np.ndarray:
    found = re.findall(rf"<td>([\d,.]+) to ([\d,.]+) {units}</td>", part)
    return np.array([[float(a.replace(",", "")), float(b.replace(",", ""))] for a, b in found])


def test_density_and_risk_are_images_with_legends_in_words(tmp_path, surface):
    m = hotspot_map(OUTLINE, title="Burglary in the city centre", density=surface, risk=surface)
    page = save_map(m, tmp_path / "map.html", index_href="../index.html")
    html = page.read_text(encoding="utf-8")
    overlays = re.findall(r"var (image_overlay_\w+) = L\.imageOverlay\(\s*\"data:image/png;base64,",
                          html)  # fmt: skip
    assert len(overlays) == 2
    density_layer, risk_layer = overlays
    assert f"{density_layer}.addTo(" in html  # shown (no Gi* layer)
    assert f"{risk_layer}.addTo(" not in html  # off at first
    # The density classes: quarters of the top half of the non-zero cells in the area.
    values = surface.values[surface.mask]
    positive = values[values > 0]
    expected = np.quantile(positive, [0.5, 0.625, 0.75, 0.875, 1])
    density = legend_part(html, r"Density of events \(kernel density\)")
    ranges = class_ranges(density, "events per km²")
    assert ranges.shape == (4, 2)
    np.testing.assert_allclose(ranges[:, 0], expected[:-1], rtol=5e-3)
    np.testing.assert_allclose(ranges[:, 1], expected[1:], rtol=5e-3)
    # The risk classes: quarters of the cells with a rate; the masked cells are named.
    risk = legend_part(html, r"Crimes per 1,000 residents \(smoothed\)")
    rates = surface.per_1000[np.isfinite(surface.per_1000)]
    ranges = class_ranges(risk, "per 1,000 residents")
    assert ranges.shape == (4, 2) and ranges[0, 0] == 0
    assert ranges[-1, 1] == pytest.approx(rates.max(), rel=5e-3)
    assert "too few residents: not shown (under 1,000 within the kernel radius of 500 m)" in risk
    assert np.isnan(surface.per_1000[surface.mask]).any()  # the nearly empty LSOA's cells
    assert "#fed98e" in risk and "#993404" in risk  # YlOrBr, colour beside the words


def test_density_is_off_at_first_beside_gistar(surface):
    cells = surface.to_cells().assign(hotspot_level=0)
    html = hotspot_map(OUTLINE, title="t", density=surface, gistar_cells=cells).get_root().render()
    (layer,) = re.findall(r"var (image_overlay_\w+) = L\.imageOverlay", html)
    assert f"{layer}.addTo(" not in html


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sensitive": True}, "sensitive source is never given fine-grained hotspot layers"),
        ({"kde_cells": "cells"}, "pass 'density' .* or 'kde_cells', not both"),
        ({"risk": "plain"}, "'risk' has no risk-adjusted density"),
    ],
    ids=["sensitive", "both", "risk-without-population"],
)
def test_refused(surface, kwargs, message):
    plain = kde(gpd.GeoSeries([shapely.Point(248_000, 55_000)], crs=27700), area=AREA,
                cell_size=100, bandwidth=300)  # fmt: skip
    given = {k: {"cells": surface.to_cells(), "plain": plain}.get(v, v) for k, v in kwargs.items()}
    with pytest.raises(PsaGeoError, match=message):
        hotspot_map(OUTLINE, title="t", density=surface, **given)


@pytest.mark.parametrize("by", ["level", "name"])
def test_classes_are_dissolved_as_geopandas_dissolves_them(by):
    """One feature per class, in sorted order, each the union of its cells (none left for
    a missing class), with the same GeoJSON as ``dissolve``."""
    from psa_geo.hotspot_maps import _dissolved_geojson

    rng = np.random.default_rng(8)
    cells = gpd.GeoDataFrame(
        {"level": rng.choice([3, -1, 2], 60), "other": np.arange(60)},
        geometry=[shapely.box(247_000 + 100 * (i % 10), 54_000 + 100 * (i // 10),
                              247_100 + 100 * (i % 10), 54_100 + 100 * (i // 10))
                  for i in range(60)],
        crs=27700,
    )  # fmt: skip
    cells["name"] = cells["level"].map({3: "b", -1: "a", 2: None}).astype("str")
    cells.loc[cells["level"] == 2, "name"] = None
    labels = {3: "three", -1: "minus one", 2: "two", "a": "A", "b": "B"}
    merged = cells[[by, "geometry"]].dissolve(by=by, as_index=False)
    merged["geometry"] = merged.geometry.simplify(5)
    merged["label"] = [labels[value] for value in merged[by]]
    expected = merged.to_crs("EPSG:4326").to_geo_dict(drop_id=True, show_bbox=False)
    got = _dissolved_geojson(cells, by, 5, labels)
    assert got == expected
    assert len(got["features"]) == cells[by].nunique()
