"""Credits for the pages: each page names only the sources it uses."""

from __future__ import annotations

HOME = "../index.html"
"""The site index, seen from a page one folder down (``towns/``, ``hotspots/``, ...)."""

OGL = "Contains public sector information licensed under the Open Government Licence v3.0."
SOURCES = {
    "boundaries": "Boundaries: Source: Office for National Statistics licensed under the Open "
    "Government Licence v.3.0. Contains OS data © Crown copyright and database right 2019.",
    "police_uk": "Crime: data.police.uk (OGL v3.0).",
    "stats19": "Road collisions: Department for Transport, STATS19 (OGL v3.0).",
    "population": "Population: ONS mid-year estimates (OGL v3.0).",
    "deprivation": "Deprivation: English Indices of Deprivation 2019, Ministry of Housing, "
    "Communities and Local Government; Rural Urban Classification 2011, ONS and Defra "
    "(OGL v3.0).",
}


def credits(*sources: str) -> str:
    """The credit line for a page using ``sources`` (keys of :data:`SOURCES`), in that order
    after the Open Government Licence statement."""
    unknown = [s for s in sources if s not in SOURCES]
    if unknown:
        raise ValueError(f"'sources' should be keys of SOURCES, got {unknown}")
    return " ".join([OGL, *(SOURCES[s] for s in sources)])
