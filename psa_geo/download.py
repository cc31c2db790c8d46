"""Download the manifest's datasets from their publishers and cut them to the force area."""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime as dt
import errno
import gzip
import http.client
import io
import json
import logging
import os
import re
import shutil
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from ._version import __version__
from .crime_files import FORCE
from .datadir import Dataset, Manifest, load_manifest, resolve_data_dir
from .errors import MissingDataError, PsaGeoError

log = logging.getLogger(__name__)

_USER_AGENT = f"psa_geo/{__version__} (+urllib)"
_ARCGIS_BOOKKEEPING = {"fid", "objectid", "globalid", "shape__area", "shape__length"}


class _Failed(Exception):
    """A download problem; fetch_online turns it into one MissingDataError line."""


def fetch_online(
    data_dir: str | Path | None = None,
    *,
    manifest: Manifest | None = None,
    names: list[str] | None = None,
    timeout: float = 60.0,
    force: str | Path | None = None,
) -> list[Path]:
    """Download the ``origin = "download"`` datasets and cut them to the force area.

    Parameters
    ----------
    data_dir
        Where to write (default :func:`resolve_data_dir`); each file goes to ``dataset.path``.
    manifest
        The dataset manifest (default: the project's).
    names
        Only these datasets.
    timeout
        Seconds to wait for each network operation (connect or read).
    force
        The force definition whose LADs cut the downloads (:func:`psa_geo.load_force`;
        default Devon & Cornwall, unless the manifest lists ``force_lads``).

    Returns
    -------
    list of Path
        The files written. Each is written to a temporary file and renamed when complete.

    Raises
    ------
    MissingDataError
        A download failed or was not what the dataset's ``download.kind`` expects.
    """
    manifest = manifest or load_manifest()
    if force is not None or not manifest.force_lads:
        from .force import load_force

        manifest = dataclasses.replace(manifest, force_lads=load_force(force).lad_codes)
    chosen = [manifest[n] for n in names] if names else list(manifest.datasets.values())
    base = resolve_data_dir(data_dir)
    written = []
    for ds in chosen:
        kind = ds.download.get("kind", "none")
        if ds.origin != "download" or kind == "none" or not ds.url:
            log.info("%s: no direct download; it comes from the mirror", ds.name)
            continue
        if kind not in _KINDS:
            raise MissingDataError(f"{ds.name}: unknown download kind {kind!r} in the manifest")
        dst = base / ds.path
        dst.parent.mkdir(parents=True, exist_ok=True)
        start = time.monotonic()
        log.info("%s: downloading %s", ds.name, ds.url)
        try:
            with _temp_path(dst, ".part") as tmp:
                rows = _KINDS[kind](ds, manifest, tmp, timeout)
                os.replace(tmp, dst)
        except KeyError as exc:
            raise MissingDataError(
                f"{ds.name}: the manifest's download table lacks {exc}"
            ) from None
        except (_Failed, UnicodeDecodeError, csv.Error, zipfile.BadZipFile, EOFError) as exc:
            problem = str(exc) if isinstance(exc, _Failed) else f"unreadable answer: {exc}"
            problem = problem.splitlines()[0] if problem else type(exc).__name__
            raise MissingDataError(
                f"{ds.name}: download from {ds.url} failed ({problem})"
            ) from None
        log.info("%s: wrote %d rows to %s in %.1f s", ds.name, rows, dst, time.monotonic() - start)
        written.append(dst)
    return written


@contextlib.contextmanager
def _temp_path(dst: Path, suffix: str) -> Iterator[Path]:
    """A fresh temporary path beside ``dst``, removed on exit unless renamed."""
    fd, name = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.", suffix=suffix)
    os.close(fd)
    try:
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


@contextlib.contextmanager
def _open_url(url: str, timeout: float) -> Iterator[IO[bytes]]:
    """Open ``url``; HTTP errors, refused connections and timeouts become _Failed."""
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            yield response
    except urllib.error.HTTPError as exc:
        exc.close()
        raise _Failed(f"HTTP {exc.code}") from None
    except urllib.error.URLError as exc:
        reason = "timed out" if isinstance(exc.reason, TimeoutError) else exc.reason
        raise _Failed(f"cannot connect: {reason}") from None
    except TimeoutError:
        raise _Failed(f"timed out after {timeout:g} s") from None
    except (OSError, http.client.HTTPException) as exc:
        raise _Failed(f"connection broken: {type(exc).__name__} {exc}") from None


