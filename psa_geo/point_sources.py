"""Point files given to a run (needle finds, rough-sleeping reports, needle bins): figures,
maps and a page.

A source that is not sensitive (drug litter) gets rates per 1,000 residents and per km² by
LSOA, CSP and town with the change from the comparison period, hotspots where there are enough
finds, its busiest locations and, with a bins file, the finds within reach of a bin.

A sensitive source (rough sleeping, always) is only ever shown as counts over LSOAs, towns and
CSPs with small counts suppressed (:mod:`psa_geo.suppression`): never at its location, never
as a density or Gi* surface, never with free text (:func:`read_points` drops it), and its
rejected rows lose their coordinates before they are written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
from folium.plugins import MarkerCluster

from ._version import __version__
from .assign import AssignReport, assign_areas
from .credits import HOME, credits
from .csvfile import write_csv
from .errors import InputFileError, PsaGeoError
from .hotspot_maps import hotspot_map
from .hotspots import hotspot_study
from .map_panels import LegendSection, base_map, box, circle, finish_map, pie
from .map_text import geojson_layer, popup, symbol_icon, tooltip
from .maps import NO_DATA_COLOUR, PALETTE
from .measures import rate_table
from .names import match_name
from .page_assets import save_map
from .periods import Period
from .point_counts import WEIGHT_NAMES, finds_near_bins, report_counts
from .points import SYNTHETIC_STAMP, PointsReport, check_source_name, read_points
from .suppression import suppress_lines, suppression_note
from .templating import template as load_template
from .towns import with_towns

log = logging.getLogger(__name__)

FOLDER = "points"
TITLES = {
    "drug_litter": "Drug-related litter (needle finds)",
    "rough_sleeping": "Rough sleeping (street reports)",
    "needle_bins": "Needle bins",
}
BIN_DISTANCE_M = 200.0
WEIGHT_LABELS = {"people": "People seen", "items": "Items"}
BIN_COLOUR = "#E69F00"  # Okabe–Ito orange
FAR_COLOUR = "#0072B2"  # Okabe–Ito blue
BIN_ICON = (
    '<div class="psa-bin" style="width:12px;height:12px;background:#E69F00;'
    'border:2px solid #000"></div>'
)
MIN_HOTSPOT_FINDS = 30
"""Fewer finds than this in the mapped area and the map shows each find, not hotspots."""
FIND_COLOUR = "#009E73"  # Okabe–Ito bluish green
NO_DATA = "no data supplied"
"""What an area outside a point file's coverage shows instead of a count."""
SENSITIVE_RULE = (
    "Rough-sleeping reports are sensitive: they are shown only as counts over LSOAs, towns and "
    "CSPs, never at a location, never as a density or hotspot surface and never with free text. "
    'Counts from 1 to {below} are shown as "<{threshold}", and further cells are hidden (x) '
    "where a hidden count could otherwise be worked out from the totals."
)


@dataclass
class PointSource:
    """One point file of a run, read and placed in LSOAs, CSPs and towns."""

    name: str
    events: gpd.GeoDataFrame
    read: PointsReport
    placed: AssignReport
    coverage: tuple[str, ...] = ()
    """The local authorities (names) the file covers; elsewhere there is no data."""

    def lsoa_coverage(self, areas: pd.DataFrame) -> pd.Series:
        """LSOA code → 0 where the file covers the LSOA, NaN ("no data supplied") elsewhere,
        as :func:`rate_table`'s ``coverage``."""
        covered = areas["lad_name"].isin(self.coverage).to_numpy()
        return pd.Series(np.where(covered, 0.0, np.nan), index=areas["lsoa_code"].to_numpy())

    @property
    def sensitive(self) -> bool:
        return self.read.sensitive

    @property
    def synthetic(self) -> bool:
        return self.read.synthetic

    @property
    def title(self) -> str:
        return TITLES.get(self.name, self.name.replace("_", " ").capitalize())

    def rejected_rows(self) -> pd.DataFrame:
        """The rejected rows with their source; a sensitive source's lose their location
        (``source_file`` and ``source_row`` still find them in the original file)."""
        rows = self.read.rejected_rows.copy()
        if self.sensitive:
            located = ("longitude", "latitude", "easting", "northing")
            for name, header in self.read.columns.items():
                if name in located and header in rows:
                    rows[header] = "(withheld: sensitive source)"
        return rows.assign(source=self.name)


