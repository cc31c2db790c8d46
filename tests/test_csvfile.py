"""The one CSV writer: formulas from the data are defused, numbers are left alone."""

import csv

import numpy as np
import pandas as pd
import pytest

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
