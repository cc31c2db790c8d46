"""Repeat locations: the places (police.uk snap points) where events recur."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .errors import PsaGeoError
from .events import validate_events
from .periods import Period


def repeat_locations(
    events: gpd.GeoDataFrame,
    *,
    period: Period | None = None,
    label: str | None = "location",
    top: int | None = 10,
) -> pd.DataFrame:
    """Rank locations by events (summed weight), with each one's share of all located events.

    A location is a point (coordinates to the metre) together with its ``label`` column where
    the source has one: police.uk's "On or near Parking Area" alone covers thousands of
    different snap points, so the label is never used on its own. Events without a location
    are left out of the ranking and of the denominator.

    Returns columns ``rank``, ``location``, ``easting``, ``northing``, ``count``,
    ``share_pct``, ``cumulative_share_pct`` (and ``lsoa_code``/``csp_name`` when present),
    the ``top`` rows (all when None). The "top 10 locations hold N%" figure is the
    ``cumulative_share_pct`` of row 10.
    """
    validate_events(events)
    if top is not None and top < 1:
        raise PsaGeoError(f"'top' should be 1 or more, got {top}")
    frame = events if period is None else events[period.contains(events["date"])]
    geom = frame.geometry
    located = frame[~(geom.isna() | geom.is_empty)]
    if located.empty:
        raise PsaGeoError("no located events to rank (has a previous step removed all rows?)")
    xy = np.round(shapely.get_coordinates(located.geometry.to_numpy())).astype("int64")
    keys = pd.DataFrame({"easting": xy[:, 0], "northing": xy[:, 1]}, index=located.index)
    keys["location"] = (
        located[label].fillna("").astype(str)
        if label and label in located
        else keys["easting"].astype(str) + ", " + keys["northing"].astype(str)
    )
    keys["weight"] = located["weight"].to_numpy()
    extra = [c for c in ("lsoa_code", "csp_name") if c in located]
    for col in extra:
        keys[col] = located[col].to_numpy()
    table = (
        keys.groupby(["location", "easting", "northing"], sort=False)
        .agg(count=("weight", "sum"), **{c: (c, "first") for c in extra})
        .reset_index()
        .sort_values(["count", "location", "easting", "northing"],
                     ascending=[False, True, True, True], ignore_index=True)
    )  # fmt: skip
    total = table["count"].sum()
    table["share_pct"] = 100.0 * table["count"] / total
    table["cumulative_share_pct"] = table["share_pct"].cumsum()
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    return table if top is None else table.head(top)
