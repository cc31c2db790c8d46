"""Town profile pages: one print-friendly HTML page per town, its map, and an index page."""

from __future__ import annotations

import base64
import io
import json
import math
import os
from pathlib import Path

import pandas as pd

from ._version import __version__
from .assessment import RAG
from .credits import HOME, credits
from .csvfile import write_csv
from .errors import InputFileError
from .filenames import unique_names
from .hotspot_maps import GI_COLOURS, area_hotspot_map
from .hotspots import AreaHotspots
from .inequality import DEPRIVATION_COLUMNS
from .measures import ALL_CRIME, ASB
from .page_assets import save_map
from .population import BASE_YEAR
from .profiles import POINT_SOURCES, TownProfile
from .templating import inline_svg
from .templating import template as load_template

LINE_STYLES = {ALL_CRIME: ("#0072B2", "-", "o"), ASB: ("#D55E00", "--", "s")}
"""Okabe–Ito blue and vermilion, with different dashes and markers, so colour is not needed."""
CAVEATS = (
    "Counts are police.uk street-level crimes and ASB incidents placed in the town's LSOAs. "
    "police.uk moves each location to the nearest of a fixed set of 'snap points' to protect "
    "privacy, so a point on the map is near, not at, where the event happened.",
    "Crimes without a location are in no town's figures (they count in the force total only).",
    "police.uk is extracted once a month and not revised when crimes are later reclassified or "
    "cancelled, so figures differ slightly from iQuanta and from the police's own systems.",
    "Rates are per 1,000 residents (the line under the study period says which estimates). "
    "Town centres draw visitors, "
    "workers and night-time economy users who are not residents, so their resident rates run "
    "high; compare towns with care.",
    "'Higher', 'similar' or 'lower' compare the town's rate with Cornwall's (or the other "
    "towns') at 95% confidence: 'similar' means the benchmark lies within the town's interval.",
)


def render_profile(
    profile: TownProfile,
    *,
    map_file: str | None = None,
    population: dict | None = None,
    place: str | None = None,
    home: str = HOME,
    match: dict | None = None,
) -> str:
    """The profile page of one town as HTML (every value escaped).

    ``map_file`` is the town's interactive map, embedded in a frame on screen; the printed
    page carries a static image of the same content instead. ``population`` is the ``info``
    of :func:`psa_geo.population.population_for` (default: the mid-2018 estimates); ``place``
    (the force definition's area) is added to the heading; ``home`` is the link back to the
    site index; ``match`` (the town's row of :func:`town_match_report`) adds the
    :func:`coverage_caution` under its rates when its LSOAs cover under half the town.
    """
    figures = profile.figures.to_dict("records")
    season = [] if profile.seasonality is None else profile.seasonality.to_dict("records")
    hotspot_rows = {
        group: result.repeats.to_dict("records")
        for group, result in profile.hotspots.items()
        if not result.repeats.empty
    }
    return load_template("profile.html.j2").render(
        p=profile,
        headline=profile.headline().to_dict("records"),
        figures=figures,
        season=season,
        repeats=hotspot_rows,
        chart_svg=monthly_chart_svg(profile),
        map_png=static_map_png(profile),
        map_file=map_file,
        point_sources=POINT_SOURCES,
        rag=RAG,
        caveats=CAVEATS,
        attribution=credits("boundaries", "police_uk", "deprivation"),
        version=__version__,
        **_population(population),
        lsoa_rows=lsoa_table(profile).to_dict("records"),
        place=place,
        home=home,
        caution=coverage_caution(match),
    )


LSOA_COLUMNS = ("lsoa_code", "area_name", *DEPRIVATION_COLUMNS, "population", "count",
                "rate_per_1000", "rate_lower_95", "rate_upper_95", "period")  # fmt: skip


def lsoa_table(profile: TownProfile) -> pd.DataFrame:
    """The town's LSOAs, most deprived first: their IMD 2019 decile and rank, IDACI, rural-urban
    class, residents and all-crime count and rate (``<town>_lsoas.csv``)."""
    frame = pd.DataFrame(profile.lsoas.drop(columns="geometry"))
    frame = frame[[c for c in LSOA_COLUMNS if c in frame]]
    frame = frame.rename(columns={"area_name": "lsoa_name"})
    return frame.sort_values(["imd_rank", "lsoa_code"], ignore_index=True)


