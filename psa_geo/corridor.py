"""A road corridor (the A38 in south-east Cornwall): reference line, chainage, membership, links.

The corridor is defined in ``boundaries/a38_corridor.toml`` (:func:`load_corridor`). Its
reference line is one direction's National Highways main-carriageway sections chained into one
line (:func:`reference_line`); chainage is metres along it (:func:`chainage`), checked against
the marker posts (:func:`marker_post_check`). Collisions join the corridor by attribute (the
road is their first or second road) or by location (within the buffer), and all three sets
are reported (:func:`corridor_membership`). Links are the sections merged to a minimum length
(:func:`corridor_links`); :func:`link_table` gives their densities with confidence intervals.

Collisions per km per year without traffic flows is a density, not a risk rate. Collision
locations exist for 2015 and 2017 only, so every figure pools those two years; casualties and
vehicles of other years are left out (they cannot be placed on a road).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely import LineString
from shapely.ops import substring

from .casualties import load_road_user_groups
from .datadir import dataset_path, load_manifest, project_file, resolve_data_dir
from .errors import InputFileError, MissingDataError, PsaGeoError
from .events import CRS
from .stats import compare_with_benchmark, poisson_ci, rate_ci
from .stats19 import read_stats19
from .userfiles import read_user_text

log = logging.getLogger(__name__)

RULES = ("attribute_or_location", "attribute_and_location", "attribute", "location")
SETS = ("both", "attribute only", "location only")
NEITHER = "neither"
#: STATS19 ``first_road_class`` codes by the letter(s) of a road name.
ROAD_CLASSES = {"M": 1, "A(M)": 2, "A": 3, "B": 4, "C": 5}
SECTION_COLUMNS = ("ROAD", "SECTION", "LOCATION", "FUNCTION", "DIRECTION", "LENGTH_M", "LADCD")
MAIN = "Main Carriageway"
DENSITY_CAVEAT = (
    "Collisions per km per year is a density, not a risk rate: without traffic flows it "
    "cannot say whether a link is more dangerous or only busier. Supply traffic counts per "
    "link (annual average daily flow) for a rate per 100 million vehicle-km."
)
YEARS_NOTE = (
    "Collision locations are in the data for {years} only, so every figure pools those "
    "years; casualties and vehicles of other years cannot be placed on a road and are left out."
)
# Time-of-day bands (start hour, label): night, morning peak, daytime, evening peak, evening.
TIME_BANDS = ((0, "00:00-06:59"), (7, "07:00-09:59"), (10, "10:00-15:59"),
              (16, "16:00-18:59"), (19, "19:00-23:59"))  # fmt: skip
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
#: The action plan's priority groups: (name, what puts a collision or casualty in it).
PRIORITY_GROUPS = (
    ("Young drivers (17-24)", "a driver or rider (not a cyclist) aged 17 to 24"),
    ("Older drivers (70+)", "a driver or rider (not a cyclist) aged 70 or over"),
    ("Motorcyclists", "a motorcycle (any size)"),
    ("Business drivers", "a driver whose journey purpose is 'Journey as part of work'"),
    ("Cyclists", "a pedal cycle"),
    ("Pedestrians", "a pedestrian casualty"),
)
WORK_PURPOSE = "Journey as part of work"
NOT_KNOWN_PURPOSES = ("Not known", "Other/Not known (2005-10)")
_NOT_DRIVEN = ("Cyclist", "Other")  # road-user groups whose "driver" age is not a driver's
_SPEC_KEYS = {
    "road": str, "title": str, "lad_codes": list, "direction": str, "start_section": str,
    "end_section": str, "max_gap_m": (int, float), "rule": str, "buffer_m": (int, float),
    "min_link_m": (int, float), "min_rank_count": int, "marker_post_tolerance_m": (int, float),
    "comparison_road": str,
}  # fmt: skip
#: The largest value of each number of a corridor definition; every one must also be above 0
#: and finite (``buffer_m = inf`` would make every collision a corridor collision).
SPEC_MAX = {
    "max_gap_m": 5_000,
    "buffer_m": 1_000,
    "min_link_m": 100_000,
    "min_rank_count": 10_000,
    "marker_post_tolerance_m": 10_000,
}
_LAD_CODE = re.compile(r"[EWSN]\d{8}")
_MP = re.compile(r"\((?:MP\s*)?(\d+)/(\d+)(?:\s*-\s*(\d+)/(\d+))?\)?\s*$")
_TAGS = re.compile(r"^\s*[AM]\d+\s*|\((?:A&B|A|B|MAIN)\)\s*|\[N\]\s*")


@dataclass(frozen=True)
class CorridorSpec:
    """A corridor definition (see ``boundaries/a38_corridor.toml`` for every key)."""

    road: str
    title: str
    lad_codes: tuple[str, ...]
    direction: str
    start_section: str
    end_section: str
    max_gap_m: float
    rule: str
    buffer_m: float
    min_link_m: float
    min_rank_count: int
    marker_post_tolerance_m: float
    comparison_road: str
    source: str = ""

    @property
    def road_code(self) -> tuple[int, int]:
        """(STATS19 road class, road number): "A38" -> (3, 38)."""
        return road_code(self.road)

    @property
    def folder(self) -> str:
        return self.road.lower()


def road_code(road: str) -> tuple[int, int]:
    """(STATS19 road class code, road number) of a road name: "A38" -> (3, 38)."""
    match = re.fullmatch(r"(A\(M\)|[MABC])(\d+)", road.strip().upper().replace("AM", "A(M)"))
    if not match:
        raise PsaGeoError(f"road should be a name such as 'A38' or 'M5', got {road!r}")
    return ROAD_CLASSES[match.group(1)], int(match.group(2))


def load_corridor(path: str | Path | None = None, *, road: str = "A38") -> CorridorSpec:
    """The corridor definition in ``path`` (default ``boundaries/<road>_corridor.toml``).

    Every problem (unknown, missing or mistyped keys, an unknown rule, a number that is not
    finite, not above 0 or above its :data:`SPEC_MAX`, a LAD code that is not one) is reported
    in one InputFileError naming the file; so are a file that is not UTF-8 (with or without
    a BOM) and an empty one.
    """
    if path is None:
        try:
            path = project_file(f"boundaries/{road.lower()}_corridor.toml")
        except MissingDataError:
            raise MissingDataError(
                f"no corridor definition for {road!r} (boundaries/{road.lower()}_corridor.toml); "
                "pass one with --spec FILE"
            ) from None
    path = Path(path)
    text = read_user_text(path, kind="TOML")
    if not text.strip():
        raise InputFileError(path, "the file is empty; copy boundaries/a38_corridor.toml")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputFileError(path, f"not valid TOML ({exc})") from None
    problems = [f"unknown key {k!r}" for k in raw if k not in _SPEC_KEYS]
    problems += [f"missing key {k!r}" for k in _SPEC_KEYS if k not in raw]
    for key, kind in _SPEC_KEYS.items():
        value = raw.get(key)
        if key in raw and (not isinstance(value, kind) or isinstance(value, bool)):
            problems.append(f"{key} should be {_kind(kind)}, got {value!r}")
    if not problems:
        if raw["rule"] not in RULES:
            problems.append(f"rule should be one of {', '.join(RULES)}, got {raw['rule']!r}")
        for key, high in SPEC_MAX.items():
            value = raw[key]  # an int (any size) or a float (maybe inf or nan) from TOML
            if not (isinstance(value, int) or math.isfinite(value)) or not 0 < value <= high:
                problems.append(f"{key} should be above 0 and at most {high:,}, got {value!r}")
        if not raw["lad_codes"] or not all(
            isinstance(c, str) and _LAD_CODE.fullmatch(c) for c in raw["lad_codes"]
        ):
            problems.append("lad_codes should be a list of LAD codes such as 'E06000052'")
        for key in ("road", "comparison_road"):
            try:
                road_code(raw[key])
            except PsaGeoError as exc:
                problems.append(f"{key}: {exc}")
    if problems:
        raise InputFileError(path, "bad corridor definition: " + "; ".join(problems))
    values = {k: raw[k] for k in _SPEC_KEYS}
    values["lad_codes"] = tuple(raw["lad_codes"])
    for key in ("max_gap_m", "buffer_m", "min_link_m", "marker_post_tolerance_m"):
        values[key] = float(raw[key])
    return CorridorSpec(**values, source=str(path))


def _kind(kind) -> str:
    names = {str: "text", list: "a list", int: "a whole number"}
    return "a number" if isinstance(kind, tuple) else names[kind]


def read_sections(path: str | Path) -> gpd.GeoDataFrame:
    """National Highways HAPMS network sections (GeoJSON, EPSG:4326) in EPSG:27700."""
    try:
        frame = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises its own error types
        raise InputFileError(path, f"not a readable GeoJSON ({type(exc).__name__})") from None
    missing = [c for c in SECTION_COLUMNS if c not in frame.columns]
    if missing:
        raise InputFileError(path, f"not a National Highways sections file: missing {missing}")
    if frame.crs is None:
        raise InputFileError(path, "the sections have no CRS; psa_geo never guesses one")
    log.info("sections: %d read from %s, reprojected from %s to EPSG:27700",
             len(frame), path, frame.crs.name)  # fmt: skip
    return frame.to_crs(CRS)


# --- The reference line -------------------------------------------------------------------


def reference_sections(sections: gpd.GeoDataFrame, spec: CorridorSpec) -> gpd.GeoDataFrame:
    """The reference direction's main-carriageway sections of the stretch, in road order.

    Sections of ``spec.road``, ``spec.direction`` and ``spec.lad_codes`` are chained from
    ``spec.start_section``: each next section is the one whose start (or end, then it is
    reversed) is nearest the current end, within ``spec.max_gap_m``; gaps are bridged by a
    straight piece and counted in the chainage. Returns the sections with ``order``,
    ``gap_before_m``, ``reversed``, ``chainage_from_m`` and ``chainage_to_m``; multi-part
    sections are merged into one line.
    """
    _check_frame(sections, "sections", SECTION_COLUMNS)
    pool = _main_sections(sections, spec, direction=spec.direction)
    for name in (spec.start_section, spec.end_section):
        if name not in set(pool["SECTION"]):
            raise PsaGeoError(
                f"section {name!r} is not a {spec.direction} main-carriageway section of the "
                f"{spec.road} in {', '.join(spec.lad_codes)}; check start_section and "
                f"end_section in {spec.source or 'the corridor definition'}"
            )
    lines = {s: _as_line(g) for s, g in zip(pool["SECTION"], pool.geometry, strict=True)}
    order, gaps, flipped = [spec.start_section], [0.0], [False]
    current = lines[spec.start_section]
    while order[-1] != spec.end_section:
        end = shapely.Point(current.coords[-1])
        best = None
        for name, line in lines.items():
            if name in order:
                continue
            for rev in (False, True):
                start = shapely.Point(line.coords[-1 if rev else 0])
                gap = end.distance(start)
                if best is None or gap < best[0]:
                    best = (gap, name, rev)
        if best is None or best[0] > spec.max_gap_m:
            near = "" if best is None else f" (the nearest, {best[1]}, is {best[0]:,.0f} m away)"
            raise PsaGeoError(
                f"the {spec.road} {spec.direction} sections break after {order[-1]}: no section "
                f"starts within max_gap_m = {spec.max_gap_m:g} m{near}"
            )
        gap, name, rev = best
        if rev:
            lines[name] = current = shapely.reverse(lines[name])
            log.info("section %s is digitised against the direction: reversed", name)
        else:
            current = lines[name]
        order.append(name)
        gaps.append(gap)
        flipped.append(rev)
    unused = sorted(set(lines) - set(order))
    if unused:
        log.warning("%d %s sections are not on the chained line: %s",
                    len(unused), spec.direction, ", ".join(unused))  # fmt: skip
    out = pool.set_index("SECTION").loc[order].reset_index()
    out["geometry"] = [lines[s] for s in order]
    lengths = np.array([lines[s].length for s in order])
    gaps = np.array(gaps)
    ends = np.cumsum(gaps + lengths)
    out["order"] = np.arange(1, len(order) + 1)
    out["gap_before_m"] = gaps
    out["reversed"] = flipped
    out["chainage_from_m"] = ends - lengths
    out["chainage_to_m"] = ends
    out = gpd.GeoDataFrame(out, geometry="geometry", crs=sections.crs)
    out.attrs["unused_sections"] = unused
    return out


def reference_line(sections: gpd.GeoDataFrame, spec: CorridorSpec) -> LineString:
    """One ordered LineString (EPSG:27700) through the stretch (:func:`reference_sections`).

    Its length is the sum of the sections' lengths plus the bridged gaps, so chainage on it
    equals ``chainage_from_m`` / ``chainage_to_m`` of the sections.
    """
    ordered = reference_sections(sections, spec)
    coords: list = []
    for line in ordered.geometry:
        part = list(line.coords)
        if coords and part[0] == coords[-1]:
            part = part[1:]
        coords += part
    line = LineString(coords)
    log.info("%s reference line: %d sections, %.2f km", spec.road, len(ordered),
             line.length / 1000)  # fmt: skip
    return line


def chainage(points, line: LineString) -> np.ndarray:
    """Metres along ``line`` of each point's nearest point on it (NaN for empty points).

    ``points`` is a GeoSeries, an array of shapely Points or one Point, in the line's CRS.
    """
    if not isinstance(line, LineString) or line.is_empty:
        raise TypeError(f"'line' should be a non-empty LineString, got {type(line).__name__}")
    geoms = np.asarray(points.to_numpy() if isinstance(points, gpd.GeoSeries) else points)
    scalar = geoms.ndim == 0
    geoms = np.atleast_1d(geoms)
    bad = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    out = np.full(len(geoms), np.nan)
    out[~bad] = shapely.line_locate_point(line, geoms[~bad])
    return out[0] if scalar else out


def parse_marker_posts(location: str) -> tuple[float, float] | None:
    """The marker posts at the end of a LOCATION, in km: "(MP34/9-35/4)" -> (34.9, 35.4).

    "a/b" is a km and b its decimal fraction ("18/60" is 18.6); a single post gives it twice.
    None when the text has no readable posts.
    """
    match = _MP.search(str(location))
    if not match:
        return None
    a, b, c, d = match.groups()
    first = int(a) + int(b) / 10 ** len(b)
    last = first if c is None else int(c) + int(d) / 10 ** len(d)
    return first, last


def marker_post_check(
    sections: gpd.GeoDataFrame, line: LineString, spec: CorridorSpec
) -> pd.DataFrame:
    """Chainage of every main-carriageway section of the stretch against its marker posts.

    For each section (both directions) with readable posts: ``mp_from_km``/``mp_to_km`` (in
    road order), the chainage of its two ends projected on ``line``, and at its mid-point
    ``mp_mid_m`` (posts, less the offset), ``chainage_mid_m`` and ``residual_m`` =
    ``mp_mid_m - chainage_mid_m``. The offset (``attrs["offset_m"]``, the posts' distance at
    chainage 0) is the median of ``mp - chainage`` over the reference direction. Mid-points
    are used because a section's first post stands up to 100 m inside it.
    ``within_tolerance`` is ``|residual_m| <= spec.marker_post_tolerance_m``.
    """
    _check_frame(sections, "sections", SECTION_COLUMNS)
    pool = _main_sections(sections, spec, direction=None)
    rows = []
    for row in pool.itertuples(index=False):
        posts = parse_marker_posts(row.LOCATION)
        if posts is None:
            continue
        geom = _as_line(row.geometry)
        ends = chainage(np.array([shapely.Point(geom.coords[0]),
                                  shapely.Point(geom.coords[-1])]), line)  # fmt: skip
        rows.append({
            "section": row.SECTION, "direction": row.DIRECTION, "location": row.LOCATION,
            "mp_from_km": min(posts), "mp_to_km": max(posts),
            "chainage_from_m": ends.min(), "chainage_to_m": ends.max(),
            "distance_m": geom.interpolate(0.5, normalized=True).distance(line),
        })  # fmt: skip
    table = pd.DataFrame(rows)
    if table.empty:
        raise PsaGeoError(f"no {spec.road} section of the stretch has readable marker posts")
    raw_mid = (table["mp_from_km"] + table["mp_to_km"]) * 500
    chain_mid = (table["chainage_from_m"] + table["chainage_to_m"]) / 2
    reference = table["direction"] == spec.direction
    offset = float(np.median((raw_mid - chain_mid)[reference]))
    table["mp_mid_m"] = raw_mid - offset
    table["chainage_mid_m"] = chain_mid
    table["residual_m"] = table["mp_mid_m"] - chain_mid
    table["within_tolerance"] = table["residual_m"].abs() <= spec.marker_post_tolerance_m
    table = table.sort_values(["chainage_mid_m", "direction"], ignore_index=True)
    table.attrs["offset_m"] = offset
    table.attrs["tolerance_m"] = spec.marker_post_tolerance_m
    outside = int((~table["within_tolerance"]).sum())
    log.info("marker posts: %d sections, offset %.0f m, largest residual %.0f m, %d outside "
             "%.0f m", len(table), offset, table["residual_m"].abs().max(), outside,
             spec.marker_post_tolerance_m)  # fmt: skip
    return table


# --- Membership ---------------------------------------------------------------------------


def road_coded(collisions: pd.DataFrame, road: str) -> pd.Series:
    """True where ``road`` is the collision's first or second road (STATS19 codes)."""
    _check_frame(collisions, "collisions", ("first_road_class", "first_road_number"))
    klass, number = road_code(road)
    coded = collisions["first_road_class"].eq(klass) & collisions["first_road_number"].eq(number)
    if {"second_road_class", "second_road_number"} <= set(collisions.columns):
        coded |= (collisions["second_road_class"].eq(klass)
                  & collisions["second_road_number"].eq(number))  # fmt: skip
    return coded.fillna(False).astype(bool)


