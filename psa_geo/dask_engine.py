"""The Dask engine of :func:`psa_geo.tally_police_uk`: police.uk files read, assigned and
tallied on a Dask cluster, with the tally and reports of the pandas engine but for one note:
a Crime ID repeated in another file is not counted in the report's note of repeated ids
(the pandas engine counts those within a batch of files, :data:`psa_geo.police_uk.BATCH_ROWS`
rows): each file is read on its own, so that its events can be kept by its content alone.
Few ids recur across police.uk's months (3 in the real 2018-19 rows, each in one file there).

What runs where:

1. Workers, one task per file, in parallel: the file is read (through the columnar cache,
   :mod:`psa_geo.cache`), checked and made into events; the events of its usable rows are
   written as one GeoParquet partition (geopandas ``to_parquet``) to
   ``<cache folder>/dask-e<ENGINE_FORMAT>/<content key>.parquet``, beside a summary: line
   and row counts, rejected rows, and the file's (force, month) pairs. One partition per
   file is one per force and month in police.uk's layout. A warm run finds the summary of
   each file's content and parses nothing.
2. Client: the "same force and month once" rule, in read order, over the summaries' pairs;
   a file with overlaps has its rejected rows and counts made again on a worker.
3. Workers: the partitions read by :func:`dask_geopandas.read_parquet`, consecutive ones
   together in batches of about :data:`psa_geo.police_uk.BATCH_ROWS` events (and at least
   one batch per worker), each batch assigned (:func:`psa_geo.assign_areas`) and tallied
   (:func:`psa_geo.tally`), less the months an earlier file gave.
4. Client: the tallies summed as they arrive (:func:`psa_geo.tally` again), and the reports.

Memory: the client holds per-file summaries, rejected rows and tallies, never events; a
worker holds one file's events, or one batch's, at a time (one task per worker thread).
Where the cache folder cannot be written, or ``use_cache=False``, the partitions go to a
temporary folder, deleted afterwards. A cluster on other machines needs psa_geo installed on
each, the police.uk files at the same paths, and the cache folder on a filesystem they all
share. A partition's ``source_file`` (and the ``event_id`` of a row without a Crime ID) name
the file as first read; the tallies use neither.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import math
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import geopandas as gpd
import pandas as pd

from . import _fastcsv, cache, police_uk
from .assign import AssignReport, assign_areas
from .errors import InputFileError, PsaGeoError
from .events import IngestReport
from .tallies import RunningTally, one_outside_warning, tally

log = logging.getLogger(__name__)

#: The version of the partitions and their summaries: raise it whenever the events or the
#: checks of a file's rows would differ.
ENGINE_FORMAT = 1
#: The share of the machine's memory that a local cluster's workers may use between them.
MEMORY_SHARE = 0.5
#: The column naming each event's partition (the overlap rule's rows are dropped by it).
_PART = "_partition"
#: The columns that assigning and tallying read from the partitions.
_READ_COLUMNS = ["source", "event_id", "date", "date_precision", "category", "weight",
                 "falls_within", "month", "published_lsoa_code", "geometry", _PART]  # fmt: skip
_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


def tally_on_dask(
    paths,
    areas: gpd.GeoDataFrame,
    *,
    scheduler: str | None = None,
    today: dt.date | None = None,
    force: str | None = None,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
) -> tuple[pd.DataFrame, IngestReport, AssignReport]:
    """:func:`psa_geo.tally_police_uk` on a Dask cluster: the tally and the read and
    assignment reports, equal to the pandas engine's (but for the note of Crime IDs repeated
    across files: see :mod:`psa_geo.dask_engine`).

    ``scheduler`` is a Dask scheduler's address (``tcp://HOST:PORT``); default a local
    cluster (:func:`dask_client`). The other options are :func:`psa_geo.read_police_uk`'s.
    """
    _require_dask()
    today = dt.date.today() if today is None else today
    report = IngestReport(source=police_uk.SOURCE)
    report.files = [label for label, _, _ in police_uk._iter_csvs(paths, force=force)]
    police_uk._require_files(report, paths)
    raw_folder = cache.cache_folder(cache_dir) if use_cache else None
    with _partition_folder(raw_folder) as (parts, keyed), dask_client(scheduler) as client:
        options = {"raw_folder": raw_folder, "today": today}
        items = list(enumerate(report.files))
        summaries = _run(client, "reading the police.uk files", _file_partition, items,
                         parts=parts, keyed=keyed, **options)  # fmt: skip
        parsed = sum(not s["reused"] for s in summaries)
        log.info("police.uk (dask): %d files: %d parsed, %d from the partitions of %s",
                 len(summaries), parsed, len(summaries) - parsed, parts)  # fmt: skip
        drop, redo = _overlap_rule(summaries, report)
        items = [(summaries[number]["label"], skipped) for number, skipped in redo.items()]
        redone = _run(client, "reading the overlapping files", _file_overlaps, items, **options)
        for number, counts in zip(redo, redone, strict=True):
            summaries[number].update(counts)
        tallies, placed = _assign_and_tally_partitions(client, summaries, parts, areas, drop)
    repeats = _add_summaries(report, summaries)
    police_uk._finish_report(report, repeats)
    return tallies, report, placed


@contextlib.contextmanager
def dask_client(scheduler: str | None = None) -> Iterator:
    """A :class:`distributed.Client` of the scheduler at ``scheduler`` (``tcp://HOST:PORT``;
    PsaGeoError when it does not answer within Dask's connect timeout,
    ``distributed.comm.timeouts.connect``), else of a :class:`distributed.LocalCluster`: one
    worker process per core, one thread each, with :data:`MEMORY_SHARE` of the machine's
    memory between them. Closed after (the local cluster too); the dashboard's address is
    logged where there is one."""
    _require_dask()
    import dask
    import psutil
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            client = Client(scheduler, set_as_default=False)
        except (OSError, ValueError, TypeError) as exc:  # a time-out is an OSError
            problem = " ".join(str(exc).split()) or type(exc).__name__
            raise PsaGeoError(f"cannot connect to the Dask scheduler at {scheduler}: "
                              f"{problem}") from None  # fmt: skip
        with client:
            _log_dashboard(client)
            yield client
        return
    workers = max(int(dask.system.CPU_COUNT), 1)
    memory = int(MEMORY_SHARE * psutil.virtual_memory().total / workers)
    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            memory_limit=memory,
            dashboard_address=":0",
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        log.info("Dask: a local cluster of %d workers, %.1f GiB each", workers, memory / 2**30)
        _log_dashboard(client)
        yield client


def _require_dask() -> None:
    try:
        import dask  # noqa: F401
        import dask_geopandas  # noqa: F401
        import distributed  # noqa: F401
    except ImportError as exc:
        raise PsaGeoError(f"engine 'dask' needs {exc.name}, which is not installed: "
                          "pip install 'psa_geo[dask]'") from None  # fmt: skip


def _log_dashboard(client) -> None:
    if "dashboard" in client.scheduler_info().get("services", {}):
        log.info("Dask dashboard: %s", client.dashboard_link)


def _run(client, doing: str, func: Callable, items: list[tuple], **options) -> list:
    """``func(*item, **options)`` of each of ``items`` on the workers: the results in order
    (the first file's error, in order, raised as it was raised there)."""
    from distributed import KilledWorker

    futures = [client.submit(func, *item, **options, pure=False) for item in items]
    try:
        return [future.result() for future in futures]
    except KilledWorker as exc:
        raise PsaGeoError(f"a Dask worker died {doing} ({exc}): give the workers more memory "
                          "or read smaller files") from None  # fmt: skip
    finally:
        client.cancel(futures)


# -- 1. On the workers: each file read, checked and written as a partition ------------------


def _file_partition(
    number: int, label: str, *, parts: Path, keyed: bool, raw_folder: Path | None,
    today: dt.date,
) -> dict:  # fmt: skip
    """Read, check and write the events of the file ``label`` (the ``number``-th) to a
    partition in ``parts`` (by its content key where ``keyed``, else by ``number``), unless
    one of its content is there: its summary, with its rejected rows (``rejected``)."""
    forces = _known_forces()
    stamp = {"today": f"{today:%Y-%m}", "forces": _digest(forces)}
    with _opened(label) as (opener, open_bytes):
        name = None
        if keyed:
            with contextlib.suppress(OSError, EOFError, ValueError):  # the reader says why
                name = cache.content_key(open_bytes)
            if name and (found := _load_summary(parts, name, label, stamp)) is not None:
                return found
        name = name or f"file-{number:06d}"
        raw, lines, reason = police_uk._checked_rows(label, opener, open_bytes, raw_folder,
                                                     known_forces=forces, today=today)  # fmt: skip
        rejected = police_uk._rejected(raw, reason, opener)
    bad = reason.notna()
    valid = [m for m in raw["Month"].cat.categories if _MONTH.fullmatch(m)]
    summary = {
        "name": name,
        "label": label,
        "lines_read": int(lines.lines_read),
        "header_lines": int(lines.header_lines),
        "blank_lines": int(lines.blank_lines),
        "row_lines": int(lines.row_lines[~lines.blank].sum()),
        "rows_read": len(raw),
        "columns": list(raw.columns),
        "pairs": police_uk._usable_pairs(raw, ~bad.to_numpy()),
        "latest_month": max(valid, default=""),
        **stamp,
    }
    summary.update(_accepted(raw[~bad]))
    events = summary.pop("events")
    del raw
    summary["partition_rows"] = len(events)
    _save(parts, name, events, rejected, summary, keyed=keyed)
    return {**summary, "rejected": rejected, "reused": False}


def _file_overlaps(
    label: str, skipped: list[tuple[str, str]], *, raw_folder: Path | None, today: dt.date
) -> dict:
    """The counts and rejected rows of the file ``label`` with the usable rows of the
    (force, month) pairs ``skipped`` rejected as overlapping an earlier file."""
    with _opened(label) as (opener, open_bytes):
        raw, _, reason = police_uk._checked_rows(
            label, opener, open_bytes, raw_folder, known_forces=_known_forces(), today=today
        )
        reason = police_uk._mark_skipped(raw, reason, skipped)
        rejected = police_uk._rejected(raw, reason, opener)
    counts = _accepted(raw[reason.isna()])
    del counts["events"]
    return {**counts, "rejected": rejected}


def _accepted(good: pd.DataFrame) -> dict:
    """The events of the usable rows ``good`` and their counts, as the pandas engine
    counts them (:func:`psa_geo.police_uk._count_accepted`)."""
    events, located, repeats = police_uk._to_events([police_uk._used_categories(good)])
    part = IngestReport(source=police_uk.SOURCE)
    police_uk._count_accepted(part, events, located)
    return {"events": events, "accepted": part.accepted, "located": part.located,
            "without_location": part.without_location, "months": part.months,
            "repeats": repeats}  # fmt: skip


@contextlib.contextmanager
def _opened(label: str) -> Iterator[tuple[Callable, Callable]]:
    """The (opener, open_bytes) of the police.uk CSV ``label``, named as
    :func:`psa_geo.police_uk._iter_csvs` names it: a file's path, or ``ZIP!MEMBER``."""
    origin = label if Path(label).is_file() else label.rpartition("!")[0]
    if not origin or not Path(origin).is_file():
        raise InputFileError(label, "not found where the Dask worker runs (a cluster's "
                             "machines need the files at the same paths)")  # fmt: skip
    with contextlib.closing(police_uk._iter_csvs(origin)) as files:
        for found, opener, open_bytes in files:
            if found == label:
                yield opener, open_bytes
                return
    raise InputFileError(label, "not found where the Dask worker runs")


def _known_forces() -> set[str]:
    return set(police_uk.police_forces()["name"])


def _digest(forces: set[str]) -> str:
    return hashlib.sha256("\n".join(sorted(forces)).encode()).hexdigest()[:16]


def _save(parts: Path, name: str, events, rejected, summary: dict, *, keyed: bool) -> None:
    """The partition (events with :data:`_PART`; its size, as Dask weighs it, goes to
    ``summary["partition_bytes"]``) and, where ``keyed`` (kept for later runs), the rejected
    rows and the summary, written last: a summary means a whole entry."""
    import pyarrow.parquet as pq

    n = len(events)
    part = _fastcsv.constant_categorical(name, n)
    path = parts / f"{name}.parquet"
    _write(path, events.assign(**{_PART: part}).to_parquet)
    meta = pq.read_metadata(path)
    summary["partition_bytes"] = sum(meta.row_group(i).total_byte_size
                                     for i in range(meta.num_row_groups))  # fmt: skip
    if keyed:
        if rejected is not None:
            _write(parts / f"{name}.rejected.parquet", rejected.to_parquet)
        text = json.dumps({**summary, "rejected_rows": 0 if rejected is None else len(rejected)})
        _write(parts / f"{name}.json", lambda path: Path(path).write_text(text, encoding="utf-8"))


def _write(path: Path, write: Callable) -> None:
    """``write(temporary path)``, then moved to ``path`` whole."""
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".part", delete=False) as part:
        pass
    try:
        write(part.name)
        os.replace(part.name, path)
    finally:
        Path(part.name).unlink(missing_ok=True)