def _population(info: dict | None) -> dict:
    """The template values of the population line: ``population_year``, ``population``."""
    if info is None:
        return {"population_year": BASE_YEAR, "population": ""}
    return {"population_year": info["year"], "population": info["sentence"]}


def profile_map(profile: TownProfile, *, place: str | None = None):
    """The town's interactive folium map: LSOAs with their figures, each mapped group's Gi*
    classes, and all crime's emerging hot spots, density and top repeat locations."""
    hot = AreaHotspots(profile.town, "town", profile.study, profile.outline, profile.hotspots,
                       profile.too_few, profile.places)  # fmt: skip
    where = f"{profile.town}{f' ({place})' if place else ''}"
    return area_hotspot_map(hot, title=f"{where}: crime hotspots, {profile.study.label}",
                            lsoas=profile.lsoas)  # fmt: skip


def monthly_chart_svg(profile: TownProfile) -> str:
    """Monthly counts of crime and ASB over both periods as an inline SVG, with a title and
    the study period shaded and labelled."""
    from matplotlib import rc_context
    from matplotlib.figure import Figure

    with rc_context({"font.size": 9}):
        fig = Figure(figsize=(7.2, 2.8))
        ax = fig.add_subplot()
        for group, rows in profile.monthly.groupby("category", sort=False):
            colour, dash, marker = LINE_STYLES.get(group, ("#000000", ":", "^"))
            ax.plot(
                rows["month"],
                rows["count"],
                color=colour,
                linestyle=dash,
                marker=marker,
                markersize=3,
                label=group,
            )
        ax.axvspan(profile.study.start, profile.study.end, color="#000000", alpha=0.06, lw=0)
        ax.text(
            profile.study.start,
            1.01,
            f" study period {profile.study.label}",
            transform=ax.get_xaxis_transform(),
            fontsize=8,
            va="bottom",
        )
        ax.set_ylabel("events per month")
        ax.set_ylim(bottom=0)
        ax.legend(loc="lower left", frameon=False, ncols=2)
        ax.spines[["top", "right"]].set_visible(False)
        _tight_layout(fig)
    return inline_svg(fig, f"Monthly crime and ASB in {profile.town}")


def _tight_layout(fig) -> None:
    """``fig.tight_layout()``, leaving the figure without a layout engine: tight_layout leaves
    a placeholder engine behind, for which ``savefig`` draws the whole figure once more
    before drawing it for real."""
    fig.tight_layout()
    fig.set_layout_engine(None)


