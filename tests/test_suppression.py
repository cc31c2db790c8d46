"""Suppression: small counts hidden, and no hidden count recoverable from a total."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from psa_geo.errors import PsaGeoError
from psa_geo.suppression import suppress_lines, suppression_note


def grid(table: list[list[int]]):
    """Cells and lines of a table with its row totals, column totals and grand total."""
    values, lines = {}, []
    n_cols = len(table[0])
    for r, row in enumerate(table):
        values.update({(r, c): v for c, v in enumerate(row)})
        values[(r, "T")] = sum(row)
    for c in [*range(n_cols), "T"]:
        values[("T", c)] = sum(values[(r, c)] for r in range(len(table)))
    for r in [*range(len(table)), "T"]:
        lines.append([(r, "T"), *[(r, c) for c in range(n_cols)]])
    for c in [*range(n_cols), "T"]:
        lines.append([("T", c), *[(r, c) for r in range(len(table))]])
    return values, lines


def solvable(values, lines, out) -> list:
    """Hidden cells whose value follows exactly from the lines and the shown cells: a unit
    vector on the cell lies in the row space of the equations (an independent rank test)."""
    hidden = [k for k in values if out[k][1]]
    matrix = np.zeros((len(lines), len(hidden)))
    for row, line in enumerate(lines):
        for position, k in enumerate(line):
            if k in hidden:
                matrix[row, hidden.index(k)] += -1.0 if position == 0 else 1.0
    rank = np.linalg.matrix_rank(matrix) if len(hidden) else 0
    unit = np.eye(len(hidden))
    return [
        k
        for i, k in enumerate(hidden)
        if np.linalg.matrix_rank(np.vstack([matrix, unit[i]])) == rank
    ]


def test_a_count_worked_out_from_several_lines_together_is_hidden_too():
    """With the per-line rule alone, rows 0 and 1 with column 0 gave the <5 at (2, 1) = 3."""
    values, lines = grid([[11, 6, 20], [2, 16, 18], [19, 3, 7], [0, 0, 2]])
    out = suppress_lines(values, lines)
    assert out[(2, 1)] == ("<5", True)
    assert solvable(values, lines, out) == []


def test_a_lone_small_count_takes_its_neighbour_with_it():
    values, lines = grid([[3, 12, 7], [9, 10, 20]])
    out = suppress_lines(values, lines)
    assert out[(0, 0)] == ("<5", True)
    # Row 0 and column 0 each had one hidden cell: the smallest other non-zero one goes too
    # (7 in the row, 9 in the column), then the 2x2 block closes on itself.
    assert out[(0, 2)] == ("x", True) and out[(1, 0)] == ("x", True)
    assert out[(1, 2)] == ("x", True)
    assert out[(0, 1)] == ("12", False) and out[("T", "T")] == ("61", False)


def test_zero_is_shown_and_nothing_small_means_nothing_hidden():
    values, lines = grid([[0, 5], [6, 0]])
    assert all(not hidden for _, hidden in suppress_lines(values, lines).values())
    assert suppress_lines({"a": 0}, [])["a"] == ("0", False)


def test_a_line_with_only_zeros_beside_the_hidden_cell_hides_a_zero():
    out = suppress_lines({"total": 2, "a": 2, "b": 0}, [["total", "a", "b"]])
    assert out["total"] == ("<5", True) and out["a"] == ("<5", True) and not out["b"][1]
    out = suppress_lines({"total": 7, "a": 2, "b": 0, "c": 5}, [["total", "a", "b", "c"]])
    assert out["c"] == ("x", True) and out["b"] == ("0", False)


def test_bad_input_is_refused():
    with pytest.raises(PsaGeoError, match="threshold"):
        suppress_lines({"a": 1}, [], threshold=1)
    with pytest.raises(PsaGeoError, match="no value"):
        suppress_lines({"a": 1}, [["a", "b"]])


def test_the_note_names_the_threshold():
    assert suppression_note(10).startswith("<10: a count from 1 to 9")


tables = st.integers(1, 8).flatmap(
    lambda rows: st.integers(1, 6).flatmap(
        lambda cols: st.lists(
            st.lists(st.integers(0, 20), min_size=cols, max_size=cols),
            min_size=rows,
            max_size=rows,
        )
    )
)


@settings(max_examples=300, deadline=None)
@given(table=tables, threshold=st.integers(2, 11))
def test_no_hidden_count_can_be_worked_out(table, threshold):
    values, lines = grid(table)
    out = suppress_lines(values, lines, threshold=threshold)
    for line in lines:
        assert sum(out[k][1] for k in line) != 1, line
    assert solvable(values, lines, out) == []
    for key, value in values.items():
        text, hidden = out[key]
        if 1 <= value < threshold:
            assert text == f"<{threshold}" and hidden
        elif hidden:
            assert text == "x"
        else:
            assert text == str(value)
