"""Suppression of small counts from a sensitive source, so that no published table identifies
a person: primary suppression of counts from 1 to ``threshold - 1``, and secondary suppression
so that no hidden count can be worked out by subtraction from a published total.

A table is given as cells (any hashable key -> count) and *lines*: lists of cells that add up,
the total first (a CSP and its LSOAs, a quarter's CSPs and their total, ...). The rule is the
usual one of official statistics: a line may hold no hidden cell or at least two. Zero is shown
(it identifies nobody), unless a line needs a second hidden cell and has no other.
"""

from __future__ import annotations

from collections.abc import Hashable

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
    whose other cells are all zero hides a zero. Lines of one cell are ignored.
    """
    if threshold < 2:
        raise PsaGeoError(f"the suppression threshold should be 2 or more, got {threshold}")
    unknown = {cell for line in lines for cell in line} - set(values)
    if unknown:
        raise PsaGeoError(f"lines name cells with no value, e.g. {sorted(map(str, unknown))[0]}")
    primary = {k: 1 <= v < threshold for k, v in values.items()}
    hidden = dict(primary)
    lines = [line for line in lines if len(line) > 1]
    changed = True
    while changed:
        changed = False
        for line in lines:
            if sum(hidden[k] for k in line) != 1:
                continue
            shown = [k for k in line if not hidden[k]]
            candidates = [k for k in shown if values[k] > 0] or shown
            hidden[min(candidates, key=lambda k: (values[k], str(k)))] = True
            changed = True
    marker = PRIMARY.format(threshold=threshold)
    return {
        k: (marker if primary[k] else SECONDARY if hidden[k] else str(v), hidden[k])
        for k, v in values.items()
    }
