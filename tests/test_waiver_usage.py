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


def test_a_waiver_of_a_region_or_account_the_run_did_not_read_is_not_called_unused() -> None:
    settings = Settings(waivers=waivers.parse([
        {"control": CONTROL, "resource": arn, "reason": "r", "owner": "o",
         "expires": "2999-01-01"} for arn in (
            "arn:aws:s3:eu-west-1:111111111111:gone",     # a region not read
            "arn:aws:s3:us-east-1:222222222222:gone",     # an account not read
            "arn:aws:s3:us-east-1:111111111111:gone",     # read: stale
            "arn:aws:s3:*:111111111111:gone-too",         # any region: stale
            "arn:aws:s3:::bucket-gone")]))                # no region, no account: stale
    _judge(settings, "pass")
    named = settings.waiver_use.unused(settings.waivers, dt.date(2026, 12, 6),
                                       accounts=["111111111111"], regions=["us-east-1"])
    assert [n.split("resource '")[1].split("'")[0] for n in named] == [
        "arn:aws:s3:us-east-1:111111111111:gone", "arn:aws:s3:*:111111111111:gone-too",
        "arn:aws:s3:::bucket-gone"]
    # not narrowed: every stale waiver is named
    assert len(settings.waiver_use.unused(settings.waivers, dt.date(2026, 12, 6))) == 5


def test_scan_of_one_region_does_not_call_another_regions_waiver_unused(
        aws, tmp_path, caplog) -> None:  # noqa: ANN001
    import logging

    from auditor.cli import main

    aws.client("rds", "us-east-1").create_db_instance(
        DBInstanceIdentifier="orders", DBInstanceClass="db.t4g.micro", Engine="postgres",
        AllocatedStorage=20, MasterUsername="app", MasterUserPassword="pw-123456789")
    cfg = tmp_path / "dr.yaml"
    cfg.write_text("waivers:\n" + "".join(
        f"  - {{control: rds-deletion-protection, resource: '{arn}', reason: r, owner: o, "
        "expires: 2999-01-01}\n" for arn in (
            "arn:aws:rds:eu-west-1:123456789012:db:reports",
            "arn:aws:rds:us-east-1:123456789012:db:gone")))
    with caplog.at_level(logging.WARNING):
        main(["scan", "--endpoint-url", aws.url, "--regions", "us-east-1", "--config",
              str(cfg), "--output-dir", str(tmp_path / "out"), "--format", "json"])
    warned = [r.getMessage() for r in caplog.records if "waived no finding" in r.getMessage()]
    assert len(warned) == 1 and "db:gone" in warned[0], warned
