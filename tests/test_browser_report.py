"""report.html in a real browser: headless Chromium (Debian's chromium + chromium-driver) driven
with Selenium. `make test` installs the browser when it is missing.

Checks what a reader relies on: no console errors; the default view shows only fails; the
filters change the visible rows, each as many as it says; "Fix first" is there and its links reach
their finding; nothing overflows horizontally at 390 px. Set DRGUARD_SCREENSHOTS=DIR to keep
screenshots (1400 px and 390 px) there; they never go into git.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditor.reports import write_reports
from drguard.findings import Finding

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

from tests.browser import STICKING_OUT, chromium  # noqa: E402

A, B = "111111111111", "222222222222"
LONG = "arn:aws:s3:::" + "a-very-long-backup-bucket-name-without-any-break-" * 4 + "end"


def _fix(summary: str) -> dict[str, str | None]:
    return {"summary": summary, "pulumi": 'aws.rds.Instance("db", deletion_protection=True)',
            "cli": "aws rds modify-db-instance --db-instance-identifier db "
                   "--deletion-protection --apply-immediately"}


def make_findings() -> list[Finding]:
    """Fails in two controls and accounts, passes, an error, hostile and unbreakable text."""
    out = [
        Finding("backup-bucket-object-lock", "fail", "live", LONG, "No Object Lock.", A,
                "us-east-1", remediation=_fix("Recreate the bucket with Object Lock.")),
        Finding("backup-bucket-object-lock", "fail", "live", "arn:aws:s3:::acme-backups-dr",
                "Default retention is 7 days, below 30.", B, "us-west-2",
                remediation=_fix("Raise the default retention of acme-backups-dr to 30 days."),
                events=[{"time": "2026-11-29T12:18:00Z", "eventName": "PutObjectLockConfiguration",
                         "principal": "arn:aws:sts::2:assumed-role/ci/<img src=x onerror=1>",
                         "sourceIp": "198.51.100.7", "eventId": "e1"}]),
        Finding("rds-deletion-protection", "fail", "live", "arn:aws:rds:us-east-1:1:db:orders",
                "deletionProtection is false <script>alert(1)</script>", A, "us-east-1",
                remediation=_fix("Turn on deletion protection for orders.")),
        Finding("iam-access-key-rotation", "error", "live", "arn:aws:iam::2:user/ci",
                "AccessDenied on iam:ListAccessKeys.", B, None),
    ]
    out += [Finding("rds-deletion-protection", "pass", "live",
                    f"arn:aws:rds:us-east-1:1:db:ok-{i}", "deletionProtection is true.", A,
                    "us-east-1") for i in range(3)]
    return out


RUN = {"command": "scan", "tool_version": "1.0", "started": "2026-12-01T02:00:00.123456+00:00",
       "finished": "2026-12-01T02:03:10.654321+00:00", "accounts": [A, B],
       "account_status": [{"id": A, "name": "prod", "status": "scanned"},
                          {"id": B, "name": "backup-vault-account", "status": "scanned"}],
       "regions": ["us-east-1", "us-west-2"], "fail_on": "high",
       "skipped": {"accounts": 0, "records_decoded": 0, "notes": ["a note"]}}
TREND = [{"schema": "dr-audit-history/1", "started": f"2026-11-{d:02d}T02:00:00Z",
          "command": "scan", "gaps": g, "by_severity": {"critical": 1, "high": g - 1,
                                                        "medium": 0, "low": 0},
          "errors": 0, "total": 9, "incomplete": False, "exit_code": 1}
         for d, g in ((28, 5), (29, 4), (30, 3))]


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("html")
    history = out / "history"
    history.mkdir()
    import json

    for i, t in enumerate(TREND):
        (history / f"{i}.json").write_text(json.dumps(t))
    return write_reports(make_findings(), RUN, out, ["html"], history=history)["html"]


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    with chromium(1400, 1000) as driver:
        yield driver


def _open(driver: webdriver.Chrome, page: Path, width: int = 1400) -> None:
    driver.set_window_size(width, 1000)
    driver.get(page.as_uri())
    driver.get_log("browser")  # start each test with an empty console


def _visible(driver: webdriver.Chrome) -> list[str]:
    return [b.get_attribute("data-status") for b in
            driver.find_elements(By.CSS_SELECTOR, "tbody.finding") if b.is_displayed()]


def _shot(driver: webdriver.Chrome, name: str) -> None:
    where = os.environ.get("DRGUARD_SCREENSHOTS")
    if where:
        Path(where).mkdir(parents=True, exist_ok=True)
        height = driver.execute_script("return document.documentElement.scrollHeight")
        width = driver.execute_script("return window.outerWidth")
        driver.set_window_size(width, min(int(height) + 100, 6000))
        driver.save_screenshot(str(Path(where) / f"{name}.png"))


def test_no_console_errors(browser: webdriver.Chrome, page: Path) -> None:
    _open(browser, page)
    Select(browser.find_element(By.CSS_SELECTOR, "[data-filter=status]")).select_by_value("all")
    Select(browser.find_element(By.CSS_SELECTOR, "[data-filter=status]")).select_by_value("pass")
    for d in browser.find_elements(By.TAG_NAME, "details"):
        browser.execute_script("arguments[0].open = true", d)
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert errors == []
    assert browser.execute_script("return document.documentElement.className").strip() == "js"


def test_default_view_shows_only_fails(browser: webdriver.Chrome, page: Path) -> None:
    _open(browser, page)
    shown = _visible(browser)
    assert sorted(shown) == ["error", "fail", "fail", "fail"]  # 3 passes hidden
    assert "4 of 7 shown" in browser.find_element(By.ID, "shown").text
    _shot(browser, "report-1400")


def test_filters_change_rows(browser: webdriver.Chrome, page: Path) -> None:
    _open(browser, page)
    status = Select(browser.find_element(By.CSS_SELECTOR, "[data-filter=status]"))
    status.select_by_value("all")
    assert sorted(_visible(browser)) == ["error", "fail", "fail", "fail", "pass", "pass", "pass"]
    status.select_by_value("")
    assert "pass" not in _visible(browser)
    # each choice shows as many rows as it says
    for option in status.options:
        status.select_by_value(option.get_attribute("value"))
        assert len(_visible(browser)) == int(option.get_attribute("data-count"))
        assert option.text.endswith(f"({option.get_attribute('data-count')})")
    status.select_by_value("error")
    assert _visible(browser) == ["error"]
    status.select_by_value("")
    Select(browser.find_element(By.CSS_SELECTOR, "[data-filter=control]")).select_by_value(
        "rds-deletion-protection")
    assert _visible(browser) == ["fail"]
    browser.find_element(By.ID, "reset").click()
    Select(browser.find_element(By.CSS_SELECTOR, "[data-filter=account]")).select_by_value(B)
    assert sorted(_visible(browser)) == ["error", "fail"]
    browser.find_element(By.ID, "reset").click()
    box = browser.find_element(By.CSS_SELECTOR, "[data-filter=q]")
    box.send_keys("acme-backups")
    assert _visible(browser) == ["fail"]
    box.clear()
    box.send_keys("198.51.100.7")  # the event's source IP is searchable too
    assert _visible(browser) == ["fail"]
    browser.find_element(By.ID, "reset").click()
    assert len(_visible(browser)) == 4


def test_fix_first_and_verdict(browser: webdriver.Chrome, page: Path) -> None:
    _open(browser, page)
    verdict = browser.find_element(By.ID, "verdict")
    assert verdict.is_displayed() and "Gaps found: 3 gaps, 2 critical" in verdict.text
    fix = browser.find_element(By.ID, "fix-first")
    items = fix.find_elements(By.CSS_SELECTOR, "ol.fixfirst > li")
    assert len(items) == 3 and fix.is_displayed()
    # critical first, then the high one; each with its own one-line fix
    assert "Recreate the bucket with Object Lock." in items[0].text + items[1].text
    assert "Turn on deletion protection for orders." in items[2].text
    # Fix first sits above the summary and the findings
    y = {i: browser.find_element(By.ID, i).location["y"]
         for i in ("verdict", "fix-first", "summary", "findings-section", "run")}
    assert y["verdict"] < y["fix-first"] < y["summary"] < y["findings-section"] < y["run"]
    assert browser.find_element(By.ID, "run").get_attribute("open") is None  # collapsed
    assert browser.find_element(By.ID, "chart-trend").is_displayed()  # 3 old runs + this one
    # a Fix first link lands on its finding
    link = items[2].find_element(By.TAG_NAME, "a")
    target = link.get_attribute("href").split("#", 1)[1]
    link.click()
    assert browser.find_element(By.ID, target).is_displayed()
    assert browser.execute_script("return location.hash") == f"#{target}"


@pytest.mark.parametrize("passes", [False, True])
def test_nothing_overflows_at_390px(browser: webdriver.Chrome, page: Path,
                                    passes: bool) -> None:
    _open(browser, page, 390)
    if passes:
        Select(browser.find_element(By.CSS_SELECTOR, "[data-filter=status]")).select_by_value(
            "all")
        for d in browser.find_elements(By.TAG_NAME, "details"):
            browser.execute_script("arguments[0].open = true", d)
    inner = browser.execute_script("return document.documentElement.clientWidth")
    assert inner <= 390
    wide = browser.execute_script(
        "return document.documentElement.scrollWidth")
    assert wide <= inner
    # and no single element sticks out past the right edge (wide tables scroll inside their
    # own box, which itself fits)
    out = browser.execute_script(STICKING_OUT)
    assert out == []
    if not passes:
        _shot(browser, "report-390")


@pytest.fixture(scope="module")
def apps_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Findings of two applications (one managed by a stack, one known by its dr:app tag)."""
    out = tmp_path_factory.mktemp("apps")
    findings = make_findings()
    for f in findings:
        if f.resource.endswith(":db:orders") or f.resource.endswith("acme-backups-dr"):
            f.application, f.stack, f.tier, f.owner = "shop/prod", "shop/prod", "critical", "t"
        elif f.control == "rds-deletion-protection":
            f.application = "reporting"
    run = {**RUN, "objectives": {"tiers": {"critical": {"targetRpoHours": 1,
                                                        "targetRtoMinutes": 60}},
                                 "applications": {}}}
    return write_reports(findings, run, out, ["html"])["html"]


def test_applications_open_the_report_and_link_to_their_findings(
        browser: webdriver.Chrome, apps_page: Path) -> None:
    _open(browser, apps_page)
    rows = browser.find_elements(By.CSS_SELECTOR, "#applications tbody tr")
    assert [r.get_attribute("data-app") for r in rows] == ["shop/prod", "reporting"]
    assert "critical" in rows[0].text and "60" in rows[0].text
    y = {i: browser.find_element(By.ID, i).location["y"]
         for i in ("verdict", "applications", "fix-first", "findings-section", "frameworks")}
    assert y["verdict"] < y["applications"] < y["fix-first"] < y["findings-section"]
    assert "never a certification claim" in browser.find_element(By.ID, "frameworks").text
    rows[0].find_element(By.CSS_SELECTOR, "a.app-link").click()
    resources = [b.get_attribute("data-resource") for b in
                 browser.find_elements(By.CSS_SELECTOR, "tbody.finding") if b.is_displayed()]
    assert sorted(resources) == ["arn:aws:rds:us-east-1:1:db:orders",
                                 "arn:aws:s3:::acme-backups-dr"]
    assert browser.get_log("browser") == []
