import re

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
    text = (
        f"group,crime_type\n{ALL_CRIME},Burglary\nAcquisitive,Burglary\nAcquisitive,Shoplifting\n"
    )
    path.write_text(text)
    assert psa_geo.load_crime_groups(path) == {
        ALL_CRIME: ["Burglary"],
        "Acquisitive": ["Burglary", "Shoplifting"],
    }
    path.write_text(text.replace(ALL_CRIME + ",Burglary\n", ""))
    groups = psa_geo.load_crime_groups(path, require_all_crime=False)
    assert groups == {"Acquisitive": ["Burglary", "Shoplifting"]}
    assert psa_geo.unmapped_categories(["Burglary", "Drugs"], {"A": ["Burglary"]}) == ["Drugs"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name,type\na,b\n", "missing columns group, crime_type"),
        (f"group,crime_type\n,Burglary\n{ALL_CRIME},Drugs\n", "row 2"),
        ("", "the file is empty"),
        ("group,crime_type\n", "defines no groups"),
        (
            "group,crime_type\nAcquisitive,Burglary\n",
            f"no group '{re.escape(ALL_CRIME)}': the headline",
        ),
        (f"group,crime_type\n{ALL_CRIME},Burglary,extra\n", "not a readable CSV"),
        (
            f"group,crime_type\n{ALL_CRIME},Burglary\nTheft,Shoplifting\nTHEFT,Other theft\n",
            "groups 'Theft' and 'THEFT' would share the file name 'theft'",
        ),
    ],
    ids=["columns", "blank", "empty", "header-only", "no-all-crime", "extra-field", "same-name"],
)
def test_bad_group_files_are_named(tmp_path, text, message):
    path = tmp_path / "groups.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(psa_geo.InputFileError, match=message) as info:
        psa_geo.load_crime_groups(path)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("encoding", "accepted"),
    [
        ("utf-8", True),
        ("utf-8-sig", True),
        ("latin-1", False),
        ("utf-16", False),
        ("utf-16-le", False),
    ],
)
def test_groups_file_encodings(tmp_path, encoding, accepted):
    path = tmp_path / "groups.csv"
    path.write_text(f"group,crime_type\n{ALL_CRIME},Burglary\nCafé thefts,Shoplifting\n",
                    encoding=encoding)  # fmt: skip
    if accepted:
        assert list(psa_geo.load_crime_groups(path)) == [ALL_CRIME, "Café thefts"]
    else:
        with pytest.raises(
            psa_geo.InputFileError, match=r"not UTF-8 text \(.*save it as UTF-8 CSV\)"
        ):
            psa_geo.load_crime_groups(path)


def test_the_map_column_chooses_the_groups_given_hotspot_layers(tmp_path):
    path = tmp_path / "groups.csv"
    path.write_text(
        "group,crime_type,map\n"
        "All crime (excl. ASB),Burglary,yes\nAll crime (excl. ASB),Robbery,\n"
        "Burglary,Burglary,no\nRobbery,Robbery,YES\n",
        encoding="utf-8",
    )
    assert psa_geo.load_mapped_groups(path) == ["All crime (excl. ASB)", "Robbery"]
    path.write_text("group,crime_type\nBurglary,Burglary\n", encoding="utf-8")
    assert psa_geo.load_mapped_groups(path) == ["Burglary"]  # no column: every group
    assert psa_geo.load_mapped_groups() == list(psa_geo.load_crime_groups())


def test_a_map_column_that_is_not_yes_or_no_is_refused(tmp_path):
    path = tmp_path / "groups.csv"
    path.write_text("group,crime_type,map\nBurglary,Burglary,maybe\n", encoding="utf-8")
    with pytest.raises(psa_geo.InputFileError, match=r"groups.csv: row 2: .*yes or no.*'maybe'"):
        psa_geo.load_mapped_groups(path)
