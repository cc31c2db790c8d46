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

import numpy as np
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


def _defused(column: pd.Series) -> pd.Series:
    """``column`` with every text cell passed through :func:`defuse`; ``column`` itself when no
    cell starts like a formula (found at once for a column of text, cell by cell otherwise)."""
    if not (
        isinstance(column.dtype, pd.StringDtype)
        or (column.dtype == object and pd.api.types.infer_dtype(column) in ("string", "empty"))
    ):
        return column.map(defuse, na_action="ignore")
    if not column.str.startswith(FORMULA_PREFIXES, na=False).any():
        return column
    return column.map(defuse, na_action="ignore")


def _formatted(values: np.ndarray, float_format: str) -> np.ndarray:
    """Floats as ``float_format`` text (None where missing), as ``DataFrame.to_csv`` writes
    them, formatted in one pass instead of through pandas' formatter cell by cell."""
    text = np.array([float_format % value for value in values.tolist()], dtype=object)
    text[np.isnan(values)] = None
    return text


def write_csv(frame: pd.DataFrame, path: str | Path, *, float_format: str | None = None) -> Path:
    """Write ``frame`` (without its index) to ``path`` as UTF-8 with BOM, every text cell and
    column name passed through :func:`defuse`; returns the path."""
    path = Path(path)
    safe = frame.rename(columns=lambda c: defuse(c) if isinstance(c, str) else c)
    for i, (_, column) in enumerate(safe.items()):
        dtype = column.dtype
        if isinstance(dtype, np.dtype) and dtype.kind == "f":
            if isinstance(float_format, str):
                safe.isetitem(i, _formatted(column.to_numpy(), float_format))
        elif not (
            pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_datetime64_any_dtype(dtype)
        ):
            defused = _defused(column)
            if defused is not column:
                safe.isetitem(i, defused)
    safe.to_csv(path, index=False, encoding="utf-8-sig", float_format=float_format)
    return path
