"""Download the manifest's datasets from their publishers and cut them to the force area."""

from __future__ import annotations

import contextlib
import csv
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
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from ._version import __version__
from .datadir import Dataset, Manifest, load_manifest, resolve_data_dir
from .errors import MissingDataError

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