def load_point_sources(
    points: list[tuple[str, str | Path]],
    areas: gpd.GeoDataFrame,
    *,
    towns: pd.DataFrame | None = None,
    synthetic: bool = False,
) -> dict[str, PointSource]:
    """Read ``(source, path)`` pairs (``--points SOURCE=FILE``) and place them in areas.

    Real runs (``synthetic=False``) refuse files stamped "synthetic example data", and the demo
    (``synthetic=True``) refuses real files, so the two never mix. With ``towns`` the events
    carry ``town_code`` and ``town_name``.
    """
    out: dict[str, PointSource] = {}
    for source, path, *given in points:
        check_source_name(source)  # it names the output files
        if source in out:
            raise PsaGeoError(f"--points gives {source} twice; put its files in one folder")
        events, read = read_points(path, source=source, area=areas, return_report=True)
        if read.synthetic != synthetic:
            problem = (
                "is synthetic example data: use 'psa-geo build --demo', which keeps it apart"
                if read.synthetic
                else "is not synthetic example data: the demo only reads files from psa-geo synth"
            )
            raise InputFileError(path, problem)
        events, placed = assign_areas(events, areas, return_report=True)
        if towns is not None:
            events = with_towns(events, towns)
        coverage = _coverage(given[0] if given else None, events, areas, path)
        out[source] = PointSource(source, events, read, placed, coverage)
    return out


def _coverage(given, events: pd.DataFrame, areas: pd.DataFrame, path) -> tuple[str, ...]:
    """The local authorities a file covers: ``given`` (names or codes, any case), else those
    with at least one located record."""
    lads = areas[["lad_code", "lad_name"]].drop_duplicates()
    if given is None:
        inside = events.loc[events["area_status"] == "inside", "lad_name"]
        return tuple(sorted(set(inside.dropna())))
    by_code = dict(zip(lads["lad_code"].str.upper(), lads["lad_name"], strict=True))
    names = []
    for item in given:
        if item.upper() in by_code:
            names.append(by_code[item.upper()])
            continue
        try:
            names.append(match_name(item, sorted(lads["lad_name"]), what="local authority"))
        except PsaGeoError as exc:
            raise InputFileError(path, f"coverage: {exc}") from None
    return tuple(sorted(set(names)))


def point_tables(
    source: PointSource,
    areas: gpd.GeoDataFrame,
    *,
    study: Period,
    comparison: Period,
    threshold: int = 5,
) -> dict[str, pd.DataFrame]:
    """The tables of one source, named by level (``lsoa``, ``csp``, ``town`` when the areas
    carry towns) and ``csp_quarter``.

    Not sensitive: :func:`rate_table` rows of finds (``count``, rates per 1,000 with 95%
    intervals, change, trend) with ``items`` and ``per_km2`` added. Sensitive: reports,
    people and distinct people in the study period, suppressed (:func:`publishable_counts`).
    Every table of synthetic data has a first column ``synthetic``.
    """
    levels = ["lsoa", "csp"] + (["town"] if "town_code" in areas else [])
    if source.sensitive:
        tables = publishable_counts(source.events, areas, levels, study=study,
                                    threshold=threshold, source=source.name)  # fmt: skip
        _mark_uncovered(tables, areas, source)
    else:
        tables = {level: _rates(source, areas, level, study, comparison) for level in levels}
        for table in tables.values():
            table["trend_word"] = table["trend_word"].replace("no data", NO_DATA)
        tables["csp_quarter"] = report_counts(source.events, areas, level="csp", period="quarter")
    if source.synthetic:
        for table in tables.values():
            if "synthetic" not in table:
                table.insert(0, "synthetic", SYNTHETIC_STAMP)
    return tables