def in_districts(collisions: pd.DataFrame, lad_codes) -> pd.Series:
    """True where the collision is in one of ``lad_codes``: by ``lad_code`` once placed in
    LSOAs (:func:`psa_geo.assign_areas`), else by DfT's ``local_authority_highway``."""
    column = "lad_code" if "lad_code" in collisions else "local_authority_highway"
    if column not in collisions:
        raise ValueError("'collisions' lack 'lad_code' and 'local_authority_highway'; "
                         "read them with read_stats19()")  # fmt: skip
    return collisions[column].isin(list(lad_codes)).fillna(False).astype(bool)


def corridor_membership(
    collisions: gpd.GeoDataFrame, line, spec: CorridorSpec, *, road: str | None = None
) -> gpd.GeoDataFrame:
    """Every collision with its relation to the corridor (a new frame; input unchanged).

    Parameters
    ----------
    collisions
        STATS19 collisions (:func:`psa_geo.read_stats19`), EPSG:27700.
    line
        The reference line (:func:`reference_line`), or any lineal geometry (then
        ``chainage_m`` is missing).
    spec
        The corridor definition: ``buffer_m``, ``rule`` and ``lad_codes``.
    road
        The road of the attribute test (default ``spec.road``).

    Returns
    -------
    GeoDataFrame
        The collisions plus ``on_attribute`` (the road is the first or second road and the
        collision is in ``spec.lad_codes``), ``in_buffer`` (within ``buffer_m`` of the line),
        ``membership_set`` ("both", "attribute only", "location only" or "neither"),
        ``member`` (by ``spec.rule``), ``distance_m``, ``chainage_m`` and ``flagged``
        (on the road by attribute but more than ``buffer_m`` from it: a slip, side road or
        location error to check).
    """
    _check_frame(collisions, "collisions", ("collision_index",))
    if collisions.crs is None or collisions.crs != gpd.GeoSeries(crs=CRS).crs:
        raise ValueError("'collisions' should be in EPSG:27700 (use to_crs('EPSG:27700'))")
    out = collisions.copy()
    located = ~(out.geometry.is_empty | out.geometry.isna())
    distance = np.full(len(out), np.nan)
    distance[located.to_numpy()] = _distances(out.geometry[located].to_numpy(), line)
    out["on_attribute"] = (road_coded(out, road or spec.road)
                           & in_districts(out, spec.lad_codes)).to_numpy()  # fmt: skip
    out["in_buffer"] = located.to_numpy() & (np.nan_to_num(distance, nan=np.inf) <= spec.buffer_m)
    attr, loc = out["on_attribute"], out["in_buffer"]
    out["membership_set"] = np.select(
        [attr & loc, attr, loc], list(SETS), NEITHER
    )  # fmt: skip
    out["member"] = {
        "attribute_or_location": attr | loc,
        "attribute_and_location": attr & loc,
        "attribute": attr,
        "location": loc,
    }[spec.rule]
    out["distance_m"] = distance
    out["chainage_m"] = (chainage(out.geometry, line) if isinstance(line, LineString)
                         else np.nan)  # fmt: skip
    out["flagged"] = attr & ~loc
    if out["flagged"].any():
        # A warning for the corridor itself; a comparison road's are only information.
        level = logging.INFO if road not in (None, spec.road) else logging.WARNING
        log.log(level, "%s: %d collisions coded to the road lie more than %g m from it "
                "(flagged for checking)", road or spec.road, int(out["flagged"].sum()),
                spec.buffer_m)  # fmt: skip
    return out


