"""psa_geo.names: user-typed names matched ignoring case and spacing, with suggestions."""

import pytest

from psa_geo.errors import PsaGeoError
from psa_geo.names import match_name, match_names

TOWNS = ["St Austell", "Newquay", "Truro", "Penzance", "Falmouth"]


@pytest.mark.parametrize(
    "typed",
    ["Penzance", "penzance", "PENZANCE", "  penzance ", "pEnZaNcE"],
    ids=["exact", "lower", "upper", "spaces", "mixed"],
)
def test_case_and_outer_spaces_do_not_matter(typed):
    assert match_name(typed, TOWNS, what="town") == "Penzance"


def test_inner_spaces_are_folded():
    assert match_name("st   austell", TOWNS, what="town") == "St Austell"


def test_a_near_miss_gets_one_suggestion_in_one_line():
    with pytest.raises(PsaGeoError) as err:
        match_name("Penzanse", TOWNS, what="town")
    assert str(err.value) == "no town called 'Penzanse'; did you mean Penzance?"


def test_nothing_close_lists_the_known_names_in_their_order():
    with pytest.raises(PsaGeoError) as err:
        match_name("Atlantis", TOWNS, what="town")
    assert str(err.value) == (
        "no town called 'Atlantis'; choose one of: St Austell, Newquay, Truro, Penzance, Falmouth"
    )


def test_names_differing_only_in_case_are_not_guessed():
    with pytest.raises(PsaGeoError, match="differ only in case"):
        match_name("truro", ["Truro", "TRURO"], what="town")
    assert match_name("TRURO", ["Truro", "TRURO"], what="town") == "TRURO"


def test_match_names_keeps_the_order_and_drops_repeats():
    assert match_names(["truro", "Penzance", "TRURO"], TOWNS, what="town") == ["Truro", "Penzance"]
