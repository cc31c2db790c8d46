"""Study areas: LSOA 2011 polygons with their ward, LAD and CSP, population and deprivation."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import ClassVar

import geopandas as gpd
import pandas as pd

from .datadir import dataset_path, load_manifest, resolve_data_dir
from .errors import InputFileError
from .events import CRS
from .force import Force, force_of, load_force

log = logging.getLogger(__name__)

LEVELS = ("lsoa", "ward", "lad", "csp", "peninsula")
PENINSULA = ("E23000035", "Peninsula (Devon & Cornwall)")
"""The default force definition's parent area; the code reads :func:`parent_area`."""
# The columns assign_areas adds to events, then the rest of the area table.
ASSIGNED_COLUMNS = (
    "lsoa_code", "lsoa_name", "ward_code", "ward_name",
    "lad_code", "lad_name", "csp_code", "csp_name",
)  # fmt: skip
AREA_COLUMNS = (
    *ASSIGNED_COLUMNS, "msoa_code", "msoa_name", "population", "area_km2",
    "imd_rank", "imd_decile", "idaci_score", "idaci_rank", "rural_urban", "geometry",
)  # fmt: skip

IMD_COLUMNS = {
    "IMD19_RANK": "imd_rank", "IMD19_DECILE": "imd_decile",
    "IDACI_SCORE": "idaci_score", "IDACI_RANK": "idaci_rank",
}  # fmt: skip
"""The IMD file's columns and their names in the areas; the IDACI ones are optional."""


def load_csp_membership(path: str | Path | Force | None = None) -> pd.DataFrame:
    """The LAD → CSP table of the force definition (:func:`psa_geo.load_force`; default
    ``boundaries/devon_and_cornwall.toml``), or of a CSV with the same columns."""
    if path is None or isinstance(path, Force) or Path(path).suffix.lower() == ".toml":
        return load_force(path).membership()
    path = Path(path)
    frame = _read_table(path, ["lad_code", "lad_name", "csp_code", "csp_name", "csp_label"])
    if frame["lad_code"].duplicated().any():
        dup = frame.loc[frame["lad_code"].duplicated(), "lad_code"].iloc[0]
        raise InputFileError(path, f"LAD {dup} is listed in more than one CSP")
    return frame