def _distances(points: np.ndarray, line) -> np.ndarray:
    """``shapely.distance(points, line)`` for located points: the distance to the nearest of
    the line's segments, found in a tree of them (the same figures, as GEOS measures a line
    segment by segment, without measuring every point against all its hundreds)."""
    segments = [
        shapely.linestrings(np.stack([xy[:-1], xy[1:]], axis=1))
        for xy in map(shapely.get_coordinates, shapely.get_parts(line))
        if len(xy) > 1
    ]
    if not segments or not len(points):
        return shapely.distance(points, line)
    nearest, distance = shapely.STRtree(np.concatenate(segments)).query_nearest(
        points, return_distance=True, all_matches=False
    )
    out = np.full(len(points), np.nan)
    out[nearest[0]] = distance
    return out


def membership_sets(membership: pd.DataFrame) -> pd.DataFrame:
    """Members in each set (both, attribute only, location only) and in total, per year and
    pooled; ``flagged`` counts those on the road by attribute but outside the buffer."""
    members = membership[membership["member"]]
    rows = []
    for name in (*SETS, "all members"):
        sub = members if name == "all members" else members[members["membership_set"] == name]
        row = {"set": name, "collisions": len(sub), "flagged": int(sub["flagged"].sum())}
        for year in _years(membership):
            row[f"collisions_{year}"] = int((sub["collision_year"] == year).sum())
        rows.append(row)
    return pd.DataFrame(rows)


