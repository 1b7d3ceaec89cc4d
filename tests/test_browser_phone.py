"""The demo's report.html on a phone (390 x 844 CSS px, touch, as an iPhone 12-15 shows it) in
headless Chromium driven with Selenium: the page never scrolls sideways, the charts are
legible (bars and labels at reading size, not shrunk with the page), wide tables (RPO,
applications) scroll inside their own box, the applications come before Fix first and the
findings, and each status filter shows as many rows as it says.

Set DRGUARD_SCREENSHOTS=DIR to keep screenshots of the phone view there (never in git).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from auditor.cli import main

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

from tests.browser import STICKING_OUT, chromium  # noqa: E402

pytestmark = pytest.mark.slow

WIDTH, HEIGHT = 390, 844
MIN_TEXT_PX = 12  # smallest legible text on a phone
MIN_BAR_PX = 12


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
        assert main(["demo", "--output-dir", str(out)]) == 0
    return out / "report.html"


@pytest.fixture(scope="module")
def phone() -> Iterator[Any]:
    with chromium(WIDTH, HEIGHT) as driver:
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 3, "mobile": True})
        driver.execute_cdp_cmd("Emulation.setTouchEmulationEnabled", {"enabled": True})
        yield driver


def _open(driver: Any, page: Path) -> None:
    driver.get(page.as_uri())
    driver.get_log("browser")
    assert driver.execute_script("return window.innerWidth") == WIDTH


def _shot(driver: Any, element: Any, name: str) -> None:
    where = os.environ.get("DRGUARD_SCREENSHOTS")
    if where:
        Path(where).mkdir(parents=True, exist_ok=True)
        driver.execute_script("arguments[0].scrollIntoView()", element)
        driver.save_screenshot(str(Path(where) / f"phone-{name}.png"))


def _box(driver: Any, element: Any) -> dict[str, float]:
    return driver.execute_script(
        "var r = arguments[0].getBoundingClientRect();"
        "return {left: r.left, right: r.right, width: r.width, height: r.height,"
        " top: r.top + window.scrollY};", element)


def _font_px(driver: Any, element: Any) -> float:
    return float(driver.execute_script(
        "return parseFloat(getComputedStyle(arguments[0]).fontSize)", element))


def test_the_page_never_scrolls_sideways(phone: Any, page: Path) -> None:
    _open(phone, page)
    for d in phone.find_elements(By.TAG_NAME, "details"):  # every fix, evidence, run detail
        phone.execute_script("arguments[0].open = true", d)
    Select(phone.find_element(By.CSS_SELECTOR, "[data-filter=status]")).select_by_value("all")
    assert phone.execute_script("return document.documentElement.scrollWidth") <= WIDTH
    out = phone.execute_script(STICKING_OUT)
    assert out == []
    assert [e for e in phone.get_log("browser") if e["level"] in ("SEVERE", "WARNING")] == []


def test_charts_are_legible(phone: Any, page: Path) -> None:
    _open(phone, page)
    charts = phone.find_elements(By.CSS_SELECTOR, "figure.chart")
    assert [c.get_attribute("id") for c in charts][:2] == ["chart-controls", "chart-accounts"]
    for chart in charts:
        bars = chart.find_elements(By.CSS_SELECTOR, ".bar")
        assert bars
        assert _box(phone, chart)["height"] >= len(bars) * (MIN_BAR_PX + MIN_TEXT_PX)
        for bar in bars:
            fill = _box(phone, bar.find_element(By.CSS_SELECTOR, ".bar-fill"))
            label = bar.find_element(By.CSS_SELECTOR, ".bar-lbl")
            value = bar.find_element(By.CSS_SELECTOR, ".bar-val")
            assert fill["height"] >= MIN_BAR_PX and fill["width"] >= 4
            assert _font_px(phone, label) >= MIN_TEXT_PX <= _font_px(phone, value)
            # the whole label is shown (not cut), inside the screen
            assert phone.execute_script(
                "return arguments[0].scrollWidth <= arguments[0].clientWidth + 1", label)
            assert _box(phone, label)["right"] <= WIDTH and _box(phone, value)["right"] <= WIDTH
            assert label.text and value.text.isdigit()
        # a bar's length follows its count: the longest bar is the largest count
        counts = [int(b.find_element(By.CSS_SELECTOR, ".bar-val").text) for b in bars]
        widths = [_box(phone, b.find_element(By.CSS_SELECTOR, ".bar-fill"))["width"]
                  for b in bars]
        assert widths.index(max(widths)) == counts.index(max(counts))
    _shot(phone, charts[0], "charts")


def test_wide_tables_scroll_inside_their_box(phone: Any, page: Path) -> None:
    _open(phone, page)
    for ident in ("rpo-table", "by-control"):
        table = phone.find_element(By.ID, ident)
        box = phone.execute_script("return arguments[0].closest('.scroll')", table)
        assert box is not None, ident
        frame = _box(phone, box)
        assert frame["left"] >= 0 and frame["right"] <= WIDTH, ident
    rpo = phone.find_element(By.ID, "rpo-table")
    box = phone.execute_script("return arguments[0].closest('.scroll')", rpo)
    style = phone.execute_script("return getComputedStyle(arguments[0]).overflowX", box)
    assert style == "auto"
    # wider than the screen: the reader swipes the table, not the page
    assert phone.execute_script("return arguments[0].scrollWidth > arguments[0].clientWidth",
                                box)
    phone.execute_script("arguments[0].scrollLeft = arguments[0].scrollWidth", box)
    assert phone.execute_script("return arguments[0].scrollLeft", box) > 0
    assert phone.execute_script("return window.scrollX") == 0
    # every column is reachable and its text at reading size
    for cell in rpo.find_elements(By.CSS_SELECTOR, "thead th"):
        assert _font_px(phone, cell) >= MIN_TEXT_PX
    assert _box(phone, rpo.find_element(By.CSS_SELECTOR, "td.res"))["width"] >= 150
    _shot(phone, rpo, "rpo")
    apps = phone.find_element(By.CSS_SELECTOR, "table.applications")
    assert phone.execute_script("return arguments[0].closest('.scroll') !== null", apps)


def test_applications_come_before_fix_first_and_the_findings(phone: Any, page: Path) -> None:
    _open(phone, page)
    y = {i: _box(phone, phone.find_element(By.ID, i))["top"]
         for i in ("verdict", "applications", "fix-first", "summary", "findings-section",
                   "attempts", "run")}
    assert y["verdict"] < y["applications"] < y["fix-first"] < y["summary"] \
        < y["findings-section"] < y["attempts"] < y["run"]
    assert phone.find_element(By.ID, "applications").is_displayed()
    _shot(phone, phone.find_element(By.ID, "verdict"), "top")


def test_each_status_choice_shows_what_it_counts(phone: Any, page: Path) -> None:
    _open(phone, page)
    status = Select(phone.find_element(By.CSS_SELECTOR, "[data-filter=status]"))
    total = len(phone.find_elements(By.CSS_SELECTOR, "tbody.finding"))
    for option in status.options:
        status.select_by_value(option.get_attribute("value"))
        shown = [b for b in phone.find_elements(By.CSS_SELECTOR, "tbody.finding")
                 if b.is_displayed()]
        n = int(option.get_attribute("data-count"))
        assert len(shown) == n, option.text
        assert phone.find_element(By.ID, "shown").text == f"{n} of {total} shown"