def load_areas(
    data_dir: str | Path | None = None,
    *,
    force: str | Path | Force | None = None,
    csp_membership: str | Path | None = None,
) -> gpd.GeoDataFrame:
    """LSOA 2011 polygons in EPSG:27700 with ward, LAD and CSP codes and names,
    mid-2018 population, land area, IMD 2019 rank and decile (1 = England's most deprived
    10%), the IDACI 2019 score and rank (Income Deprivation Affecting Children; missing when
    the IMD file has no such columns) and the 2011 rural-urban class (missing when that
    optional dataset is absent).

    ``attrs["lsoa21_to_lsoa11"]`` maps 2021 LSOA codes to 2011 codes where one 2011 LSOA
    corresponds (unchanged or split), and to None for a 2021 LSOA merged from several 2011
    LSOAs (the point decides).

    Only LSOAs of the LADs of ``force`` (:func:`psa_geo.load_force`; default Devon & Cornwall)
    are kept; the force is kept in ``attrs["force"]`` for the measures and pages.
    ``csp_membership`` (a CSV of ``lad_code, lad_name, csp_code, csp_name, csp_label``)
    replaces the force's CSPs.
    """
    force = load_force(force)
    manifest = load_manifest()
    path = dataset_path("lsoa_boundaries", data_dir, manifest=manifest)
    try:
        polygons = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises several types for unreadable files
        raise InputFileError(path, f"cannot read the LSOA boundaries ({exc})") from None
    if polygons.crs is None:
        raise InputFileError(path, "the LSOA boundaries have no CRS")
    polygons = polygons.rename(columns={"LSOA11CD": "lsoa_code"})[["lsoa_code", "geometry"]]
    polygons = polygons.to_crs(CRS)
    log.info("LSOA boundaries reprojected to %s", polygons.crs.name)

    lookup = _read_table(
        dataset_path("master_lookup", data_dir, manifest=manifest),
        ["LSOA11CD", "LSOA11NM", "MSOA11CD", "MSOA11NM", "WD19CD", "WD19NM", "LAD19CD"],
    ).rename(
        columns={
            "LSOA11CD": "lsoa_code",
            "LSOA11NM": "lsoa_name",
            "MSOA11CD": "msoa_code",
            "MSOA11NM": "msoa_name",
            "WD19CD": "ward_code",
            "WD19NM": "ward_name",
            "LAD19CD": "lad_code",
        }
    )[["lsoa_code", "lsoa_name", "msoa_code", "msoa_name", "ward_code", "ward_name", "lad_code"]]
    membership = load_csp_membership(csp_membership) if csp_membership else force.membership()
    lookup = _force_lsoas(lookup, membership, csp_membership or force.path, force)
    lookup = lookup.merge(
        membership[["lad_code", "lad_name", "csp_code", "csp_label"]].rename(
            columns={"csp_label": "csp_name"}
        ),
        on="lad_code",
        how="left",
        validate="many_to_one",
    )
    unmatched = lookup["csp_code"].isna()
    if unmatched.any():
        raise InputFileError(
            csp_membership or force.path,
            f"{unmatched.sum()} LSOAs are in LADs with no CSP "
            f"(first: LAD {lookup.loc[unmatched, 'lad_code'].iloc[0]})",
        )
    pop_path = dataset_path("population", data_dir, manifest=manifest)
    population = _read_table(pop_path, ["LSOA11CD", "POP_MID2018", "AREA_SQKM"]).rename(
        columns={"LSOA11CD": "lsoa_code", "POP_MID2018": "population", "AREA_SQKM": "area_km2"}
    )[["lsoa_code", "population", "area_km2"]]
    imd_path = dataset_path("imd", data_dir, manifest=manifest)
    imd = _read_table(imd_path, ["LSOA11CD", "IMD19_RANK", "IMD19_DECILE"]).rename(
        columns={"LSOA11CD": "lsoa_code", **IMD_COLUMNS}
    )
    for column in IMD_COLUMNS.values():
        if column not in imd:
            log.info("no %s in %s; the column is left empty", column, imd_path)
            imd[column] = None
    imd = imd[["lsoa_code", *IMD_COLUMNS.values()]]
    for frame, source in ((lookup, "master_lookup"), (population, "population"), (imd, "imd")):
        repeated = frame["lsoa_code"].duplicated()
        if repeated.any():
            raise InputFileError(
                dataset_path(source, data_dir, manifest=manifest),
                f"LSOA {frame.loc[repeated, 'lsoa_code'].iloc[0]} appears more than once",
            )
    table = lookup.merge(population, on="lsoa_code", how="left").merge(
        imd, on="lsoa_code", how="left"
    )
    for col, source in (("population", pop_path), ("area_km2", pop_path),
                        *((c, imd_path) for c in IMD_COLUMNS.values())):  # fmt: skip
        values = pd.to_numeric(table[col], errors="coerce")
        bad = values.isna() & table[col].notna()
        if bad.any():
            raise InputFileError(
                source, f"{col} is not a number for LSOA {table.loc[bad, 'lsoa_code'].iloc[0]}"
            )
        table[col] = values
    if table["population"].isna().any():
        first = table.loc[table["population"].isna(), "lsoa_code"].iloc[0]
        raise InputFileError(pop_path, f"no population for LSOA {first}")
    table["population"] = table["population"].astype("int64")

    polygons = polygons[polygons["lsoa_code"].isin(table["lsoa_code"])]
    areas = polygons.merge(table, on="lsoa_code", how="inner", validate="one_to_one")
    if len(areas) != len(polygons) or len(areas) != len(table):
        raise InputFileError(
            path,
            f"{len(polygons)} LSOA polygons but {len(table)} LSOAs in the lookup; codes differ",
        )
    areas["rural_urban"] = areas["lsoa_code"].map(_rural_urban(data_dir, manifest))
    areas = areas[list(AREA_COLUMNS)].sort_values("lsoa_code", ignore_index=True)
    areas.attrs["lsoa21_to_lsoa11"] = _lsoa21_to_lsoa11(data_dir, manifest)
    areas.attrs["force"] = force
    log.info("loaded %d LSOAs, population %d", len(areas), areas["population"].sum())
    return areas


def parent_area(areas: pd.DataFrame) -> tuple[str, str]:
    """(code, name) of the parent area (level ``peninsula``) of the areas' force."""
    force = force_of(areas)
    return force.parent_code, force.parent_name


