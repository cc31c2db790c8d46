"""psa_geo: geospatial analysis for the Peninsula Strategic Assessment.

Read crime, ASB and other incident records, place them in LSOAs and Community Safety
Partnerships, measure counts, rates and trends, and write maps and tables for partners.
"""

from .areas import dissolve_areas, load_areas, load_csp_membership
from .assign import AssignReport, assign_areas, locate_lsoa
from .datadir import dataset_status, fetch_from_mirror, load_manifest
from .errors import InputFileError, MissingDataError, PsaGeoError
from .events import IngestReport, validate_events
from .police_uk import read_police_uk

__all__ = [
    "AssignReport",
    "IngestReport",
    "InputFileError",
    "MissingDataError",
    "PsaGeoError",
    "assign_areas",
    "dataset_status",
    "dissolve_areas",
    "fetch_from_mirror",
    "load_areas",
    "load_csp_membership",
    "load_manifest",
    "locate_lsoa",
    "read_police_uk",
    "validate_events",
]
__version__ = "0.1.0"
