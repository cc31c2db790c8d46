"""The data directory: the dataset manifest, where files live, and filling it from a mirror."""

from __future__ import annotations

import json
import logging
import os
import shutil
import tomllib
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InputFileError, MissingDataError

log = logging.getLogger(__name__)

_PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_DATA_DIR = Path("data") / "raw"


def project_file(relative: str) -> Path:
    """A file of the project's own (``boundaries/...`` or ``data/manifest.toml``).

    Found beside the package in a source checkout, or inside it in an installed wheel.
    """
    for base in (_PACKAGE_DIR / "_project", _PACKAGE_DIR.parent):
        candidate = base / relative
        if candidate.exists():
            return candidate
    raise MissingDataError(f"psa_geo's own file {relative!r} is missing from the installation")


def resolve_data_dir(data_dir: str | Path | None = None) -> Path:
    """``data_dir``, else ``$PSA_GEO_DATA_DIR``, else ``./data/raw``."""
    if data_dir is not None:
        return Path(data_dir)
    env = os.environ.get("PSA_GEO_DATA_DIR")
    return Path(env) if env else DEFAULT_DATA_DIR


def resolve_mirror(mirror: str | Path | None = None) -> Path | None:
    """``mirror``, else ``$PSA_GEO_MIRROR``, else None."""
    if mirror is not None:
        return Path(mirror)
    env = os.environ.get("PSA_GEO_MIRROR")
    return Path(env) if env else None


@dataclass(frozen=True)
class Dataset:
    """One manifest entry."""

    name: str
    title: str
    path: str
    publisher: str
    licence: str
    columns: tuple[str, ...] = ()
    required: bool = False
    origin: str = "mirror"
    url: str | None = None
    download: dict = field(default_factory=dict)
    group: str | None = None
    period_column: str | None = None


@dataclass(frozen=True)
class Manifest:
    """The datasets psa_geo knows, and the force's LAD codes used to cut downloads."""

    datasets: dict[str, Dataset]
    force_lads: tuple[str, ...]

    def __getitem__(self, name: str) -> Dataset:
        try:
            return self.datasets[name]
        except KeyError:
            raise MissingDataError(
                f"no dataset {name!r} in the manifest; known: {', '.join(self.datasets)}"
            ) from None

    def group(self, group: str) -> list[Dataset]:
        return [d for d in self.datasets.values() if d.group == group]


def load_manifest(path: str | Path | None = None) -> Manifest:
    """Read the dataset manifest (default: the project's ``data/manifest.toml``)."""
    path = Path(path) if path is not None else project_file("data/manifest.toml")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InputFileError(path, f"cannot read the manifest ({exc})") from None
    datasets = {}
    for name, entry in raw.get("datasets", {}).items():
        entry = dict(entry)
        entry["columns"] = tuple(entry.get("columns", ()))
        try:
            datasets[name] = Dataset(name=name, **entry)
        except TypeError as exc:
            raise InputFileError(path, f"dataset {name!r}: {exc}") from None
    return Manifest(datasets=datasets, force_lads=tuple(raw.get("force_lads", ())))


def dataset_path(
    name: str, data_dir: str | Path | None = None, *, manifest: Manifest | None = None
) -> Path:
    """The path of dataset ``name`` in the data directory; a clear error if it is missing."""
    manifest = manifest or load_manifest()
    ds = manifest[name]
    path = resolve_data_dir(data_dir) / ds.path
    if not path.exists():
        raise MissingDataError(
            f"{path}: dataset {name!r} ({ds.title}) is missing; "
            f"run 'psa-geo data fetch --mirror DIR' (or set PSA_GEO_MIRROR) to fetch it"
        )
    return path


