"""Which waivers a run names as having waived nothing (drguard.waivers.Usage): only those of a
control it judged, and never one of a control with a resource it could not read (the waived
resource may be that one)."""

from __future__ import annotations

import datetime as dt

from drguard import waivers
from drguard.evaluate import finding
from drguard.facts import Resource
from drguard.settings import Settings
from drguard.verdict import Verdict

CONTROL = "backup-bucket-versioning"


def _settings() -> Settings:
    return Settings(waivers=waivers.parse([
        {"control": CONTROL, "resource": "arn:aws:s3:::gone-*", "reason": "r", "owner": "o",
         "expires": "2999-01-01"},
        {"control": "*", "resource": "arn:aws:s3:::also-gone", "reason": "r", "owner": "o",
         "expires": "2999-01-01"}]))


def _judge(settings: Settings, status: str) -> None:
    fact = Resource(ref="arn:aws:s3:::other", name="other")
    finding(CONTROL, fact, Verdict(status, "m"), "live", settings, dt.date(2026, 12, 6))  # type: ignore[arg-type]


def test_a_judged_control_names_its_stale_waivers() -> None:
    settings = _settings()
    _judge(settings, "pass")
    named = settings.waiver_use.unused(settings.waivers, dt.date(2026, 12, 6))
    assert len(named) == 2 and "arn:aws:s3:::gone-*" in named[0]


def test_a_control_with_an_unread_resource_names_none() -> None:
    settings = _settings()
    _judge(settings, "pass")
    _judge(settings, "unknown")  # an error finding: that resource could not be read
    assert settings.waiver_use.unused(settings.waivers, dt.date(2026, 12, 6)) == []
