"""Headless Chromium for the browser tests (Debian's chromium through chromedriver), and the
page checks more than one of them makes."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.chrome.service import Service  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")

# the elements whose right edge passes the viewport's, outside a box that scrolls (pre,
# .scroll): what would make the page scroll sideways
STICKING_OUT = """
    var w = document.documentElement.clientWidth, bad = [];
    document.querySelectorAll('body *').forEach(function (e) {
      var r = e.getBoundingClientRect();
      var inside = e.parentElement && e.parentElement.closest('pre, .scroll');
      if (r.width && r.right > w + 1 && !inside) {
        bad.push(e.tagName + '.' + e.className + ' ' + Math.round(r.right));
      }
    });
    return bad.slice(0, 10);"""


@contextmanager
def chromium(width: int, height: int) -> Iterator[Any]:
    """A headless Chromium window of that size, its console logged, in a profile of its own;
    skipped with DRGUARD_NO_BROWSER=1, a failure (naming the fix) when it is not installed."""
    if os.environ.get("DRGUARD_NO_BROWSER") == "1":
        pytest.skip("DRGUARD_NO_BROWSER=1")
    if not (CHROMIUM and DRIVER):
        pytest.fail("chromium and chromedriver are needed: `make test` installs them "
                    "(apt-get install chromium chromium-driver), or set DRGUARD_NO_BROWSER=1")
    profile = tempfile.mkdtemp(prefix="drguard-chromium-")
    opts = webdriver.ChromeOptions()
    for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        opts.add_argument(flag)
    opts.binary_location = CHROMIUM
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=opts, service=Service(DRIVER))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
