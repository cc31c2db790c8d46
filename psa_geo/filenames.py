"""File names from user text (town, area and group names): safe, stable and unique.

:func:`safe_name` turns any text into a file-name part that is safe on Linux, macOS and
Windows: lower-case ASCII letters, digits and hyphens only (accents are dropped, everything
else becomes one hyphen), so it has no path separator, no leading dot, no control character
and no space. The rules, each giving the same name for the same text on every run:

- at most :data:`MAX_LENGTH` (60) characters: a longer name is cut to 51 and ends with
  ``-`` and 8 hex digits of the SHA-1 of the whole text, so two long names that start alike
  stay apart;
- never empty: text with no letter or digit gives ``fallback`` (``"area"``), or, when the
  text was not blank, ``fallback-`` and the 8 hex digits (so two such names stay apart);
- never a name Windows reserves (``con``, ``prn``, ``aux``, ``nul``, ``com1``-``com9``,
  ``lpt1``-``lpt9``): such a name gets a trailing ``_`` (``con_``), a character no other name
  has.

Different texts can still give one name ("St Ives" and "St. Ives", "Penzance" and
"PENZANCE"). :func:`unique_names` finds that and raises an error naming both texts: two
spellings of one town are a mistake in the input, and a silent suffix would give the index
two pages for one town.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable

from .errors import PsaGeoError

MAX_LENGTH = 60
_HASH_LENGTH = 8
WINDOWS_RESERVED = frozenset(
    {"con", "prn", "aux", "nul"}
    | {f"com{i}" for i in range(1, 10)}
    | {f"lpt{i}" for i in range(1, 10)}
)


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:_HASH_LENGTH]


def safe_name(text: str, *, fallback: str = "area") -> str:
    """A safe, stable file-name part for ``text``: ``safe_name("St Austell") == "st-austell"``,
    ``safe_name("../../etc") == "etc"``, ``safe_name("CON") == "con_"`` (rules: module doc)."""
    text = str(text)
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    if not slug:
        return f"{fallback}-{_digest(text)}" if text.strip() else fallback
    if len(slug) > MAX_LENGTH:
        slug = f"{slug[: MAX_LENGTH - _HASH_LENGTH - 1].rstrip('-')}-{_digest(text)}"
    if slug in WINDOWS_RESERVED:
        slug += "_"
    return slug


def unique_names(names: Iterable[str], *, what: str = "name") -> dict[str, str]:
    """Each distinct text in ``names`` -> its :func:`safe_name`, in first-seen order.

    The same text twice is one entry. Two different texts with one safe name raise a
    :class:`PsaGeoError` naming both, e.g. ``the towns 'St Ives' and 'St. Ives' would share
    the file name 'st-ives'; give each town one spelling``; ``what`` names the kind of name.
    """
    out: dict[str, str] = {}
    owner: dict[str, str] = {}
    for text in names:
        text = str(text)
        if text in out:
            continue
        name = safe_name(text)
        if name in owner:
            raise PsaGeoError(
                f"the {what}s {owner[name]!r} and {text!r} would share the file name "
                f"{name!r}; give each {what} one spelling"
            )
        owner[name] = text
        out[text] = name
    return out