def _download_to(url: str, path: Path, timeout: float) -> None:
    with _open_url(url, timeout) as response, path.open("wb") as out:
        shutil.copyfileobj(response, out, 1 << 20)


def _open_out(path: Path, gz: bool) -> IO[str]:
    opener = gzip.open if gz else open
    return opener(path, "wt", encoding="utf-8", newline="")


def _arcgis_query(ds: Dataset, manifest: Manifest, tmp: Path, timeout: float) -> int:
    """Page through an ArcGIS FeatureServer query filtered to the force's LADs."""
    if not manifest.force_lads:
        raise _Failed("the manifest lists no force_lads to filter on")
    opts = ds.download
    as_csv = opts.get("format") == "csv"
    codes = ",".join(f"'{code}'" for code in manifest.force_lads)
    params = {
        "where": f"{opts['filter_field']} IN ({codes})",
        "outFields": "*",
        "outSR": "4326",
        "f": "geojson",
        "returnGeometry": "false" if as_csv else "true",
        "resultRecordCount": str(opts.get("page_size", 1000)),
    }
    features: list[dict] = []
    while True:
        params["resultOffset"] = str(len(features))
        url = f"{ds.url}?{urllib.parse.urlencode(params)}"
        with _open_url(url, timeout) as response:
            try:
                page = json.load(response)
            except (ValueError, UnicodeDecodeError):
                raise _Failed("the answer is not JSON") from None
        if not isinstance(page, dict) or not isinstance(page.get("features"), list):
            error = page.get("error", {}) if isinstance(page, dict) else {}
            problem = f"ArcGIS error {error.get('code')}: {error.get('message')}" if error else ""
            raise _Failed(problem or "the answer is not a GeoJSON FeatureCollection")
        features.extend(page["features"])
        flags = (page, page.get("properties") or {})  # top level or under properties
        if not any(f.get("exceededTransferLimit") for f in flags):
            break
        if not page["features"]:
            raise _Failed("an empty page claims more features follow")
    for feature in features:
        props = feature.get("properties") or {}
        feature["properties"] = {
            k: v for k, v in props.items() if k.lower() not in _ARCGIS_BOOKKEEPING
        }
    with _open_out(tmp, gz=ds.path.endswith(".gz")) as out:
        if as_csv:
            fields = list(dict.fromkeys(k for f in features for k in f["properties"]))
            writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
            writer.writeheader()
            writer.writerows(f["properties"] for f in features)
        else:
            json.dump({"type": "FeatureCollection", "features": features}, out)
    return len(features)


def _csv_filter(ds: Dataset, manifest: Manifest, tmp: Path, timeout: float) -> int:
    """Keep the header and the rows whose ``filter_column`` is one of ``filter_values``."""
    wanted = {str(v).strip() for v in ds.download["filter_values"]}
    column = ds.download["filter_column"].lower()
    with _temp_path(tmp, ".download") as raw, contextlib.ExitStack() as stack:
        _download_to(ds.url, raw, timeout)
        if zipfile.is_zipfile(raw):
            archive = stack.enter_context(zipfile.ZipFile(raw))
            members = [n for n in archive.namelist() if n.lower().endswith(".csv")]
            if len(members) != 1:
                raise _Failed(f"the zip holds {len(members)} CSV files, not one")
            binary = stack.enter_context(archive.open(members[0]))
        else:
            binary = stack.enter_context(raw.open("rb"))
        text = stack.enter_context(io.TextIOWrapper(binary, encoding="utf-8-sig", newline=""))
        out = stack.enter_context(_open_out(tmp, gz=ds.path.endswith(".gz")))
        try:
            reader = csv.reader(text)
            header = next(reader, [])
            lowered = [h.strip().lower() for h in header]
            if column not in lowered:
                raise _Failed(f"the CSV has no column {ds.download['filter_column']!r}")
            index = lowered.index(column)
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(header)
            kept = 0
            for row in reader:
                if len(row) > index and row[index].strip() in wanted:
                    writer.writerow(row)
                    kept += 1
        except (UnicodeDecodeError, csv.Error) as exc:
            raise _Failed(f"not a readable UTF-8 CSV ({exc})") from None
    return kept