def _rates(source, areas, level, study, comparison) -> pd.DataFrame:
    """Finds (one per record) and items by area, with rates per 1,000 and per km²."""
    events = source.events
    covered = set(events["date"].dropna().dt.to_period("M").dt.to_timestamp())
    common = {
        "level": level,
        "study": study,
        "comparison": comparison,
        "months_covered": covered,
        "groups": {source.title: list(events["category"].unique())},
    }
    common["coverage"] = source.lsoa_coverage(areas)
    finds = rate_table(events.assign(weight=1), areas, **common)
    items = rate_table(events, areas, **common)
    finds.insert(finds.columns.get_loc("count") + 1, "items", items["count"].to_numpy())
    km2 = _area_km2(areas, level)
    finds["per_km2"] = finds["count"] / finds["area_code"].map(km2)
    return finds


def _mark_uncovered(tables: dict[str, pd.DataFrame], areas: pd.DataFrame, source) -> None:
    """In a sensitive source's area tables, an area with no LSOA the file covers shows
    :data:`NO_DATA` in place of its counts (its zeros are not counts: nothing was recorded)."""
    covered = source.lsoa_coverage(areas).notna().to_numpy()
    for level, table in tables.items():
        code = f"{level}_code"
        if code not in areas:
            continue
        known = set(areas.loc[covered, code].dropna())
        outside = ~table["area_code"].isin(known)
        for column in [c for c in table if f"{c}_hidden" in table]:
            table[column] = table[column].astype(object).where(~outside, NO_DATA)


def _area_km2(areas: pd.DataFrame, level: str) -> pd.Series:
    if level == "lsoa":
        return areas.set_index("lsoa_code")["area_km2"]
    return areas.groupby(f"{level}_code")["area_km2"].sum()


def publishable_counts(
    events: gpd.GeoDataFrame,
    areas: gpd.GeoDataFrame,
    levels: list[str],
    *,
    study: Period,
    threshold: int = 5,
    source: str | None = None,
) -> dict[str, pd.DataFrame]:
    """Counts of a sensitive source in ``study`` that are safe to publish: by each of
    ``levels`` and by CSP and quarter (``csp_quarter``, long, with a ``measure`` column).
    ``source`` (default: the events' ``source``) names the summed weight, even when no
    record was accepted (``people`` for rough sleeping).

    Each measure (reports, the summed weight: people or items, and with ids distinct people) is
    suppressed on its own over one set of lines (:func:`suppress_lines`): each CSP and each
    town with its LSOAs, the CSPs with the Peninsula total, the towns with their sum, and the
    CSP-by-quarter grid with its totals. Tables hold the shown text (``"<5"``, ``"x"`` or the
    count) and a ``<measure>_hidden`` flag: no hidden number is in them.
    """
    within = events[study.contains(events["date"])]
    placed = within[within["area_status"] == "inside"]
    if source is None and len(events):
        source = events["source"].iloc[0]
    weight = WEIGHT_NAMES.get(source, "weight")
    measures = ["reports", weight] + (["distinct_people"] if "person_id" in events else [])
    out = {level: _study_counts(placed, areas, level, measures) for level in levels}
    grid = report_counts(placed, areas, level="csp", period="quarter", within=study)
    grid = grid[grid["area_code"].notna()].rename(columns={"weight": weight})
    quarters = list(dict.fromkeys(grid["period"]))
    long = []
    for measure in measures:
        values, lines, keys = _cells_and_lines(out, grid, quarters, areas, measure)
        shown = suppress_lines(values, lines, threshold=threshold)
        for level, table in out.items():
            cells = [(level, code) for code in table["area_code"]]
            table[f"{measure}_hidden"] = [shown[c][1] for c in cells]
            table[measure] = [shown[c][0] for c in cells]
        wide = pd.DataFrame(
            {q: [shown[keys[(c, q)]][0] for c in keys["codes"]] for q in [*quarters, "Total"]}
        )
        names = dict(zip(grid["area_code"], grid["area_name"], strict=False))
        wide.insert(0, "area_name", [names.get(c, "All CSPs") for c in keys["codes"]])
        wide.insert(0, "area_code", [c if c in names else None for c in keys["codes"]])
        long.append(wide.assign(measure=measure))
    out["csp_quarter"] = pd.concat(long, ignore_index=True)
    note = suppression_note(threshold)
    for table in out.values():
        table.attrs["suppression"] = note
    return out


