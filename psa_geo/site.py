"""The output site: written beside ``--out`` and swapped in whole, so it is never half written.

``psa-geo build`` owns its output folder (the *site*, ``maps/`` by default):

- **Ownership.** A site holds a marker file, :data:`MARKER`. A build refuses to replace a
  non-empty folder without one (``--out .`` or ``--out ~`` are refused); an empty or absent
  folder is fine, and so is a folder from a psa-geo version before the marker (a
  ``run_report.json`` with ``psa_geo_version``), which is then adopted.
- **One writer.** Every writing command takes an exclusive ``fcntl.flock`` on
  ``.<name>.psa-geo-lock`` beside the site (the OS frees it when the process dies, however
  it dies); a second writer fails at once in one line.
- **Checked first.** ``--out`` is resolved once (it may itself be a link to a folder), and
  the site and the folder beside it are checked writable before any data is read.
- **Written beside, swapped in.** A build writes the new site into
  ``.<name>.psa-geo-new`` beside the site (same file system), hard-links or copies over the
  files psa-geo did not write (any file not listed in the previous ``run_report.json``, such
  as ``maps/README.md``; a link is copied as a link, never followed), writes
  ``run_report.json`` last with ``"complete": true``, and swaps with two renames: the site
  to ``.<name>.psa-geo-old``, the new site to the site's name; then the old one is removed.
  A partial command (``profile``, ``hotspots``, ``corridor``, ``collisions``) does the same
  with its subfolder: ``towns/`` is written beside the site as ``.maps.psa-geo-new.towns``
  and swapped in (the old one moved to ``.maps.psa-geo-old.towns``), and
  ``run_report.json`` is replaced by a temporary file and ``os.replace``, so its list of
  outputs stays true. Nothing temporary is ever inside the site.
- **Recovery.** Killed between the two renames, the site's name is missing and
  ``.<name>.psa-geo-old`` holds the previous complete site. The next command that takes the
  lock (:func:`recover`) renames it back, so the previous site is restored; a leftover
  ``.psa-geo-old`` beside an existing site (killed after the second rename) is removed, and
  so is any ``.psa-geo-new`` folder (killed before the swap); subfolders alike. For a
  subfolder, the new ``run_report.json`` waits as ``.<name>.psa-geo-report.<folder>`` until
  the swap is done: at the next start it is applied if the new subfolder is in place (no
  ``.psa-geo-new`` left) and dropped otherwise.
- **Errors.** An ``OSError`` (a full disk: ``ENOSPC``, ``EDQUOT``) or a pyogrio/GDAL write
  error while the site is being written becomes one :class:`~psa_geo.errors.PsaGeoError`
  naming the file being written (the newest file of the new site when the error does not
  say), and the previous site stays as it was.

This protects against a process that dies (killed, out of memory, a full disk); it does not
``fsync``, so a power cut can still lose the page cache's latest writes.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import re
import shutil
import stat
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from ._version import __version__
from .errors import PsaGeoError
from .faults import fault_point

log = logging.getLogger(__name__)

#: The marker file of a folder psa-geo made (its content is fixed, so a copy kept in git
#: stays unchanged).
MARKER = ".psa-geo-site"
MARKER_TEXT = (
    "This folder is a site written by psa-geo: each build replaces it whole.\n"
    "Files psa-geo did not write (not listed in run_report.json) are carried over.\n"
)
REPORT = "run_report.json"
_NEW, _OLD, _LOCK = ".psa-geo-new", ".psa-geo-old", ".psa-geo-lock"
_TRANSIENT = re.compile(r"^\.(.+)\.psa-geo-(new|old|report|tmp)$")


def resolve_out(out_dir: str | Path) -> Path:
    """The site's real path: ``~`` expanded and links resolved, once."""
    return Path(out_dir).expanduser().resolve()


def lock_path(out: Path) -> Path:
    """The lock file beside the site ``out``."""
    return out.parent / f".{out.name}{_LOCK}"


