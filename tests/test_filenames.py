"""File names from user text: safe on every system, the same every run, never shared."""

import re

import pytest

from psa_geo.errors import PsaGeoError
from psa_geo.filenames import MAX_LENGTH, WINDOWS_RESERVED, safe_name, unique_names

SAFE = re.compile(r"[a-z0-9][a-z0-9-]*_?")


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("St Austell", "st-austell"),
        ("St. Ives", "st-ives"),
        ("../../etc/passwd", "etc-passwd"),
        ("..\\..\\windows", "windows"),
        (".hidden", "hidden"),
        ("Bodmin\x00\n\t", "bodmin"),
        ("Lannstevan Ké", "lannstevan-ke"),
        ("CON", "con_"),
        ("lpt1", "lpt1_"),
        ("Con Town", "con-town"),
        ("", "area"),
        ("   ", "area"),
    ],
    ids=[
        "plain",
        "dot",
        "slashes",
        "backslashes",
        "leading-dot",
        "control",
        "accent",
        "reserved",
        "reserved-lpt",
        "reserved-prefix-ok",
        "empty",
        "blank",
    ],
)
def test_safe_name(text, name):
    assert safe_name(text) == name


@pytest.mark.parametrize(
    "text", ["***", "東京", "<script>", "x" * 500, "a/" * 200, "\u202e\u2028", "nul", ".."]
)
def test_names_are_safe_stable_and_bounded(text):
    name = safe_name(text)
    assert SAFE.fullmatch(name) and len(name) <= MAX_LENGTH
    assert name.rstrip("_") not in WINDOWS_RESERVED or name.endswith("_")
    assert safe_name(text) == name  # stable


def test_texts_without_letters_and_long_texts_stay_apart():
    assert safe_name("***") != safe_name("!!!")
    assert safe_name("***").startswith("area-")
    long_a, long_b = "Town " * 20 + "A", "Town " * 20 + "B"
    assert safe_name(long_a) != safe_name(long_b)
    assert len(safe_name(long_a)) == MAX_LENGTH and safe_name(long_a).startswith("town-town")


def test_unique_names_maps_each_distinct_text_once():
    assert unique_names(["Truro", "St Ives", "Truro"]) == {"Truro": "truro", "St Ives": "st-ives"}


@pytest.mark.parametrize(
    ("names", "both"),
    [
        (["St Ives", "Truro", "St. Ives"], ("'St Ives'", "'St. Ives'")),
        (["Penzance", "PENZANCE"], ("'Penzance'", "'PENZANCE'")),
    ],
    ids=["punctuation", "case"],
)
def test_names_that_would_share_a_file_are_an_error_naming_both(names, both):
    with pytest.raises(PsaGeoError, match="would share the file name") as info:
        unique_names(names, what="town")
    message = str(info.value)
    assert all(name in message for name in both) and "towns" in message and "\n" not in message