def _study_counts(placed, areas, level, measures) -> pd.DataFrame:
    """Reports, people and distinct people by area of ``level``, zeros included."""
    code, name = f"{level}_code", f"{level}_name"
    base = areas[[code, name]].dropna().drop_duplicates(code)
    groups = placed.groupby(code)
    table = pd.DataFrame({"reports": groups.size(), measures[1]: groups["weight"].sum()})
    if "distinct_people" in measures:
        table["distinct_people"] = groups["person_id"].nunique()
    table = base.merge(table, left_on=code, right_index=True, how="left").fillna(0)
    table = table.rename(columns={code: "area_code", name: "area_name"})
    table[measures] = table[measures].astype(int)
    return table.sort_values("area_code", ignore_index=True)


def _cells_and_lines(tables, grid, quarters, areas, measure):
    """Every published count of one measure as a cell, and the lines of cells that add up.

    Distinct people do not add up across areas or quarters (one person is seen in several),
    yet their lines are kept: treating them as sums only hides more.
    """
    values: dict[tuple, int] = {}
    for level, table in tables.items():
        values.update(
            {(level, c): int(v) for c, v in zip(table["area_code"], table[measure], strict=True)}
        )
    lines: list[list] = []
    for level in ("csp", "town"):
        if level in tables:
            parent = areas.set_index("lsoa_code")[f"{level}_code"]
            for code in tables[level]["area_code"]:
                lines.append([(level, code), *[("lsoa", c) for c in parent.index[parent == code]]])
            values[(level, "total")] = sum(tables[level][measure])
            lines.append([(level, "total"), *[(level, c) for c in tables[level]["area_code"]]])
    codes = list(tables["csp"]["area_code"])
    cell = grid.set_index(["area_code", "period"])[measure]
    keys: dict = {"codes": [*codes, "total"]}
    for code in keys["codes"]:
        for q in quarters:
            keys[(code, q)] = ("quarter", code, q)
            if code == "total":
                values[keys[(code, q)]] = int(sum(cell.get((c, q), 0) for c in codes))
            else:
                values[keys[(code, q)]] = int(cell.get((code, q), 0))
        keys[(code, "Total")] = ("csp", code)
        lines.append([("csp", code), *[keys[(code, q)] for q in quarters]])
    for q in quarters:
        lines.append([keys[("total", q)], *[keys[(c, q)] for c in codes]])
    return values, lines, keys


def source_map(
    source: PointSource,
    areas: gpd.GeoDataFrame,
    tables: dict[str, pd.DataFrame],
    *,
    study: Period,
    area_name: str | None = None,
    level: str = "csp",
    bins: PointSource | None = None,
) -> folium.Map:
    """The map of one source over ``area_name`` (a CSP or town; default the busiest CSP),
    first shown fitted to where its records are.

    Sensitive: LSOAs shaded by their suppressed count, in words. Otherwise the hotspot map of
    the finds (Gi*, density and busiest places when there are at least
    :data:`MIN_HOTSPOT_FINDS`; else the finds as clustered markers), with the bins and the
    finds beyond their reach. LSOAs outside the file's coverage say "no data supplied".
    """
    if area_name is None:
        located = source.events[source.events["area_status"] == "inside"]
        area_name = located[f"{level}_name"].mode().iloc[0] if len(located) else None
    if area_name is None:
        raise PsaGeoError(f"{source.name}: no located records to map")
    chosen = areas[areas[f"{level}_name"] == area_name]
    title = f"{source.title} in {area_name}, {study.label}"
    if source.synthetic:
        title = f"{title} ({SYNTHETIC_STAMP})"
    if source.sensitive:
        return _banded_map(chosen, tables["lsoa"], title)
    lsoas = chosen[["lsoa_code", "geometry"]].merge(
        tables["lsoa"].rename(columns={"area_code": "lsoa_code"}), on="lsoa_code"
    )
    finds = source.events[
        source.events["area_status"].eq("inside")
        & source.events[f"{level}_name"].eq(area_name)
        & study.contains(source.events["date"])
    ]
    view = finds if len(finds) else chosen
    view = gpd.GeoDataFrame(geometry=[view.geometry.union_all().envelope.buffer(300)],
                            crs=view.crs)  # fmt: skip
    more = [_bin_layers(source, bins)] if bins is not None else []
    layers = {}
    if len(finds) < MIN_HOTSPOT_FINDS:
        log.info("%s: %d finds in %s, too few for hotspots; mapped as markers", source.name,
                 len(finds), area_name)  # fmt: skip
        more.append(_finds_layer(finds))
    else:
        layers = _hotspot_layers(source, areas, area_name, level, study)
    outline = chosen[["geometry"]].dissolve()
    return hotspot_map(outline, title=title, lsoas=lsoas, credit=credits("boundaries"),
                       more_layers=lambda m: [part for add in more for part in add(m)],
                       view=view, **layers)  # fmt: skip


