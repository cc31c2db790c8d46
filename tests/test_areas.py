import pandas as pd
import pytest

import psa_geo


@pytest.mark.data
def test_load_areas_real(areas, mirror):
    assert len(areas) == 1034
    assert areas.crs.to_epsg() == 27700
    assert areas["lsoa_code"].is_unique
    assert (
        areas[["lad_code", "csp_code", "ward_code", "population", "imd_decile"]].notna().all().all()
    )
    population = pd.read_csv(mirror / "population" / "lsoa11_population_mid2018_devon_cornwall.csv")
    assert areas["population"].sum() == population["POP_MID2018"].sum()
    assert areas["csp_code"].nunique() == 8
    assert set(areas["imd_decile"]) <= set(range(1, 11))


@pytest.mark.data
def test_csp_membership_matches_the_official_lookup(mirror):
    ours = psa_geo.load_csp_membership()
    official = pd.read_csv(mirror / "lookups" / "lad18_csp_pfa_devon_cornwall.csv", dtype=str)
    pairs = set(zip(official["LAD18CD"], official["CSP18CD"], strict=True))
    assert set(zip(ours["lad_code"], ours["csp_code"], strict=True)) == pairs


@pytest.mark.data
def test_dissolved_csps_cover_their_lsoas(areas):
    csp = psa_geo.dissolve_areas(areas, level="csp")
    assert len(csp) == 8
    assert csp["population"].sum() == areas["population"].sum()
    assert csp.area.sum() == pytest.approx(areas.area.sum(), rel=1e-6)
    torridge = areas[areas["lad_name"] == "Torridge"]["csp_name"].unique().tolist()
    assert torridge == ["North Devon (with Torridge)"]


def test_membership_file_with_a_duplicate_lad_is_refused(tmp_path):
    path = tmp_path / "csp.csv"
    path.write_text(
        "lad_code,lad_name,csp_code,csp_name,csp_label\n"
        "E06000052,Cornwall,E22000356,Cornwall,Cornwall\n"
        "E06000052,Cornwall,E22000050,Isles of Scilly,Isles of Scilly\n"
    )
    with pytest.raises(psa_geo.InputFileError, match="E06000052 is listed in more than one CSP"):
        psa_geo.load_csp_membership(path)


def test_missing_dataset_names_the_fetch_command(tmp_path):
    with pytest.raises(psa_geo.MissingDataError, match="psa-geo data fetch"):
        psa_geo.load_areas(tmp_path)


@pytest.mark.data
def test_lsoa21_codes_map_to_2011(areas, mirror):
    pairs = pd.read_csv(
        mirror / "lookups" / "lsoa11_lsoa21_all_pairs_devon_cornwall.csv", dtype=str
    )
    mapping = areas.attrs["lsoa21_to_lsoa11"]
    assert set(mapping) == set(pairs["LSOA21CD"])
    split = pairs[pairs["CHANGE_DERIVED"] == "S"].iloc[0]
    assert mapping[split["LSOA21CD"]] == split["LSOA11CD"]
    merged = pairs.loc[pairs["CHANGE_DERIVED"] == "M", "LSOA21CD"].unique()
    assert [mapping[code] for code in merged] == [None]  # the point decides
    unchanged = pairs[pairs["CHANGE_DERIVED"] == "U"]
    assert all(mapping[c] == c for c in unchanged["LSOA21CD"])


def test_rural_urban_class_from_the_optional_dataset(areas):
    classes = areas["rural_urban"].value_counts()
    assert classes.sum() == len(areas)
    assert classes.index[0] == "Urban city and town"
    assert set(areas.loc[areas["csp_name"] == "Plymouth", "rural_urban"]) == {"Urban city and town"}
