"""One writer for every CSV psa_geo writes: UTF-8 with a BOM for Excel, formulas defused.

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and some also after a
tab or carriage return) as a formula, so text from the data such as ``=HYPERLINK(...)`` could
run when a partner opens the file. Following OWASP's advice on CSV injection, such a text
cell is written with a leading ``'``, which Excel shows as text. Numbers, and text that is
exactly a plain number such as ``-5`` or ``-0.25``, are written as they are.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def defuse(value: object) -> object:
    """``value`` with a leading ``'`` if it is text that a spreadsheet would run as a formula."""
    if (
        isinstance(value, str)
        and value.startswith(FORMULA_PREFIXES)
        and not _PLAIN_NUMBER.fullmatch(value)
    ):
        return "'" + value
    return value


def write_csv(frame: pd.DataFrame, path: str | Path, *, float_format: str | None = None) -> Path:
    """Write ``frame`` (without its index) to ``path`` as UTF-8 with BOM, every text cell and
    column name passed through :func:`defuse`; returns the path."""
    path = Path(path)
    safe = frame.rename(columns=lambda c: defuse(c) if isinstance(c, str) else c)
    text_columns = [
        name
        for name, dtype in safe.dtypes.items()
        if not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_datetime64_any_dtype(dtype))
    ]
    if text_columns:
        safe = safe.copy()
        for name in text_columns:
            safe[name] = safe[name].map(defuse, na_action="ignore")
    safe.to_csv(path, index=False, encoding="utf-8-sig", float_format=float_format)
    return path
