"""The corridor report: a folium map of links and collisions, an HTML page, CSV and GeoPackage.

:func:`write_corridor` writes ``maps/<road>/`` (``maps/a38/`` for the A38): ``index.html``,
``corridor_map.html``, ``links.csv``, ``links.gpkg`` (EPSG:27700, for QGIS), the flagged
collisions, the membership of every collision near or coded to the road, and every other table
as CSV. :func:`corridor_job` is what ``psa-geo corridor`` and ``psa-geo build`` call.
"""

from __future__ import annotations

import logging
from pathlib import Path

import folium
import numpy as np
import pandas as pd

from ._gpkg import unflushed_writes
from ._version import __version__
from .casualties import CRASH_CAVEAT
from .corridor import (
    DENSITY_CAVEAT,
    NEITHER,
    PRIORITY_GROUPS,
    YEARS_NOTE,
    CorridorStudy,
    collision_casualties,
    corridor_study,
    load_corridor,
    load_traffic,
    road_name,
)
from .credits import HOME, credits
from .csvfile import write_csv
from .errors import InputFileError
from .map_panels import LegendSection, base_map, circle, finish_map, line, ring
from .map_text import geojson_layer, popup, popup_html
from .page_assets import save_map
from .road_safety import SEVERITY_STYLE
from .site import SubfolderUpdate
from .stats import poisson_ci
from .templating import template as load_template

log = logging.getLogger(__name__)

#: Viridis, 5 classes (low to high): sequential, colour-blind safe, legible on a light base map.
LINK_PALETTE = ("#fde725", "#5ec962", "#21918c", "#3b528b", "#440154")
FLAG_COLOUR = "#CC79A7"  # Okabe–Ito reddish purple, for the flagged collisions' rings
SECTIONS_LICENCE = (
    "Road sections: Highways England / National Highways HAPMS network (March 2020); the "
    "copy used states no licence, National Highways publishes its network data under the Open "
    "Government Licence v3.0 (confirm before publication)."
)
MEASURE = "ksi_collisions_per_km_year"
TABLE_FILES = (
    "membership_sets", "comparison", "priority_groups", "journey_purpose", "time_of_day",
    "day_of_week", "speed_limit", "road_type", "marker_posts",
)  # fmt: skip
_MEMBERSHIP_COLUMNS = [
    "collision_index", "collision_year", "date", "category", "first_road_class_label",
    "first_road_number", "second_road_class_label", "second_road_number", "on_attribute",
    "in_buffer", "membership_set", "member", "flagged", "distance_m", "chainage_m", "link_id",
    "location_easting_osgr", "location_northing_osgr",
]  # fmt: skip


