"""The one CSV writer: formulas from the data are defused, numbers are left alone."""

import ast
import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import psa_geo
from psa_geo.csvfile import defuse, write_csv


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-1+1", "'-1+1"),
        ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("-5", "-5"),
        ("-0.25", "-0.25"),
        ("+3e4", "+3e4"),
        ("Plymouth", "Plymouth"),
        ("a=b", "a=b"),
        ("", ""),
    ],
    ids=[
        "equals",
        "plus",
        "minus-formula",
        "at",
        "tab",
        "cr",
        "neg-int",
        "neg-float",
        "exp",
        "plain",
        "inner-equals",
        "empty",
    ],
)
def test_defuse(text, written):
    assert defuse(text) == written


def test_write_csv_defuses_text_cells_and_names_and_keeps_numbers(tmp_path):
    frame = pd.DataFrame(
        {
            "area_name": ["=1+1", "Truro", None],
            "=evil": ["@x", "y", "-2"],
            "count": [-3, 4, 5],
            "rate": [-0.5, np.nan, 1.25],
        }
    )
    path = write_csv(frame, tmp_path / "t.csv", float_format="%.3f")
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(raw.decode("utf-8-sig").splitlines()))
    assert rows[0] == ["area_name", "'=evil", "count", "rate"]
    assert rows[1] == ["'=1+1", "'@x", "-3", "-0.500"]
    assert rows[2] == ["Truro", "y", "4", ""]
    assert rows[3] == ["", "-2", "5", "1.250"]
    assert frame.loc[0, "area_name"] == "=1+1"  # the input is not changed


def test_every_csv_goes_through_write_csv():
    """Only csvfile.py calls ``DataFrame.to_csv``; every other module uses ``write_csv``."""
    package = Path(psa_geo.__file__).parent
    callers = []
    for module in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr == "to_csv":
                callers.append(f"{module.name}:{node.lineno}")
    assert callers and all(c.startswith("csvfile.py:") for c in callers), callers


def test_rejected_rows_csv_defuses(tmp_path):
    """``rejected_rows.csv`` goes through the build's writer: reader text is defused."""
    from psa_geo.build import _write_csv

    rows = pd.DataFrame(
        {
            "source": ["police_uk", "needles"],
            "source_row": [2, 3],
            "reason": ["bad_month", "bad_count"],
            "location": ['=HYPERLINK("http://x","y")', "On or near High St"],
            "reported_by": ["+cmd|' /C calc'!A0", "@SUM(1)"],
        }
    )
    path = _write_csv(rows, tmp_path / "rejected_rows.csv")
    read = pd.read_csv(path, encoding="utf-8-sig", dtype=str)
    assert read["location"].tolist() == ['\'=HYPERLINK("http://x","y")', "On or near High St"]
    assert read["reported_by"].tolist() == ["'+cmd|' /C calc'!A0", "'@SUM(1)"]
    assert read["source_row"].tolist() == ["2", "3"]


def test_write_csv_defuses_mixed_and_category_columns(tmp_path):
    """Text among numbers (object) and categories is defused cell by cell; numbers stay."""
    frame = pd.DataFrame(
        {
            "mixed": pd.Series(["=1+1", 5, None, "-7"], dtype=object),
            "kind": pd.Categorical(["@x", "a", "@x", None]),
            "plain": pd.Series(["a", "b", None, "-2.5"], dtype=object),
        }
    )
    path = write_csv(frame, tmp_path / "t.csv")
    rows = list(csv.reader(path.read_text(encoding="utf-8-sig").splitlines()))
    assert rows[1:] == [["'=1+1", "'@x", "a"], ["5", "a", "b"], ["", "'@x", ""], ["-7", "", "-2.5"]]


def test_write_csv_writes_floats_as_pandas_does(tmp_path):
    """Floats formatted in one pass are the bytes ``DataFrame.to_csv`` writes cell by cell."""
    values = [0.0, -0.0, 1e-9, -0.0004, 0.0005, 2.5, -1234567.891, np.nan, np.inf, -np.inf, 1e20]
    frame = pd.DataFrame(
        {
            "f64": values,
            "f32": np.array(values, dtype="float32"),
            "text": ["x"] * len(values),
            "count": range(len(values)),
        }
    )
    for float_format in ("%.3f", "%.1e", None):
        path = write_csv(frame, tmp_path / "t.csv", float_format=float_format)
        frame.to_csv(tmp_path / "pandas.csv", index=False, encoding="utf-8-sig",
                     float_format=float_format)  # fmt: skip
        assert path.read_bytes() == (tmp_path / "pandas.csv").read_bytes(), float_format
