"""Tallies: assigned events summed by month, category and place.

A tally has the columns of :data:`TALLY_KEYS` that its events have and ``weight``, the
events' summed weight: all that the rate tables, monthly series and completeness checks
read (:func:`psa_geo.rate_table` sums ``weight``), so they give the same figures from a tally
as from the events, from a small table built file by file (:func:`tally_police_uk`). Its
``falls_within`` is kept only for events placed outside the area (blank for the rest): no
table reads it for any other, and so a tally's size is bounded by the area's places, months
and categories, however many forces' files are read.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import geopandas as gpd
import pandas as pd

from .assign import ASSIGNED_COLUMNS, AssignReport, assign_areas
from .errors import PsaGeoError
from .events import IngestReport
from .police_uk import BATCH_ROWS, read_police_uk

log = logging.getLogger(__name__)

#: The engines that tally police.uk files (:func:`tally_police_uk`).
ENGINES = ("pandas", "dask")
#: The columns an event's place in a tally is kept by (those its events have).
TALLY_KEYS = (
    "source",
    "date",
    "date_precision",
    "category",
    "falls_within",
    "area_status",
    "placed_level",
    "assignment_basis",
    *ASSIGNED_COLUMNS,
)


def tally(events: pd.DataFrame) -> pd.DataFrame:
    """``events`` (assigned, or a tally) summed by :data:`TALLY_KEYS`: one row per distinct
    key, with the summed ``weight``; blank keys are kept as keys."""
    keys = [c for c in TALLY_KEYS if c in events]
    frame = pd.DataFrame(events[[*keys, "weight"]])  # a GeoDataFrame's geometry left behind
    for key in keys:
        if isinstance(frame[key].dtype, pd.CategoricalDtype):
            frame[key] = frame[key].astype(frame[key].cat.categories.dtype)
    if "falls_within" in frame and "area_status" in frame:  # read for events outside only
        frame["falls_within"] = frame["falls_within"].where(frame["area_status"] == "outside", "")
    out = frame.groupby(keys, dropna=False, sort=True)["weight"].sum().reset_index()
    return out.astype({"weight": "int64"})


class RunningTally:
    """Tallies summed as they come: into one whenever those not yet summed outgrow the sum
    by :data:`psa_geo.police_uk.BATCH_ROWS` rows, so few more rows than one tally are held."""

    def __init__(self) -> None:
        self.parts: list[pd.DataFrame] = []

    def add(self, part: pd.DataFrame) -> None:
        self.parts.append(part)
        if sum(map(len, self.parts[1:])) > len(self.parts[0]) + BATCH_ROWS:
            self.parts = [self.total()]

    def total(self) -> pd.DataFrame:
        """The sum of every tally added."""
        return tally(pd.concat(self.parts, ignore_index=True))


def tally_police_uk(
    paths,
    areas: gpd.GeoDataFrame,
    *,
    engine: str = "pandas",
    scheduler: str | None = None,
    **read_options,
) -> tuple[pd.DataFrame, IngestReport, AssignReport]:
    """police.uk files read, assigned to ``areas`` and tallied a batch of files at a time: the
    tally and the read and assignment reports, as :func:`psa_geo.read_police_uk` and
    :func:`psa_geo.assign_areas` give them for all the files at once.

    ``engine`` ``"pandas"`` streams the files in this process, in batches of whole files
    of about :data:`psa_geo.police_uk.BATCH_ROWS` rows (police.uk's files hold one force's
    month each), so memory holds one batch of events; ``"dask"`` tallies them on a Dask
    cluster (:mod:`psa_geo.dask_engine`; ``scheduler``'s address, default a local cluster),
    with the same tally and reports. ``read_options`` are :func:`psa_geo.read_police_uk`'s
    (``today``, ``force``, ``cache_dir``, ``use_cache``).
    """
    if engine not in ENGINES:
        raise PsaGeoError(f"engine should be {' or '.join(ENGINES)}, got {engine!r}")
    if scheduler is not None and engine != "dask":
        raise PsaGeoError(f"a scheduler ({scheduler}) is for engine 'dask', not {engine!r}")
    with one_outside_warning():
        if engine == "dask":
            from .dask_engine import tally_on_dask

            tallies, ingest, placed = tally_on_dask(paths, areas, scheduler=scheduler,
                                                    **read_options)  # fmt: skip
        else:
            tallies, ingest, placed = _tally_here(paths, areas, **read_options)
    if placed.outside:
        log.warning("%d events lie outside every LSOA of the study area", placed.outside)
    return tallies, ingest, placed


def _tally_here(paths, areas: gpd.GeoDataFrame, **read_options):
    """:func:`tally_police_uk` in this process, a batch of files' events at a time."""
    placed, tallies = AssignReport(), RunningTally()

    def each_batch(events: gpd.GeoDataFrame) -> None:
        assigned, report = assign_areas(events, areas, return_report=True)
        placed.add(report)
        tallies.add(tally(assigned))

    _, ingest = read_police_uk(paths, return_report=True, each_batch=each_batch, **read_options)
    return tallies.total(), ingest, placed


@contextlib.contextmanager
def one_outside_warning() -> Iterator[None]:
    """:func:`psa_geo.assign_areas`' warning of events outside the area silenced, for a
    caller that assigns part by part and warns once for all the parts."""
    assign_log = logging.getLogger(assign_areas.__module__)
    level = assign_log.level
    assign_log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        assign_log.setLevel(level)
