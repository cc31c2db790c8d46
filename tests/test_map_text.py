"""Data text on maps: JSON safe in a page, the one set of helpers every map uses, and hostile
text shown literally (never run) in every map's tooltips and popups, in Chromium."""

from __future__ import annotations

import ast
import dataclasses
import html
import json
import math
from pathlib import Path
from types import SimpleNamespace

import browser_support
import folium
import geopandas as gpd
import pandas as pd
import pytest
import shapely

import psa_geo
from psa_geo.hotspot_maps import hotspot_map
from psa_geo.map_text import geojson_layer, popup, popup_html, script_json, tooltip
from psa_geo.maps import rate_map
from psa_geo.page_assets import save_map

PACKAGE = Path(__file__).resolve().parent.parent / "psa_geo"
PAYLOADS = (
    "${window.__pwned=1}",
    "`${window.__pwned=1}` back`tick",
    "</script><script>window.__pwned=1</script>",
    '"><img src=x onerror="window.__pwned=1">',
    "javascript:alert(1)",
    "line\u2028separator\u2029paragraph",
    '=HYPERLINK("http://x.invalid","y")',
    "+cmd|' /C calc'!A0",
    "-1+1",
    "@SUM(1+1)",
)
E0, N0 = 247_000, 54_000  # Plymouth, EPSG:27700


# --- JSON in a page -----------------------------------------------------------------------


@pytest.mark.parametrize("text", (*PAYLOADS, "é ✓ <!-- & '"), ids=range(len(PAYLOADS) + 1))
def test_script_json_escapes_what_ends_a_script_and_means_the_same(text):
    value = {"text": text, "list": [text, 1, 2.5, None, True]}
    out = script_json(value)
    assert json.loads(out) == value
    for char in "<>&'\u2028\u2029":
        assert char not in out
    assert "</script" not in out.lower() and "<!--" not in out


def test_script_json_refuses_what_is_not_json():
    for bad in (math.nan, math.inf):
        with pytest.raises(ValueError):
            script_json({"x": bad})


def test_popup_html_escapes_every_piece():
    out = popup_html("<b>x</b>", ["a & b", '"><img src=x>'], note="<i>n</i>")
    assert out == (
        "<b>&lt;b&gt;x&lt;/b&gt;</b><br><i>&lt;i&gt;n&lt;/i&gt;</i><br>a &amp; b<br>"
        "&quot;&gt;&lt;img src=x&gt;"
    )


def test_binders_carry_text_as_json_not_in_a_template_literal(tmp_path):
    m = folium.Map(tiles=None)
    marker = folium.CircleMarker([50.4, -4.1]).add_to(m)
    marker.add_child(tooltip(PAYLOADS[3])).add_child(popup(PAYLOADS[0], [PAYLOADS[2]]))
    page = m.get_root().render()
    for method, expected in (
        ("bindTooltip", html.escape(PAYLOADS[3])),
        ("bindPopup", popup_html(PAYLOADS[0], [PAYLOADS[2]])),
    ):
        line = next(line for line in page.splitlines() if f".{method}(" in line)
        argument = line.split(f".{method}(", 1)[1].rsplit(", {", 1)[0]
        assert argument.startswith('"')  # a JSON string, never a template literal
        assert json.loads(argument) == expected
    assert "</script><script>window" not in page


def test_geojson_layer_escapes_only_the_shown_properties_of_a_copy():
    data = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"name": "<b>x</b>", "n": 3, "fill": "#fff&"},
                "geometry": {"type": "Point", "coordinates": [-4.1, 50.4]},
            }
        ],
    }
    layer = geojson_layer(data, tooltip={"name": "Name <i>", "n": "Count"})
    props = layer.data["features"][0]["properties"]
    assert props == {"name": "&lt;b&gt;x&lt;/b&gt;", "n": 3, "fill": "#fff&"}
    assert data["features"][0]["properties"]["name"] == "<b>x</b>"  # input unchanged
    (shown,) = [c for c in layer._children.values() if isinstance(c, folium.GeoJsonTooltip)]
    assert shown.fields == ["name", "n"] and shown.aliases == ["Name &lt;i&gt;", "Count"]


# --- The guard: no module but map_text hands text to folium's unsafe elements --------------

UNSAFE = {"Tooltip", "Popup", "DivIcon", "GeoJsonTooltip", "GeoJsonPopup"}
# JavaScript of ours that binds text it reads from JSON rows made by popup_html.
BINDS_FROM_JSON = {"road_safety.py"}


