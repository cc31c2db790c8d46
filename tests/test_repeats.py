import pytest
from conftest import make_events

import psa_geo


def test_same_label_at_different_points_are_different_locations():
    events = make_events([(100, 100)] * 3 + [(900, 900)] * 2 + [(100.4, 99.6), None])
    events["location"] = ["On or near Parking Area"] * 5 + [
        "On or near Parking Area",
        "No Location",
    ]
    table = psa_geo.repeat_locations(events)
    assert table["count"].tolist() == [4, 2]  # 100.4, 99.6 rounds to the same metre
    assert table[["easting", "northing"]].values.tolist() == [[100, 100], [900, 900]]
    assert table["share_pct"].tolist() == pytest.approx([100 * 4 / 6, 100 * 2 / 6])
    assert table["cumulative_share_pct"].iloc[-1] == pytest.approx(100)
    assert table["rank"].tolist() == [1, 2]


def test_period_and_top_and_weights():
    events = make_events([(0, 0), (0, 0), (5, 5)], dates=["2019-01-01", "2018-01-01", "2019-02-01"])
    events["weight"] = [1, 1, 5]
    table = psa_geo.repeat_locations(events, period=psa_geo.calendar_year(2019), label=None, top=1)
    assert len(table) == 1
    assert table.iloc[0]["location"] == "5, 5" and table.iloc[0]["count"] == 5


def test_nothing_located_is_an_error():
    with pytest.raises(psa_geo.PsaGeoError, match="no located events"):
        psa_geo.repeat_locations(make_events([None]))


@pytest.mark.data
def test_real_top_locations(assigned_2019):
    events, _ = assigned_2019
    table = psa_geo.repeat_locations(events, top=None)
    located = events[~events.geometry.is_empty]
    assert table["count"].sum() == len(located)
    parking = table[table["location"] == "On or near Parking Area"]
    assert len(parking) > 100  # one label, many different snap points
    top10 = table.iloc[9]["cumulative_share_pct"]
    assert 0 < top10 < 20