def flagged_collisions(membership: pd.DataFrame) -> pd.DataFrame:
    """The collisions coded to the road but outside the buffer, farthest first, to check;
    ``first_road`` and ``second_road`` are names such as "A38" (:func:`road_name`)."""
    cols = [
        "collision_index",
        "collision_year",
        "date",
        "category",
        "first_road",
        "second_road",
        "road_type_label",
        "junction_detail_label",
        "speed_limit",
        "distance_m",
        "chainage_m",
        "location_easting_osgr",
        "location_northing_osgr",
        "member",
    ]
    flagged = pd.DataFrame(membership[membership["flagged"]])
    for which in ("first", "second"):
        klass, number = f"{which}_road_class_label", f"{which}_road_number"
        flagged[f"{which}_road"] = [
            road_name(k, n) for k, n in zip(flagged.get(klass, pd.Series(pd.NA, flagged.index)),
                                            flagged.get(number, pd.Series(pd.NA, flagged.index)),
                                            strict=True)
        ]  # fmt: skip
    cols = [c for c in cols if c in flagged]
    return flagged[cols].sort_values("distance_m", ascending=False, ignore_index=True)


def road_name(label, number) -> str:
    """A STATS19 road as people write it: ("A", 38) -> "A38"; ("Unclassified", 0) ->
    "Unclassified"; "" when the class is missing."""
    if label is None or pd.isna(label):
        return ""
    label = str(label)
    has_number = number is not None and not pd.isna(number) and int(number) != 0
    if not has_number:
        return label
    if label in ("A", "B", "C", "A(M)"):
        return f"{label}{int(number)}"
    if label == "Motorway":
        return f"M{int(number)}"
    return f"{label} {int(number)}"


# --- Links --------------------------------------------------------------------------------


def section_names(location: str) -> tuple[str, str]:
    """(from, to) place names of a section's LOCATION, without road, carriageway and posts."""
    text = _MP.sub("", str(location))
    while True:
        stripped = _TAGS.sub("", text, count=1).strip()
        if stripped == text.strip():
            break
        text = stripped
    text = " ".join(text.split())
    parts = re.split(r"\s+(?:-|to)\s+", text, maxsplit=1, flags=re.IGNORECASE)
    if len(parts) == 2 and all(parts):
        return parts[0].strip(), parts[1].strip()
    return text, text


