"""Synthetic example files of needle finds, rough-sleeping reports and needle bins for any town.

There is no public point data for needle finds or rough-sleeping reports, so demos and tests
use files made here, in the documented formats (:mod:`psa_geo.points`), by a seeded process
that follows the town's real police.uk records (:data:`PROCESS`). Every row carries the column
``synthetic`` = "synthetic example data"; :func:`read_points` carries the stamp through
(``attrs["synthetic"]``, column ``synthetic``) so that every page built from it can say so,
and refuses to mix such files with real ones.
"""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from scipy.spatial import cKDTree

from .csvfile import write_csv
from .errors import PsaGeoError
from .events import CRS, validate_events
from .names import match_name
from .periods import latest_complete_months
from .points import SYNTHETIC_STAMP
from .towns import load_towns, town_areas, town_slug

log = logging.getLogger(__name__)

SYNTH_SOURCES = ("drug_litter", "rough_sleeping", "needle_bins")
#: The police.uk crime types whose locations draw needle finds and rough-sleeping places.
DRUG_CATEGORIES = ("Drugs", "Anti-social behaviour")
STREET_CATEGORIES = ("Anti-social behaviour", "Public order", "Shoplifting", "Drugs")
CENTRE_RADIUS_M = 300.0
#: How each file is made (also written beside it, in ``<file>.README.txt``).
PROCESS = {
    "drug_litter": (
        "Needle finds. Days are drawn with a seasonal cycle, intensity proportional to "
        "1 + 0.4 cos(2 pi (day of year - 196) / 365.25) (a mid-July peak, 2.3 times the "
        "January trough). 70% of finds lie near a police.uk Drugs or Anti-social behaviour "
        "record of the town (one drawn at random, so hot snap points draw more; normal "
        "scatter 40 m) and 30% around the town centre (the snap point with the most crime "
        "within 300 m; normal scatter 250 m); points falling outside the town's LSOAs are "
        "redrawn. Items: 1 + geometric (p = 0.5), at most 12, and 3% stashes of 10-40. "
        "Reporters: member of the public 40%, outreach team 30%, council staff 20%, police "
        "10%. Collected: 85% of public reports, 98% of others. Public reports give "
        "longitude/latitude (a phone app), others easting/northing; 30% have no time."
    ),
    "rough_sleeping": (
        "Rough-sleeping street reports. A pool of people (0.5 per 1,000 residents, at least "
        "5), each with a usual place among the six busiest snap points of Anti-social "
        "behaviour, Public order, Shoplifting and Drugs within 800 m of the town centre, and "
        "a spell on the street (start uniform over the period, length 30 days + exponential "
        "with mean 150 days). Days are drawn with a seasonal cycle, 1 + 0.25 cos(2 pi (day "
        "of year - 196) / 365.25). 80% of reports are outreach contacts with a person on "
        "the street that day (anonymous person_id, 15 m from their place, 05:30-08:30, "
        "easting/northing, 5% a couple); the rest, and contacts on days nobody is out, are "
        "public referrals with no person_id (40 m from a place, 1 or 2 people, "
        "longitude/latitude, no time)."
    ),
    "needle_bins": (
        "Needle bin sites: the busiest snap points of Drugs and Anti-social behaviour "
        "records in the town, at least 250 m apart, named after the police.uk location."
    ),
}
_REPORTERS = (
    ("Member of the public", 0.4),
    ("Outreach team", 0.3),
    ("Council staff", 0.2),
    ("Police", 0.1),
)
_TO_LONLAT = pyproj.Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)