def _load_summary(parts: Path, name: str, label: str, stamp: dict) -> dict | None:
    """The summary of the partition ``name`` as read under ``label``; None when it is not
    there, unreadable, or was checked against other forces or a ``today`` that rejects other
    months as in the future."""
    path = parts / f"{name}.json"
    if not path.is_file():
        return None
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
        if not (parts / f"{name}.parquet").is_file() or not _fits(summary, stamp):
            return None
        rejected = None
        if summary["rejected_rows"]:
            rejected = pd.read_parquet(parts / f"{name}.rejected.parquet")
            rejected["source_file"] = pd.Series(label, index=rejected.index, dtype="str")
    except (OSError, ValueError, KeyError) as exc:
        log.info("police.uk (dask): partition %s unusable (%s): reading the file", name, exc)
        return None
    summary["pairs"] = [tuple(pair) for pair in summary["pairs"]]
    return {**summary, "label": label, "rejected": rejected, "reused": True}


def _fits(summary: dict, stamp: dict) -> bool:
    if summary.get("forces") != stamp["forces"]:
        return False
    then, now = summary["today"], stamp["today"]
    return then == now or summary["latest_month"] <= min(then, now)


@contextlib.contextmanager
def _partition_folder(raw_folder: Path | None) -> Iterator[tuple[Path, bool]]:
    """The partitions' folder and whether they are kept for later runs (by content key):
    ``<raw_folder>/dask-e<ENGINE_FORMAT>`` where it can be written, else a temporary
    folder, deleted after."""
    if raw_folder is not None:
        folder = raw_folder / f"dask-e{ENGINE_FORMAT}"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as exc:
            log.info("police.uk (dask): %s cannot be written (%s): the partitions go to a "
                     "temporary folder", folder, exc)  # fmt: skip
        else:
            yield folder, True
            return
    folder = Path(tempfile.mkdtemp(prefix="psa_geo_dask_"))
    try:
        yield folder, False
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# -- 2. On the client: the overlap rule -------------------------------------------------------