def _hotspot_layers(source, areas, area_name: str, level: str, study: Period) -> dict:
    """Gi*, density and repeat locations of the finds for :func:`hotspot_map`, or none when
    the hotspot study cannot run (it says why in the log)."""
    try:
        hot = hotspot_study(
            source.events,
            areas,
            area_name=area_name,
            level=level,
            group=source.title,
            period=study,
            groups={source.title: list(source.events["category"].unique())},
        )
    except PsaGeoError as exc:
        log.info("%s: no hotspot layers for %s: %s", source.name, area_name, exc)
        return {}
    return {"gistar_cells": hot.cells, "density": hot.density, "repeats": hot.repeats}


def _finds_layer(finds: gpd.GeoDataFrame) -> Callable[[folium.Map], list]:
    """The finds as markers, clustered where they are close (the number counts them), as
    :func:`hotspot_map`'s ``more_layers``; for a source that is not sensitive only."""

    def add(m: folium.Map) -> list[LegendSection]:
        layer = MarkerCluster(
            name=f"Finds ({len(finds):,})", icon_create_function=_CLUSTER_ICON
        ).add_to(m)
        points = finds.geometry.to_crs("EPSG:4326")
        for point, date, items in zip(points, finds["date"], finds["weight"], strict=True):
            when = date.strftime("%d %b %Y") if pd.notna(date) else "date unknown"
            folium.CircleMarker(
                [round(point.y, 5), round(point.x, 5)], radius=6, color="#000", weight=1,
                fill=True, fill_color=FIND_COLOUR, fill_opacity=0.9,
            ).add_child(tooltip(f"Find, {when}: {items:g} items")).add_to(layer)  # fmt: skip
        rows = [
            (circle(FIND_COLOUR, 6, stroke="#000000"), "a find (hover for its date)"),
            (pie([FIND_COLOUR], 3), "finds close together: the number counts them"),
        ]
        note = f"Fewer than {MIN_HOTSPOT_FINDS} finds: too few for hotspots, so each is shown."
        return [LegendSection("Finds", rows, layer=layer, note=note)]

    return add


# A cluster of finds: its count in a ring of the finds' colour (the legend's key).
_CLUSTER_ICON = """function (cluster) {
    return L.divIcon({iconSize: L.point(30, 30), className: "marker-cluster psa-cluster",
        html: '<div style="background:FIND_COLOUR"><span>' + cluster.getChildCount() +
            '</span></div>'});
}""".replace("FIND_COLOUR", FIND_COLOUR)


