"""Names typed by a user (``--town penzance``, ``--area "south devon"``) matched to the names
of the data: case and spacing do not matter, and a near miss gets a suggestion."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from .errors import PsaGeoError

_LISTED = 12


def name_key(name: str) -> str:
    """``name`` folded for comparison: lower case, runs of spaces as one, ends trimmed."""
    return " ".join(str(name).split()).casefold()


def match_name(name: str, known: Iterable[str], *, what: str = "name") -> str:
    """The one name of ``known`` that ``name`` means, ignoring case and spacing.

    Raises :class:`~psa_geo.errors.PsaGeoError` in one line when there is none: "no town
    called 'Penzanse'; did you mean Penzance?" (:func:`difflib.get_close_matches`), or the
    known names when nothing is close.
    """
    names = list(dict.fromkeys(str(k) for k in known))
    if name in names:
        return name
    by_key: dict[str, list[str]] = {}
    for known_name in names:
        by_key.setdefault(name_key(known_name), []).append(known_name)
    found = by_key.get(name_key(name), [])
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise PsaGeoError(
            f"{what} {name!r} matches {', '.join(found)}, which differ only in case or "
            "spacing; give the name exactly"
        )
    close = difflib.get_close_matches(name_key(name), list(by_key), n=3, cutoff=0.6)
    if close:
        suggestions = " or ".join(by_key[key][0] for key in close)
        raise PsaGeoError(f"no {what} called {name!r}; did you mean {suggestions}?")
    listed = ", ".join(names[:_LISTED]) + (", ..." if len(names) > _LISTED else "")
    raise PsaGeoError(f"no {what} called {name!r}; choose one of: {listed}")


def match_names(names: Iterable[str], known: Iterable[str], *, what: str = "name") -> list[str]:
    """:func:`match_name` for each of ``names``, repeats dropped, in the order given."""
    known = list(known)
    return list(dict.fromkeys(match_name(n, known, what=what) for n in names))