def _overlap_rule(summaries: list[dict], report: IngestReport):
    """The "same force and month once" rule over the files' pairs, in read order
    (:func:`psa_geo.police_uk._skip_overlaps`, recording ``report.overlaps``): the
    (partition, force, month) rows to drop, and the (force, month) pairs skipped by file."""
    seen: dict[tuple[str, str], tuple[int, str]] = {}
    redo = {}
    for number, summary in enumerate(summaries):
        source = (number + 1, summary["label"])
        skipped = police_uk._skip_overlaps(summary["pairs"], seen, source, report)
        if skipped:
            redo[number] = skipped
    # A partition's rows of a pair are kept where the pair's first file has that partition
    # (files of the same content share one).
    drop = frozenset(
        (summary["name"], force, month)
        for summary in summaries
        for force, month, _ in summary["pairs"]
        if summaries[seen[force, month][0] - 1]["name"] != summary["name"]
    )
    return drop, redo


def _add_summaries(report: IngestReport, summaries: list[dict]) -> int:
    """The files' counts, months and rejected rows added to ``report``; the repeated ids."""
    repeats = 0
    rejected = []
    for summary in summaries:
        report.lines_read += summary["lines_read"]
        report.header_lines += summary["header_lines"]
        report.blank_lines += summary["blank_lines"]
        report.row_lines += summary["row_lines"]
        report.rows_read += summary["rows_read"]
        report.accepted += summary["accepted"]
        report.located += summary["located"]
        report.without_location += summary["without_location"]
        report.months = sorted(set(report.months) | set(summary["months"]))
        repeats += summary["repeats"]
        if summary["rejected"] is not None:
            rejected.append(summary["rejected"])
    if rejected:
        report.rejected_rows = pd.concat(rejected, ignore_index=True)
    else:
        report.rejected_rows = pd.DataFrame(columns=[*summaries[0]["columns"], "reason"])
    return repeats