def _bin_layers(finds: PointSource, bins: PointSource) -> Callable[[folium.Map], list]:
    """The bins (with the finds within reach of each) and the finds beyond every bin, as
    :func:`hotspot_map`'s ``more_layers``."""

    def add(m: folium.Map) -> list[LegendSection]:
        cover = finds_near_bins(finds.events, bins.events, distance_m=BIN_DISTANCE_M)
        group = folium.FeatureGroup(
            name=f"Needle bins ({len(cover.bins)}), with finds within {BIN_DISTANCE_M:.0f} m"
        ).add_to(m)
        for row in cover.bins.to_crs("EPSG:4326").itertuples():
            lines = [f"{row.finds_within} finds within {BIN_DISTANCE_M:.0f} m "
                     f"({row.share_pct:.0f}% of all)"]  # fmt: skip
            folium.Marker(
                [row.geometry.y, row.geometry.x], icon=symbol_icon(BIN_ICON, size=14)
            ).add_child(popup(f"Needle bin {row.bin}", lines, max_width=260)).add_child(
                tooltip("Needle bin")
            ).add_to(group)
        far = folium.FeatureGroup(
            name=f"Finds more than {BIN_DISTANCE_M:.0f} m from a bin ({len(cover.uncovered)})",
            show=False,
        ).add_to(m)
        for point in cover.uncovered.to_crs("EPSG:4326").geometry:
            folium.CircleMarker(
                [point.y, point.x], radius=3, color=FAR_COLOUR, fill=True
            ).add_child(tooltip("Find beyond every bin")).add_to(far)
        return [
            LegendSection("Needle bins", [(box(BIN_COLOUR, border="#000000"), "a bin (click "
                          "for the finds within reach)")], layer=group),
            LegendSection("Finds beyond every bin", [(circle(FAR_COLOUR, 3), "a find more "
                          f"than {BIN_DISTANCE_M:.0f} m from a bin")], layer=far),
        ]  # fmt: skip

    return add


BANDS = (
    ("none", "No data supplied"),
    ("0", "No reports"),
    ("hidden", "Fewer than 5, or hidden"),
    ("5", "5 to 9"),
    ("10", "10 to 19"),
    ("20", "20 or more"),
)


def _band(text: str) -> str:
    if text == NO_DATA:
        return "none"
    if not str(text).isdigit():
        return "hidden"
    value = int(text)
    return "0" if value == 0 else "5" if value < 10 else "10" if value < 20 else "20"


def _banded_map(chosen: gpd.GeoDataFrame, lsoa_table: pd.DataFrame, title: str) -> folium.Map:
    """LSOAs shaded by their shown count (a band, in words): the finest a sensitive source is
    ever mapped. Only the standard LSOA boundaries carry coordinates."""
    shown = lsoa_table.set_index("area_code")["reports"]
    frame = chosen[["lsoa_code", "lsoa_name", "geometry"]].copy()
    frame["reports"] = frame["lsoa_code"].map(shown).fillna("0").astype(str)
    frame["band"] = frame["reports"].map(_band)
    colours = dict(zip([b for b, _ in BANDS], ["#ffffff", NO_DATA_COLOUR, *PALETTE[1:]],
                       strict=True))  # fmt: skip
    words = dict(BANDS)
    frame["label"] = frame["band"].map(words)
    m = base_map()
    frame["geometry"] = frame.geometry.simplify(5)
    layer = geojson_layer(
        frame.drop(columns="band").to_crs("EPSG:4326").to_geo_dict(drop_id=True, show_bbox=False),
        name="Reports by LSOA (counts suppressed)",
        style_function=lambda f: {
            "fillColor": colours[_band(f["properties"]["reports"])],
            "fillOpacity": 0.7,
            "color": "#555",
            "weight": 1,
            "dashArray": "4" if _band(f["properties"]["reports"]) == "none" else None,
        },
        tooltip={"lsoa_name": "LSOA", "reports": "Reports", "label": "Band"},
    ).add_to(m)
    counts = frame["band"].value_counts()
    key = LegendSection(
        "Reports by LSOA",
        [
            (box(colours[b], dashed=b == "none"), w, f"{counts.get(b, 0):,} LSOAs")
            for b, w in BANDS
            if b != "none" or counts.get(b, 0)
        ],
        layer=layer,
        columns=("Colour", "Reports", "Areas"),
        note="Counts of 1 to 4 are not shown, nor any that would let them be worked out. "
        "Never mapped at a finer grain.",
    )
    return finish_map(m, title=title, study_area=frame, legend=[key], credit=credits("boundaries"))


