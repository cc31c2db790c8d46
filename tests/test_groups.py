import pytest

import psa_geo
from psa_geo.measures import ALL_CRIME, ASB


def test_default_groups_are_the_assessment_rows():
    groups = psa_geo.load_crime_groups()
    assert next(iter(groups)) == ALL_CRIME and list(groups)[-1] == ASB
    assert ASB not in groups[ALL_CRIME]
    assert groups["Other theft (incl. bicycle and theft from the person)"] == [
        "Other theft",
        "Bicycle theft",
        "Theft from the person",
    ]
    singles = {g: m for g, m in groups.items() if g not in (ALL_CRIME, ASB) and len(m) == 1}
    # Every crime type in all crime is counted in exactly one of the detailed rows.
    detailed = [c for g, m in groups.items() if g not in (ALL_CRIME, ASB) for c in m]
    assert sorted(detailed) == sorted(groups[ALL_CRIME])
    assert len(singles) == 10


@pytest.mark.data
def test_every_real_crime_type_is_grouped(events_2019):
    events, _ = events_2019
    assert psa_geo.unmapped_categories(events["category"], psa_geo.load_crime_groups()) == []


def test_users_own_groups(tmp_path):
    path = tmp_path / "groups.csv"
    path.write_text("group,crime_type\nAcquisitive,Burglary\nAcquisitive,Shoplifting\n")
    assert psa_geo.load_crime_groups(path) == {"Acquisitive": ["Burglary", "Shoplifting"]}
    assert psa_geo.unmapped_categories(["Burglary", "Drugs"], {"A": ["Burglary"]}) == ["Drugs"]


@pytest.mark.parametrize(
    ("text", "message"),
    [("name,type\na,b\n", "missing columns"), ("group,crime_type\n,Burglary\n", "row 2")],
)
def test_bad_group_files_are_named(tmp_path, text, message):
    path = tmp_path / "groups.csv"
    path.write_text(text)
    with pytest.raises(psa_geo.InputFileError, match=message) as info:
        psa_geo.load_crime_groups(path)
    assert str(path) in str(info.value)
