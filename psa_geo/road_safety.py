"""The road-safety section: STATS19 casualty tables, the all-roads collision map and its page.

Casualties give every count (KSI = fatal + serious casualties, never collision severity).
Collision locations exist only for the years whose collision file is in the data, so tables by
CSP and LAD (counts, rates per 100,000 residents, road users) cover those years and say so for
the others.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import folium
import geopandas as gpd
import pandas as pd
from folium.elements import JSCSSMixin
from folium.plugins import MarkerCluster
from folium.template import Template

from ._version import __version__
from .areas import dissolve_areas
from .assign import assign_areas
from .casualties import (
    CRASH_CAVEAT,
    MISSING,
    NOT_PLACED,
    casualties_by_area,
    casualty_rates,
    casualty_shares,
    casualty_table,
)
from .credits import HOME, credits
from .csvfile import write_csv
from .datadir import dataset_path, load_manifest
from .map_panels import LegendSection, base_map, circle, finish_map, pie
from .map_text import popup_html, script_json
from .maps import outline_layers
from .page_assets import save_map
from .population import base_estimates
from .stats19 import link_casualties, read_stats19
from .templating import template as load_template

log = logging.getLogger(__name__)

FOLDER = "collisions"
# Okabe–Ito black, vermilion and sky blue; the marker size differs too, so colour is not needed.
SEVERITY_STYLE = {"Fatal": ("#000000", 8), "Serious": ("#D55E00", 6), "Slight": ("#56B4E9", 4)}
BREAKDOWNS = {"road_user": "road user", "age_band": "age band"}
CAVEATS = (
    CRASH_CAVEAT,
    "Counts are casualties from DfT's STATS19 data for Devon & Cornwall Police (force 50). "
    "Published figures can differ by a few casualties: DfT revises severities after "
    "publication.",
    "Collision locations are only in the data for some years; casualties of the other years "
    "count in the force totals but in no CSP.",
)
#: Area levels of the rate tables (``casualty_rates_<level>.csv``) and their page captions.
RATE_LEVELS = {"csp": "Community Safety Partnership", "lad": "local authority district"}
WHERE_NOT_WHO = (
    "These count casualties in collisions in the area, not casualties who live there: "
    "visitors, commuters and through traffic count where the collision was, while the "
    "population is of residents only, so areas with busy through roads or many visitors look "
    "high."
)
#: Home groupings of :func:`casualty_shares` (``casualties_by_<by>.csv``) and their captions.
HOMES = {
    "home_imd_decile": "the deprivation decile of their home (DfT, Index of Multiple "
    "Deprivation, deciles of England)",
    "home_area_type": "the area type of their home (DfT: urban area, small town, rural)",
}
HOME_CAVEATS = (
    "DfT gives each casualty the Index of Multiple Deprivation decile of the LSOA of their "
    "home, ranked among all LSOAs in England (1 = the most deprived 10%), and whether the home "
    "is in an urban area, a small town or a rural area. The home may be anywhere in England, "
    "so these are deciles of England, not of the Peninsula, and casualties who live elsewhere "
    "count here only because their collision was here.",
    f"'{MISSING}' is DfT's code -1: no value, for example no home postcode on record or a home "
    "outside England. Shares of known values leave these casualties out and can only "
    "describe them if they are like the others.",
    "Counts and shares only, no rates: how many residents of each decile or area type travel "
    "in the Peninsula is not known.",
)


@dataclass
class RoadSafety:
    """Collisions (placed in areas), casualties, what links them, the CSPs' outlines
    (``area_name``) for the map (none: the map has no boundaries), and the LSOAs with the
    population estimates (:func:`psa_geo.load_estimates`) for rates per 100,000 residents
    (no areas: no rate tables)."""

    collisions: gpd.GeoDataFrame
    casualties: pd.DataFrame
    linkage: pd.DataFrame
    csps: gpd.GeoDataFrame | None = None
    areas: gpd.GeoDataFrame | None = None
    estimates: pd.DataFrame | None = None

    @property
    def located_years(self) -> list[int]:
        return sorted(int(y) for y in self.collisions["collision_year"].dropna().unique())


def load_road_safety(
    data_dir: str | Path | None,
    areas: gpd.GeoDataFrame,
    *,
    estimates: pd.DataFrame | None = None,
) -> RoadSafety:
    """Read the STATS19 collisions and casualties of the data directory and place the
    collisions in the areas (:func:`assign_areas`). ``estimates``: the population estimates
    of the rates (:func:`psa_geo.load_estimates`); default: the population of ``areas``, as
    :func:`psa_geo.load_areas` gives it (the data directory's mid-2018)."""
    manifest = load_manifest()
    collisions = read_stats19(
        dataset_path("stats19_collisions", data_dir, manifest=manifest), table="collisions"
    )
    casualties = read_stats19(
        dataset_path("stats19_casualties", data_dir, manifest=manifest), table="casualties"
    )
    placed = assign_areas(collisions, areas)
    csps = dissolve_areas(areas, level="csp")
    if estimates is None:
        estimates = base_estimates(areas, data_dir=data_dir)
    linkage = link_casualties(casualties, collisions)
    return RoadSafety(placed, casualties, linkage, csps, areas=areas, estimates=estimates)


def road_safety_tables(study: RoadSafety) -> dict[str, pd.DataFrame]:
    """The section's tables: Peninsula casualties by severity and year, by road user and age
    band, by CSP (located years only, the others marked), rates per 100,000 residents by CSP
    and LAD and casualties by CSP and road user (located years), casualties by their home's
    deprivation decile and area type (counts and shares), and the casualty linkage."""
    tables = {"casualties_peninsula": casualty_table(study.casualties)}
    for by in BREAKDOWNS:
        tables[f"casualties_by_{by}"] = casualty_table(study.casualties, by=by)
    tables["casualties_by_csp"] = casualties_by_area(
        study.casualties, study.collisions, area="csp_name",
        areas=sorted(study.collisions["csp_name"].dropna().unique()),
    )  # fmt: skip
    if study.areas is not None:
        for level in RATE_LEVELS:
            tables[f"casualty_rates_{level}"] = casualty_rates(
                study.casualties, study.collisions, study.areas, level=level,
                estimates=study.estimates,
            )  # fmt: skip
    located = study.casualties["collision_year"].isin(study.located_years)
    tables["casualties_by_csp_road_user"] = casualties_by_area(
        study.casualties[located.fillna(False).to_numpy()], study.collisions, area="csp_name",
        by="road_user", areas=sorted(study.collisions["csp_name"].dropna().unique()),
    )  # fmt: skip
    for by in HOMES:
        tables[f"casualties_by_{by}"] = casualty_shares(study.casualties, by=by)
    tables["casualty_linkage"] = study.linkage
    return tables


def collision_map(study: RoadSafety) -> folium.Map:
    """All located collisions by severity, clustered, as one view per year and one of the
    collisions with a killed or seriously injured casualty (KSI), chosen in the layer control;
    each cluster's ring shows its severity mix; popups give date, severity, road, casualties."""
    located = study.collisions[~study.collisions.geometry.is_empty]
    ksi = study.casualties[study.casualties["casualty_severity_label"].isin(["Fatal", "Serious"])]
    ksi_counts = ksi.groupby("collision_index").size()
    wgs = located.to_crs("EPSG:4326")
    m = base_map()
    rows = [
        [round(p.y, 5), round(p.x, 5), _popup(c), c.category if c.category in SEVERITY_STYLE
         else "Slight"]
        for p, c in zip(wgs.geometry, located.itertuples(), strict=True)
    ]  # fmt: skip
    years = located["collision_year"].to_numpy()
    has_ksi = located["collision_index"].map(ksi_counts).fillna(0).to_numpy() > 0
    latest = study.located_years[-1]
    for year in reversed(study.located_years):
        data = [r for r, y in zip(rows, years, strict=True) if y == year]
        _Clusters(data, name=f"Collisions {year} ({len(data):,})", show=year == latest).add_to(m)
    data = [r for r, k in zip(rows, has_ksi, strict=True) if k]
    years_text = " and ".join(str(y) for y in study.located_years)
    _Clusters(data, show=False, name=f"Collisions with a killed or seriously injured casualty, "
              f"{years_text} ({len(data):,})").add_to(m)  # fmt: skip
    legend = _legend()
    if study.csps is not None:
        legend.append(outline_layers(m, study.csps, name="Community Safety Partnerships",
                                     simplify_m=150))  # context only: light  # fmt: skip
    title = f"Road traffic collisions, all roads, {years_text}"
    return finish_map(m, title=title, study_area=wgs, legend=legend,
                      credit=credits("boundaries", "stats19"))  # fmt: skip


def _popup(row) -> str:
    """The popup of one collision as HTML (:func:`popup_html`: every value escaped); the
    clusters carry it as JSON (:func:`script_json`) to ``bindPopup``."""
    when = row.date.strftime("%d %b %Y %H:%M") if pd.notna(row.date) else "date unknown"
    road = row.first_road_class_label if pd.notna(row.first_road_class_label) else "road unknown"
    if pd.notna(row.first_road_number) and row.first_road_number not in (0, "0"):
        road = f"{road} {row.first_road_number}"
    details = [when, road, f"{row.number_of_casualties} casualties, "
               f"{row.number_of_vehicles} vehicles"]  # fmt: skip
    return popup_html(f"{row.category} collision", details)


class _Clusters(JSCSSMixin, folium.map.Layer):
    """One view of the collisions (a base layer: one view at a time): clustered markers
    from rows ``[lat, lon, popup HTML, severity]`` written with :func:`script_json`; a
    cluster shows its count in a ring of its severity mix."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = (function(){
                var styles = {{ this.styles }};
                var data = {{ this.data_json }};
                var cluster = L.markerClusterGroup({iconCreateFunction: function (c) {
                    var n = {Fatal: 0, Serious: 0, Slight: 0}, total = c.getChildCount();
                    c.getAllChildMarkers().forEach(function (m) { n[m.options.severity] += 1; });
                    var f = 100 * n.Fatal / total, s = f + 100 * n.Serious / total;
                    var ring = "conic-gradient(" + styles.Fatal[0] + " 0 " + f + "%, " +
                        styles.Serious[0] + " " + f + "% " + s + "%, " + styles.Slight[0] +
                        " " + s + "% 100%)";
                    var words = total + " collisions: " + n.Fatal + " fatal, " + n.Serious +
                        " serious, " + n.Slight + " slight";
                    var size = total < 10 ? 30 : total < 100 ? 36 : 42;
                    return L.divIcon({iconSize: L.point(size, size), className:
                        "marker-cluster psa-cluster", html: '<div title="' + words +
                        '" style="background:' + ring + '"><span>' + total + '</span></div>'});
                }});
                for (var i = 0; i < data.length; i++) {
                    var row = data[i], style = styles[row[3]];
                    L.circleMarker([row[0], row[1]], {radius: style[1], color: "#333",
                        weight: 1, fillColor: style[0], fillOpacity: 0.9, severity: row[3],
                        className: "psa-collision"})
                        .bindPopup(row[2]).addTo(cluster);
                }
                {% if this.show %}cluster.addTo({{ this._parent.get_name() }});{% endif %}
                return cluster;
            })();
        {% endmacro %}"""
    )

    def __init__(self, data: list, *, name: str, show: bool) -> None:
        super().__init__(name=name, overlay=False, show=show)
        self._name = "Clusters"
        self.data_json = script_json(data)
        self.styles = script_json(SEVERITY_STYLE)
        self.default_js = list(MarkerCluster.default_js)  # Leaflet.markercluster, vendored
        self.default_css = list(MarkerCluster.default_css)