def require_datasets(
    data_dir: str | Path | None = None, *, manifest: Manifest | None = None
) -> None:
    """Raise one MissingDataError naming every required dataset that is missing."""
    manifest = manifest or load_manifest()
    base = resolve_data_dir(data_dir)
    missing = [
        d.name for d in manifest.datasets.values() if d.required and not (base / d.path).exists()
    ]
    if missing:
        raise MissingDataError(
            f"{base}: {len(missing)} required datasets are missing ({', '.join(missing)}); "
            "run 'psa-geo data fetch --mirror DIR' (or set PSA_GEO_MIRROR) to fetch them"
        )


def fetch_from_mirror(
    mirror: str | Path,
    data_dir: str | Path | None = None,
    *,
    manifest: Manifest | None = None,
    names: list[str] | None = None,
) -> list[Path]:
    """Copy the manifest's datasets from a local mirror with the same layout.

    Files already present with the same size are left alone. Returns the paths written.
    """
    manifest = manifest or load_manifest()
    mirror = Path(mirror)
    if not mirror.is_dir():
        raise MissingDataError(f"{mirror}: the mirror directory does not exist")
    unknown = sorted(set(names or ()) - set(manifest.datasets))
    if unknown:
        raise MissingDataError(
            f"no dataset {', '.join(map(repr, unknown))} in the manifest; "
            f"known: {', '.join(manifest.datasets)}"
        )
    target = resolve_data_dir(data_dir)
    written = []
    missing = []
    for ds in manifest.datasets.values():
        if names and ds.name not in names:
            continue
        src = mirror / ds.path
        if not src.exists():
            missing.append(ds)
            continue
        dst = target / ds.path
        if dst.exists() and dst.stat().st_size == src.stat().st_size:
            log.info("%s: already present", ds.name)
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
        log.info("%s: copied %s", ds.name, ds.path)
        written.append(dst)
    required_missing = [ds.name for ds in missing if ds.required]
    for ds in missing:
        log.warning("%s: not in the mirror %s (%s)", ds.name, mirror, ds.path)
    if required_missing:
        raise MissingDataError(
            f"{mirror}: the mirror lacks required datasets: {', '.join(required_missing)}"
        )
    return written


@dataclass(frozen=True)
class DatasetStatus:
    name: str
    path: str
    present: bool
    rows: int | None
    period: str | None
    licence: str
    problem: str | None = None


def dataset_status(
    data_dir: str | Path | None = None, *, manifest: Manifest | None = None
) -> list[DatasetStatus]:
    """Present or missing, row count, period covered and licence, for every dataset."""
    manifest = manifest or load_manifest()
    base = resolve_data_dir(data_dir)
    out = []
    for ds in manifest.datasets.values():
        path = base / ds.path
        if not path.exists():
            out.append(DatasetStatus(ds.name, str(path), False, None, None, ds.licence))
            continue
        try:
            rows, period, problem = _inspect(path, ds)
        except (OSError, ValueError, KeyError, EOFError, zlib.error) as exc:
            rows, period, problem = None, None, f"unreadable: {exc}"
        out.append(DatasetStatus(ds.name, str(path), True, rows, period, ds.licence, problem))
    return out


def _inspect(path: Path, ds: Dataset) -> tuple[int, str | None, str | None]:
    if path.suffix == ".geojson":
        features = json.loads(path.read_text(encoding="utf-8"))["features"]
        names = set(features[0]["properties"]) if features else set()
        missing = [c for c in ds.columns if c not in names]
        return len(features), None, (f"missing columns: {', '.join(missing)}" if missing else None)
    import pandas as pd

    header = pd.read_csv(path, nrows=0, encoding="utf-8-sig").columns
    missing = [c for c in ds.columns if c not in header]
    usecols = [ds.period_column] if ds.period_column in header else [header[0]]
    frame = pd.read_csv(path, usecols=usecols, dtype=str, encoding="utf-8-sig")
    period = None
    if ds.period_column in frame:
        values = frame[ds.period_column].dropna()
        if len(values):
            period = f"{values.min()} to {values.max()}"
    return len(frame), period, (f"missing columns: {', '.join(missing)}" if missing else None)
