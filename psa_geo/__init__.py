"""psa_geo: geospatial analysis for the Peninsula Strategic Assessment.

Read crime, ASB and other incident records, place them in LSOAs and Community Safety
Partnerships, measure counts, rates and trends, and write maps and tables for partners.
"""

from ._version import __version__ as __version__
from .areas import dissolve_areas, load_areas, load_csp_membership
from .assign import AssignReport, assign_areas, locate_lsoa
from .build import BuildResult, build_study
from .datadir import dataset_status, fetch_from_mirror, load_manifest
from .download import fetch_online
from .errors import InputFileError, MissingDataError, PsaGeoError
from .events import IngestReport, validate_events
from .maps import rate_map
from .measures import change_pct, default_category_groups, rate_table, trend_arrow
from .periods import Period, calendar_year, financial_year, latest_complete_months, parse_period
from .police_uk import read_police_uk

__all__ = [
    "AssignReport",
    "BuildResult",
    "IngestReport",
    "InputFileError",
    "MissingDataError",
    "Period",
    "PsaGeoError",
    "assign_areas",
    "build_study",
    "calendar_year",
    "change_pct",
    "dataset_status",
    "default_category_groups",
    "dissolve_areas",
    "fetch_from_mirror",
    "fetch_online",
    "financial_year",
    "latest_complete_months",
    "load_areas",
    "load_csp_membership",
    "load_manifest",
    "locate_lsoa",
    "parse_period",
    "rate_map",
    "rate_table",
    "read_police_uk",
    "trend_arrow",
    "validate_events",
]