def _legend() -> list[LegendSection]:
    markers = [(circle(colour, radius), name) for name, (colour, radius) in
               SEVERITY_STYLE.items()]  # fmt: skip
    colours = [colour for colour, _ in SEVERITY_STYLE.values()]
    return [
        LegendSection("Collision severity", markers, note="Larger circles are more severe. "
                      "Click a collision for its date, road and casualties."),
        LegendSection("Clusters", [(pie(colours, 12), "collisions close together: the number "
                      "counts them; the ring shows the share fatal, serious and slight")],
                      note="Choose a year, or the collisions with a killed or seriously "
                      "injured casualty, with the layer button."),
    ]  # fmt: skip


def write_road_safety(study: RoadSafety, out_dir: str | Path) -> list[Path]:
    """``collisions/``: the tables as CSV, ``index.html`` with them and the caveats, and
    ``collision_map.html``."""
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    tables = road_safety_tables(study)
    written = []
    for name, table in tables.items():
        path = folder / f"{name}.csv"
        write_csv(table, path)
        written.append(path)
    map_path = folder / "collision_map.html"
    save_map(collision_map(study), map_path, index_href="../index.html")
    page = folder / "index.html"
    page.write_text(road_safety_html(study, tables, map_file=map_path.name), encoding="utf-8")
    return [*written, map_path, page]


