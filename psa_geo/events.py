"""The canonical events table (DESIGN.md) and the report every reader returns with it."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import geopandas as gpd
import pandas as pd
import pyproj

CRS = "EPSG:27700"
CANONICAL_COLUMNS = (
    "source",
    "event_id",
    "date",
    "date_precision",
    "category",
    "weight",
    "geometry",
)
DATE_PRECISIONS = ("year", "month", "day", "minute")


@functools.cache
def to_national_grid() -> pyproj.Transformer:
    """WGS 84 longitude and latitude to British National Grid (as ``GeoSeries.to_crs``);
    made on first use (it takes 50-200 ms)."""
    return pyproj.Transformer.from_crs("EPSG:4326", CRS, always_xy=True)


@dataclass
class IngestReport:
    """What a reader did with every row it read.

    ``rows_read == accepted + sum(rejected.values())``; ``accepted == located + without_location``.
    Every physical line of the files is accounted for (readers that count lines):
    ``lines_read == header_lines + row_lines + blank_lines``, where ``row_lines`` are the
    lines the rows read span (a row with a line break inside a quoted field spans several).
    ``months`` lists the months (``YYYY-MM``) the accepted rows cover. ``rejected_rows``
    holds the unusable rows themselves, with ``source_file``, ``source_row`` and ``reason``.
    """

    source: str
    files: list[str] = field(default_factory=list)
    rows_read: int = 0
    lines_read: int = 0
    header_lines: int = 0
    row_lines: int = 0
    blank_lines: int = 0
    accepted: int = 0
    located: int = 0
    without_location: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    overlaps: list[dict] = field(default_factory=list)
    months: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rejected_rows: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)

    def summary(self) -> str:
        """One line for the log: rows and files read, accepted, without location, rejected."""
        return (
            f"read {self.rows_read} rows from {len(self.files)} files: {self.accepted} accepted "
            f"({self.without_location} without location), {sum(self.rejected.values())} rejected"
        )

    def add_lines(self, lines) -> None:
        """Add one file's line counts (a :class:`psa_geo._csvlines.Lines`)."""
        self.lines_read += lines.lines_read
        self.header_lines += lines.header_lines
        self.blank_lines += lines.blank_lines
        self.row_lines += int(lines.row_lines[~lines.blank].sum())

    def check(self) -> None:
        """Raise AssertionError if the counts do not add up."""
        assert self.rows_read == self.accepted + sum(self.rejected.values()), self
        assert self.accepted == self.located + self.without_location, self
        self.check_lines()

    def check_lines(self) -> None:
        """Raise AssertionError if the physical lines do not add up (when counted)."""
        if self.lines_read:
            lines = self.header_lines + self.row_lines + self.blank_lines
            assert self.lines_read == lines, self

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "files": self.files,
            "rows_read": self.rows_read,
            "lines_read": self.lines_read,
            "header_lines": self.header_lines,
            "row_lines": self.row_lines,
            "blank_lines": self.blank_lines,
            "accepted": self.accepted,
            "located": self.located,
            "without_location": self.without_location,
            "rejected": dict(sorted(self.rejected.items())),
            "rejected_total": sum(self.rejected.values()),
            "overlaps": self.overlaps,
            "months": self.months,
            "notes": self.notes,
        }


def validate_events(events: gpd.GeoDataFrame, *, name: str = "events") -> None:
    """Check that ``events`` is a canonical events table; raise ValueError naming every problem."""
    if not isinstance(events, gpd.GeoDataFrame):
        raise TypeError(f"'{name}' should be a GeoDataFrame, got {type(events).__name__}")
    problems = []
    missing = [c for c in CANONICAL_COLUMNS if c not in events.columns]
    if missing:
        problems.append(f"missing columns {missing}")
    if events.crs is None:
        problems.append("it has no CRS (set one with set_crs(); psa_geo never guesses)")
    elif events.crs != gpd.GeoSeries(crs=CRS).crs:
        problems.append(f"its CRS is {events.crs.name}, not EPSG:27700 (use to_crs('EPSG:27700'))")
    if problems:
        raise ValueError(f"'{name}' is not a canonical events table: " + "; ".join(problems))
