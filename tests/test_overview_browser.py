"""The overview grid of index.html read in headless Chromium as a screen reader reads it."""

import browser_support
import pandas as pd
import pytest

from psa_geo.measures import ALL_CRIME


@pytest.mark.browser
@pytest.mark.data
def test_index_grid_reads_as_a_table_and_fits_one_screen(built):
    browser_support.require_browser()
    out, _ = built
    csp = pd.read_csv(out / "tables" / "rates_csp.csv", encoding="utf-8-sig")
    groups = list(dict.fromkeys(csp["category"]))
    with browser_support.launch_browser() as browser:
        with browser_support.open_page(
            out / "index.html", viewport=(1366, 768), wait_for="table#overview", browser=browser
        ) as session:
            page = session.page
            name = "CSPs compared with the Peninsula by crime group"
            table = page.get_by_role("table", name=name)
            assert table.count() == 1
            headers = table.get_by_role("columnheader").all_inner_texts()
            assert [" ".join(h.split()) for h in headers] == ["CSP", *groups]
            row_headers = table.get_by_role("rowheader").all_inner_texts()
            assert len(row_headers) == 9 and row_headers[-1] == "Peninsula rate per 1,000"
            assert set(row_headers[:-1]) == set(csp["area_name"])
            plymouth = table.get_by_role("row").filter(has_text="Plymouth")
            cells = plymouth.get_by_role("cell").all_inner_texts()
            row = csp[(csp["area_name"] == "Plymouth") & (csp["category"] == ALL_CRIME)].iloc[0]
            assert " ".join(cells[0].split()) == f"{row.vs_parent_95} {row.trend} {row.trend_word}"
            box = table.bounding_box()
            # the whole grid on one 1366×768 screen, without scrolling either way
            assert box["y"] + box["height"] <= 768 and box["x"] + box["width"] <= 1366
            print(f"overview grid at 1366×768: {box['width']:.0f}×{box['height']:.0f} px")
            assert session.errors == [] and session.unexpected == []
        with browser_support.open_page(
            out / "index.html", viewport=(390, 844), wait_for="table#overview", browser=browser
        ) as session:
            page = session.page
            # at phone width the grid scrolls inside its own region, which fits the screen
            region = page.get_by_role("region", name="CSPs compared with the Peninsula")
            box = region.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= 390
            assert region.evaluate("el => el.scrollWidth > el.clientWidth")
