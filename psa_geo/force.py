"""The force definition: what is particular to one police force area (or part of one).

The default is ``boundaries/devon_and_cornwall.toml``; ``--force FILE`` (``force=``) replaces
it. Every key is described in that file.
"""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .datadir import project_file
from .errors import InputFileError

DEFAULT_FILE = "boundaries/devon_and_cornwall.toml"
_CODE = re.compile(r"^[EW]\d{8}$")
_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_KEYS = {
    "": ({"name", "police_uk", "part_of_force", "parent", "csp"}, {"sections"}),
    "parent": ({"code", "name", "short_name"}, set()),
    "csp": ({"code", "name", "label", "lads"}, set()),
    "sections": (
        set(),
        {"towns", "corridor", "stats19_police_force", "rough_sleeping_snapshot"},
    ),
}


@dataclass(frozen=True)
class Csp:
    """One Community Safety Partnership: ONS code and name, the label pages use, and its
    LADs as ``(code, name)`` pairs."""

    code: str
    name: str
    label: str
    lads: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Force:
    """A force definition (:func:`load_force`).

    ``name`` is police.uk's "Falls within" value and ``police_uk`` its slug; the parent area
    (level ``peninsula``) has ``parent_code``, ``parent_name`` and the short ``parent_label``
    used in headings. ``part_of_force`` marks an area that is part of the police force area:
    its parent total is then of located events only. ``towns`` and ``corridor`` are files,
    ``stats19_police_force`` STATS19 force codes and ``rough_sleeping_snapshot`` a dataset
    name of the manifest: the sections that only run when named.
    """

    name: str
    police_uk: str
    parent_code: str
    parent_name: str
    parent_label: str
    csps: tuple[Csp, ...]
    part_of_force: bool = False
    towns: Path | None = None
    corridor: Path | None = None
    stats19_police_force: tuple[int, ...] = ()
    rough_sleeping_snapshot: str | None = None
    path: Path | None = None

    def __deepcopy__(self, memo):  # immutable; kept in DataFrame.attrs, which pandas deep-copies
        return self

    @property
    def lad_codes(self) -> tuple[str, ...]:
        return tuple(code for csp in self.csps for code, _ in csp.lads)

    @property
    def area_text(self) -> str:
        """How pages name the whole area ("the Devon & Cornwall Police area")."""
        return self.parent_name if self.part_of_force else f"the {self.name} area"

    @property
    def place(self) -> str | None:
        """The area's name for the titles of maps and pages, or None for the default
        definition (whose pages keep their titles)."""
        return None if self.path == project_file(DEFAULT_FILE) else self.parent_name

    @property
    def the_parent(self) -> str:
        """The short name as a sentence uses it: "the Peninsula" (one word), else as it is."""
        return f"the {self.parent_label}" if " " not in self.parent_label else self.parent_label

    def membership(self) -> pd.DataFrame:
        """The LAD → CSP table: ``lad_code, lad_name, csp_code, csp_name, csp_label``."""
        rows = [
            (lad, lad_name, csp.code, csp.name, csp.label)
            for csp in self.csps
            for lad, lad_name in csp.lads
        ]
        return pd.DataFrame(
            rows, columns=["lad_code", "lad_name", "csp_code", "csp_name", "csp_label"]
        )


def load_force(force: str | Path | Force | None = None) -> Force:
    """The force definition in the TOML file ``force`` (default
    ``boundaries/devon_and_cornwall.toml``); a :class:`Force` is returned as it is.

    Raises :class:`InputFileError` naming the file and every problem (unknown or missing
    keys, bad codes, a LAD in two CSPs) in one line.
    """
    if isinstance(force, Force):
        return force
    if force is None:
        return _default_force()
    return _read(Path(force))


def force_of(frame: pd.DataFrame) -> Force:
    """The force stored in ``frame.attrs["force"]`` by :func:`psa_geo.load_areas`, else the
    default definition."""
    force = frame.attrs.get("force")
    return force if isinstance(force, Force) else _default_force()


@functools.cache
def _default_force() -> Force:
    return _read(project_file(DEFAULT_FILE))