def _police_uk_archive(ds: Dataset, manifest: Manifest, tmp: Path, timeout: float) -> int:
    """Concatenate the force's monthly street files in the month range, one header."""
    force, (first, last) = ds.download["force"], ds.download["months"]
    pattern = re.compile(rf"(?:^|/)(\d{{4}}-\d{{2}})-{re.escape(force)}-street\.csv$")
    with _temp_path(tmp, ".zip") as raw:
        _download_to(ds.url, raw, timeout)
        try:
            archive = zipfile.ZipFile(raw)
        except zipfile.BadZipFile:
            raise _Failed("the answer is not a zip archive") from None
        with archive, _open_out(tmp, gz=True) as out:
            members = {}
            for name in archive.namelist():
                match = pattern.search(name)
                if match and first <= match.group(1) <= last:
                    members[match.group(1)] = name
            missing = [m for m in _months(first, last) if m not in members]
            if missing:
                raise _Failed(f"the archive lacks {force} street files for {', '.join(missing)}")
            rows, header = 0, None
            for month in sorted(members):
                with io.TextIOWrapper(
                    archive.open(members[month]), encoding="utf-8-sig", newline=""
                ) as lines:
                    top = lines.readline()
                    if header is None:
                        header = top if top.endswith("\n") else top + "\n"
                        out.write(header)
                    elif top.strip() != header.strip():
                        raise _Failed(f"{members[month]} has a different header")
                    for line in lines:
                        out.write(line if line.endswith("\n") else line + "\n")
                        rows += 1
    return rows


def _months(first: str, last: str) -> list[str]:
    """Every YYYY-MM from ``first`` to ``last`` inclusive."""
    year, month = map(int, first.split("-"))
    out = []
    while f"{year:04d}-{month:02d}" <= last:
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


_KINDS = {
    "arcgis_query": _arcgis_query,
    "csv_filter": _csv_filter,
    "police_uk_archive": _police_uk_archive,
}


# --- police.uk months -----------------------------------------------------------------------

POLICE_UK_ARCHIVE_URL = "https://data.police.uk/data/archive/{month}.zip"
"""Address of police.uk's archive for one month; ``{month}`` is YYYY-MM."""

POLICE_UK_FORCE = FORCE
"""The force's police.uk slug (:data:`psa_geo.crime_files.FORCE`, the one place it is set), as
in ``2024-03/2024-03-devon-and-cornwall-street.csv``."""

ARCHIVE_MONTHS = 36
"""Months each police.uk archive holds: the 36 up to and including its own month."""

ARCHIVE_PROBES = 6
"""Archives tried, stepping back a month on each HTTP 404, to find the newest published one."""

DISK_MARGIN = 0.10
DISK_SLACK = 100 * 2**20
"""Free space needed before a download: the archive's size plus 10% plus 100 MiB."""


@dataclasses.dataclass(frozen=True)
class FetchedMonths:
    """What :func:`fetch_police_uk_months` wrote.

    Attributes
    ----------
    first, last
        The month range asked for (YYYY-MM).
    written
        The monthly street files written, ``crime/YYYY-MM/YYYY-MM-<force>-street.csv``.
    months
        The months written, oldest first.
    missing
        The months of the range no archive held a street file for.
    archives
        The archive addresses read, newest first.
    """

    first: str
    last: str
    written: list[Path]
    months: list[str]
    missing: list[str]
    archives: list[str]


def parse_month_range(text: str) -> tuple[str, str]:
    """``"2023-04:2026-03"`` (or one month, ``"2024-05"``) as (first, last) YYYY-MM."""
    first, _, last = str(text).strip().partition(":")
    last = last or first
    for month in (first, last):
        if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month.strip()):
            raise PsaGeoError(
                f"--months {text!r}: write a month range as YYYY-MM:YYYY-MM, e.g. 2023-04:2026-03"
            )
    first, last = first.strip(), last.strip()
    if first > last:
        raise PsaGeoError(f"--months {text!r}: the first month is after the last")
    return first, last