# -- 3. On the workers: the partitions assigned and tallied ----------------------------------


def _assign_and_tally_partitions(client, summaries, parts: Path, areas, drop: frozenset):
    """The tally and assignment report of the partitions of ``summaries`` less the
    (partition, force, month) rows ``drop``, summed on the client as they arrive
    (:class:`psa_geo.tallies.RunningTally`).

    Dask reads consecutive partitions together (:func:`_blocksize`), as the pandas engine
    batches files: an assignment costs nearly as much for a few events as for many."""
    import dask
    import dask_geopandas
    from distributed import KilledWorker, as_completed

    kept = list({s["name"]: s for s in summaries}.values())  # files of one content: once
    paths = [str(parts / f"{s['name']}.parquet") for s in kept]
    workers = len(client.scheduler_info().get("workers", {})) or 1
    blocksize = _blocksize(kept, workers)
    frame = dask_geopandas.read_parquet(paths, columns=_READ_COLUMNS, split_row_groups="adaptive",
                                        aggregate_files=True, blocksize=blocksize,
                                        gather_spatial_partitions=False)  # fmt: skip
    shared_areas = client.scatter(areas, broadcast=True, hash=False)
    tasks = [dask.delayed(_assign_and_tally)(part, shared_areas, drop)
             for part in frame.to_delayed()]  # fmt: skip
    log.info("police.uk (dask): %d partitions placed and counted in %d batches",
             len(paths), len(tasks))  # fmt: skip
    placed, tallies = AssignReport(), RunningTally()
    futures = client.compute(tasks)
    try:
        for future in as_completed(futures, loop=client.loop):
            part_tally, part_placed = future.result()
            future.release()
            placed.add(part_placed)
            tallies.add(part_tally)
    except KilledWorker as exc:
        raise PsaGeoError(f"a Dask worker died assigning the police.uk events ({exc}): give "
                          "the workers more memory") from None  # fmt: skip
    finally:
        client.cancel([*futures, shared_areas])
    return tallies.total(), placed


def _blocksize(summaries: list[dict], workers: int) -> int:
    """The bytes of partitions Dask reads together: batches of about
    :data:`psa_geo.police_uk.BATCH_ROWS` events, and at least one for each worker."""
    rows = sum(s["partition_rows"] for s in summaries)
    size = sum(s["partition_bytes"] for s in summaries)
    batches = min(max(math.ceil(rows / police_uk.BATCH_ROWS), workers), len(summaries))
    return max(math.ceil(size / batches), 1)


def _assign_and_tally(events: gpd.GeoDataFrame, areas: gpd.GeoDataFrame, drop: frozenset):
    """One partition's events, less the (partition, force, month) rows ``drop``, assigned
    to ``areas`` and tallied: (tally, assignment report)."""
    if drop:
        keys = pd.MultiIndex.from_arrays(
            [events[c].astype("str") for c in (_PART, "falls_within", "month")]
        )
        events = events[~keys.isin(list(drop))]
    events = events.drop(columns=[_PART]).reset_index(drop=True)
    with one_outside_warning():
        assigned, placed = assign_areas(events, areas, return_report=True)
    return tally(assigned), placed