def link_classes(values: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Class of each link's value and the class labels in words: "none recorded" for 0, then
    up to four classes of the positive values split at their quartiles (2 decimals)."""
    vals = values.to_numpy(dtype=float)
    positive = vals[vals > 0]
    labels = ["0 (none recorded)"]
    classes = np.zeros(len(vals), dtype=int)
    if positive.size:
        edges = np.unique(np.round(np.quantile(positive, [0, 0.25, 0.5, 0.75, 1]), 2))
        if edges.size == 1:
            edges = np.array([edges[0], edges[0]])
        idx = np.clip(np.searchsorted(edges, np.round(vals, 2), side="right") - 1, 0,
                      edges.size - 2)  # fmt: skip
        classes = np.where(vals > 0, idx + 1, 0)
        labels += [f"{edges[i]:.2f} to {edges[i + 1]:.2f}" for i in range(edges.size - 1)]
    return classes, labels


def corridor_map(study: CorridorStudy) -> folium.Map:
    """Links coloured by KSI collisions per km per year (value and interval in the tooltip),
    member collisions by severity with escaped popups, and the flagged collisions (coded to
    the road but outside the buffer) as a layer of their own; legend in words."""
    spec, years = study.spec, study.years
    links = study.tables["links"]
    classes, labels = link_classes(links[MEASURE])
    shown = study.links[["link_id", "geometry"]].merge(links, on="link_id")
    frame = shown[["geometry"]].copy()
    frame["colour"] = [LINK_PALETTE[c] for c in classes]
    frame["link"] = [f"{r.link_id}: {r.name}" for r in shown.itertuples()]
    frame["length"] = shown["length_km"].map("{:.2f} km".format)
    frame["counts"] = [f"{r.collisions} collisions, {r.ksi_collisions} KSI collisions, "
                       f"{r.casualties} casualties" for r in shown.itertuples()]  # fmt: skip
    frame["ksi"] = [_with_ci(r, MEASURE, 2) for r in shown.itertuples()]
    frame["density"] = [_with_ci(r, "collisions_per_km_year", 2) for r in shown.itertuples()]
    frame["ranked"] = [
        f"rank {r.rank} of {int(links['rankable'].sum())}" if r.rankable else
        f"not ranked (fewer than {spec.min_rank_count} collisions); {r.vs_corridor} to the "
        "corridor average" for r in shown.itertuples()
    ]  # fmt: skip
    wgs = frame.set_crs(study.links.crs).to_crs("EPSG:4326")
    m = base_map()
    link_layer = geojson_layer(
        wgs.to_geo_dict(drop_id=True, show_bbox=False),
        name=f"Links by KSI collisions per km per year ({len(frame)})",
        style_function=lambda f: {
            "color": f["properties"]["colour"],
            "weight": 7,
            "opacity": 0.95,
            "className": "psa-link",
        },
        highlight_function=lambda f: {"weight": 11},
        tooltip={
            "link": "Link",
            "length": "Length",
            "counts": f"{_years_text(years)}",
            "ksi": "KSI collisions per km per year",
            "density": "Collisions per km per year",
            "ranked": "Ranking",
        },
    ).add_to(m)
    members = study.members[~study.members.geometry.is_empty]
    per = _casualty_counts(study)
    wgs_points = members.geometry.to_crs("EPSG:4326")
    offset = study.tables["marker_posts"].attrs.get("offset_m", 0.0)
    groups = []
    for severity, (colour, radius) in SEVERITY_STYLE.items():
        mask = (members["category"] == severity).to_numpy()
        group = folium.FeatureGroup(name=f"Corridor collisions: {severity} ({int(mask.sum())})")
        for point, row in zip(wgs_points[mask], members[mask].itertuples(), strict=True):
            folium.CircleMarker(
                [round(point.y, 5), round(point.x, 5)], radius=radius, color="#333", weight=1,
                fill=True, fill_color=colour, fill_opacity=0.9, class_name="psa-collision",
            ).add_child(_collision_popup(row, per, offset)).add_to(group)  # fmt: skip
        groups.append(group.add_to(m))
    flagged = members[members["flagged"].to_numpy()]
    group = folium.FeatureGroup(
        name=f"Flagged: coded {spec.road} but more than {spec.buffer_m:g} m away ({len(flagged)})"
    )
    for point, row in zip(wgs_points[members["flagged"].to_numpy()], flagged.itertuples(),
                          strict=True):  # fmt: skip
        folium.CircleMarker(
            [round(point.y, 5), round(point.x, 5)], radius=11, color=FLAG_COLOUR, weight=3,
            fill=False, dash_array="4 3", class_name="psa-flagged",
        ).add_child(_collision_popup(row, per, offset)).add_to(group)  # fmt: skip
    group.add_to(m)
    title = f"{spec.title}: collisions {_years_text(years)}"
    counts = np.bincount(classes, minlength=len(labels)).tolist()
    credit = f"{credits('stats19')} {SECTIONS_LICENCE}"
    legend = _legend(labels, counts, study, layers=(link_layer, groups, group))
    return finish_map(m, title=title, study_area=wgs, legend=legend, credit=credit)


def collision_popup(row, casualties: pd.DataFrame, offset_m: float = 0.0) -> str:
    """The popup of one corridor collision as HTML (:func:`popup_html`: every value escaped)."""
    heading, details, note = _popup_parts(row, casualties, offset_m)
    return popup_html(heading, details, note=note)


def _collision_popup(row, casualties: pd.DataFrame, offset_m: float) -> folium.MacroElement:
    heading, details, note = _popup_parts(row, casualties, offset_m)
    return popup(heading, details, note=note, max_width=320)


def _popup_parts(row, casualties: pd.DataFrame, offset_m: float = 0.0) -> tuple:
    """Heading, lines and note (for flagged collisions) of a corridor collision's popup."""
    when = row.date.strftime("%d %b %Y %H:%M") if pd.notna(row.date) else "date unknown"
    roads = [road_name(row.first_road_class_label, row.first_road_number),
             road_name(row.second_road_class_label, row.second_road_number)]  # fmt: skip
    road = " / ".join(r for r in roads if r) or "road unknown"
    cas = casualties.loc[row.collision_index] if row.collision_index in casualties.index else None
    n_cas, n_ksi = (0, 0) if cas is None else (int(cas["casualties"]), int(cas["ksi"]))
    where = (f"{row.chainage_m / 1000:.2f} km along the line (about MP "
             f"{(row.chainage_m + offset_m) / 1000:.1f}), {row.distance_m:,.0f} m from it"
             if pd.notna(row.chainage_m) else "not on the line")  # fmt: skip
    details = [
        when, road, f"{n_cas} casualties ({n_ksi} killed or seriously injured)",
        f"Link {row.link_id}" if pd.notna(row.link_id) else "no link", where,
        f"Corridor membership: {row.membership_set}",
        f"Collision index {row.collision_index}",
    ]  # fmt: skip
    note = "Flagged: coded to the road but outside the buffer; check it" if row.flagged else None
    return f"{row.category} collision", details, note


def _casualty_counts(study: CorridorStudy) -> pd.DataFrame:
    cas = study.casualties
    ksi = cas["casualty_severity"].isin([1, 2]).fillna(False)
    return pd.DataFrame({"casualties": cas.groupby("collision_index").size(),
                         "ksi": ksi.groupby(cas["collision_index"]).sum()})  # fmt: skip


def _with_ci(row, measure: str, digits: int) -> str:
    value, lower, upper = (getattr(row, measure), getattr(row, f"{measure}_lower"),
                           getattr(row, f"{measure}_upper"))  # fmt: skip
    return f"{value:.{digits}f} (95% CI {lower:.{digits}f} to {upper:.{digits}f})"


def _years_text(years) -> str:
    return " and ".join(str(y) for y in years) + " pooled" if len(years) > 1 else str(years[0])


def _legend(labels: list[str], counts: list[int], study: CorridorStudy, *, layers: tuple
            ) -> list[LegendSection]:  # fmt: skip
    """The links' classes, the collisions' severities and the flag, each shown while its
    layers (``(links, [severity groups], flagged)``) are on."""
    links, severities, flagged = layers
    spec = study.spec
    return [
        LegendSection(
            "KSI collisions per km per year",
            [(line(LINK_PALETTE[i]), label, f"{counts[i]} links")
             for i, label in enumerate(labels)],
            layer=links,
            note=f"{_years_text(study.years)}; links of at least {spec.min_link_m / 1000:g} km. "
            "Darker links have more KSI collisions per km: a density, not a risk rate (no "
            "traffic flows). Hover a link for its figures and 95% interval.",
        ),
        LegendSection(
            "Corridor collisions",
            [(circle(colour, radius), f"{name} collision") for name, (colour, radius) in
             SEVERITY_STYLE.items()],
            layer=severities,
            note="Click a collision for its details.",
        ),
        LegendSection(
            "Flagged collisions",
            [(ring(FLAG_COLOUR), f"coded {spec.road} but more than {spec.buffer_m:g} m from it")],
            layer=flagged,
        ),
    ]  # fmt: skip


# --- The page and the files ---------------------------------------------------------------


def write_corridor(study: CorridorStudy, out_dir: str | Path) -> list[Path]:
    """Write the report into ``out_dir`` (e.g. ``maps/a38``): ``index.html``,
    ``corridor_map.html``, ``links.csv``, ``links.gpkg`` (EPSG:27700), ``membership.csv``,
    ``flagged_collisions.csv`` and every other table as CSV. Returns the paths, the page last.
    """
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    links = study.tables["links"]
    path = folder / "links.csv"
    write_csv(links, path)
    written.append(path)
    gpkg = folder / "links.gpkg"
    gpkg.unlink(missing_ok=True)
    layer = study.links[["link_id", "geometry"]].merge(links, on="link_id")
    layer["rank"] = layer["rank"].astype("float")
    with unflushed_writes():
        layer.to_file(gpkg, layer="links", driver="GPKG")
    written.append(gpkg)
    near = study.membership[study.membership["membership_set"] != NEITHER]
    path = folder / "membership.csv"
    write_csv(pd.DataFrame(near[[c for c in _MEMBERSHIP_COLUMNS if c in near]]), path)
    written.append(path)
    for name in ("flagged_collisions", *TABLE_FILES):
        path = folder / f"{name}.csv"
        write_csv(study.tables[name], path)
        written.append(path)
    map_path = folder / "corridor_map.html"
    save_map(corridor_map(study), map_path, index_href="../index.html")
    written.append(map_path)
    page = folder / "index.html"
    page.write_text(corridor_html(study, map_file=map_path.name), encoding="utf-8")
    written.append(page)
    log.info("corridor: wrote %d files to %s", len(written), folder)
    return written


def corridor_html(study: CorridorStudy, *, map_file: str) -> str:
    """The report page: definition, membership, flagged collisions, links with intervals and
    the density caveat, comparison, priority groups, and when and where collisions happen."""
    template = load_template("corridor.html.j2")
    tables = study.tables
    posts = tables["marker_posts"]
    links = tables["links"]
    return template.render(
        spec=study.spec,
        years=study.years,
        years_text=_years_text(study.years),
        length_km=study.length_km,
        n_sections=int(links["n_sections"].sum()),
        links=links.to_dict("records"),
        traffic="aadt" in links,
        total_row=_total_row(study),
        rankable=int(links["rankable"].sum()),
        membership=tables["membership_sets"].to_dict("records"),
        flagged=tables["flagged_collisions"].to_dict("records"),
        comparison=tables["comparison"].to_dict("records"),
        groups=tables["priority_groups"].to_dict("records"),
        group_rules=dict(PRIORITY_GROUPS),
        purposes=tables["journey_purpose"].to_dict("records"),
        conditions={
            name: tables[name]
            for name in ("time_of_day", "day_of_week", "speed_limit", "road_type")
        },
        posts={
            "n": len(posts),
            "offset_m": posts.attrs["offset_m"],
            "max_m": posts["residual_m"].abs().max(),
            "outside": int((~posts["within_tolerance"]).sum()),
        },
        map_file=map_file,
        density_caveat=DENSITY_CAVEAT,
        crash_caveat=CRASH_CAVEAT,
        years_note=YEARS_NOTE.format(years=" and ".join(map(str, study.years))),
        notes=study.notes[1:],
        attribution=credits(),
        sections_licence=SECTIONS_LICENCE,
        version=__version__,
        districts=district_names(study.spec.lad_codes),
        definition_file=Path(study.spec.source).name if study.spec.source else "",
        home=HOME,
    )


def district_names(codes) -> str:
    """The districts of ``codes`` by name ("Cornwall"), from the force definition's LADs;
    a code the force does not name is shown as it is."""
    from .force import load_force

    names = dict(load_force().membership()[["lad_code", "lad_name"]].itertuples(index=False))
    return ", ".join(names.get(code, code) for code in codes)


def _total_row(study: CorridorStudy) -> dict:
    """The corridor's totals, counted from the members (not by adding up the links)."""
    members = study.members
    cas = collision_casualties(members, study.casualties)
    exposure = study.length_km * len(study.years)
    row = {"collisions": len(members), "ksi_collisions": int(cas["ksi_collision"].sum()),
           "casualties": int(cas["casualties"].sum()),
           "ksi_casualties": int(cas["ksi_casualties"].sum()),
           "flagged": int(members["flagged"].sum())}  # fmt: skip
    for name in ("collisions", "ksi_collisions", "casualties"):
        lower, upper = poisson_ci(row[name])
        row[f"{name}_per_km_year"] = row[name] / exposure
        row[f"{name}_per_km_year_lower"] = lower / exposure
        row[f"{name}_per_km_year_upper"] = upper / exposure
    return row


def corridor_job(
    data_dir: str | Path | None,
    out_dir: str | Path,
    *,
    road: str | None = None,
    spec_path: str | Path | None = None,
    traffic_path: str | Path | None = None,
    areas=None,
    staged: bool = False,
) -> list[Path]:
    """``psa-geo corridor --road A38``: the corridor report in ``out_dir/<road>/``.

    ``road`` picks ``boundaries/<road>_corridor.toml`` (default A38) unless ``spec_path``
    gives a definition; given both, they must name the same road. ``traffic_path`` is a CSV
    of ``link_id, aadt`` (:func:`psa_geo.corridor.load_traffic`).

    The folder is written beside and swapped in under the site's lock
    (:class:`psa_geo.site.SubfolderUpdate`); ``staged=True`` writes straight into
    ``out_dir``, for :func:`psa_geo.build.build_study`, which stages the whole site.
    """
    spec = load_corridor(spec_path, road=road or "A38")
    if road is not None and spec.road.upper() != road.upper():
        raise InputFileError(spec_path, f"defines the {spec.road} corridor, not the {road}")
    traffic = load_traffic(traffic_path) if traffic_path else None
    if staged:
        study = corridor_study(data_dir, areas, spec, traffic=traffic)
        return write_corridor(study, Path(out_dir) / spec.folder)
    with SubfolderUpdate(out_dir, spec.folder, command="corridor") as site:
        study = corridor_study(data_dir, areas, spec, traffic=traffic)
        return site.commit(write_corridor(study, site.staging))
