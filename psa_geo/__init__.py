"""psa_geo: geospatial analysis for the Peninsula Strategic Assessment.

Read crime, ASB and other incident records, place them in LSOAs and Community Safety
Partnerships, measure counts, rates and trends, and write maps and tables for partners.
"""

from ._version import __version__ as __version__
from .areas import dissolve_areas, load_areas, load_csp_membership
from .assign import AssignReport, assign_areas, locate_lsoa
from .build import BuildResult, build_study
from .cache import cache_folder
from .casualties import (
    CRASH_CAVEAT,
    casualties_by_area,
    casualty_rates,
    casualty_shares,
    casualty_table,
    load_road_user_groups,
    road_user,
    severity_counts,
)
from .completeness import incomplete_months, monthly_totals
from .corridor import (
    CorridorSpec,
    CorridorStudy,
    chainage,
    corridor_membership,
    corridor_study,
    load_corridor,
)
from .corridor_pages import corridor_map, write_corridor
from .counts import ALL_RECORDS, counts_coverage, read_counts
from .datadir import dataset_status, fetch_from_mirror, load_manifest
from .download import fetch_online
from .emerging import emerging_hotspots, mann_kendall
from .errors import InputFileError, MissingDataError, PsaGeoError
from .events import IngestReport, validate_events
from .force import Force, load_force
from .geotiff import write_geotiff
from .gistar import gistar
from .grids import count_points, default_cell_size, make_grid
from .groups import load_crime_groups, load_mapped_groups, unmapped_categories
from .hotspot_change import hotspot_change
from .hotspot_files import read_hotspots, write_hotspots
from .hotspot_maps import area_hotspot_map, change_layer, hotspot_map
from .hotspot_pages import write_hotspots_index
from .hotspots import AreaHotspots, HotspotResult, area_hotspots, hotspot_study
from .inequality import SlopeIndex, inequality_summary, inequality_table, slope_index
from .inequality_pages import concentration_curve_svg, write_inequality
from .kde import kde
from .maps import rate_map
from .measures import change_pct, rate_table, trend_arrow
from .names import match_name
from .outcome_pages import write_outcomes
from .outcomes import (
    file_extracts,
    load_outcome_groups,
    outcome_table,
    outcome_texts,
    outcomes_by_file,
    outcomes_by_month,
    unmapped_outcomes,
)
from .overview import csp_sentences, overview_grid
from .page_assets import save_map
from .periods import Period, calendar_year, financial_year, latest_complete_months, parse_period
from .place_search import PlaceSearch, place_index
from .point_counts import BinCoverage, finds_near_bins, report_counts
from .point_sources import PointSource, load_point_sources, point_tables, write_point_sources
from .points import PointsReport, load_points_config, read_points
from .police_uk import read_police_uk
from .population import load_estimates, nearest_year, population_for, read_population
from .profile_pages import render_profile, write_profiles, write_towns_index
from .profiles import TownProfile, town_profiles
from .repeats import repeat_locations
from .rough_sleeping import read_snapshot, snapshot_table
from .scale import Scale, choose_scale
from .series import monthly_series, seasonality
from .stats import (
    change_significance,
    change_test,
    compare_share_with_benchmark,
    compare_with_benchmark,
    estimate_overdispersion,
    funnel_flags,
    funnel_limits,
    funnel_plot_svg,
    poisson_ci,
    proportion_ci,
    rate_ci,
)
from .stats19 import Stats19Report, link_casualties, read_stats19
from .suppression import suppress_lines
from .surface import Surface
from .synth import synth_points, write_synth
from .tallies import tally, tally_police_uk
from .towns import assign_towns, define_town, load_towns, town_areas, town_match_report

__all__ = [
    "ALL_RECORDS",
    "CRASH_CAVEAT",
    "AreaHotspots",
    "AssignReport",
    "BinCoverage",
    "BuildResult",
    "CorridorSpec",
    "CorridorStudy",
    "Force",
    "HotspotResult",
    "IngestReport",
    "InputFileError",
    "MissingDataError",
    "Period",
    "PlaceSearch",
    "PointSource",
    "PointsReport",
    "PsaGeoError",
    "Scale",
    "SlopeIndex",
    "Stats19Report",
    "Surface",
    "TownProfile",
    "area_hotspot_map",
    "area_hotspots",
    "assign_areas",
    "assign_towns",
    "build_study",
    "cache_folder",
    "calendar_year",
    "casualties_by_area",
    "casualty_rates",
    "casualty_shares",
    "casualty_table",
    "chainage",
    "change_layer",
    "change_pct",
    "change_significance",
    "change_test",
    "choose_scale",
    "compare_share_with_benchmark",
    "compare_with_benchmark",
    "concentration_curve_svg",
    "corridor_map",
    "corridor_membership",
    "corridor_study",
    "count_points",
    "counts_coverage",
    "csp_sentences",
    "dataset_status",
    "default_cell_size",
    "define_town",
    "dissolve_areas",
    "emerging_hotspots",
    "estimate_overdispersion",
    "fetch_from_mirror",
    "fetch_online",
    "file_extracts",
    "financial_year",
    "finds_near_bins",
    "funnel_flags",
    "funnel_limits",
    "funnel_plot_svg",
    "gistar",
    "hotspot_change",
    "hotspot_map",
    "hotspot_study",
    "incomplete_months",
    "inequality_summary",
    "inequality_table",
    "kde",
    "latest_complete_months",
    "link_casualties",
    "load_areas",
    "load_corridor",
    "load_crime_groups",
    "load_csp_membership",
    "load_estimates",
    "load_force",
    "load_manifest",
    "load_mapped_groups",
    "load_outcome_groups",
    "load_point_sources",
    "load_points_config",
    "load_road_user_groups",
    "load_towns",
    "locate_lsoa",
    "make_grid",
    "mann_kendall",
    "match_name",
    "monthly_series",
    "monthly_totals",
    "nearest_year",
    "outcome_table",
    "outcome_texts",
    "outcomes_by_file",
    "outcomes_by_month",
    "overview_grid",
    "parse_period",
    "place_index",
    "point_tables",
    "poisson_ci",
    "population_for",
    "proportion_ci",
    "rate_ci",
    "rate_map",
    "rate_table",
    "read_counts",
    "read_hotspots",
    "read_points",
    "read_police_uk",
    "read_population",
    "read_snapshot",
    "read_stats19",
    "render_profile",
    "repeat_locations",
    "report_counts",
    "road_user",
    "save_map",
    "seasonality",
    "severity_counts",
    "slope_index",
    "snapshot_table",
    "suppress_lines",
    "synth_points",
    "tally",
    "tally_police_uk",
    "town_areas",
    "town_match_report",
    "town_profiles",
    "trend_arrow",
    "unmapped_categories",
    "unmapped_outcomes",
    "validate_events",
    "write_corridor",
    "write_geotiff",
    "write_hotspots",
    "write_hotspots_index",
    "write_inequality",
    "write_outcomes",
    "write_point_sources",
    "write_profiles",
    "write_synth",
    "write_towns_index",
]
