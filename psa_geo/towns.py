"""Safer Towns: named sets of LSOAs, their outlines, and how well they match the town.

A town is a list of LSOA (2011) codes kept in ``boundaries/safer_towns.csv`` (one row per
LSOA: ``town, lsoa_code, lsoa_name, rule``), which users may read and edit.
``scripts/build_towns.py`` builds the file for Cornwall's ten Safer Towns from the ONS 2011
built-up areas; :func:`define_town` makes the same rows for any other town, from a list of
LSOAs or a polygon.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry.base import BaseGeometry

from .areas import _read_table
from .datadir import dataset_path, load_manifest, project_file, resolve_data_dir
from .errors import InputFileError, MissingDataError, PsaGeoError
from .filenames import safe_name, unique_names
from .names import match_names
from .userfiles import read_user_csv

log = logging.getLogger(__name__)

TOWN_COLUMNS = ("town", "lsoa_code", "lsoa_name", "rule")
TOWN_AREA_COLUMNS = ("town", "lsoa_count", "population", "area_km2", "lsoa_codes", "geometry")
MATCH_COLUMNS = (
    "town", "lsoa_count", "population", "lsoa_area_km2",
    "bua_area_km2", "lsoa_in_bua_pct", "bua_covered_pct",
    "parish_area_km2", "lsoa_in_parish_pct", "parish_covered_pct",
)  # fmt: skip
LSOA_CODE = re.compile(r"E01\d{6}")
# The towns' reference files in the data directory (PROVENANCE.md sections 17-19), by the
# manifest name they take once they are in data/manifest.toml, else by their path.
TOWN_FILES = {
    "safer_towns_list": "towns/safer_towns_cornwall.csv",
    "town_bua_polygons": "towns/bua2011_towns_devon_cornwall_ons.geojson",
    "town_parish_polygons": "towns/safer_towns_osm_parish_boundaries.geojson",
}
_MAX_LISTED = 5  # problems spelt out in one error message; the rest are counted


def town_slug(name: str) -> str:
    """A file-name part for a town: lower-case letters, digits and hyphens only.

    ``town_slug("St Austell") == "st-austell"``; ``town_slug("../../etc") == "etc"``.
    """
    return safe_name(str(name))


def load_towns(
    path: str | Path | None = None, *, areas: gpd.GeoDataFrame | None = None
) -> pd.DataFrame:
    """The town definitions kept in ``boundaries/safer_towns.csv`` (or the file ``path``).

    Parameters
    ----------
    path
        A CSV with at least the columns ``town`` and ``lsoa_code``, one row per LSOA;
        ``lsoa_name`` and ``rule`` are kept when present. Default: the project's
        ``boundaries/safer_towns.csv``.
    areas
        The LSOA table from :func:`load_areas`; when given, every code must be one of its LSOAs.

    Returns
    -------
    pandas.DataFrame
        ``town, lsoa_code, lsoa_name, rule`` in the file's order.

    Raises
    ------
    InputFileError
        One line naming the file, the number of problems and the first of them (with their
        line numbers): an empty file, a blank town or code, a code that is not an LSOA 2011
        code (or not in ``areas``), a repeated row, or an LSOA listed in two towns; a file
        that is not UTF-8 text (with or without a BOM) or not a CSV; two town names that
        would share a file name ("St Ives" and "St. Ives": :func:`psa_geo.filenames.unique_names`).
    """
    path = Path(path) if path is not None else project_file("boundaries/safer_towns.csv")
    frame = read_user_csv(path, ["town", "lsoa_code"])
    for column in ("lsoa_name", "rule"):
        if column not in frame:
            frame[column] = ""
    frame = frame[list(TOWN_COLUMNS)].apply(lambda col: col.str.strip())
    if frame.empty:
        raise InputFileError(path, "the file defines no towns (a header but no rows)")
    known = set(areas["lsoa_code"]) if areas is not None else None
    problems = _row_problems(frame, known=known, line_offset=2)
    if problems:
        raise InputFileError(path, _summarise(problems))
    try:
        unique_names(frame["town"], what="town")
    except PsaGeoError as exc:
        raise InputFileError(path, str(exc)) from None
    log.info("%s: %d towns, %d LSOAs", path, frame["town"].nunique(), len(frame))
    return frame.reset_index(drop=True)


def define_town(
    name: str,
    areas: gpd.GeoDataFrame,
    *,
    lsoas: Iterable[str] | None = None,
    polygon: str | Path | gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    rule: str | None = None,
) -> pd.DataFrame:
    """Rows defining one town, in the format of :func:`load_towns`, for any town.

    Parameters
    ----------
    name
        The town's name.
    areas
        The LSOA table from :func:`load_areas` (a projected CRS, EPSG:27700).
    lsoas
        The town's LSOA 2011 codes. Give either ``lsoas`` or ``polygon``.
    polygon
        A polygon file (any format geopandas reads, with a CRS), a GeoDataFrame or a
        GeoSeries; several features are united. The town is the LSOAs whose representative
        point (shapely ``point_on_surface``: a point always inside the LSOA) lies in it.
    rule
        Text for the ``rule`` column. Default: ``listed`` for ``lsoas``, and
        ``representative point in <file name or "polygon">`` for ``polygon``.

    Returns
    -------
    pandas.DataFrame
        ``town, lsoa_code, lsoa_name, rule``, one row per LSOA, sorted by code; append it to
        the towns table (``pd.concat``) or to ``boundaries/safer_towns.csv``.
    """
    _check_areas(areas)
    name = str(name).strip()
    if not name:
        raise PsaGeoError("'name' should be a town name, got an empty string")
    if (lsoas is None) == (polygon is None):
        raise PsaGeoError("define_town needs exactly one of 'lsoas' (a list of codes) or 'polygon'")
    if lsoas is not None:
        if isinstance(lsoas, str):
            raise PsaGeoError("'lsoas' should be a list of LSOA codes, got one string")
        codes = [str(code).strip() for code in lsoas]
        if not codes:
            raise PsaGeoError(f"town {name!r}: 'lsoas' is empty")
        unknown = [c for c in dict.fromkeys(codes) if c not in set(areas["lsoa_code"])]
        if unknown:
            raise PsaGeoError(
                f"town {name!r}: {len(unknown)} codes are not LSOAs of the areas "
                f"(first: {', '.join(unknown[:_MAX_LISTED])})"
            )
        repeated = pd.Series(codes)[pd.Series(codes).duplicated()].unique()
        if len(repeated):
            raise PsaGeoError(f"town {name!r}: LSOA {repeated[0]} is listed twice")
        chosen = areas["lsoa_code"].isin(codes).to_numpy()
        default_rule = "listed"
    else:
        shape, label = _polygon(polygon, areas.crs)
        points = areas.geometry.representative_point()
        chosen = points.intersects(shape).to_numpy()
        default_rule = f"representative point in {label}"
        if not chosen.any():
            raise PsaGeoError(
                f"town {name!r}: no LSOA's representative point lies in {label}; "
                "is the polygon inside the study area?"
            )
    rows = pd.DataFrame(
        {
            "town": name,
            "lsoa_code": areas.loc[chosen, "lsoa_code"].to_numpy(),
            "lsoa_name": areas.loc[chosen, "lsoa_name"].to_numpy(),
            "rule": rule if rule is not None else default_rule,
        }
    )
    log.info("town %s: %d LSOAs (%s)", name, len(rows), rows["rule"].iloc[0])
    return rows.sort_values("lsoa_code", ignore_index=True)


def town_areas(
    areas: gpd.GeoDataFrame, towns: pd.DataFrame, *, names: Iterable[str] | None = None
) -> gpd.GeoDataFrame:
    """One row per town: the dissolved outline of its LSOAs and their totals.

    Parameters
    ----------
    areas
        The LSOA table from :func:`load_areas`.
    towns
        Town definitions from :func:`load_towns` or :func:`define_town`.
    names
        Only these towns, in this order. Default: every town, in the order of ``towns``.

    Returns
    -------
    geopandas.GeoDataFrame
        ``town, lsoa_count, population, area_km2, lsoa_codes, geometry`` in the CRS of
        ``areas``. ``lsoa_codes`` is a list of codes (join or drop it before ``to_file``).
    """
    _check_areas(areas)
    towns = _check_towns(towns)
    unknown = sorted(set(towns["lsoa_code"]) - set(areas["lsoa_code"]))
    if unknown:
        raise PsaGeoError(
            f"{len(unknown)} LSOA codes of the town definitions are not in the areas "
            f"(first: {', '.join(unknown[:_MAX_LISTED])})"
        )
    order = _select(towns, names)
    indexed = areas.set_index("lsoa_code")
    records = []
    for town in order:
        codes = sorted(towns.loc[towns["town"] == town, "lsoa_code"])
        members = indexed.loc[codes]
        geometry = members.geometry.union_all()
        records.append(
            {
                "town": town,
                "lsoa_count": len(codes),
                "population": int(members["population"].sum()),
                "area_km2": geometry.area / 1e6,
                "lsoa_codes": codes,
                "geometry": geometry,
            }
        )
    return gpd.GeoDataFrame(records, columns=list(TOWN_AREA_COLUMNS), crs=areas.crs)


def assign_towns(events: pd.DataFrame, towns: pd.DataFrame) -> pd.DataFrame:
    """Add a ``town`` column to a copy of ``events`` through their ``lsoa_code``.

    ``events`` must already carry ``lsoa_code`` (:func:`assign_areas`). Events in no town,
    or without an LSOA, get ``None``. An LSOA may belong to at most one town: a definition
    that puts one in two towns is refused, naming the LSOA and both towns.
    """
    if not isinstance(events, pd.DataFrame):
        raise PsaGeoError(f"'events' should be a DataFrame, got {type(events).__name__}")
    if "lsoa_code" not in events:
        raise PsaGeoError("'events' has no lsoa_code column; run assign_areas() first")
    towns = _check_towns(towns)
    shared = towns[towns["lsoa_code"].duplicated(keep=False)]
    if not shared.empty:
        code = shared["lsoa_code"].iloc[0]
        both = shared.loc[shared["lsoa_code"] == code, "town"].tolist()
        raise PsaGeoError(
            f"{shared['lsoa_code'].nunique()} LSOAs are in more than one town "
            f"(first: {code} in {' and '.join(both)}); an LSOA may belong to one town only"
        )
    mapping = dict(zip(towns["lsoa_code"], towns["town"], strict=True))
    out = events.copy()
    if "town" in out:
        log.info("replacing the events' existing town column")
    town = out["lsoa_code"].map(mapping)
    out["town"] = town.astype(object).where(town.notna(), None)
    log.info(
        "%d of %d events are in a town (%d towns)",
        out["town"].notna().sum(),
        len(out),
        out["town"].nunique(),
    )
    return out


def load_bua_polygons(data_dir: str | Path | None = None) -> gpd.GeoDataFrame:
    """The ONS 2011 built-up areas and sub-divisions (PROVENANCE.md section 19), EPSG:27700.

    Columns ``bua_code, bua_name, bua_type, lad_code, lad_name, town, geometry``; ``town`` is
    the Safer Town whose polygon it is (from ``towns/safer_towns_cornwall.csv``), else None.
    """
    path = _town_file("town_bua_polygons", data_dir)
    frame = _read_polygons(path, ["AREACD", "AREANM", "TYPE", "LADCD", "LADNM"])
    frame = frame.rename(
        columns={
            "AREACD": "bua_code",
            "AREANM": "bua_name",
            "TYPE": "bua_type",
            "LADCD": "lad_code",
            "LADNM": "lad_name",
        }
    )
    listing = load_safer_towns_list(data_dir)
    by_code = dict(zip(listing["bua_code"], listing["town"], strict=True))
    missing = sorted(set(by_code) - set(frame["bua_code"]))
    if missing:
        raise InputFileError(path, f"no polygon for the Safer Towns' built-up area {missing[0]}")
    town = frame["bua_code"].map(by_code)
    frame["town"] = town.astype(object).where(town.notna(), None)
    columns = ["bua_code", "bua_name", "bua_type", "lad_code", "lad_name", "town", "geometry"]
    return frame[columns]


def load_parish_polygons(data_dir: str | Path | None = None) -> gpd.GeoDataFrame:
    """The ten Safer Towns' civil parishes from OpenStreetMap (PROVENANCE.md section 18).

    Columns ``town, osm_relation_id, geometry`` in EPSG:27700. © OpenStreetMap
    contributors, ODbL 1.0.
    """
    path = _town_file("town_parish_polygons", data_dir)
    frame = _read_polygons(path, ["TOWN", "OSM_RELATION_ID"])
    frame = frame.rename(columns={"TOWN": "town", "OSM_RELATION_ID": "osm_relation_id"})
    return frame[["town", "osm_relation_id", "geometry"]]


def load_safer_towns_list(data_dir: str | Path | None = None) -> pd.DataFrame:
    """Cornwall's ten Safer Towns (PROVENANCE.md section 17), in the published order.

    Columns ``town, phase, bua_code, bua_name``: the ONS 2011 built-up area or sub-division
    each town is defined from.
    """
    path = _town_file("safer_towns_list", data_dir)
    frame = _read_table(
        path, ["TOWN", "SAFER_TOWN_PHASE", "ONS_BUA_OR_BUASD_2011", "ONS_BUA_OR_BUASD_2011_CD"]
    )
    frame = frame.rename(
        columns={
            "TOWN": "town",
            "SAFER_TOWN_PHASE": "phase",
            "ONS_BUA_OR_BUASD_2011_CD": "bua_code",
            "ONS_BUA_OR_BUASD_2011": "bua_name",
        }
    )[["town", "phase", "bua_code", "bua_name"]]
    for column in ("town", "bua_code"):
        repeated = frame[column].duplicated() | (frame[column].str.strip() == "")
        if repeated.any():
            line = int(np.flatnonzero(repeated)[0]) + 2
            raise InputFileError(path, f"line {line}: blank or repeated {column}")
    return frame


def town_match_report(
    towns_gdf: gpd.GeoDataFrame, bua: gpd.GeoDataFrame, parishes: gpd.GeoDataFrame
) -> pd.DataFrame:
    """How well each town's LSOA set matches its built-up area and its parish.

    Parameters
    ----------
    towns_gdf
        Town outlines from :func:`town_areas`.
    bua, parishes
        Polygons with a ``town`` column (:func:`load_bua_polygons`,
        :func:`load_parish_polygons`); a town without one gets empty figures.

    Returns
    -------
    pandas.DataFrame
        One row per town: ``lsoa_count``, ``population``, ``lsoa_area_km2``;
        ``bua_area_km2``, ``lsoa_in_bua_pct`` (share of the LSOA set's area inside the
        built-up area) and ``bua_covered_pct`` (share of the built-up area covered by the
        LSOA set); and the same three for the parish. Percentages are 0-100.
    """
    for label, frame in (("towns_gdf", towns_gdf), ("bua", bua), ("parishes", parishes)):
        if not isinstance(frame, gpd.GeoDataFrame):
            raise PsaGeoError(f"{label!r} should be a GeoDataFrame, got {type(frame).__name__}")
        if "town" not in frame:
            raise PsaGeoError(f"{label!r} has no town column")
        if frame.crs is None:
            raise PsaGeoError(f"{label!r} has no CRS")
    if not towns_gdf.crs.is_projected:
        raise PsaGeoError(f"'towns_gdf' is in {towns_gdf.crs.name}; areas need a projected CRS")
    for label, frame in (("bua", bua), ("parishes", parishes)):
        if frame.crs != towns_gdf.crs:
            raise PsaGeoError(
                f"{label!r} is in {frame.crs.name} but 'towns_gdf' in {towns_gdf.crs.name}; "
                f"use {label}.to_crs(towns_gdf.crs) first"
            )
    rows = []
    for town in towns_gdf.itertuples(index=False):
        shape = town.geometry
        row = {
            "town": town.town,
            "lsoa_count": town.lsoa_count,
            "population": town.population,
            "lsoa_area_km2": shape.area / 1e6,
        }
        for prefix, polygons in (("bua", bua), ("parish", parishes)):
            ref = polygons.loc[polygons["town"] == town.town]
            if ref.empty:
                log.info("town %s has no %s polygon; its %s figures are empty", town.town,
                         prefix, prefix)  # fmt: skip
                row |= {f"{prefix}_area_km2": np.nan, f"lsoa_in_{prefix}_pct": np.nan,
                        f"{prefix}_covered_pct": np.nan}  # fmt: skip
                continue
            other = ref.geometry.union_all()
            overlap = shape.intersection(other).area
            row |= {
                f"{prefix}_area_km2": other.area / 1e6,
                f"lsoa_in_{prefix}_pct": 100 * overlap / shape.area,
                f"{prefix}_covered_pct": 100 * overlap / other.area,
            }
        rows.append(row)
    return pd.DataFrame(rows, columns=list(MATCH_COLUMNS))


def _check_areas(areas: gpd.GeoDataFrame) -> None:
    if not isinstance(areas, gpd.GeoDataFrame):
        raise PsaGeoError(f"'areas' should be a GeoDataFrame, got {type(areas).__name__}")
    missing = [c for c in ("lsoa_code", "lsoa_name", "population") if c not in areas]
    if missing:
        raise PsaGeoError(f"'areas' lacks {', '.join(missing)}; use load_areas()")
    if areas.crs is None:
        raise PsaGeoError("'areas' has no CRS")


def _check_towns(towns: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(towns, pd.DataFrame):
        raise PsaGeoError(f"'towns' should be a DataFrame, got {type(towns).__name__}")
    missing = [c for c in ("town", "lsoa_code") if c not in towns]
    if missing:
        raise PsaGeoError(f"'towns' lacks {', '.join(missing)}; use load_towns()")
    if towns.empty:
        raise PsaGeoError("'towns' has no rows")
    frame = towns[["town", "lsoa_code"]].fillna("").astype(str).apply(lambda col: col.str.strip())
    problems = _row_problems(frame, known=None, line_offset=0, shared=False)
    if problems:
        raise PsaGeoError(f"'towns': {_summarise(problems, where='row')}")
    unique_names(frame["town"], what="town")
    return frame


def _row_problems(
    frame: pd.DataFrame, *, known: set[str] | None, line_offset: int, shared: bool = True
) -> list[tuple[int, str]]:
    """Every problem of a towns table, as (line or row number, text)."""
    problems: list[tuple[int, str]] = []
    lines = np.arange(len(frame)) + line_offset
    town = frame["town"].to_numpy()
    code = frame["lsoa_code"].to_numpy()
    first_line: dict[tuple[str, str], int] = {}
    town_of: dict[str, tuple[str, int]] = {}
    for line, t, c in zip(lines, town, code, strict=True):
        if not t:
            problems.append((line, f"blank town for LSOA {c or '(blank)'}"))
            continue
        if not c:
            problems.append((line, f"town {t!r} has a row without an LSOA code (an empty town?)"))
            continue
        if not LSOA_CODE.fullmatch(c):
            problems.append((line, f"{c!r} is not an LSOA 2011 code (E01 and 6 digits)"))
            continue
        if known is not None and c not in known:
            problems.append((line, f"unknown LSOA code {c} (not one of the areas' LSOAs)"))
            continue
        if (t, c) in first_line:
            problems.append((line, f"repeats the row for {t} {c} (line {first_line[t, c]})"))
            continue
        first_line[t, c] = line
        if shared and c in town_of and town_of[c][0] != t:
            other, other_line = town_of[c]
            text = f"LSOA {c} is in {t} and in {other} (line {other_line}); one town only"
            problems.append((line, text))
            continue
        town_of.setdefault(c, (t, line))
    return problems


def _summarise(problems: list[tuple[int, str]], *, where: str = "line") -> str:
    head = "; ".join(f"{where} {n}: {text}" for n, text in problems[:_MAX_LISTED])
    more = len(problems) - _MAX_LISTED
    count = f"{len(problems)} problems: " if len(problems) > 1 else ""
    return count + head + (f"; and {more} more" if more > 0 else "")


def _select(towns: pd.DataFrame, names: Iterable[str] | None) -> list[str]:
    known = list(dict.fromkeys(towns["town"]))
    if names is None:
        return known
    if isinstance(names, str):
        names = [names]
    return match_names(names, known, what="town")


def _polygon(polygon, crs) -> tuple[BaseGeometry, str]:
    """One (multi)polygon in ``crs`` from a file, GeoDataFrame or GeoSeries, and a label."""
    if isinstance(polygon, BaseGeometry):
        raise PsaGeoError(
            "'polygon' is a bare shapely geometry without a CRS; wrap it in "
            "geopandas.GeoSeries([geometry], crs=...)"
        )
    label = "polygon"
    if isinstance(polygon, str | Path):
        path = Path(polygon)
        if not path.is_file():
            raise InputFileError(path, "no such polygon file")
        try:
            polygon = gpd.read_file(path)
        except Exception as exc:  # pyogrio raises several types for unreadable files
            raise InputFileError(path, f"cannot read the polygon ({exc})") from None
        label = path.name
        if polygon.crs is None:
            raise InputFileError(path, "the polygon has no CRS")
    if isinstance(polygon, gpd.GeoDataFrame):
        polygon = polygon.geometry
    if not isinstance(polygon, gpd.GeoSeries):
        raise PsaGeoError(
            f"'polygon' should be a file, GeoDataFrame or GeoSeries, got {type(polygon).__name__}"
        )
    if polygon.crs is None:
        raise PsaGeoError("'polygon' has no CRS; set one with set_crs()")
    polygon = polygon[~(polygon.isna() | polygon.is_empty)]
    if polygon.empty:
        raise PsaGeoError(f"{label!r} has no geometry")
    if not polygon.geom_type.isin(["Polygon", "MultiPolygon"]).all():
        kinds = sorted(set(polygon.geom_type) - {"Polygon", "MultiPolygon"})
        raise PsaGeoError(f"{label!r} should hold polygons, got {', '.join(kinds)}")
    if polygon.crs != crs:
        log.info("town polygon reprojected from %s to %s", polygon.crs.name, crs.name)
        polygon = polygon.to_crs(crs)
    return polygon.make_valid().union_all(), label


def _town_file(name: str, data_dir: str | Path | None) -> Path:
    """A towns reference file: through the manifest once it lists it, else by its path."""
    manifest = load_manifest()
    if name in manifest.datasets:
        return dataset_path(name, data_dir, manifest=manifest)
    path = resolve_data_dir(data_dir) / TOWN_FILES[name]
    if not path.exists():
        raise MissingDataError(
            f"{path}: the towns file {TOWN_FILES[name]!r} is missing; "
            "run 'psa-geo data fetch --mirror DIR' (or set PSA_GEO_MIRROR) to fetch it"
        )
    return path


def _read_polygons(path: Path, columns: list[str]) -> gpd.GeoDataFrame:
    try:
        frame = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises several types for unreadable files
        raise InputFileError(path, f"cannot read the polygons ({exc})") from None
    if frame.crs is None:
        raise InputFileError(path, "the polygons have no CRS")
    missing = [c for c in columns if c not in frame]
    if missing:
        raise InputFileError(path, f"missing properties {', '.join(missing)}")
    out = frame.to_crs("EPSG:27700")
    log.info("%s reprojected to %s", path.name, out.crs.name)
    return out


def with_towns(frame: pd.DataFrame, towns: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` (areas or placed events, with ``lsoa_code``) with ``town_code`` and
    ``town_name`` (blank outside every town)."""
    town = frame["lsoa_code"].map(dict(zip(towns["lsoa_code"], towns["town"], strict=True)))
    town = town.astype(object).where(town.notna(), None)
    codes = {name: safe_name(name) for name in towns["town"].dropna().unique()}  # once a town
    return frame.assign(town_code=town.map(codes, na_action="ignore"), town_name=town)