def road_safety_html(study: RoadSafety, tables: dict[str, pd.DataFrame], *, map_file: str) -> str:
    """The section's page: casualty tables in the assessment's wide form, caveats under each."""
    template = load_template("road_safety.html.j2")
    years = sorted(tables["casualties_peninsula"]["year"].unique())
    breakdowns = {
        label: _wide(tables[f"casualties_by_{by}"], by) for by, label in BREAKDOWNS.items()
    }
    by_csp = tables["casualties_by_csp"]
    rates = {
        label: tables[f"casualty_rates_{level}"].to_dict("records")
        for level, label in RATE_LEVELS.items()
        if f"casualty_rates_{level}" in tables
    }
    road_users = tables["casualties_by_csp_road_user"]
    homes = {caption: _shares(tables[f"casualties_by_{by}"], by) for by, caption in HOMES.items()}
    return template.render(
        years=years,
        peninsula=_wide(tables["casualties_peninsula"], None),
        breakdowns=breakdowns,
        csp=by_csp[by_csp["area"].ne(NOT_PLACED)].to_dict("records"),
        csp_notes=sorted(set(by_csp["note"]) - {""}),
        located_years=study.located_years,
        rates=rates,
        population=_population_sentence(tables, study.estimates),
        where_not_who=WHERE_NOT_WHO,
        road_users=_by_group(road_users[road_users["area"].ne(NOT_PLACED)], "road_user"),
        road_user_notes=sorted(set(road_users["note"]) - {""}),
        homes=homes,
        home_caveats=HOME_CAVEATS,
        missing=MISSING,
        linkage=tables["casualty_linkage"].to_dict("records"),
        map_file=map_file,
        caveats=CAVEATS,
        crash_caveat=CRASH_CAVEAT,
        attribution=credits("boundaries", "stats19", "population"),
        version=__version__,
        home=HOME,
    )


