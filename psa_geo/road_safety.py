"""The road-safety section: STATS19 casualty tables, the all-roads collision map and its page.

Casualties give every count (KSI = fatal + serious casualties, never collision severity).
Collision locations exist only for the years whose collision file is in the data, so tables by
CSP cover those years and say so for the others.
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
from .casualties import CRASH_CAVEAT, casualties_by_area, casualty_table
from .credits import HOME, credits
from .csvfile import write_csv
from .datadir import dataset_path, load_manifest
from .map_panels import LegendSection, base_map, circle, finish_map, pie
from .map_text import popup_html, script_json
from .maps import outline_layers
from .page_assets import save_map
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


@dataclass
class RoadSafety:
    """Collisions (placed in areas), casualties, what links them, and the CSPs' outlines
    (``area_name``) for the map (none: the map has no boundaries)."""

    collisions: gpd.GeoDataFrame
    casualties: pd.DataFrame
    linkage: pd.DataFrame
    csps: gpd.GeoDataFrame | None = None

    @property
    def located_years(self) -> list[int]:
        return sorted(int(y) for y in self.collisions["collision_year"].dropna().unique())


def load_road_safety(data_dir: str | Path | None, areas: gpd.GeoDataFrame) -> RoadSafety:
    """Read the STATS19 collisions and casualties of the data directory and place the
    collisions in the areas (:func:`assign_areas`)."""
    manifest = load_manifest()
    collisions = read_stats19(
        dataset_path("stats19_collisions", data_dir, manifest=manifest), table="collisions"
    )
    casualties = read_stats19(
        dataset_path("stats19_casualties", data_dir, manifest=manifest), table="casualties"
    )
    placed = assign_areas(collisions, areas)
    csps = dissolve_areas(areas, level="csp")
    return RoadSafety(placed, casualties, link_casualties(casualties, collisions), csps)


def road_safety_tables(study: RoadSafety) -> dict[str, pd.DataFrame]:
    """The section's tables: Peninsula casualties by severity and year, by road user and age
    band, by CSP (located years only, the others marked), and the casualty linkage."""
    tables = {"casualties_peninsula": casualty_table(study.casualties)}
    for by in BREAKDOWNS:
        tables[f"casualties_by_{by}"] = casualty_table(study.casualties, by=by)
    tables["casualties_by_csp"] = casualties_by_area(
        study.casualties, study.collisions, area="csp_name",
        areas=sorted(study.collisions["csp_name"].dropna().unique()),
    )  # fmt: skip
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
    return template.render(
        years=years,
        peninsula=_wide(tables["casualties_peninsula"], None),
        breakdowns=breakdowns,
        csp=by_csp[by_csp["area"].ne("(not placed in an area)")].to_dict("records"),
        csp_notes=sorted(set(by_csp["note"]) - {""}),
        located_years=study.located_years,
        linkage=tables["casualty_linkage"].to_dict("records"),
        map_file=map_file,
        caveats=CAVEATS,
        attribution=credits("boundaries"),
        version=__version__,
        home=HOME,
    )


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