def _read(path: Path) -> Force:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputFileError(path, f"cannot read the force definition ({exc.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputFileError(path, f"not a readable TOML force definition ({exc})") from None
    problems: list[str] = []
    _check_keys(raw, "", problems)
    parent = raw.get("parent") if isinstance(raw.get("parent"), dict) else {}
    _check_keys(parent, "parent", problems)
    sections = raw.get("sections", {})
    if not isinstance(sections, dict):
        problems.append("[sections] should be a table")
        sections = {}
    _check_keys(sections, "sections", problems)
    csps = []
    entries = raw.get("csp", [])
    if not isinstance(entries, list) or not entries:
        problems.append("[[csp]] should list at least one CSP")
        entries = []
    seen_lads: dict[str, str] = {}
    for i, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            problems.append(f"CSP {i} is not a table")
            continue
        _check_keys(entry, "csp", problems, where=f"CSP {i}")
        code = _text(entry, "code", problems, where=f"CSP {i}")
        if code and not _CODE.match(code):
            problems.append(f"CSP {i} code {code!r} is not an ONS code like E22000356")
        lads = entry.get("lads", {})
        if not isinstance(lads, dict) or not lads:
            problems.append(f"CSP {i} lads should be a table of LAD code = name")
            lads = {}
        for lad, lad_name in lads.items():
            if not _CODE.match(lad):
                problems.append(f"CSP {i} LAD {lad!r} is not an ONS code like E06000052")
            if lad in seen_lads:
                problems.append(f"LAD {lad} is in two CSPs ({seen_lads[lad]} and {code})")
            seen_lads[lad] = code
            if not isinstance(lad_name, str) or not lad_name.strip():
                problems.append(f"CSP {i} LAD {lad} has no name")
        csps.append(
            Csp(
                code=code,
                name=_text(entry, "name", problems, where=f"CSP {i}"),
                label=_text(entry, "label", problems, where=f"CSP {i}"),
                lads=tuple((lad, str(n)) for lad, n in lads.items()),
            )
        )
    codes = [c.code for c in csps]
    for code in {c for c in codes if codes.count(c) > 1}:
        problems.append(f"CSP {code} is defined twice")
    slug = _text(raw, "police_uk", problems)
    if slug and not _SLUG.match(slug):
        problems.append(f"police_uk {slug!r} is not a police.uk slug like devon-and-cornwall")
    parent_code = _text(parent, "code", problems, where="[parent]")
    if parent_code and not _CODE.match(parent_code):
        problems.append(f"[parent] code {parent_code!r} is not an ONS code like E23000035")
    part = raw.get("part_of_force", False)
    if not isinstance(part, bool):
        problems.append("part_of_force should be true or false")
    forces = sections.get("stats19_police_force", [])
    if not isinstance(forces, list) or not all(
        isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= 99 for n in forces
    ):
        problems.append("[sections] stats19_police_force should be a list of codes 1-99")
        forces = []
    files = {}
    for key in ("towns", "corridor"):
        value = sections.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            problems.append(f"[sections] {key} should be a file name")
        elif value is not None:
            files[key] = (path.parent / value).resolve()
    snapshot = sections.get("rough_sleeping_snapshot")
    if snapshot is not None and (not isinstance(snapshot, str) or not snapshot.strip()):
        problems.append("[sections] rough_sleeping_snapshot should be a dataset name")
    if problems:
        raise InputFileError(path, "; ".join(problems))
    return Force(
        name=_text(raw, "name", problems),
        police_uk=slug,
        parent_code=parent_code,
        parent_name=_text(parent, "name", problems, where="[parent]"),
        parent_label=_text(parent, "short_name", problems, where="[parent]"),
        csps=tuple(csps),
        part_of_force=part,
        towns=files.get("towns"),
        corridor=files.get("corridor"),
        stats19_police_force=tuple(forces),
        rough_sleeping_snapshot=snapshot,
        path=path,
    )


def _check_keys(table: dict, section: str, problems: list[str], *, where: str = "") -> None:
    required, optional = _KEYS[section]
    where = where or (f"[{section}]" if section else "the file")
    for key in sorted(set(table) - required - optional):
        problems.append(f"unknown key {key!r} in {where}")
    for key in sorted(required - set(table)):
        problems.append(f"missing key {key!r} in {where}")


def _text(table: dict, key: str, problems: list[str], *, where: str = "the file") -> str:
    value = table.get(key, "")
    if key in table and (not isinstance(value, str) or not value.strip()):
        problems.append(f"{key!r} in {where} should be non-empty text")
        return ""
    return value