def _population_sentence(tables: dict[str, pd.DataFrame], estimates: pd.DataFrame | None) -> str:
    """Which population estimates the rates use, and which would have been nearer."""
    rates = next((tables[f"casualty_rates_{level}"] for level in RATE_LEVELS
                  if f"casualty_rates_{level}" in tables), None)  # fmt: skip
    if rates is None:
        return ""
    used = rates.drop_duplicates("year").groupby("population_year")["year"].apply(list)
    held = sorted(int(y) for y in estimates["year"].unique()) if estimates is not None else []
    parts = []
    for population_year, years in used.items():
        also = [y for y in years if y != population_year]
        text = f"the mid-{population_year} estimates for {_and(years)}"
        if also:
            text += f" (mid-{_and(also)} would be nearer, but "
            text += (f"the data hold mid-{held[0]} only)" if len(held) == 1
                     else f"the data hold mid-{_and(held)})")  # fmt: skip
        parts.append(text)
    return (
        f"Residents: ONS population, {'; '.join(parts)}; each year uses the mid-year estimate "
        "nearest it. ONS asks that population figures be rounded to the nearest 100 when quoted."
    )


def _and(items) -> str:
    items = [str(i) for i in items]
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _by_group(table: pd.DataFrame, by: str) -> list[dict]:
    """One row per (area, group) with ``(casualties, ksi)`` by year."""
    rows = []
    for area in dict.fromkeys(table["area"]):
        for group in dict.fromkeys(table[by]):
            sub = table[(table["area"] == area) & (table[by] == group)]
            counts = zip(sub["casualties"], sub["ksi"], strict=True)
            rows.append({"area": area, "group": group,
                         "counts": dict(zip(sub["year"], counts, strict=True))})  # fmt: skip
    return rows


def _shares(table: pd.DataFrame, by: str) -> dict:
    """Rows (group, ``{year: (casualties, share)}``; the share of those with a value, or of
    all for :data:`MISSING`) and the share missing by year."""
    rows = []
    for group, sub in table.groupby(by, sort=False):
        share = sub["share_pct"] if group == MISSING else sub["share_of_known_pct"]
        rows.append({"group": group, "missing": group == MISSING,
                     "cells": dict(zip(sub["year"], zip(sub["casualties"], share, strict=True),
                                       strict=True))})  # fmt: skip
    missing = table[table[by] == MISSING].set_index("year")["share_pct"]
    missing = missing.reindex(sorted(table["year"].unique()), fill_value=0.0)
    return {"rows": rows, "missing": missing.to_dict(), "worst": missing.idxmax()}


def _wide(long: pd.DataFrame, by: str | None) -> list[dict]:
    """One row per (group,) measure: counts by year, then the last year's change and trend."""
    keys = ["measure"] if by is None else [by, "measure"]
    rows = []
    for key, sub in long.groupby(keys, sort=False):
        last = sub.iloc[-1]
        rows.append({
            "group": key[0] if by is not None else "",
            "measure": key[-1],
            "counts": dict(zip(sub["year"], sub["casualties"], strict=True)),
            "change_pct": last["change_pct"],
            "trend": last["trend"],
            "note": last["note"],
        })  # fmt: skip
    return rows
