"""``psa-geo build --demo``: the point-source pages and a town profile built from synthetic
example data (:mod:`psa_geo.synth`), in ``maps/demo/``, apart from the real outputs."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd

from .filenames import safe_name
from .periods import Period
from .point_sources import FOLDER as POINTS_FOLDER
from .point_sources import load_point_sources, town_point_figures, write_point_sources
from .profile_pages import write_profiles
from .profiles import town_profiles
from .synth import SYNTH_SOURCES, synth_points, write_synth
from .towns import with_towns

FOLDER = "demo"
DEMO_TOWN = "Penzance"
DEMO_SEED = 1


def write_demo(
    out_dir: str | Path,
    events: gpd.GeoDataFrame,
    areas: gpd.GeoDataFrame,
    towns: pd.DataFrame,
    *,
    study: Period,
    comparison: Period,
    town: str = DEMO_TOWN,
    seed: int = DEMO_SEED,
    **profile_options,
) -> list[Path]:
    """Write ``out_dir/demo/``: synthetic needle finds, rough-sleeping reports and needle bins
    for ``town`` over both periods (``data/``, each with its README), their page and maps
    (``points/``) and the town's profile with those sections filled (``towns/``). Every file
    built from the synthetic records, the profile and its index are stamped "synthetic example
    data"; the profile's crime map and figures are real police.uk data."""
    folder = Path(out_dir) / FOLDER
    start, end = min(study.start, comparison.start), max(study.end, comparison.end)
    written, points = [], []
    for source in SYNTH_SOURCES:
        rows = synth_points(
            areas, events, source=source, town=town, seed=seed, start=start, end=end, towns=towns
        )
        files = write_synth(rows, folder / "data" / f"synthetic_{source}.csv")
        written += files
        points.append((source, files[0]))
    placed_areas = with_towns(areas, towns)
    sources = load_point_sources(points, placed_areas, towns=towns, synthetic=True)
    files, tables = write_point_sources(
        sources,
        placed_areas,
        folder,
        study=study,
        comparison=comparison,
        map_area=("town", town),
        links=[(f"{town} profile with these sections", f"../towns/{safe_name(town)}.html")],
        home="../../index.html",
    )
    profiles = town_profiles(
        events, areas, towns, names=[town], study=study, comparison=comparison, **profile_options
    )
    page = f"../{POINTS_FOLDER}/index.html"
    profiles[0].point_sources.update(town_point_figures(sources, tables, town, page=page))
    return [*written, *files, *write_profiles(profiles, folder / "towns", home="../../index.html")]