def corridor_links(
    sections: gpd.GeoDataFrame, line: LineString, spec: CorridorSpec
) -> gpd.GeoDataFrame:
    """The corridor's links: reference-direction sections merged to ``spec.min_link_m``.

    Consecutive sections (in road order) are merged until the link is at least
    ``min_link_m`` long; a shorter remainder at the end joins the link before it, so every
    link is at least ``min_link_m`` unless the whole stretch is shorter. Returns
    ``link_id`` ("L01", ...), ``name`` (from the first section's start to the last one's
    end, from LOCATION), ``sections``, ``n_sections``, ``mp_from_km``, ``mp_to_km``,
    ``chainage_from_m``, ``chainage_to_m``, ``length_m`` and the piece of ``line``.
    """
    ordered = reference_sections(sections, spec)
    starts, ends = ordered["chainage_from_m"].to_numpy(), ordered["chainage_to_m"].to_numpy()
    groups: list[list[int]] = [[]]
    for i in range(len(ordered)):
        groups[-1].append(i)
        if ends[i] - starts[groups[-1][0]] >= spec.min_link_m:
            groups.append([])
    if not groups[-1]:
        groups.pop()
    elif len(groups) > 1:
        groups[-2] += groups.pop()
    rows = []
    for n, idx in enumerate(groups, start=1):
        sub = ordered.iloc[idx]
        # Links are contiguous: a bridged gap (a roundabout) belongs to the link after it.
        start = rows[-1]["chainage_to_m"] if rows else 0.0
        end = line.length if n == len(groups) else float(sub["chainage_to_m"].iloc[-1])
        posts = [p for p in map(parse_marker_posts, sub["LOCATION"]) if p]
        rows.append({
            "link_id": f"L{n:02d}",
            "name": f"{section_names(sub['LOCATION'].iloc[0])[0]} to "
                    f"{section_names(sub['LOCATION'].iloc[-1])[1]}",
            "sections": " ".join(sub["SECTION"]),
            "n_sections": len(sub),
            "mp_from_km": min(p[0] for p in posts) if posts else math.nan,
            "mp_to_km": max(p[1] for p in posts) if posts else math.nan,
            "chainage_from_m": start,
            "chainage_to_m": end,
            "length_m": end - start,
            "geometry": substring(line, start, end),
        })  # fmt: skip
    links = gpd.GeoDataFrame(rows, geometry="geometry", crs=sections.crs)
    log.info("%s: %d sections merged into %d links (min %g m)", spec.road, len(ordered),
             len(links), spec.min_link_m)  # fmt: skip
    return links


def assign_links(membership: pd.DataFrame, links: pd.DataFrame) -> pd.Series:
    """Each member collision's ``link_id`` by its chainage (from <= chainage < to; the last
    link keeps its end); missing for non-members."""
    edges = links["chainage_from_m"].to_numpy()
    members = membership["member"].to_numpy() & membership["chainage_m"].notna().to_numpy()
    idx = np.searchsorted(edges, membership["chainage_m"].to_numpy(), side="right") - 1
    idx = np.clip(idx, 0, len(links) - 1)
    ids = links["link_id"].to_numpy()[idx]
    return pd.Series(np.where(members, ids, None), index=membership.index, name="link_id",
                     dtype="string")  # fmt: skip


def collision_casualties(membership: pd.DataFrame, casualties: pd.DataFrame) -> pd.DataFrame:
    """Per collision: ``casualties`` and ``ksi_casualties`` (fatal + serious) from the casualty
    table, and ``ksi_collision`` (at least one KSI casualty)."""
    ksi = casualties["casualty_severity"].isin([1, 2]).fillna(False)
    per = pd.DataFrame({"all": casualties.groupby("collision_index").size(),
                        "ksi": ksi.groupby(casualties["collision_index"]).sum()})  # fmt: skip
    index = membership["collision_index"]
    out = pd.DataFrame(index=membership.index)
    out["casualties"] = index.map(per["all"]).fillna(0).astype(int)
    out["ksi_casualties"] = index.map(per["ksi"]).fillna(0).astype(int)
    out["ksi_collision"] = out["ksi_casualties"] > 0
    return out


def link_table(
    membership: pd.DataFrame,
    casualties: pd.DataFrame,
    links: pd.DataFrame,
    *,
    min_rank_count: int = 10,
    traffic: pd.DataFrame | None = None,
    level: float = 0.95,
) -> pd.DataFrame:
    """Collisions, KSI collisions and casualties per link, pooled over the located years.

    Each count has a density per km per year with Poisson limits (:func:`poisson_ci`);
    ``vs_corridor`` compares the link's collision density with the whole corridor's
    ("higher", "similar", "lower": the corridor's value outside or inside the link's
    interval). ``rankable`` is True where the link has at least ``min_rank_count``
    collisions; ``rank`` orders those links only (1 = densest). ``flagged`` counts members
    outside the buffer. With ``traffic`` (``link_id``, ``aadt``: annual average daily flow,
    both directions) ``vehicle_km_100m`` and collisions per 100 million vehicle-km with
    limits are added. ``attrs["years"]`` lists the pooled years.
    """
    years = _years(membership)
    n_years = len(years)
    if n_years == 0:
        raise PsaGeoError("no collision years in the data: no link densities")
    members = membership[membership["member"]].copy()
    members["link_id"] = assign_links(members, links)
    members = members.join(collision_casualties(members, casualties))
    grouped = members.groupby("link_id")
    out = pd.DataFrame(links[["link_id", "name", "sections", "n_sections", "mp_from_km",
                              "mp_to_km", "chainage_from_m", "chainage_to_m",
                              "length_m"]])  # fmt: skip
    out["length_km"] = out["length_m"] / 1000
    counts = {
        "collisions": grouped.size(),
        "ksi_collisions": grouped["ksi_collision"].sum(),
        "casualties": grouped["casualties"].sum(),
        "ksi_casualties": grouped["ksi_casualties"].sum(),
        "flagged": grouped["flagged"].sum(),
    }
    for name, series in counts.items():
        out[name] = out["link_id"].map(series).fillna(0).astype(int)
    exposure = out["length_km"] * n_years
    for name in ("collisions", "ksi_collisions", "casualties"):
        lower, upper = poisson_ci(out[name].to_numpy(), level=level)
        out[f"{name}_per_km_year"] = out[name] / exposure
        out[f"{name}_per_km_year_lower"] = lower / exposure
        out[f"{name}_per_km_year_upper"] = upper / exposure
    corridor = out["collisions"].sum() / exposure.sum()
    out["vs_corridor"] = compare_with_benchmark(
        out["collisions"].to_numpy(), exposure.to_numpy(), corridor, per=1, level=level
    )
    out["rankable"] = out["collisions"] >= min_rank_count
    ranks = out.loc[out["rankable"], "collisions_per_km_year"].rank(ascending=False,
                                                                   method="min")  # fmt: skip
    out["rank"] = ranks.reindex(out.index).astype("Int64")
    if traffic is not None:
        out = _traffic_rates(out, traffic, n_years, level)
    out.attrs["years"] = years
    return out