def _problems(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        where = f"{path.name}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Attribute) and node.attr in UNSAFE:
            found.append(f"{where} uses {node.attr}")
        elif isinstance(node, ast.Name) and node.id in UNSAFE:
            found.append(f"{where} uses {node.id}")
        elif isinstance(node, ast.ImportFrom):
            found += [f"{where} imports {a.name}" for a in node.names if a.name in UNSAFE]
        elif isinstance(node, ast.Call):
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            for keyword in node.keywords:
                if keyword.arg in ("tooltip", "popup") and name != "geojson_layer":
                    found.append(f"{where} passes {keyword.arg}= to {name or 'a call'}")
            if name == "Element":
                found.append(f"{where} makes an Element (use map_text.html_element)")
            if name == "symbol_icon":
                markup = node.args[0] if node.args else None
                constant = isinstance(markup, ast.Name) and markup.id.isupper()
                if not (constant or isinstance(markup, ast.Constant)):
                    found.append(f"{where} gives symbol_icon markup that is not a constant")
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and ("bindPopup(" in node.value or "bindTooltip(" in node.value)
            and path.name not in BINDS_FROM_JSON
        ):
            found.append(f"{where} binds a tooltip or popup in its own JavaScript")
    return found


def test_no_module_but_map_text_gives_text_to_folium_tooltips_popups_or_icons():
    modules = sorted(p for p in PACKAGE.glob("*.py") if p.name != "map_text.py")
    assert len(modules) > 20
    problems = [problem for path in modules for problem in _problems(path)]
    assert problems == [], "use psa_geo.map_text (tooltip, popup, geojson_layer):\n" + "\n".join(
        problems
    )


def test_the_guard_finds_what_it_forbids(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import folium\nfrom folium import Popup\n"
        "folium.Marker([0, 0], tooltip=name, popup=folium.Popup(name))\n"
        "folium.GeoJson(d, tooltip=folium.GeoJsonTooltip(['a']))\n"
        "symbol_icon(f'<b>{name}</b>', size=3)\n"
        "JS = 'marker.bindTooltip(row[1])'\n"
        "root.html.add_child(folium.Element(f'<b>{name}</b>'))\n"
    )
    assert len(_problems(bad)) == 9


def test_page_markup_is_never_read_as_a_template(tmp_path):
    """folium reads a plain Element's text as Jinja: a name holding ``{{ ... }}`` would run."""
    squares = _squares(["{{ 7 * 191 }}", "b"]).rename(columns={"name": "area_name"})
    rates = squares.assign(lsoa_code=["A", "B"], lsoa_name=squares["area_name"], csp_name="C",
                           rate_per_1000=[1.0, 2.0], count=[1, 2])  # fmt: skip
    m = psa_geo.rate_map(rates, squares, title="Rates {{ 7 * 191 }} {% if 1 %}x{% endif %}")
    page = tmp_path / "map.html"
    psa_geo.save_map(m, page, index_href="index.html")
    text = page.read_text(encoding="utf-8")
    assert "1337" not in text
    assert "Rates {{ 7 * 191 }} {% if 1 %}x{% endif %}" in text


# --- Hostile text in every map, in Chromium -----------------------------------------------


def _squares(names) -> gpd.GeoDataFrame:
    """One 1 km square per name, in a row."""
    geoms = [
        shapely.box(E0 + i * 1000, N0, E0 + (i + 1) * 1000, N0 + 1000) for i in range(len(names))
    ]
    return gpd.GeoDataFrame({"name": list(names)}, geometry=geoms, crs="EPSG:27700")


@pytest.mark.browser
def test_rate_map_shows_hostile_area_names_as_text(tmp_path):
    browser_support.require_browser()
    squares = _squares(PAYLOADS)
    rates = squares.assign(
        lsoa_code=[f"E0100000{i}" for i in range(len(PAYLOADS))],
        lsoa_name=list(PAYLOADS),
        csp_name=list(reversed(PAYLOADS)),
        count=range(1, len(PAYLOADS) + 1),
        rate_per_1000=[float(i) for i in range(len(PAYLOADS))],
    ).drop(columns="name")
    outlines = squares.rename(columns={"name": "area_name"})
    path = tmp_path / "rate_map.html"
    save_map(
        rate_map(rates, outlines, title=PAYLOADS[2], outline_label=PAYLOADS[3]),
        path,
        index_href="index.html",
    )
    browser_support.check_text_page(path, tooltips=PAYLOADS, hover="path.leaflet-interactive")


@pytest.mark.browser
def test_hotspot_map_shows_hostile_locations_and_lsoa_names_as_text(tmp_path):
    browser_support.require_browser()
    lsoas = _squares(PAYLOADS).rename(columns={"name": "area_name"})
    lsoas["count"], lsoas["rate_per_1000"] = 3, 1.5
    repeats = pd.DataFrame(
        {
            "rank": range(1, len(PAYLOADS) + 1),
            "location": list(PAYLOADS),
            "count": 5,
            "share_pct": 1.0,
            "easting": [E0 + 500 + 1000 * i for i in range(len(PAYLOADS))],
            "northing": N0 + 3000,
        }
    )
    outline = gpd.GeoDataFrame(
        geometry=[shapely.box(E0, N0, E0 + 1000 * len(PAYLOADS), N0 + 4000)], crs="EPSG:27700"
    )
    path = tmp_path / "hotspots.html"
    save_map(
        hotspot_map(outline, title=PAYLOADS[0], repeats=repeats, lsoas=lsoas),
        path,
        index_href="index.html",
    )
    shown = browser_support.check_text_page(
        path, tooltips=PAYLOADS, hover="path.leaflet-interactive"
    )
    assert sum(text.startswith("#") for text in shown["tooltip"]) == len(PAYLOADS)