def is_site(out: Path) -> bool:
    """True when ``out`` is a folder psa-geo made: its marker, or a report of an older
    psa-geo (before the marker). Neither is followed if it is a link."""
    if _is_file(out / MARKER):
        return True
    report = read_report(out)
    return report is not None and "psa_geo_version" in report


def read_report(out: Path) -> dict | None:
    """``out/run_report.json`` as a dict, or None when absent, a link, or unreadable."""
    path = out / REPORT
    if not _is_file(path):
        return None
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return report if isinstance(report, dict) else None


def write_report(folder: Path, report: dict) -> Path:
    """Write ``folder/run_report.json`` with ``"complete": true`` by a temporary file and
    ``os.replace`` (a link there is replaced, never written through)."""
    path = folder / REPORT
    _write_replace(path, json.dumps({**report, "complete": True}, indent=2, ensure_ascii=False))
    return path


class SiteLock:
    """An exclusive ``flock`` on the lock file beside the site; a second holder fails at once."""

    def __init__(self, out: Path) -> None:
        self.path = lock_path(out)
        self.out = out
        self.fd: int | None = None

    def __enter__(self) -> SiteLock:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise PsaGeoError(
                f"cannot create the lock file {self.path} beside the output folder: {exc.strerror}"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise PsaGeoError(
                    f"{self.out}: another psa-geo command is writing this folder (it holds "
                    f"{self.path}); wait for it to finish or choose another --out"
                ) from None
            raise
        self.fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing frees the flock
            self.fd = None


def check_writable(out: Path) -> None:
    """Refuse, before any work, a site that cannot be written: not a folder, or the site or
    the folder beside it read-only. Creates the folders above ``out`` if missing."""
    if os.path.lexists(out) and not out.is_dir():
        raise PsaGeoError(f"{out}: the output folder is a file, not a folder; choose a folder")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PsaGeoError(
            f"{out.parent}: cannot create the output folder: {exc.strerror}"
        ) from None
    for folder in (out.parent, out) if out.is_dir() else (out.parent,):
        try:
            fd, probe = tempfile.mkstemp(dir=folder, prefix=f".{out.name}.psa-geo-probe-")
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise PsaGeoError(
                f"{folder}: the output folder{' (or the folder it is in)' * (folder != out)} "
                f"is not writable ({exc.strerror}); choose another --out"
            ) from None


def check_owned(out: Path) -> None:
    """Refuse a non-empty folder psa-geo did not make (no :data:`MARKER`)."""
    if out.is_dir() and not is_site(out) and not _is_empty(out):
        raise PsaGeoError(
            f"{out}: the output folder is not empty and was not written by psa-geo (no "
            f"{MARKER} file), so it is not replaced; choose an empty or new folder with --out"
        )


def recover(out: Path) -> list[str]:
    """Finish or undo an interrupted swap of the site ``out`` and of its subfolders, and
    remove leftover new folders; hold the lock first. Returns what was done, in words."""
    done: list[str] = []
    old, new = _beside(out, _OLD), _beside(out, _NEW)
    if os.path.lexists(old):
        if not os.path.lexists(out):
            os.rename(old, out)
            done.append(f"restored the previous site {out} after an interrupted swap")
        else:
            _remove(old)
            done.append(f"removed {old}, left by a finished swap")
    if os.path.lexists(new):
        _remove(new)
        done.append(f"removed {new}, left by an interrupted build")
    done += _recover_subfolders(out)
    for line in done:
        log.warning("%s", line)
    return done


def _recover_subfolders(out: Path) -> list[str]:
    """The same for the subfolders of partial commands, staged beside the site."""
    done = []
    names = set(os.listdir(out.parent))
    pattern = re.compile(rf"^\.{re.escape(out.name)}\.psa-geo-(new|old|report|tmp)\.(.+)$")
    for name in sorted(names):
        match = pattern.match(name)
        if not match:
            continue
        kind, target = match.groups()
        path = out.parent / name
        staged = _sub(out, "new", target).name in names
        if kind == "report" and not staged and out.is_dir():
            os.replace(path, out / REPORT)
            done.append(f"applied the run report of the finished swap of {out / target}")
        elif kind == "old" and staged and out.is_dir() and not os.path.lexists(out / target):
            os.rename(path, out / target)
            done.append(f"restored {out / target} after an interrupted swap")
        else:
            _remove(path)
            done.append(f"removed {path}, left by an interrupted command")
    return done


class _SiteWrite:
    """What :class:`SiteBuild` and :class:`SubfolderUpdate` share: checks, lock, recovery,
    a staging folder removed on failure, and errors turned into one line."""

    command = "build"

    def __init__(self, out_dir: str | Path) -> None:
        self.out = resolve_out(out_dir)
        self.lock = SiteLock(self.out)
        self.staging: Path
        self._root: Path  # where staging paths are relative to
        self._final_root: Path

    def __enter__(self):
        check_writable(self.out)
        self.lock.__enter__()
        try:
            recover(self.out)
            check_owned(self.out)
            self._start()
        except BaseException:
            self.lock.__exit__()
            raise
        return self

    def __exit__(self, kind, exc, tb) -> None:
        try:
            if exc is not None:
                if os.path.lexists(self.staging):
                    message = _write_error(exc, self.staging, self._root, self._final_root)
                    _remove(self.staging)
                    self._abandon()
                    if message:
                        raise PsaGeoError(
                            f"{message}; {self.out} is left as it was before this command"
                        ) from exc
                else:
                    self._abandon()
        finally:
            self.lock.__exit__()

    def final(self, paths: list[Path]) -> list[Path]:
        """``paths`` written in the staging folder, as they are named once swapped in."""
        return [self._final_root / Path(p).relative_to(self._root) for p in paths]

    def _start(self) -> None:
        raise NotImplementedError

    def _abandon(self) -> None:
        pass


class SiteBuild(_SiteWrite):
    """``with SiteBuild(out) as site:`` write the whole site into ``site.staging``, then
    ``site.commit(report, files)`` swaps it in."""

    def _start(self) -> None:
        self.staging = _beside(self.out, _NEW)
        self.staging.mkdir()
        if self.out.is_dir():
            os.chmod(self.staging, stat.S_IMODE(os.stat(self.out).st_mode))
        self._root, self._final_root = self.staging, self.out

    def commit(self, report: dict, files: list[Path]) -> list[Path]:
        """Carry over the files psa-geo does not own, write the marker and ``report`` (with
        ``outputs``: ``files`` relative to the site) last, and swap the new site in."""
        outputs = [str(Path(p).relative_to(self.staging)) for p in files]
        if self.out.is_dir() and not self.out.is_symlink():
            previous = read_report(self.out) or {}
            carried = carry_over(self.out, self.staging, owned=set(previous.get("outputs", [])))
            if carried:
                more = ", ..." if len(carried) > 5 else ""
                log.info("kept %d files psa-geo did not write: %s%s", len(carried),
                         ", ".join(carried[:5]), more)  # fmt: skip
        _write_replace(self.staging / MARKER, MARKER_TEXT)
        write_report(self.staging, {**report, "outputs": outputs})
        swap(self.staging, self.out)
        return self.final(files)


class SubfolderUpdate(_SiteWrite):
    """``with SubfolderUpdate(out, "towns", command="profile") as site:`` write the
    subfolder into ``site.staging``, then ``site.commit(files)`` swaps it in and updates
    ``run_report.json``. With ``keep_others`` (``hotspots``, one area at a time), files of the
    previous subfolder that this command did not write again are kept."""

    def __init__(
        self, out_dir: str | Path, folder: str, *, command: str, keep_others: bool = False
    ) -> None:
        super().__init__(out_dir)
        if not folder or "/" in folder or folder.startswith("."):
            raise PsaGeoError(f"a subfolder of the site should be a plain name, got {folder!r}")
        self.folder, self.command, self.keep_others = folder, command, keep_others
        self.target = self.out / folder
        self._made_out = False

    def _start(self) -> None:
        if not self.out.is_dir():
            self.out.mkdir()
            self._made_out = True
        self.staging = _sub(self.out, "new", self.folder)
        self.staging.mkdir()
        self._root, self._final_root = self.staging, self.target

    def _abandon(self) -> None:
        if self._made_out and _is_empty(self.out):
            self.out.rmdir()

    def keep_previous(self, *, exclude: set[str] = frozenset()) -> list[Path]:
        """Carry the previous subfolder's psa-geo files (those its ``run_report.json`` lists)
        into the staging folder, except ``exclude`` and those written again; returns them,
        as staging paths. Call it before rebuilding the folder's index from the files
        present, so that ``profile --town X`` keeps the other towns."""
        if not self.target.is_dir() or self.target.is_symlink():
            return []
        prefix = f"{self.folder}/"
        outputs = (read_report(self.out) or {}).get("outputs", [])
        owned = {str(o).removeprefix(prefix) for o in outputs if str(o).startswith(prefix)}
        others = {rel for rel, _ in _walk(self.target)} - (owned - set(exclude))
        return [self.staging / rel for rel in carry_over(self.target, self.staging, owned=others)]

    def commit(self, files: list[Path]) -> list[Path]:
        """Swap the new subfolder in, then ``run_report.json`` listing it."""
        previous = read_report(self.out)
        report = dict(previous) if previous else _minimal_report(self.command)
        prefix = f"{self.folder}/"
        old_outputs = [str(o) for o in report.get("outputs", [])]
        owned = {o.removeprefix(prefix) for o in old_outputs if o.startswith(prefix)}
        written = [str(Path(p).relative_to(self.staging)) for p in files]
        if self.target.is_dir() and not self.target.is_symlink():
            kept = carry_over(self.target, self.staging, owned=set() if self.keep_others else owned)
            written += [name for name in kept if name in owned]
        report["outputs"] = [o for o in old_outputs if not o.startswith(prefix)] + [
            prefix + name for name in sorted(set(written))
        ]
        report.setdefault("updates", []).append({
            "command": self.command,
            "folder": self.folder,
            "generated": datetime.now(UTC).isoformat(timespec="seconds"),
            "psa_geo_version": __version__,
        })  # fmt: skip
        pending = _sub(self.out, "report", self.folder)
        _write_replace(pending, json.dumps({**report, "complete": True}, indent=2,
                                           ensure_ascii=False))  # fmt: skip
        if not _is_file(self.out / MARKER):
            _write_replace(self.out / MARKER, MARKER_TEXT, tmp=_sub(self.out, "tmp", MARKER))
        swap(self.staging, self.target, old=_sub(self.out, "old", self.folder))
        os.replace(pending, self.out / REPORT)
        return self.final(files)


def swap(new: Path, target: Path, *, old: Path | None = None) -> None:
    """Put the folder ``new`` in place of ``target`` with two renames (``target`` to ``old``,
    by default ``.<name>.psa-geo-old`` beside it, ``new`` to ``target``), then remove the old
    one; a kill between the renames is undone by :func:`recover`."""
    old = old or _beside(target, _OLD)
    moved = os.path.lexists(target)
    if moved:
        os.rename(target, old)
    fault_point("swap")
    try:
        os.rename(new, target)
    except OSError:
        if moved:
            os.rename(old, target)
        raise
    if moved:
        _remove(old)


def carry_over(old: Path, new: Path, *, owned: set[str]) -> list[str]:
    """Hard-link (or copy) into ``new`` every file and link of ``old`` that is not in
    ``owned`` (paths relative to ``old``), not psa-geo's marker, report or leftovers, and not
    already in ``new``. Links are copied as links, never followed. Returns the paths."""
    carried = []
    for rel, entry in _walk(old):
        if rel in owned or rel in (MARKER, REPORT) or _TRANSIENT.match(Path(rel).name):
            continue
        dest = new / rel
        if os.path.lexists(dest) or not _can_hold(new, Path(rel).parent):
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        if entry.is_symlink():
            os.symlink(os.readlink(entry.path), dest)
        elif entry.is_file(follow_symlinks=False):
            try:
                os.link(entry.path, dest, follow_symlinks=False)
            except OSError:
                shutil.copy2(entry.path, dest, follow_symlinks=False)
        else:
            log.warning("not carried over (neither a file nor a link): %s", entry.path)
            continue
        carried.append(rel)
    return carried


def _walk(folder: Path, prefix: str = ""):
    """(relative path, entry) of every file and link under ``folder``, links not followed."""
    with os.scandir(folder) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            rel = prefix + entry.name
            if entry.is_dir(follow_symlinks=False):
                if not _TRANSIENT.match(entry.name):
                    yield from _walk(Path(entry.path), rel + "/")
            else:
                yield rel, entry


def _can_hold(root: Path, parent: Path) -> bool:
    """True unless a part of ``root/parent`` exists as something other than a folder."""
    path = root
    for part in parent.parts:
        path = path / part
        if os.path.lexists(path) and (path.is_symlink() or not path.is_dir()):
            return False
    return True


def _write_error(exc: BaseException, staging: Path, root: Path, final_root: Path) -> str | None:
    """One line naming the file being written, for an OSError or a pyogrio error raised while
    the site was being written; None for other errors (they pass unchanged)."""
    is_gdal = type(exc).__module__.startswith("pyogrio")
    if not isinstance(exc, OSError) and not is_gdal:
        return None
    if isinstance(exc, OSError) and exc.filename:
        name = Path(os.fsdecode(exc.filename))
        if not name.is_relative_to(staging):
            return None  # not a write of ours (e.g. a data file); the CLI names it
        path = name
    else:
        path = _newest(staging)
        if path is None and is_gdal:
            return None  # nothing written yet: a read error, passed unchanged
    shown = final_root / path.relative_to(root) if path is not None else final_root
    problem = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    problem = " ".join(str(problem).split()) or type(exc).__name__
    return f"could not write {shown}: {problem}"


def _newest(folder: Path) -> Path | None:
    newest, when = None, -1.0
    for _, entry in _walk(folder):
        mtime = entry.stat(follow_symlinks=False).st_mtime
        if mtime >= when:
            newest, when = Path(entry.path), mtime
    return newest


def _minimal_report(command: str) -> dict:
    return {
        "psa_geo_version": __version__,
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "outputs": [],
    }


def _beside(path: Path, suffix: str) -> Path:
    return path.parent / f".{path.name}{suffix}"


def _sub(out: Path, kind: str, folder: str) -> Path:
    """Where a partial command stages its subfolder ``folder`` (``kind`` new, old, report or
    tmp): beside the site, never inside it, e.g. ``.maps.psa-geo-new.towns``."""
    return out.parent / f".{out.name}.psa-geo-{kind}.{folder}"


def _is_empty(folder: Path) -> bool:
    with os.scandir(folder) as entries:
        return next(entries, None) is None


def _is_file(path: Path) -> bool:
    """A regular file, not a link to one."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _write_replace(path: Path, text: str, *, tmp: Path | None = None) -> None:
    tmp = tmp or path.parent / f".{path.name}.psa-geo-tmp"
    if os.path.lexists(tmp):
        os.unlink(tmp)
    with open(tmp, "x", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def _remove(path: Path) -> None:
    if os.path.islink(path) or not os.path.isdir(path):
        os.unlink(path)
    else:
        shutil.rmtree(path)