def synth_points(
    areas: gpd.GeoDataFrame,
    events: gpd.GeoDataFrame,
    *,
    source: str,
    town: str,
    seed: int,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    n: int | None = None,
    towns: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Synthetic example rows for one town, in the format :func:`read_points` documents.

    Parameters
    ----------
    areas
        The LSOA table (:func:`load_areas`).
    events
        Real police.uk events (:func:`read_police_uk`): their locations in the town drive
        where finds and reports fall (:data:`PROCESS`).
    source
        ``"drug_litter"``, ``"rough_sleeping"`` or ``"needle_bins"``.
    town
        A town of ``towns`` (default: :func:`load_towns`, the Safer Towns).
    seed
        The random seed: the same inputs and seed give the same rows.
    start, end
        The period ``[start, end)``; default: the latest 12 complete months of ``events``.
    n
        Number of rows. Default: 6 finds per 1,000 residents a year; 25 reports a year per
        person of the pool; 5 bins.

    Returns
    -------
    pandas.DataFrame
        Text columns as written to the file, ``synthetic`` first; ``attrs["synth"]`` holds
        the settings and the process.
    """
    if source not in SYNTH_SOURCES:
        raise PsaGeoError(f"'source' should be one of {SYNTH_SOURCES}, got {source!r}")
    validate_events(events)
    if n is not None and n < 1:
        raise PsaGeoError(f"'n' should be 1 or more, got {n}")
    towns = towns if towns is not None else load_towns(areas=areas)
    town = match_name(town, towns["town"], what="town")
    outline = town_areas(areas, towns, names=[town]).iloc[0]
    shape = outline.geometry
    shapely.prepare(shape)
    start, end = _span(events, start, end)
    local = _town_events(events, shape)
    if local.empty:
        raise PsaGeoError(f"no located police.uk events in {town}: synthetic points follow them")
    rng = np.random.default_rng(seed)
    centre = _centre(local)
    years = (end - start).days / 365.25
    if source == "drug_litter":
        n = n or max(10, round(6 * outline.population / 1000 * years))
        rows = _drug_litter(rng, local, centre, shape, start, end, n)
    elif source == "rough_sleeping":
        pool = max(5, round(0.5 * outline.population / 1000))
        n = n or max(10, round(25 * pool * years))
        rows = _rough_sleeping(rng, local, centre, shape, start, end, n, pool)
    else:
        rows = _bins(local, n or 5)
    rows.insert(0, "synthetic", SYNTHETIC_STAMP)
    rows.attrs["synth"] = {
        "source": source,
        "town": town,
        "seed": seed,
        "start": str(start.date()),
        "end_exclusive": str(end.date()),
        "rows": len(rows),
        "process": PROCESS[source],
    }
    log.info("synthetic %s for %s: %d rows (seed %d)", source, town, len(rows), seed)
    return rows


def write_synth(rows: pd.DataFrame, path: str | Path) -> list[Path]:
    """Write ``rows`` (:func:`synth_points`) as a CSV and ``<name>.README.txt`` beside it.

    The CSV (UTF-8, Excel-friendly) says "synthetic example data" on every row; the README
    says the same in its first line and gives the town, seed, period and process.
    """
    path = Path(path)
    if "synthetic" not in rows or not rows["synthetic"].eq(SYNTHETIC_STAMP).all():
        raise PsaGeoError("'rows' should come from synth_points (every row stamped synthetic)")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_csv(rows, path)
    info = rows.attrs.get("synth", {})
    readme = path.with_name(path.name.removesuffix(".gz").removesuffix(".csv") + ".README.txt")
    lines = [
        f"{SYNTHETIC_STAMP.upper()}: {path.name} is synthetic example data, not a record of "
        "real events. Never use it in a real profile, map or table.",
        "",
        *(f"{key}: {value}" for key, value in info.items() if key != "process"),
        "made by: psa_geo.synth_points (psa-geo synth)",
        "",
        info.get("process", ""),
        "",
    ]
    readme.write_text("\n".join(lines), encoding="utf-8")
    return [path, readme]


def synth_job(
    data_dir: str | Path | None,
    out: str | Path,
    *,
    source: str,
    town: str,
    seed: int,
    start: str | None = None,
    end: str | None = None,
    n: int | None = None,
    towns_file: str | Path | None = None,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
) -> list[Path]:
    """``psa-geo synth``: read the data directory and write one synthetic file.

    ``out`` is the file (a name ending ``.csv``) or a folder, which gets
    ``synthetic_<source>_<town>_seed<seed>.csv``.
    """
    from .areas import load_areas
    from .crime_files import FORCE, crime_paths
    from .datadir import load_manifest, require_datasets, resolve_data_dir
    from .police_uk import read_police_uk

    data_dir = resolve_data_dir(data_dir)
    manifest = load_manifest()
    require_datasets(data_dir, manifest=manifest)
    areas = load_areas(data_dir)
    towns = load_towns(towns_file, areas=areas)
    town = match_name(town, towns["town"], what="town")  # before the crime is read
    paths, _ = crime_paths(data_dir, force=FORCE)
    events = read_police_uk(paths, force=FORCE, cache_dir=cache_dir, use_cache=use_cache)
    rows = synth_points(areas, events, source=source, town=town, seed=seed, start=start,
                        end=end, n=n, towns=towns)  # fmt: skip
    out = Path(out)
    if out.suffix != ".csv":
        out = out / f"synthetic_{source}_{town_slug(town)}_seed{seed}.csv"
    return write_synth(rows, out)


def _span(events, start, end) -> tuple[pd.Timestamp, pd.Timestamp]:
    if start is None or end is None:
        study, _ = latest_complete_months(events)
        start = study.start if start is None else start
        end = study.end if end is None else end
    try:
        start, end = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
    except ValueError as exc:
        raise PsaGeoError(f"'start' and 'end' should be dates like 2019-01-01 ({exc})") from None
    if end <= start:
        raise PsaGeoError(f"'end' ({end.date()}) should be after 'start' ({start.date()})")
    return start, end


def _town_events(events: gpd.GeoDataFrame, shape) -> pd.DataFrame:
    """The located events in the town: x, y, category and location label, in a fixed order."""
    geom = events.geometry
    located = events[~(geom.isna() | geom.is_empty)]
    xy = shapely.get_coordinates(located.geometry.to_numpy())
    frame = pd.DataFrame(
        {
            "x": xy[:, 0],
            "y": xy[:, 1],
            "category": located["category"].to_numpy(),
            "label": located["location"].to_numpy() if "location" in located else "",
        }
    )
    frame = frame[shapely.contains_xy(shape, frame["x"], frame["y"])]
    return frame.sort_values(["x", "y", "category", "label"], ignore_index=True)


def _centre(local: pd.DataFrame) -> np.ndarray:
    """The snap point with the most events within :data:`CENTRE_RADIUS_M`."""
    points = local.groupby(["x", "y"]).size().reset_index(name="n")
    xy = points[["x", "y"]].to_numpy()
    tree = cKDTree(xy)
    near = tree.query_ball_point(xy, CENTRE_RADIUS_M)
    score = np.array([points["n"].to_numpy()[idx].sum() for idx in near])
    return xy[int(np.argmax(score))]


def _seasonal_days(rng, start, end, n: int, amplitude: float) -> pd.DatetimeIndex:
    days = pd.date_range(start, end, freq="D", inclusive="left")
    weight = 1 + amplitude * np.cos(2 * np.pi * (days.day_of_year.to_numpy() - 196) / 365.25)
    return pd.DatetimeIndex(np.sort(rng.choice(days.to_numpy(), size=n, p=weight / weight.sum())))


def _scatter(rng, anchors: np.ndarray, sigma: np.ndarray, shape, tries: int = 20) -> np.ndarray:
    """``anchors`` moved by normal scatter; points outside ``shape`` are redrawn (at most
    ``tries`` times, then left at their anchor)."""
    out = anchors + rng.normal(size=anchors.shape) * sigma[:, None]
    for _ in range(tries):
        outside = ~shapely.contains_xy(shape, out[:, 0], out[:, 1])
        if not outside.any():
            break
        out[outside] = anchors[outside] + rng.normal(size=(outside.sum(), 2)) * sigma[outside, None]
    outside = ~shapely.contains_xy(shape, out[:, 0], out[:, 1])
    out[outside] = anchors[outside]
    return out


def _coordinates(xy: np.ndarray, as_lonlat: np.ndarray) -> dict[str, np.ndarray]:
    """The four coordinate columns as text: degrees where ``as_lonlat``, else metres."""
    lon, lat = _TO_LONLAT.transform(xy[:, 0], xy[:, 1])
    return {
        "longitude": np.where(as_lonlat, np.char.mod("%.6f", lon), ""),
        "latitude": np.where(as_lonlat, np.char.mod("%.6f", lat), ""),
        "easting": np.where(as_lonlat, "", np.char.mod("%d", np.round(xy[:, 0]))),
        "northing": np.where(as_lonlat, "", np.char.mod("%d", np.round(xy[:, 1]))),
    }


def _clock(rng, n: int, low: float, high: float) -> np.ndarray:
    minutes = (rng.uniform(low, high, size=n) * 60 // 5 * 5).astype(int)
    return (
        np.char.mod("%02d", minutes // 60).astype(object)
        + ":"
        + np.char.mod("%02d", minutes % 60).astype(object)
    )


def _drug_litter(rng, local, centre, shape, start, end, n: int) -> pd.DataFrame:
    dates = _seasonal_days(rng, start, end, n, 0.4)
    drugs = local[local["category"].isin(DRUG_CATEGORIES)]
    anchors_pool = (drugs if len(drugs) >= 10 else local)[["x", "y"]].to_numpy()
    near_hot = rng.random(n) < 0.7
    anchors = np.where(
        near_hot[:, None], anchors_pool[rng.integers(len(anchors_pool), size=n)], centre
    )
    xy = _scatter(rng, anchors, np.where(near_hot, 40.0, 250.0), shape)
    items = np.minimum(rng.geometric(0.5, size=n), 12)
    stash = rng.random(n) < 0.03
    items[stash] = rng.integers(10, 41, size=int(stash.sum()))
    names, probs = zip(*_REPORTERS, strict=True)
    who = rng.choice(len(names), size=n, p=probs)
    public = who == 0
    collected = rng.random(n) < np.where(public, 0.85, 0.98)
    hours = {0: (7, 22), 1: (8, 17), 2: (8, 17), 3: (0, 24)}
    time = np.empty(n, dtype=object)
    for k, (low, high) in hours.items():
        time[who == k] = _clock(rng, int((who == k).sum()), low, high)
    time[rng.random(n) < 0.3] = ""
    return pd.DataFrame(
        {
            "date": dates.strftime("%Y-%m-%d"),
            "time": time,
            **_coordinates(xy, public),
            "items": items.astype(str),
            "reported_by": np.asarray(names, dtype=object)[who],
            "collected": np.where(collected, "Yes", "No"),
        }
    ).sort_values(["date", "time"], ignore_index=True)


def _places(local: pd.DataFrame, centre: np.ndarray, k: int = 6) -> np.ndarray:
    street = local[local["category"].isin(STREET_CATEGORIES)]
    counts = street.groupby(["x", "y"]).size().reset_index(name="n")
    near = np.hypot(counts["x"] - centre[0], counts["y"] - centre[1]) <= 800
    chosen = counts[near] if near.sum() >= 3 else counts
    if chosen.empty:
        return centre[None, :]
    chosen = chosen.sort_values(["n", "x", "y"], ascending=[False, True, True]).head(k)
    return chosen[["x", "y"]].to_numpy()


def _rough_sleeping(rng, local, centre, shape, start, end, n: int, pool: int) -> pd.DataFrame:
    places = _places(local, centre)
    home = rng.integers(len(places), size=pool)
    spell_start = start + pd.to_timedelta(rng.uniform(-60, (end - start).days, size=pool), "D")
    spell_end = spell_start + pd.to_timedelta(30 + rng.exponential(150, size=pool), "D")
    propensity = rng.gamma(2.0, size=pool)
    ids = np.char.mod("RS%05X", rng.choice(16**5, size=pool, replace=False)).astype(object)
    dates = _seasonal_days(rng, start, end, n, 0.25)
    person = np.full(n, -1)
    contact = rng.random(n) < 0.8
    for i in np.flatnonzero(contact):
        active = np.flatnonzero((spell_start <= dates[i]) & (dates[i] < spell_end))
        if len(active):
            p = propensity[active] / propensity[active].sum()
            person[i] = active[rng.choice(len(active), p=p)]
    known = person >= 0
    anchors = np.empty((n, 2))
    anchors[known] = places[home[person[known]]]
    anchors[~known] = places[rng.integers(len(places), size=int((~known).sum()))]
    xy = _scatter(rng, anchors, np.where(known, 15.0, 40.0), shape)
    people = np.where(rng.random(n) < np.where(known, 0.05, 0.15), 2, 1)
    time = np.where(known, _clock(rng, n, 5.5, 8.5), "")
    return pd.DataFrame(
        {
            "date": dates.strftime("%Y-%m-%d"),
            "time": time,
            **_coordinates(xy, ~known),
            "people": people.astype(str),
            "person_id": np.where(known, ids[np.maximum(person, 0)], ""),
        }
    ).sort_values(["date", "time"], ignore_index=True)


def _bins(local: pd.DataFrame, n: int) -> pd.DataFrame:
    drugs = local[local["category"].isin(DRUG_CATEGORIES)]
    counts = (
        (drugs if len(drugs) else local)
        .groupby(["x", "y", "label"]).size().reset_index(name="n")
        .sort_values(["n", "x", "y"], ascending=[False, True, True], ignore_index=True)
    )  # fmt: skip
    chosen: list[int] = []
    for i, (x, y) in enumerate(counts[["x", "y"]].to_numpy()):
        far = all(np.hypot(x - counts.at[j, "x"], y - counts.at[j, "y"]) >= 250 for j in chosen)
        if far:
            chosen.append(i)
        if len(chosen) == n:
            break
    sites = counts.loc[chosen]
    label = sites["label"].astype(str).str.removeprefix("On or near ").replace("", "Site")
    return pd.DataFrame(
        {
            "bin_id": [f"BIN{i + 1:02d}" for i in range(len(sites))],
            "site": label.to_numpy(),
            "easting": np.char.mod("%d", np.round(sites["x"].to_numpy())),
            "northing": np.char.mod("%d", np.round(sites["y"].to_numpy())),
        }
    )