def _events(xy, **columns) -> gpd.GeoDataFrame:
    n = len(xy)
    frame = pd.DataFrame(
        {
            "source": "drug_litter",
            "event_id": [f"f{i}" for i in range(n)],
            "date": pd.Timestamp("2024-01-01"),
            "date_precision": "day",
            "category": "needle_find",
            "weight": 1,
            **columns,
        }
    )
    points = gpd.points_from_xy([x for x, _ in xy], [y for _, y in xy])
    return gpd.GeoDataFrame(frame, geometry=points, crs="EPSG:27700")


@pytest.mark.browser
def test_drug_litter_map_shows_hostile_bin_ids_as_text(tmp_path):
    from psa_geo.point_sources import _bin_layers

    browser_support.require_browser()
    spots = [(E0 + 1000 * i, N0) for i in range(len(PAYLOADS))]
    bins = _events(spots, bin_id=list(PAYLOADS))
    finds = _events([(x + 50, y) for x, y in spots] + [(E0, N0 + 5000)])
    outline = gpd.GeoDataFrame(
        geometry=[shapely.box(E0 - 500, N0 - 500, E0 + 1000 * len(PAYLOADS), N0 + 5500)],
        crs="EPSG:27700",
    )
    more = _bin_layers(SimpleNamespace(events=finds), SimpleNamespace(events=bins))
    m = hotspot_map(outline, title="Needle bins", more_layers=more)
    path = tmp_path / "drug_litter_map.html"
    save_map(m, path, index_href="index.html")
    popups = [f"Needle bin {text}" for text in PAYLOADS]
    shown = browser_support.check_text_page(
        path, tooltips=["Needle bin"], popups=popups, click=".psa-bin"
    )
    assert all("1 finds within 200 m" in text for text in shown["popup"])


def _collisions(texts) -> gpd.GeoDataFrame:
    n = len(texts)
    frame = pd.DataFrame(
        {
            "collision_index": [f"2017{i:09d}" for i in range(n)],
            "collision_year": 2017,
            "category": ["Fatal", "Serious", "Slight"] * (n // 3) + ["Slight"] * (n % 3),
            "date": pd.Timestamp("2017-05-01 08:30"),
            "first_road_class_label": list(texts),
            "first_road_number": 38,
            "number_of_casualties": 1,
            "number_of_vehicles": 2,
        }
    )
    points = gpd.points_from_xy([E0 + 5000 * i for i in range(n)], [N0] * n)
    return gpd.GeoDataFrame(frame, geometry=points, crs="EPSG:27700")


@pytest.mark.browser
def test_collision_map_shows_hostile_text_as_text(tmp_path):
    from psa_geo.road_safety import RoadSafety, collision_map

    browser_support.require_browser()
    collisions = _collisions(PAYLOADS)
    casualties = pd.DataFrame(
        {"collision_index": collisions["collision_index"], "casualty_severity_label": "Slight"}
    )
    path = tmp_path / "collision_map.html"
    save_map(
        collision_map(RoadSafety(collisions, casualties, pd.DataFrame())),
        path,
        index_href="index.html",
    )
    shown = browser_support.check_text_page(path, popups=PAYLOADS, click="path.leaflet-interactive")
    assert len(set(shown["popup"])) == len(PAYLOADS)  # every collision apart, none clustered


@pytest.mark.data
@pytest.mark.browser
def test_corridor_map_shows_hostile_collision_indexes_as_text(mirror, tmp_path):
    from psa_geo.corridor import corridor_study
    from psa_geo.corridor_pages import corridor_map

    browser_support.require_browser()
    study = corridor_study(mirror)
    members = study.members[~study.members.geometry.is_empty]
    chosen = pd.concat(
        [members[~members["flagged"]].head(len(PAYLOADS) - 1), members[members["flagged"]].head(1)]
    ).copy()
    chosen["collision_index"] = list(PAYLOADS)
    chosen["membership_set"] = list(reversed(PAYLOADS))
    path = tmp_path / "corridor_map.html"
    save_map(
        corridor_map(dataclasses.replace(study, membership=chosen)), path, index_href="index.html"
    )
    shown = browser_support.check_text_page(
        path, popups=PAYLOADS, hover="path.psa-link", click="path.psa-collision"
    )
    assert any("Flagged: coded to the road" in text for text in shown["popup"])
    assert any("Corridor membership: " + PAYLOADS[5] in text for text in shown["popup"])