def fetch_police_uk_months(
    data_dir: str | Path | None = None,
    *,
    months: tuple[str, str] | None = None,
    latest: int | None = None,
    force: str = POLICE_UK_FORCE,
    archive_url: str | None = None,
    today: dt.date | None = None,
    timeout: float = 60.0,
) -> FetchedMonths:
    """Download police.uk archives and keep the force's monthly street files.

    The archive ``YYYY-MM.zip`` holds every force's files for the :data:`ARCHIVE_MONTHS`
    months up to YYYY-MM. The newest archive that, with as few archives as possible, still
    reaches back to the first month is found by trying ``min(this month, first + 36k - 1)``
    (k archives for the range) and stepping back a month on each HTTP 404, at most
    :data:`ARCHIVE_PROBES` times; older months come from the archive 36 months before it,
    and so on. Each archive is streamed to a temporary file beside the target (after checking
    the free disk space against its size), only the force's street files are extracted, and
    the archive is deleted before the next. Nothing is written unless every archive was read.

    Parameters
    ----------
    data_dir
        Where to write (default :func:`resolve_data_dir`); files go to its ``crime/`` folder.
    months
        (first, last) YYYY-MM, inclusive; see :func:`parse_month_range`.
    latest
        Instead of ``months``: the latest N months police.uk has published.
    force
        The force's police.uk slug (default :data:`POLICE_UK_FORCE`).
    archive_url
        The archive address with ``{month}`` (default :data:`POLICE_UK_ARCHIVE_URL`).
    today
        The date that decides the newest archive tried (default: today).
    timeout
        Seconds to wait for each network operation.

    Returns
    -------
    FetchedMonths
        The files written and the months of the range that no archive held.

    Raises
    ------
    MissingDataError
        A download failed (HTTP error, a truncated or non-zip answer, too little disk space),
        or no month of the range was found. One line naming the address or file.
    """
    if (months is None) == (latest is None):
        raise PsaGeoError("give either months=(first, last) or latest=N")
    if latest is not None and (not isinstance(latest, int) or latest < 1):
        raise PsaGeoError(f"latest must be a whole number of months, at least 1; got {latest!r}")
    template = archive_url or POLICE_UK_ARCHIVE_URL
    this_month = _month_index(f"{(today or dt.date.today()):%Y-%m}")
    crime = resolve_data_dir(data_dir) / "crime"
    crime.mkdir(parents=True, exist_ok=True)
    pattern = re.compile(rf"(?:^|/)(\d{{4}}-\d{{2}})-{re.escape(force)}-street\.csv$")
    stage = Path(tempfile.mkdtemp(dir=crime, prefix=".fetch-"))
    try:
        if latest is not None:
            newest, response = _open_newest(template, this_month, timeout)
            first, last = _month_text(newest - latest + 1), _month_text(newest)
        else:
            first, last = parse_month_range(":".join(months))
            count = _month_index(last) - _month_index(first) + 1
            archives = -(-count // ARCHIVE_MONTHS)
            start = min(this_month, _month_index(first) + archives * ARCHIVE_MONTHS - 1)
            newest, response = _open_newest(template, start, timeout)
            if newest < _month_index(first):
                response.close()
                raise MissingDataError(
                    f"police.uk's newest archive, {template.format(month=_month_text(newest))}, "
                    f"ends before {first}: none of {first}:{last} is published yet"
                )
        wanted = set(_months(first, last))
        found: dict[str, Path] = {}
        read: list[str] = []
        archive = newest
        while True:
            url = template.format(month=_month_text(archive))
            read.append(url)
            if response is None:
                response = _open_archive(url, timeout)
            found |= _extract_force_months(url, response, stage, pattern, wanted - set(found))
            response = None
            oldest = archive - ARCHIVE_MONTHS + 1
            if oldest <= _month_index(first):
                break
            archive -= ARCHIVE_MONTHS
        missing = sorted(wanted - set(found))
        if not found:
            raise MissingDataError(
                f"no {force} street file for any month of {first}:{last} in {', '.join(read)}"
            )
        written = []
        for month in sorted(found):
            dst = crime / month / f"{month}-{force}-street.csv"
            dst.parent.mkdir(exist_ok=True)
            os.replace(found[month], dst)
            written.append(dst)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    log.info("police.uk: wrote %d months, %s to %s, to %s", len(written), first, last, crime)
    if missing:
        log.warning("police.uk has no %s street file for %s", force, ", ".join(missing))
    return FetchedMonths(first, last, written, sorted(found), missing, read)


class _NotFound(MissingDataError):
    """HTTP 404 for an archive address."""


def _month_index(month: str) -> int:
    year, mon = map(int, month.split("-"))
    return year * 12 + mon - 1


def _month_text(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _open_archive(url: str, timeout: float):
    """Open an archive address as a streaming HTTP response; one-line error on failure."""
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    try:
        return urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        error = _NotFound if exc.code == 404 else MissingDataError
        raise error(f"police.uk archive {url}: download failed (HTTP {exc.code})") from None
    except urllib.error.URLError as exc:
        reason = "timed out" if isinstance(exc.reason, TimeoutError) else exc.reason
        raise MissingDataError(f"police.uk archive {url}: cannot connect ({reason})") from None
    except (OSError, http.client.HTTPException) as exc:
        raise MissingDataError(
            f"police.uk archive {url}: download failed ({type(exc).__name__} {exc})"
        ) from None


def _open_newest(template: str, start: int, timeout: float):
    """(month index, open response) of the newest archive at or before ``start``."""
    for back in range(ARCHIVE_PROBES):
        url = template.format(month=_month_text(start - back))
        try:
            return start - back, _open_archive(url, timeout)
        except _NotFound:
            log.info("police.uk: no archive at %s", url)
    raise MissingDataError(
        f"no police.uk archive at {template} for any month from {_month_text(start)} back to "
        f"{_month_text(start - ARCHIVE_PROBES + 1)} (HTTP 404 for each)"
    )


def _extract_force_months(
    url: str, response, stage: Path, pattern: re.Pattern, wanted: set[str]
) -> dict[str, Path]:
    """Stream one archive to ``stage``, check it, extract the wanted months; month -> file."""
    raw = stage / "archive.zip.part"
    with response:
        size = response.headers.get("Content-Length")
        expected = int(size) if size and size.isdigit() else None
        _check_disk_space(url, stage, expected)
        start = time.monotonic()
        log.info("police.uk: downloading %s (%s)", url, _size_text(expected))
        got = 0
        try:
            with raw.open("wb") as out:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                    got += len(chunk)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise MissingDataError(f"{raw}: the disk is full while downloading {url}") from None
            if not isinstance(exc, TimeoutError | ConnectionError):
                raise
            raise MissingDataError(
                f"police.uk archive {url}: download broken off after {got} bytes ({exc})"
            ) from None
        except http.client.HTTPException as exc:
            raise MissingDataError(
                f"police.uk archive {url}: download broken off after {got} bytes "
                f"({type(exc).__name__})"
            ) from None
    if expected is not None and got != expected:
        raise MissingDataError(
            f"police.uk archive {url}: truncated download ({got} of {expected} bytes)"
        )
    log.info("police.uk: %s downloaded in %.1f s", url, time.monotonic() - start)
    out: dict[str, Path] = {}
    try:
        with zipfile.ZipFile(raw) as archive:
            members = {}
            for name in archive.namelist():
                match = pattern.search(name)
                if match and match.group(1) in wanted:
                    members[match.group(1)] = name
            for month, name in sorted(members.items()):
                path = stage / f"{month}.csv"
                try:
                    with archive.open(name) as src, path.open("wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
                except OSError as exc:
                    if exc.errno == errno.ENOSPC:
                        raise MissingDataError(
                            f"{path}: the disk is full while extracting {name} from {url}"
                        ) from None
                    raise
                out[month] = path
    except (zipfile.BadZipFile, EOFError, zlib.error, NotImplementedError) as exc:
        raise MissingDataError(
            f"police.uk archive {url}: not a readable zip archive (truncated or not a zip: {exc})"
        ) from None
    finally:
        raw.unlink(missing_ok=True)
    log.info("police.uk: %d months from %s", len(out), url)
    return out


def _check_disk_space(url: str, folder: Path, size: int | None) -> None:
    if size is None:
        log.warning("police.uk: %s gives no size; cannot check the free disk space first", url)
        return
    need = int(size * (1 + DISK_MARGIN)) + DISK_SLACK
    free = shutil.disk_usage(folder).free
    if free < need:
        raise MissingDataError(
            f"{folder}: too little free disk space for {url} ({_size_text(size)}): "
            f"{_size_text(free)} free, {_size_text(need)} needed"
        )


def _size_text(size: int | None) -> str:
    if size is None:
        return "size unknown"
    return f"{size / 2**30:.2f} GB" if size >= 2**30 else f"{size / 2**20:.1f} MB"