def _force_lsoas(lookup: pd.DataFrame, membership: pd.DataFrame, path, force: Force):
    """The lookup rows of the force's LADs; a LAD of the force with no LSOA is an error."""
    lads = set(membership["lad_code"])
    missing = sorted(lads - set(lookup["lad_code"]))
    if missing:
        raise InputFileError(
            path, f"LAD {missing[0]} has no LSOA in the data directory's lookup ({force.name})"
        )
    keep = lookup["lad_code"].isin(lads)
    if not keep.all():
        log.info("%d LSOAs of other LADs are outside %s", (~keep).sum(), force.parent_name)
    return lookup[keep]


class Lsoa21Lookup(dict):
    """2021 → 2011 LSOA codes, kept in ``areas.attrs``; never copied (pandas deep-copies
    attrs on every operation, which would be slow for a dict of a thousand codes).
    ``merged`` maps each 2021 LSOA merged from several 2011 LSOAs to those 2011 codes."""

    merged: ClassVar[dict[str, tuple[str, ...]]] = {}

    def __deepcopy__(self, memo):
        return self


def _lsoa21_to_lsoa11(data_dir, manifest) -> dict[str, str]:
    pairs = _read_table(
        dataset_path("lsoa11_lsoa21_lookup", data_dir, manifest=manifest),
        ["LSOA11CD", "LSOA21CD"],
    )
    parents = pairs.groupby("LSOA21CD")["LSOA11CD"].agg(["nunique", "first", "unique"])
    lookup = Lsoa21Lookup(
        {
            code21: (code11 if n == 1 else None)
            for code21, n, code11 in zip(
                parents.index, parents["nunique"], parents["first"], strict=True
            )
        }
    )
    several = parents[parents["nunique"] > 1]
    lookup.merged = {code: tuple(sorted(codes)) for code, codes in several["unique"].items()}
    return lookup


def check_level(areas: pd.DataFrame, level: str) -> None:
    """Raise unless ``level`` is a standard level or one the areas carry as ``<level>_code``
    and ``<level>_name`` columns (such as ``town``; LSOAs in no such area have blanks)."""
    if level in LEVELS or {f"{level}_code", f"{level}_name"} <= set(areas.columns):
        return
    raise ValueError(f"'level' should be one of {LEVELS}, got {level!r}")


def area_codes(
    events: pd.DataFrame, lsoa_to_area: pd.Series, level: str, *, parent_code: str | None = None
) -> pd.Series:
    """Each placed event's area code at ``level``: its LSOA's (``lsoa_to_area``), or, for an
    event placed above LSOA level (``placed_level``: a merged 2021 LSOA of a counts table),
    its own ``<level>_code`` (``parent_code`` at ``peninsula``); blank below its level."""
    codes = events["lsoa_code"].map(lsoa_to_area)
    if "placed_level" in events:
        above = events["lsoa_code"].isna()
        if level == "peninsula":
            codes[above] = parent_code
        elif f"{level}_code" in events:
            codes[above] = events.loc[above, f"{level}_code"]
    return codes


def dissolve_areas(areas: gpd.GeoDataFrame, *, level: str) -> gpd.GeoDataFrame:
    """Union LSOAs into wards, LADs, CSPs, the Peninsula or a custom level (:func:`check_level`),
    with summed population."""
    check_level(areas, level)
    if level == "lsoa":
        out = areas[["lsoa_code", "lsoa_name", "population", "area_km2", "geometry"]]
        return out.rename(columns={"lsoa_code": "area_code", "lsoa_name": "area_name"})
    if level == "peninsula":
        code, name = parent_area(areas)
        frame = areas.assign(peninsula_code=code, peninsula_name=name)
    else:
        frame = areas
    code, name = f"{level}_code", f"{level}_name"
    out = frame[[code, name, "population", "area_km2", "geometry"]].dissolve(
        by=[code, name], aggfunc="sum", as_index=False
    )
    return out.rename(columns={code: "area_code", name: "area_name"}).sort_values(
        "area_code", ignore_index=True
    )


def _read_table(path: Path, columns: list[str]) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputFileError(path, f"not a readable CSV ({type(exc).__name__})") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputFileError(path, f"missing columns {', '.join(missing)}")
    return frame


def _rural_urban(data_dir: str | Path | None, manifest) -> pd.Series:
    """LSOA code → the 2011 rural-urban class in words (empty if the dataset is absent)."""
    path = resolve_data_dir(data_dir) / manifest["rural_urban"].path
    if not path.exists():
        log.info("no rural-urban classification (%s); the column is left empty", path)
        return pd.Series(dtype=object)
    table = _read_table(path, ["LSOA11CD", "RUC11"])
    return pd.Series(table["RUC11"].to_numpy(), index=table["LSOA11CD"].to_numpy())
