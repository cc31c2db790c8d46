"""Suppression of small counts from a sensitive source, so that no published table identifies
a person: primary suppression of counts from 1 to ``threshold - 1``, and secondary suppression
so that no hidden count can be worked out by subtraction from a published total.

A table is given as cells (any hashable key -> count) and *lines*: lists of cells that add up,
the total first (a CSP and its LSOAs, a quarter's CSPs and their total, ...). Two rules apply:
the usual one of official statistics, that a line holds no hidden cell or at least two, and
then an exact audit: adding and subtracting several lines together must not give any hidden
cell's value either (in a grid with totals the first rule alone leaves about 3% of tables with
such a cell). Zero is shown (it identifies nobody), unless a line needs a second hidden cell and
has no other. Bounds are not audited: a hidden cell may still be known to lie in a range.
"""

from __future__ import annotations

from collections.abc import Hashable

import numpy as np

from .errors import PsaGeoError

PRIMARY = "<{threshold}"
SECONDARY = "x"


def suppression_note(threshold: int = 5) -> str:
    """The note printed under a suppressed table."""
    return (
        f"<{threshold}: a count from 1 to {threshold - 1}, not shown; x: not shown so that a "
        f"count under {threshold} cannot be worked out from a total"
    )


def suppress_lines(
    values: dict[Hashable, int], lines: list[list[Hashable]], *, threshold: int = 5
) -> dict[Hashable, tuple[str, bool]]:
    """``{cell: (shown text, hidden)}`` for every cell of ``values``.

    Counts from 1 to ``threshold - 1`` show as ``"<threshold"``. Then, while a line of
    ``lines`` has exactly one hidden cell, its smallest non-zero shown cell is hidden too
    (``"x"``; ties by key, so the result does not depend on the order of the input); a line
    whose other cells are all zero hides a zero. Then, while some hidden cell can be solved
    exactly from all the lines together (:func:`_solvable`), the smallest shown cell of a line
    through it is hidden, and the first rule runs again. Lines of one cell are ignored.
    """
    if threshold < 2:
        raise PsaGeoError(f"the suppression threshold should be 2 or more, got {threshold}")
    unknown = {cell for line in lines for cell in line} - set(values)
    if unknown:
        raise PsaGeoError(f"lines name cells with no value, e.g. {sorted(map(str, unknown))[0]}")
    primary = {k: 1 <= v < threshold for k, v in values.items()}
    hidden = dict(primary)
    lines = [line for line in lines if len(line) > 1]

    def hide_one(candidates) -> bool:
        shown = [k for k in candidates if not hidden[k]]
        if not shown:
            return False
        hidden[min(shown, key=lambda k: (values[k] == 0, values[k], str(k)))] = True
        return True

    while True:
        changed = True
        while changed:
            changed = False
            for line in lines:
                if sum(hidden[k] for k in line) == 1:
                    changed = hide_one(line) or changed
        solvable = _solvable(lines, hidden)
        if not solvable:
            break
        through = [k for line in lines if solvable[0] in line for k in line]
        if not hide_one(through):
            break
    marker = PRIMARY.format(threshold=threshold)
    return {
        k: (marker if primary[k] else SECONDARY if hidden[k] else str(v), hidden[k])
        for k, v in values.items()
    }


def _solvable(lines: list[list[Hashable]], hidden: dict[Hashable, bool]) -> list[Hashable]:
    """The hidden cells whose value follows exactly from the lines and the shown cells.

    Each line is an equation (total = sum of parts) over the hidden cells, the shown ones being
    known. A hidden cell is fixed exactly when every solution of the homogeneous system leaves
    it unchanged: its column is zero in every basis vector of the null space.
    """
    cells = sorted((k for k, h in hidden.items() if h), key=str)
    if not cells or not lines:
        return []
    index = {k: i for i, k in enumerate(cells)}
    matrix = np.zeros((len(lines), len(cells)))
    for row, line in enumerate(lines):
        for position, k in enumerate(line):
            if k in index:
                matrix[row, index[k]] += -1.0 if position == 0 else 1.0
    _, singular, vt = np.linalg.svd(matrix)
    null = vt[int((singular > 1e-9).sum()) :]
    if null.shape[0] == 0:
        return cells
    free = np.abs(null).max(axis=0) > 1e-9
    return [k for k in cells if not free[index[k]]]