def static_map_png(profile: TownProfile) -> str:
    """A base64 PNG of the town for print: LSOAs shaded by all-crime rate (cividis, with
    the rate written in each), 99%/95% crime hot spots outlined, the town outline."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.2, 5.4), dpi=110)
    ax = fig.add_subplot()
    lsoas = profile.lsoas
    lsoas.plot(
        ax=ax,
        column="rate_per_1000",
        cmap="cividis_r",
        edgecolor="#666",
        linewidth=0.6,
        legend=True,
        legend_kwds={"label": "all crime per 1,000 residents", "shrink": 0.7},
    )
    for point, rate in zip(
        lsoas.geometry.representative_point(), lsoas["rate_per_1000"], strict=True
    ):
        ax.annotate(
            f"{rate:.0f}",
            (point.x, point.y),
            ha="center",
            fontsize=7,
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "lw": 0, "alpha": 0.8},
        )
    crime = profile.hotspots.get(ALL_CRIME)
    if crime is not None:
        hot = crime.cells[crime.cells["hotspot_level"] >= 2]
        if not hot.empty:
            hot.dissolve().boundary.plot(ax=ax, color=GI_COLOURS[3][0], linewidth=1.4)
            ax.plot([], [], color=GI_COLOURS[3][0], label="crime hot spot (Gi*, 95%+)")
    profile.outline.boundary.plot(ax=ax, color="#000", linewidth=1.8)
    ax.plot([], [], color="#000", label=f"{profile.town} (its LSOAs)")
    ax.legend(loc="lower left", fontsize=7, framealpha=0.9)
    ax.set_axis_off()
    ax.set_title(
        f"{profile.town}: all crime per 1,000 residents by LSOA, {profile.study.label}", fontsize=9
    )
    _tight_layout(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return base64.b64encode(buffer.getvalue()).decode("ascii")


INDEX_ENTRY = "_index.json"
"""Suffix of the file beside each town's page holding what the towns index shows of it, so
the index can be rebuilt from the towns present (``psa-geo profile --town X`` after a build)."""
_ENTRY_KEYS = ("count", "rate_per_1000", "rate_lower_95", "rate_upper_95", "trend",
               "change_pct", "vs_parent_95")  # fmt: skip


def town_index_entry(
    profile: TownProfile,
    page: str,
    *,
    match: dict | None = None,
    population: dict | None = None,
    place: str | None = None,
) -> dict:
    """What the towns index shows of one town (plain JSON values): its name, page, residents,
    LSOAs, crime and ASB figures, periods, population line, place and definition match."""
    by_group = profile.figures.set_index("category")

    def figures(group: str) -> dict | None:
        if group not in by_group.index:
            return None
        row = by_group.loc[group]
        return {key: _plain(row.get(key)) for key in _ENTRY_KEYS}

    return {
        "town": profile.town,
        "page": page,
        "population": _plain(profile.population),
        "lsoas": _plain(profile.deprivation.get("lsoas")),
        "crime": figures(ALL_CRIME),
        "asb": figures(ASB),
        "synthetic": bool(profile.synthetic),
        "study": profile.study.label,
        "comparison": profile.comparison.label,
        "incomplete": profile.incomplete or "",
        "population_sentence": _population(population)["population"],
        "place": place,
        "match": None if match is None else {k: _plain(v) for k, v in match.items()},
        "psa_geo_version": __version__,
    }


def _plain(value):
    """A JSON value: numpy numbers as Python ones, NaN and NA as None."""
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return None
    return value.item() if hasattr(value, "item") else value


COVERAGE_CAUTION_PCT = 50.0
"""A town whose LSOAs cover less of its built-up area than this (per cent) carries a caution
beside its rate wherever it is ranked."""


def coverage_caution(match: dict | None) -> dict[str, str] | None:
    """The caution of a town whose LSOAs cover under :data:`COVERAGE_CAUTION_PCT` of its
    built-up area (``match``: its row of :func:`town_match_report`), else None: ``short``
    (shown beside its rate) and ``text`` (the sentence that explains it)."""
    pct = (match or {}).get("bua_covered_pct")
    if pct is None or pct >= COVERAGE_CAUTION_PCT:
        return None
    return {
        "short": f"caution: its LSOAs cover {pct:.0f}% of the built-up area",
        "text": f"{match['town']}: its {match['lsoa_count']} LSOAs ({match['population']:,} "
        f"residents) cover {pct:.0f}% of its built-up area, so its rate describes part of the "
        "town (often the centre, where resident rates run high) and its rank can mislead.",
    }


def towns_index_html(entries: list[dict], *, home: str = HOME) -> str:
    """The index page comparing the towns of ``entries`` (:func:`town_index_entry`) side by
    side, ranked by all-crime rate, with how well each town's LSOAs match its built-up area
    and parish where the entries hold it (in the order of ``entries``); a town whose LSOAs
    cover under half of its built-up area carries a caution beside its rate
    (:func:`coverage_caution`)."""
    rows = [dict(entry) for entry in entries]
    rates = pd.Series(
        [r["crime"]["rate_per_1000"] if r["crime"] else None for r in rows], dtype=float
    )
    for row, rank in zip(rows, rates.rank(ascending=False, method="min"), strict=True):
        row["rank"] = None if math.isnan(rank) else int(rank)
    rows.sort(key=lambda r: (r["rank"] is None, r["rank"] or 0, r["town"]))
    for row in rows:
        row["caution"] = coverage_caution(row["match"])
    studies = list(dict.fromkeys(r["study"] for r in rows))
    first = next((r for r in rows if r["study"] == studies[0]), rows[0]) if rows else {}
    mixed = [f"{study}: {', '.join(r['town'] for r in rows if r['study'] == study)}"
             for study in studies] if len(studies) > 1 else []  # fmt: skip
    return load_template("towns_index.html.j2").render(
        match=[e["match"] for e in entries if e["match"]],
        rows=rows,
        synthetic=any(r["synthetic"] for r in rows),
        study=first.get("study", ""),
        comparison=first.get("comparison", ""),
        mixed=mixed,
        incomplete=first.get("incomplete", ""),
        rag=RAG,
        caveats=CAVEATS,
        attribution=credits("boundaries", "police_uk"),
        version=__version__,
        population=first.get("population_sentence", ""),
        place=first.get("place"),
        home=home,
    )


def read_towns_index_entries(folder: str | Path) -> list[dict]:
    """The index entries (``*_index.json``) of the towns whose page is in ``folder``."""
    folder = Path(folder)
    entries = []
    for path in sorted(folder.glob(f"*{INDEX_ENTRY}")):
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputFileError(path, f"cannot be read as a towns index entry ({exc})") from None
        if isinstance(entry, dict) and (folder / str(entry.get("page", ""))).is_file():
            entries.append(entry)
    return entries


def write_towns_index(
    folder: str | Path, *, order: list[str] | None = None, home: str = HOME
) -> list[Path]:
    """Rebuild ``index.html`` (and ``town_definitions.csv`` when the towns have definition
    matches) of the towns folder from the towns present in it: their ``*_index.json``.
    ``order`` is the towns' order in their definitions file (others follow by name)."""
    folder = Path(folder)
    rank = {town: i for i, town in enumerate(order or [])}
    entries = sorted(read_towns_index_entries(folder),
                     key=lambda e: (rank.get(e["town"], len(rank)), e["town"]))  # fmt: skip
    written = []
    matches = [e["match"] for e in entries if e["match"]]
    definitions, index = folder / "town_definitions.csv", folder / "index.html"
    for path in (definitions, index):
        if os.path.lexists(path):
            path.unlink()  # never written through: it may be a link to the previous site's
    if matches:
        write_csv(pd.DataFrame(matches), definitions)
        written.append(definitions)
    index.write_text(towns_index_html(entries, home=home), encoding="utf-8")
    return [*written, index]