def load_traffic(path: str | Path) -> pd.DataFrame:
    """Traffic counts per link from a CSV with ``link_id`` and ``aadt`` (annual average daily
    flow, both directions, vehicles); every bad row is named in one InputFileError."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputFileError(path, f"not a readable CSV ({type(exc).__name__})") from None
    missing = {"link_id", "aadt"} - set(frame.columns)
    if missing:
        raise InputFileError(path, f"missing columns {', '.join(sorted(missing))}")
    aadt = pd.to_numeric(frame["aadt"].str.strip(), errors="coerce")
    bad = aadt.isna() | (aadt <= 0) | frame["link_id"].duplicated()
    if bad.any():
        rows = ", ".join(str(i + 2) for i in np.flatnonzero(bad)[:5])
        raise InputFileError(path, f"{int(bad.sum())} rows with a missing, non-positive or "
                                   f"repeated value (rows {rows})")  # fmt: skip
    return pd.DataFrame({"link_id": frame["link_id"].str.strip(), "aadt": aadt})


def _traffic_rates(out, traffic, n_years, level):
    _check_frame(traffic, "traffic", ("link_id", "aadt"))
    unknown = sorted(set(traffic["link_id"]) - set(out["link_id"]))
    if unknown:
        raise PsaGeoError(f"traffic counts name links that do not exist: {', '.join(unknown)}")
    out = out.copy()
    out["aadt"] = out["link_id"].map(traffic.set_index("link_id")["aadt"]).astype(float)
    out["vehicle_km_100m"] = out["aadt"] * 365.25 * n_years * out["length_km"] / 1e8
    has = out["aadt"].notna()
    rate = np.full(len(out), np.nan)
    lower, upper = rate.copy(), rate.copy()
    if has.any():
        r, lo, up = rate_ci(out.loc[has, "collisions"].to_numpy(),
                            out.loc[has, "vehicle_km_100m"].to_numpy(), per=1,
                            level=level)  # fmt: skip
        rate[has], lower[has], upper[has] = r, lo, up
    out["collisions_per_100m_vkm"] = rate
    out["collisions_per_100m_vkm_lower"] = lower
    out["collisions_per_100m_vkm_upper"] = upper
    return out


# --- Comparison ---------------------------------------------------------------------------


def road_length_m(sections: gpd.GeoDataFrame, spec: CorridorSpec, road: str) -> tuple:
    """(length in metres, lineal geometry) of ``road``'s ``spec.direction`` main carriageway
    in ``spec.lad_codes``: the road's length, one carriageway of dual stretches counted."""
    pool = _main_sections(sections, dataclasses.replace(spec, road=road), spec.direction)
    if pool.empty:
        raise PsaGeoError(f"no {road} {spec.direction} main-carriageway sections in "
                          f"{', '.join(spec.lad_codes)}")  # fmt: skip
    return float(pool.geometry.length.sum()), shapely.union_all(pool.geometry.to_numpy())


def road_comparison(
    membership: pd.DataFrame,
    comparison: pd.DataFrame | None,
    casualties: pd.DataFrame,
    *,
    corridor_km: float,
    comparison_km: float | None,
    spec: CorridorSpec,
    level: float = 0.95,
) -> pd.DataFrame:
    """The corridor beside the comparison road and all roads in the corridor's districts.

    ``membership`` and ``comparison`` are :func:`corridor_membership` results for the
    corridor and the comparison road (same rule and buffer; None to leave it out). Each road
    has two rows: ``basis`` "rule" (the members by ``spec.rule``) and "within buffer" (only
    collisions within ``spec.buffer_m`` of the measured carriageway: like for like, since a
    road's STATS19 code also covers stretches outside the measured length, such as the A30
    west of Penzance, which is not a trunk road). A last row gives all roads in the
    districts. Columns: ``road_km``, pooled ``collisions``, ``ksi_collisions``,
    ``casualties``, ``ksi_casualties``, ``share_of_area_ksi_casualties`` (%), KSI casualties
    per year, and collisions and KSI collisions per km per year with limits (roads only).
    """
    years = _years(membership)
    area = membership[in_districts(membership, spec.lad_codes)]
    roads = [(f"{spec.road} corridor", membership, corridor_km)]
    if comparison is not None:
        roads.append((f"{spec.comparison_road} in the same districts", comparison,
                      comparison_km))  # fmt: skip
    parts = []
    for name, frame, km in roads:
        parts.append((name, f"rule: {spec.rule.replace('_', ' ')}", frame[frame["member"]], km))
        parts.append((name, f"within {spec.buffer_m:g} m", frame[frame["in_buffer"]], km))
    parts.append(("All roads in the districts", "all collisions", area, math.nan))
    rows = []
    for name, basis, sub, km in parts:
        cas = collision_casualties(sub, casualties)
        row = {"area": name, "basis": basis, "road_km": km, "collisions": len(sub),
               "ksi_collisions": int(cas["ksi_collision"].sum()),
               "casualties": int(cas["casualties"].sum()),
               "ksi_casualties": int(cas["ksi_casualties"].sum())}  # fmt: skip
        for year in years:
            row[f"ksi_casualties_{year}"] = int(cas.loc[sub["collision_year"] == year,
                                                        "ksi_casualties"].sum())  # fmt: skip
        rows.append(row)
    out = pd.DataFrame(rows)
    total = out["ksi_casualties"].iloc[-1]
    out["share_of_area_ksi_casualties"] = 100 * out["ksi_casualties"] / total if total else np.nan
    exposure = out["road_km"] * len(years)
    for name in ("collisions", "ksi_collisions"):
        lower, upper = poisson_ci(out[name].to_numpy(), level=level)
        out[f"{name}_per_km_year"] = out[name] / exposure
        out[f"{name}_per_km_year_lower"] = lower / exposure
        out[f"{name}_per_km_year_upper"] = upper / exposure
    out.attrs["years"] = years
    return out


# --- Who and when -------------------------------------------------------------------------