def write_point_sources(
    sources: dict[str, PointSource],
    areas: gpd.GeoDataFrame,
    out_dir: str | Path,
    *,
    study: Period,
    comparison: Period,
    threshold: int = 5,
    map_area: tuple[str, str] | None = None,
    links: list[tuple[str, str]] = (),
    home: str = HOME,
) -> tuple[list[Path], dict[str, dict[str, pd.DataFrame]]]:
    """Write ``out_dir/points/``: each source's tables (CSV), map and ``index.html``.

    ``map_area`` is ``(level, name)`` of the maps (default: each source's busiest CSP);
    ``links`` are ``(text, href)`` shown at the top of the page, after the link back to the
    site index ``home`` (the maps link back there too). Returns the files and the tables by
    source.
    """
    folder = Path(out_dir) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    all_tables: dict[str, dict[str, pd.DataFrame]] = {}
    sections = []
    bins = sources.get("needle_bins")
    for source in sources.values():
        if source.name == "needle_bins":
            continue
        tables = point_tables(
            source, areas, study=study, comparison=comparison, threshold=threshold
        )
        all_tables[source.name] = tables
        for name, table in tables.items():
            path = folder / f"{source.name}_{name}.csv"
            write_csv(table, path, float_format="%.3f")
            written.append(path)
        level, name = map_area or ("csp", None)
        map_path = None
        if name is not None or (source.events["area_status"] == "inside").any():
            map_path = folder / f"{source.name}_map.html"
            m = source_map(
                source,
                areas,
                tables,
                study=study,
                level=level,
                area_name=name,
                bins=bins if source.name == "drug_litter" else None,
            )
            save_map(m, map_path, index_href=home)
            written.append(map_path)
        sections.append(_section(source, tables, map_path and map_path.name, threshold))
    page = folder / "index.html"
    synthetic = any(s.synthetic for s in sources.values())
    page.write_text(
        _page(sections, study, comparison, synthetic=synthetic, links=list(links), home=home),
        encoding="utf-8",
    )
    return [*written, page], all_tables


def _section(source: PointSource, tables, map_file: str | None, threshold: int) -> dict:
    levels = [("Town", "town"), ("CSP", "csp")]
    return {
        "key": source.name,
        "title": source.title,
        "sensitive": source.sensitive,
        **_weight(source.name),
        "tables": [
            (label, tables[lvl].to_dict("records")) for label, lvl in levels if lvl in tables
        ],
        "map_file": map_file,
        "read": source.read,
        "placed": source.placed,
        **_rule_texts(threshold),
    }


def _rule_texts(threshold: int) -> dict:
    """The sensitive-source rule and the suppression note, for the pages."""
    return {
        "rule": SENSITIVE_RULE.format(below=threshold - 1, threshold=threshold),
        "suppression": suppression_note(threshold),
    }


def _weight(source: str) -> dict:
    """The summed weight's column and heading (people seen, items) for the pages."""
    key = WEIGHT_NAMES.get(source, "weight")
    return {"weight_key": key, "weight_label": WEIGHT_LABELS.get(key, "Weight")}


def _page(sections, study: Period, comparison: Period, *, synthetic: bool, links, home) -> str:
    return load_template("points.html.j2").render(
        sections=sections,
        study=study,
        comparison=comparison,
        synthetic=synthetic,
        links=links,
        stamp=SYNTHETIC_STAMP,
        attribution=credits("boundaries"),
        home=home,
        version=__version__,
    )


def town_point_figures(
    sources: dict[str, PointSource],
    tables: dict[str, dict[str, pd.DataFrame]],
    town: str,
    *,
    page: str,
    threshold: int = 5,
) -> dict[str, dict]:
    """The town's figures from each source's town table, for its profile section
    (:attr:`TownProfile.point_sources`); ``page`` is the link to the sources' page."""
    out = {}
    for name, source_tables in tables.items():
        table = source_tables.get("town")
        if table is None or not (table["area_name"] == town).any():
            continue
        row = table[table["area_name"] == town].iloc[0].to_dict()
        if pd.isna(row.get("count", 0)) or row.get("reports") == NO_DATA:
            continue  # outside the file's coverage: the profile says no data was supplied
        out[name] = {
            **row,
            **_weight(name),
            "sensitive": sources[name].sensitive,
            "page": page,
            "synthetic": sources[name].synthetic,
            **_rule_texts(threshold),
        }
    return out
