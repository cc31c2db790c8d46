"""Build ``boundaries/safer_towns.csv``: Cornwall's ten Safer Towns as sets of LSOAs (2011).

Run from the repository::

    python scripts/build_towns.py --data-dir /work/shared/data

It reads, through the data directory (never copies), ``towns/safer_towns_cornwall.csv`` (the
ten towns and the ONS 2011 built-up area or sub-division named for each, PROVENANCE.md
section 17), ``towns/bua2011_towns_devon_cornwall_ons.geojson`` (the ONS polygons, section 19)
and the LSOA boundaries, and writes one row per LSOA: ``town, lsoa_code, lsoa_name, rule``.

The rule
--------
A town is the LSOAs whose representative point (shapely ``point_on_surface``, a point always
inside the LSOA) lies in the town's ONS 2011 built-up area (BUA) or built-up area sub-division
(BUASD) polygon, as named in the list's ``ONS_BUA_OR_BUASD_2011_CD``. The MSOA best-fit lookup
is not used: its MSOAs reach far into the countryside (Liskeard's cover about 70 km² against a
2.5 km² built-up area). An LSOA lies in at most one town; the script stops if a rule would put
one in two.

Decisions
---------
- Camborne and Redruth are separate towns. ONS puts both in one built-up area (Redruth BUA,
  E34004997) but gives each its own sub-division (Camborne BUASD E35000880, Redruth BUASD
  E35001416); they are separate Safer Towns with separate town councils, so each is its own
  sub-division, and the sub-divisions do not overlap.
- Penryn and Newlyn are left out. Each is a sub-division of its own (Penryn BUASD E35000718 in
  Falmouth BUA; Newlyn BUASD E35000147 in Penzance BUA), and the published list names the
  Falmouth and Penzance sub-divisions, not the whole built-up areas. Penryn is also a separate
  town with its own town council (Falmouth's parish does not include it), and its three
  LSOAs (about 5,800 people) would change Falmouth's figures by about a quarter. Newlyn lies
  inside Penzance's civil parish, but the data has no Newlyn polygon, and adding it through
  the MSOA lookup would break the one rule used for every town. The LSOA on the
  Penzance/Newlyn edge whose representative point falls in the Penzance sub-division
  (Cornwall 070A) is in Penzance by the rule. To profile Penryn, use
  ``psa_geo.define_town("Penryn", areas, polygon=...)`` with the Penryn BUASD; to count Newlyn
  in Penzance, list its LSOAs in ``ADDED`` below.

Hand changes
------------
``ADDED`` and ``REMOVED`` (both empty) hold LSOAs added to or taken from a town by hand;
added rows get the rule ``listed``. Moving an LSOA is one entry in each. The file is checked
after writing with ``psa_geo.towns.load_towns``; a test compares the file in the repository
with a fresh build, so a deliberate change to the repository's copy belongs here.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import pandas as pd

from psa_geo import PsaGeoError, load_areas
from psa_geo.towns import (
    TOWN_COLUMNS,
    define_town,
    load_bua_polygons,
    load_safer_towns_list,
    load_towns,
)

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "boundaries" / "safer_towns.csv"
# Hand changes to the rule, town -> LSOA 2011 codes, e.g. {"Penzance": ["E01...", ...]}.
ADDED: dict[str, list[str]] = {}
REMOVED: dict[str, list[str]] = {}


def build_towns(data_dir: str | Path | None = None) -> pd.DataFrame:
    """The ten Safer Towns' rows (``town, lsoa_code, lsoa_name, rule``), towns in list order."""
    areas = load_areas(data_dir)
    listing = load_safer_towns_list(data_dir)
    bua = load_bua_polygons(data_dir)
    unknown = sorted((set(ADDED) | set(REMOVED)) - set(listing["town"]))
    if unknown:
        raise PsaGeoError(f"hand changes name unknown towns: {', '.join(unknown)}")
    parts = []
    for town in listing.itertuples(index=False):
        polygon = bua[bua["bua_code"] == town.bua_code]
        name = polygon["bua_name"].iloc[0]
        rows = define_town(
            town.town,
            areas,
            polygon=polygon,
            rule=f"representative point in {town.bua_code} {name}",
        )
        removed = set(REMOVED.get(town.town, ()))
        absent = sorted(removed - set(rows["lsoa_code"]))
        if absent:
            raise PsaGeoError(f"REMOVED lists {absent[0]}, which is not in {town.town}")
        parts.append(rows[~rows["lsoa_code"].isin(removed)])
        if ADDED.get(town.town):
            parts.append(define_town(town.town, areas, lsoas=ADDED[town.town]))
    rows = pd.concat(parts, ignore_index=True)[list(TOWN_COLUMNS)]
    shared = rows[rows["lsoa_code"].duplicated(keep=False)]
    if not shared.empty:
        code = shared["lsoa_code"].iloc[0]
        both = " and ".join(shared.loc[shared["lsoa_code"] == code, "town"])
        raise PsaGeoError(f"LSOA {code} would be in {both}; an LSOA may belong to one town only")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="the data directory (default $PSA_GEO_DATA_DIR)")
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"the CSV to write (default {DEFAULT_OUT})"
    )
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        rows = build_towns(args.data_dir)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        rows.to_csv(args.out, index=False, lineterminator="\n")
        load_towns(args.out, areas=load_areas(args.data_dir))
    except PsaGeoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not args.quiet:
        for town, count in rows.groupby("town", sort=False).size().items():
            print(f"{town}: {count} LSOAs")
        print(f"wrote {args.out} ({len(rows)} LSOAs in {rows['town'].nunique()} towns)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