def priority_groups(
    membership: pd.DataFrame,
    casualties: pd.DataFrame,
    vehicles: pd.DataFrame,
    *,
    spec: CorridorSpec,
) -> pd.DataFrame:
    """The action plan's priority groups on the corridor and in its districts (all roads).

    For each group of :data:`PRIORITY_GROUPS` and area: ``collisions_involving`` (collisions
    with at least one such driver, vehicle or pedestrian) and their share of the area's
    collisions, ``ksi_collisions_involving``, ``casualties_in_collisions`` (every casualty of
    those collisions), ``group_casualties`` (casualties who are themselves in the group: the
    drivers or riders of the age; motorcyclists; the business drivers themselves; cyclists;
    pedestrians), ``group_ksi_casualties`` and the share of the area's casualties. Drivers'
    ages and journey purposes come from the vehicle table; cycles and ridden horses are not
    driven vehicles. ``note`` gives, for business drivers, the share of drivers whose journey
    purpose is not known.
    """
    _check_frame(
        vehicles,
        "vehicles",
        (
            "collision_index",
            "vehicle_reference",
            "vehicle_type",
            "age_of_driver",
            "journey_purpose_of_driver_label",
        ),
    )
    _check_frame(casualties, "casualties", ("collision_index", "vehicle_reference",
                                            "casualty_class", "casualty_type", "age_of_casualty",
                                            "casualty_severity"))  # fmt: skip
    groups = load_road_user_groups()
    veh_user = vehicles["vehicle_type"].map(groups).astype("string")
    cas_user = casualties["casualty_type"].map(groups).astype("string")
    driven = ~veh_user.isin(_NOT_DRIVEN).fillna(False)
    age = vehicles["age_of_driver"].astype("Float64")
    work = vehicles["journey_purpose_of_driver_label"].eq(WORK_PURPOSE).fillna(False)
    veh_key = vehicles["collision_index"] + "/" + vehicles["vehicle_reference"].astype(str)
    work_keys = set(veh_key[work])
    cas_key = casualties["collision_index"] + "/" + casualties["vehicle_reference"].astype(str)
    driver = casualties["casualty_class"].eq(1).fillna(False)
    cas_age = casualties["age_of_casualty"].astype("Float64")
    driver_not_cyclist = driver & ~cas_user.isin(_NOT_DRIVEN).fillna(False)
    rules = {
        "Young drivers (17-24)": (driven & age.between(17, 24).fillna(False),
                                  driver_not_cyclist & cas_age.between(17, 24).fillna(False)),
        "Older drivers (70+)": (driven & age.ge(70).fillna(False),
                                driver_not_cyclist & cas_age.ge(70).fillna(False)),
        "Motorcyclists": (veh_user.eq("Motorcyclist").fillna(False),
                          cas_user.eq("Motorcyclist").fillna(False)),
        "Business drivers": (work, driver & cas_key.isin(work_keys)),
        "Cyclists": (veh_user.eq("Cyclist").fillna(False), cas_user.eq("Cyclist").fillna(False)),
        "Pedestrians": (None, casualties["casualty_class"].eq(3).fillna(False)),
    }  # fmt: skip
    ksi = casualties["casualty_severity"].isin([1, 2]).fillna(False)
    areas = {f"{spec.road} corridor": membership[membership["member"]],
             "All roads in the districts": membership[in_districts(membership,
                                                                   spec.lad_codes)]}  # fmt: skip
    rows = []
    for area, sub in areas.items():
        index = set(sub["collision_index"])
        in_area_cas = casualties["collision_index"].isin(index)
        in_area_veh = vehicles["collision_index"].isin(index)
        ksi_collisions = set(casualties.loc[in_area_cas & ksi, "collision_index"])
        drivers = in_area_veh & driven
        purpose = vehicles.loc[drivers, "journey_purpose_of_driver_label"]
        unknown = purpose.isin(NOT_KNOWN_PURPOSES).fillna(True).sum()
        for name, _ in PRIORITY_GROUPS:
            veh_rule, cas_rule = rules[name]
            involved = set(casualties.loc[in_area_cas & cas_rule, "collision_index"])
            if veh_rule is not None:
                involved |= set(vehicles.loc[in_area_veh & veh_rule, "collision_index"])
            in_collisions = casualties["collision_index"].isin(involved)
            group_cas = in_area_cas & cas_rule
            note = ""
            if name == "Business drivers":
                note = (
                    f"journey purpose not known for {unknown:,} of {len(purpose):,} "
                    f"drivers ({_pct(unknown, len(purpose))}); the group is undercounted"
                )
            rows.append({
                "group": name, "area": area, "collisions": len(index),
                "collisions_involving": len(involved),
                "share_of_collisions_pct": _share(len(involved), len(index)),
                "ksi_collisions_involving": len(involved & ksi_collisions),
                "casualties_in_collisions": int(in_collisions.sum()),
                "casualties": int(in_area_cas.sum()),
                "group_casualties": int(group_cas.sum()),
                "group_ksi_casualties": int((group_cas & ksi).sum()),
                "share_of_casualties_pct": _share(int(group_cas.sum()), int(in_area_cas.sum())),
                "note": note,
            })  # fmt: skip
    return pd.DataFrame(rows)


def journey_purposes(
    membership: pd.DataFrame, vehicles: pd.DataFrame, *, spec: CorridorSpec
) -> pd.DataFrame:
    """Drivers by journey purpose on the corridor and on all roads of its districts (the
    ``corridor_`` and ``area_`` columns), with shares (%): how many purposes are not known.
    Cycles and ridden horses are left out."""
    groups = load_road_user_groups()
    driven = ~vehicles["vehicle_type"].map(groups).astype("string").isin(_NOT_DRIVEN).fillna(False)
    purpose = vehicles["journey_purpose_of_driver_label"].astype("string").fillna("Missing")
    areas = {"corridor": membership[membership["member"]],
             "area": membership[in_districts(membership, spec.lad_codes)]}  # fmt: skip
    frames = []
    for key, sub in areas.items():
        mask = vehicles["collision_index"].isin(set(sub["collision_index"])) & driven
        frames.append(purpose[mask].value_counts().rename(key))
    out = pd.concat(frames, axis=1).fillna(0).astype(int).sort_values("area", ascending=False)
    table = pd.DataFrame({"journey_purpose": out.index})
    for key in areas:
        table[f"{key}_drivers"] = out[key].to_numpy()
        table[f"{key}_share_pct"] = 100 * out[key].to_numpy() / max(out[key].sum(), 1)
    return table


def condition_tables(membership: pd.DataFrame, casualties: pd.DataFrame, *,
                     spec: CorridorSpec) -> dict[str, pd.DataFrame]:  # fmt: skip
    """Collisions by time of day, day of week, speed limit and road type: the corridor
    beside all roads of its districts, with KSI collisions and shares (%)."""
    ksi = collision_casualties(membership, casualties)["ksi_collision"]
    hour = pd.to_numeric(membership["time"].astype("string").str[:2], errors="coerce")
    starts = [b[0] for b in TIME_BANDS]
    band = pd.Series(pd.NA, index=membership.index, dtype="string")
    known = hour.notna()
    band[known] = [TIME_BANDS[i][1] for i in np.searchsorted(starts, hour[known], "right") - 1]
    speed = membership["speed_limit"].astype("Int64").astype("string") + " mph"
    by = {
        "time_of_day": (band, [b[1] for b in TIME_BANDS]),
        "day_of_week": (membership["day_of_week_label"].astype("string"), list(DAYS)),
        "speed_limit": (speed, [f"{s} mph" for s in (20, 30, 40, 50, 60, 70)]),
        "road_type": (membership["road_type_label"].astype("string"), None),
    }
    areas = {"corridor": membership["member"].to_numpy(),
             "area": in_districts(membership, spec.lad_codes).to_numpy()}  # fmt: skip
    tables = {}
    for name, (values, order) in by.items():
        values = values.fillna("Unknown")
        present = set(values)
        order = list(order) if order else []  # fixed categories are listed even when 0
        order += sorted(present - set(order) - {"Unknown"})
        order += ["Unknown"] if "Unknown" in present else []
        table = pd.DataFrame({name: order})
        for key, mask in areas.items():
            counts = values[mask].value_counts().reindex(order, fill_value=0)
            ksi_counts = values[mask & ksi.to_numpy()].value_counts().reindex(order, fill_value=0)
            table[f"{key}_collisions"] = counts.to_numpy()
            table[f"{key}_share_pct"] = 100 * counts.to_numpy() / max(int(mask.sum()), 1)
            table[f"{key}_ksi_collisions"] = ksi_counts.to_numpy()
        tables[name] = table
    return tables


