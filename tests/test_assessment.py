"""The assessment tables, as `psa-geo build` and `psa-geo tables` write them."""

import re
import xml.etree.ElementTree as ET

import pandas as pd
import pytest
from conftest import run_cli

from psa_geo.measures import ALL_CRIME, ASB


@pytest.mark.data
def test_quick_facts_league_and_seasonality(built):
    out, _ = built
    quick = pd.read_csv(out / "tables" / "quick_facts.csv", encoding="utf-8-sig")
    assert quick["area"].nunique() == 9  # the Peninsula and 8 CSPs
    assert quick["group"].nunique() == 13  # the rows of crime_groups.csv
    pen = quick[quick["area"].str.startswith("Peninsula")]
    assert set(pen["vs_peninsula"]) == {"(benchmark)"}
    csp = quick[~quick["area"].str.startswith("Peninsula")]
    assert set(csp["vs_peninsula"]) <= {"higher", "similar", "lower"}
    assert set(quick["change_significance"]) <= {
        "significant increase",
        "significant decrease",
        "not significant",
    }
    assert (quick["rate_lower_95"] <= quick["rate_per_1000"]).all()

    league = pd.read_csv(out / "tables" / "league_table.csv", encoding="utf-8-sig")
    crime = league[league["group"] == ALL_CRIME].sort_values("rank")
    assert crime["rank"].tolist() == list(range(1, 9))
    assert crime["rate_per_1000"].is_monotonic_decreasing
    assert crime["note"].iloc[0] == "highest" and crime["note"].iloc[-1] == "lowest"

    season = pd.read_csv(out / "tables" / "seasonality.csv", encoding="utf-8-sig")
    monthly = pd.read_csv(
        out / "tables" / "monthly_csp.csv", encoding="utf-8-sig", parse_dates=["month"]
    )
    row = season[(season["area_code"] == "E22000356") & (season["category"] == ASB)].iloc[0]
    cornwall = monthly[(monthly["area_code"] == "E22000356") & (monthly["category"] == ASB)
                       & (monthly["month"].dt.year == 2019)]  # fmt: skip
    summer = cornwall[cornwall["month"].dt.month.isin([7, 8, 9])]["count"].mean()
    other = cornwall[~cornwall["month"].dt.month.isin([7, 8, 9])]["count"].mean()
    assert row["summer_uplift_pct"] == pytest.approx(100 * (summer - other) / other, abs=1e-3)


@pytest.mark.data
def test_assessment_page_and_funnels(built):
    out, _ = built
    page = (out / "assessment.html").read_text(encoding="utf-8")
    assert "Quick facts" in page and "Caveats" in page and "iQuanta" in page
    # Colour is always paired with the word.
    for word in ("higher", "similar", "lower"):
        assert re.search(
            rf'<span class="rag" style="background:#[0-9A-F]{{6}}">{word}</span>', page
        )
    for name in ("funnel_csp_all_crime", "funnel_lsoa_all_crime", "funnel_csp_asb"):
        svg = ET.parse(out / "funnels" / f"{name}.svg").getroot()
        assert svg.tag.endswith("svg")
    lsoa = pd.read_csv(out / "tables" / "rates_lsoa.csv", encoding="utf-8-sig")
    crime = lsoa[lsoa["category"] == ALL_CRIME]
    plain = (crime["funnel_flag"] != "within").mean()
    adjusted = (crime["funnel_flag_adjusted"] != "within").mean()
    # Resident rates are overdispersed: plain Poisson limits flag most LSOAs.
    assert plain > 0.5 and adjusted < plain / 3
    assert crime["funnel_phi"].iloc[0] > 1


@pytest.mark.data
def test_tables_command_with_users_groups_escapes_names(small_data, tmp_path):
    # On the cut-down data: it has every crime type, and names, not numbers, are tested.
    groups = tmp_path / "groups.csv"
    groups.write_text(
        "group,crime_type\nAll crime (excl. ASB),Burglary\nAll crime (excl. ASB),Drugs\n"
        "<b>Acquisitive</b>,Burglary\nAnti-social behaviour,Anti-social behaviour\n"
        "=HYPERLINK(x),Drugs\n"
    )
    out = tmp_path / "out"
    result = run_cli("tables", "--data-dir", small_data, "--out", out, "--groups", groups)
    assert result.returncode == 0, result.stderr
    assert "categories in no group" in result.stderr  # the types left out are named
    page = (out / "assessment.html").read_text(encoding="utf-8")
    assert "&lt;b&gt;Acquisitive&lt;/b&gt;" in page and "<b>Acquisitive" not in page
    assert not (out / "peninsula_map.html").exists()  # tables only
    for name in ("quick_facts", "league_table", "seasonality"):  # a formula is defused
        text = (out / "tables" / f"{name}.csv").read_text(encoding="utf-8-sig")
        assert "'=HYPERLINK(x)" in text and ",=HYPERLINK" not in text, name


@pytest.mark.data
def test_partial_study_period_is_refused_unless_asked(small_data, tmp_path):
    # Which months hold data is all that matters here: the cut-down data has every month.
    refused = run_cli("tables", "--data-dir", small_data, "--out", tmp_path, "--study", "2019/20")
    assert refused.returncode == 2
    assert "--allow-partial" in refused.stderr and "9 of 12 months" in refused.stderr
    allowed = run_cli(
        "tables",
        "--data-dir",
        small_data,
        "--out",
        tmp_path,
        "--study",
        "2019/20",
        "--allow-partial",
        "--quiet",
    )
    assert allowed.returncode == 0, allowed.stderr
    pen = pd.read_csv(tmp_path / "tables" / "rates_peninsula.csv", encoding="utf-8-sig")
    assert pen["period"].iloc[0] == "2019/20 (partial: 9 of 12 months)"