def write_profiles(
    profiles: list[TownProfile],
    out_dir: str | Path,
    *,
    match: pd.DataFrame | None = None,
    population: dict | None = None,
    place: str | None = None,
    index: bool = True,
    home: str = HOME,
) -> list[Path]:
    """Write ``<town>.html``, ``<town>_map.html``, ``<town>_figures.csv``, ``<town>_lsoas.csv``
    (:func:`lsoa_table`) and ``<town>_index.json`` (what the index shows) per town and,
    unless ``index=False``, ``index.html`` comparing every town present in ``out_dir`` (plus
    ``town_definitions.csv`` from ``match``, the :func:`town_match_report`;
    :func:`write_towns_index`); file names are made safe from the town names
    (:func:`psa_geo.filenames.safe_name`), and two towns whose names would share one
    ("St Ives", "St. Ives") are an error before anything is written. ``population`` as for
    :func:`render_profile`; ``home`` is the site index, relative to ``out_dir``."""
    out_dir = Path(out_dir)
    unique_names([profile.town for profile in profiles], what="town")  # one page per town
    out_dir.mkdir(parents=True, exist_ok=True)
    matches = {} if match is None else {m["town"]: m for m in match.to_dict("records")}
    written = []
    for profile in profiles:
        map_path = out_dir / f"{profile.slug}_map.html"
        save_map(profile_map(profile, place=place), map_path, index_href=home)
        page = out_dir / f"{profile.slug}.html"
        html = render_profile(profile, map_file=map_path.name, population=population,
                              place=place, home=home, match=matches.get(profile.town))  # fmt: skip
        page.write_text(html, encoding="utf-8")
        figures = out_dir / f"{profile.slug}_figures.csv"
        write_csv(profile.figures, figures)
        lsoas = write_csv(lsoa_table(profile), out_dir / f"{profile.slug}_lsoas.csv")
        entry = out_dir / f"{profile.slug}{INDEX_ENTRY}"
        entry.write_text(json.dumps(town_index_entry(
            profile, page.name, match=matches.get(profile.town), population=population,
            place=place), indent=1, ensure_ascii=False), encoding="utf-8")  # fmt: skip
        written += [page, map_path, figures, lsoas, entry]
    if not index:
        return written
    return [*written, *write_towns_index(out_dir, order=[p.town for p in profiles], home=home)]