# --- The whole study ----------------------------------------------------------------------


@dataclass
class CorridorStudy:
    """Everything the corridor report shows (built by :func:`corridor_study`).

    ``membership`` is every collision with the corridor columns (:func:`corridor_membership`)
    and ``link_id``; ``tables`` holds the report's tables by name; ``notes`` what was left
    out and why.
    """

    spec: CorridorSpec
    line: LineString
    sections: gpd.GeoDataFrame
    links: gpd.GeoDataFrame
    membership: gpd.GeoDataFrame
    casualties: pd.DataFrame
    vehicles: pd.DataFrame
    years: list[int]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def members(self) -> gpd.GeoDataFrame:
        return self.membership[self.membership["member"]]

    @property
    def length_km(self) -> float:
        return self.line.length / 1000


def corridor_study(
    data_dir: str | Path | None = None,
    areas: gpd.GeoDataFrame | None = None,
    spec: CorridorSpec | None = None,
    *,
    traffic: pd.DataFrame | None = None,
) -> CorridorStudy:
    """Read the sections and STATS19 tables of the data directory and build every table.

    ``areas`` (:func:`psa_geo.load_areas`), when given, places the collisions in LSOAs and
    the districts come from them; otherwise from DfT's highway authority code.
    ``traffic`` (:func:`load_traffic`) adds rates per 100 million vehicle-km to the links.
    """
    spec = spec or load_corridor()
    data_dir = resolve_data_dir(data_dir)
    manifest = load_manifest()
    name = "a38_sections" if spec.road == "A38" else "srn_sections"
    sections = read_sections(dataset_path(name, data_dir, manifest=manifest))
    collisions = read_stats19(dataset_path("stats19_collisions", data_dir, manifest=manifest),
                              table="collisions")  # fmt: skip
    if areas is not None:
        from .assign import assign_areas

        collisions = assign_areas(collisions, areas)
    years = sorted(int(y) for y in collisions["collision_year"].dropna().unique())
    casualties, vehicles = (
        read_stats19(dataset_path(f"stats19_{t}", data_dir, manifest=manifest), table=t)
        for t in ("casualties", "vehicles")
    )
    notes = [YEARS_NOTE.format(years=" and ".join(map(str, years)))]
    dropped = sorted(set(casualties["collision_year"].dropna().astype(int)) - set(years))
    if dropped:
        log.info("corridor: casualties and vehicles of %s left out (no collision locations)",
                 ", ".join(map(str, dropped)))  # fmt: skip
    casualties = casualties[casualties["collision_year"].isin(years).fillna(False)]
    vehicles = vehicles[vehicles["collision_year"].isin(years).fillna(False)]
    line = reference_line(sections, spec)
    links = corridor_links(sections, line, spec)
    membership = corridor_membership(collisions, line, spec)
    membership["link_id"] = assign_links(membership, links)
    tables = {
        "membership_sets": membership_sets(membership),
        "flagged_collisions": flagged_collisions(membership),
        "links": link_table(
            membership, casualties, links, min_rank_count=spec.min_rank_count, traffic=traffic
        ),
        "marker_posts": marker_post_check(sections, line, spec),
    }
    comparison, comparison_km = None, None
    try:
        srn = read_sections(dataset_path("srn_sections", data_dir, manifest=manifest))
        comparison_km, geometry = road_length_m(srn, spec, spec.comparison_road)
        comparison = corridor_membership(collisions, geometry, spec, road=spec.comparison_road)
        comparison_km /= 1000
    except (MissingDataError, PsaGeoError) as exc:
        notes.append(f"no {spec.comparison_road} comparison: {exc}")
        log.warning("corridor: no %s comparison: %s", spec.comparison_road, exc)
    tables["comparison"] = road_comparison(
        membership, comparison, casualties, corridor_km=line.length / 1000,
        comparison_km=comparison_km, spec=spec,
    )  # fmt: skip
    tables["priority_groups"] = priority_groups(membership, casualties, vehicles, spec=spec)
    tables["journey_purpose"] = journey_purposes(membership, vehicles, spec=spec)
    tables |= condition_tables(membership, casualties, spec=spec)
    return CorridorStudy(spec, line, sections, links, membership, casualties, vehicles, years,
                         tables, notes)  # fmt: skip


# --- Helpers ------------------------------------------------------------------------------


def _main_sections(sections, spec: CorridorSpec, direction: str | None) -> gpd.GeoDataFrame:
    keep = (
        sections["ROAD"].eq(spec.road)
        & sections["FUNCTION"].eq(MAIN)
        & sections["LADCD"].isin(list(spec.lad_codes))
    )
    if direction is not None:
        keep &= sections["DIRECTION"].eq(direction)
    return sections[keep.fillna(False)].reset_index(drop=True)


def _as_line(geom) -> LineString:
    """A section as one LineString: multi-part sections merged, or chained part to part."""
    if isinstance(geom, LineString):
        return geom
    merged = shapely.line_merge(geom)
    if isinstance(merged, LineString):
        return merged
    parts = list(merged.geoms)
    ends = [shapely.Point(p.coords[-1]) for p in parts]
    # Start with the part whose start is farthest from every other part's end.
    first = max(range(len(parts)), key=lambda i: min(
        (shapely.Point(parts[i].coords[0]).distance(e) for j, e in enumerate(ends) if j != i),
        default=0.0))  # fmt: skip
    chain, rest = [parts[first]], [p for i, p in enumerate(parts) if i != first]
    while rest:
        end = shapely.Point(chain[-1].coords[-1])
        nxt = min(rest, key=lambda p: end.distance(shapely.Point(p.coords[0])))
        rest.remove(nxt)
        chain.append(nxt)
    return LineString([xy for part in chain for xy in part.coords])


def _years(frame: pd.DataFrame) -> list[int]:
    return sorted(int(y) for y in frame["collision_year"].dropna().unique())


def _share(part: int, whole: int) -> float:
    return 100 * part / whole if whole else math.nan


def _pct(part: int, whole: int) -> str:
    return f"{_share(part, whole):.0f}%" if whole else "–"


def _check_frame(frame, name: str, columns) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"'{name}' should be a DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"'{name}' lack columns {missing}")
