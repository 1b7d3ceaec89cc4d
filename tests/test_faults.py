"""Fail closed under transient faults, read by read.

The demo's organization (two accounts, two regions) is seeded once into an emulator of this
module's own; a clean `--org` scan records every read it makes. Then each read fails alone
(all of its calls, answered 503, throttled or dropped, with one attempt: a call past its
retries) and the scan must: not crash, keep every finding of the clean run for its (control,
resource) with the same status or `error`, or cover it by an `error` finding of the control on
a wildcard of that scope (or on the account, when the account could not be opened), and exit
as `outputs.md` says (1 with gaps, else 3). The same invariant holds over whole scans with
10-60% of all requests failing, for several seeds (DRG_FAULT_SEEDS raises the count: 2 by
default). The faulted scans replay the emulator's answers to the requests that do not fail
(`tests.fault_hook.Replay`); the command-line tests go to the emulator for every call. Then
`--org` with a role that cannot be assumed, `logs` from S3 with a failing listing or object,
and state backends (S3, file, Pulumi Cloud) that cannot be read.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

import pytest

from auditor.aws import AwsOptions
from auditor.cli import main
from auditor.demo_seed import DemoOrg, seed
from auditor.emulator import MotoServer
from auditor.reports import outcome
from auditor.scan import ScanOptions, ScanResult, scan
from auditor.services import recovery, rpo
from drguard.findings import Finding, at_or_above
from drguard.settings import Settings, from_mapping
from tests.conftest import use_emulator_credentials
from tests.fault_hook import Clean, FailOperation, FailWhere, Plan, RandomFaults, Replay, inject

pytestmark = pytest.mark.slow

# Every read a clean scan of the demo organization makes (test_every_read_is_listed keeps the
# list whole: a new read fails it until it is added here, and so gets its own test).
OPERATIONS = (
    "backup:DescribeBackupVault", "backup:GetBackupPlan", "backup:GetBackupVaultAccessPolicy",
    "backup:ListBackupPlans", "backup:ListBackupSelections", "backup:ListBackupVaults",
    "backup:ListCopyJobs", "backup:ListRecoveryPointsByBackupVault", "backup:ListTags",
    "cloudtrail:DescribeTrails", "cloudtrail:GetEventSelectors", "cloudtrail:GetTrailStatus",
    "dynamodb:DescribeContinuousBackups", "dynamodb:DescribeTable", "dynamodb:ListBackups",
    "dynamodb:ListTables", "dynamodb:ListTagsOfResource",
    "ec2:DescribeSnapshots", "ec2:DescribeVolumes",
    "efs:DescribeBackupPolicy", "efs:DescribeFileSystems",
    "elasticache:DescribeCacheClusters", "elasticache:DescribeReplicationGroups",
    "events:ListRules", "events:ListTargetsByRule",
    "iam:GetAccountSummary", "iam:ListAccessKeys", "iam:ListUsers",
    "kms:DescribeKey",
    "organizations:DescribeOrganization", "organizations:DescribePolicy",
    "organizations:ListAccounts", "organizations:ListAccountsForParent",
    "organizations:ListOrganizationalUnitsForParent", "organizations:ListPolicies",
    "organizations:ListRoots", "organizations:ListTargetsForPolicy",
    "rds:DescribeDBClusterSnapshotAttributes", "rds:DescribeDBClusterSnapshots",
    "rds:DescribeDBClusters", "rds:DescribeDBInstanceAutomatedBackups",
    "rds:DescribeDBInstances", "rds:DescribeDBSnapshotAttributes", "rds:DescribeDBSnapshots",
    "rds:DescribeExportTasks",
    "redshift:DescribeClusterSnapshots", "redshift:DescribeClusters",
    "s3:GetBucketEncryption", "s3:GetBucketLocation", "s3:GetBucketNotificationConfiguration",
    "s3:GetBucketPolicyStatus", "s3:GetBucketReplication", "s3:GetBucketTagging",
    "s3:GetBucketVersioning", "s3:GetObjectLockConfiguration", "s3:GetPublicAccessBlock",
    "s3:ListBuckets", "s3:ListObjectVersions", "s3:ListObjectsV2",
    "sts:AssumeRole", "sts:GetCallerIdentity",
)
# Reads without which nothing can be scanned: the run stops before any check, with a clear
# one-line error (exit 2), and reports nothing at all, so nothing green either.
BEFORE_ANY_CHECK = {"sts:GetCallerIdentity": "cannot authenticate",
                    "organizations:ListAccounts": "cannot list the organization's accounts",
                    "organizations:DescribeOrganization":
                        "cannot list the organization's accounts",
                    "organizations:ListRoots": "cannot list the organization's accounts",
                    "organizations:ListOrganizationalUnitsForParent":
                        "cannot list the organization's accounts",
                    "organizations:ListAccountsForParent":
                        "cannot list the organization's accounts"}


@dataclass
class Demo:
    url: str
    org: DemoOrg
    settings: Settings
    now: dt.datetime
    replay: Replay
    clean: ScanResult | None = None
    clean_plan: Plan | None = None

    def scan(self, monkeypatch: Any, plan: Plan, attempts: int = 1,
             org: bool = True) -> ScanResult:
        opts = ScanOptions(aws=AwsOptions(endpoint_url=self.url, max_attempts=attempts,
                                          retry_mode="standard"),
                           regions=list(self.org.regions), org=org,
                           role_name=self.org.role_name if org else None, workers=4,
                           now=self.now)
        with inject(monkeypatch, plan):
            return scan(opts, self.settings)


@pytest.fixture(scope="module")
def demo() -> Iterator[Demo]:
    with pytest.MonkeyPatch.context() as mp, MotoServer() as server:
        use_emulator_credentials(mp, unset=("AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE"))
        org = seed(server.url)
        settings = from_mapping({"scope": {"stateBucket": org.state_bucket},
                                 "controls": {**rpo.EMULATOR_CONTROLS,
                                              **recovery.EMULATOR_CONTROLS}})
        d = Demo(server.url, org, settings, dt.datetime.now(dt.UTC), Replay())
        d.clean_plan = Clean(d.replay)
        d.clean = d.scan(mp, d.clean_plan)
        yield d


# ---- the invariant ------------------------------------------------------------------------

def _account_down(f: Finding) -> bool:
    return f.resource == f"arn:aws:iam::{f.account}:root" and "could not be scanned" in f.message


def _covers(err: Finding, f: Finding) -> bool:
    """An `error` finding of the same control that stands for `f`: on a wildcard of its
    scope, or on its account when the account could not be opened."""
    if err.control != f.control:
        return False
    if "*" in err.resource and fnmatchcase(f.resource, err.resource):
        # a wildcard over every account (":*:") stands for the others' resources too
        return err.account == f.account or err.resource.split(":")[4:5] == ["*"]
    return err.account == f.account and _account_down(err)


def broken(clean: list[Finding], faulted: list[Finding]) -> list[str]:
    """What breaks the invariant: a finding of the clean run that turned `pass` (or any other
    status than its own or `error`) or that is gone without an `error` standing for it."""
    by_key: dict[tuple[str, str], list[Finding]] = {}
    for f in faulted:
        by_key.setdefault((f.control, f.resource), []).append(f)
    errors = [f for f in faulted if f.status == "error"]
    out = []
    for c in clean:
        # the same account, or an account the faulted run could not tell
        same = [f for f in by_key.get((c.control, c.resource), [])
                if f.account in (c.account, None)]
        if same:
            bad = [f.status for f in same if f.status not in (c.status, "error")]
            if bad:
                out.append(f"{c.control} {c.resource}: {c.status} -> {bad}")
        elif not any(_covers(e, c) for e in errors):
            out.append(f"{c.control} {c.resource} ({c.status}): gone")
    return out


def _exit_code(result: ScanResult) -> int:
    return int(outcome(result.findings, {**result.run, "fail_on": "high"})["exit_code"])


def _expected_exit(result: ScanResult) -> int:
    gaps = any(f.is_gap and at_or_above(f.severity, "high") for f in result.findings)
    return 1 if gaps else 3


# ---- the clean run -------------------------------------------------------------------------

def test_every_read_is_listed(demo: Demo) -> None:
    assert demo.clean is not None and demo.clean_plan is not None
    assert sorted(demo.clean_plan.seen) == sorted(OPERATIONS)
    assert not [f for f in demo.clean.findings if f.status == "error"]
    assert {f.status for f in demo.clean.findings} == {"pass", "fail"}
    assert {f.account for f in demo.clean.findings} >= {demo.org.management, demo.org.member}


# ---- each read failing alone ---------------------------------------------------------------

@pytest.mark.parametrize("operation", OPERATIONS)
def test_each_read_failing_fails_closed(demo: Demo, monkeypatch: pytest.MonkeyPatch,
                                        operation: str) -> None:
    assert demo.clean is not None
    plan = FailOperation(operation, demo.replay)
    if operation in BEFORE_ANY_CHECK:
        from drguard.errors import ConfigError

        with pytest.raises(ConfigError, match=BEFORE_ANY_CHECK[operation]):
            demo.scan(monkeypatch, plan)
        assert plan.failed[operation] >= 1
        return
    result = demo.scan(monkeypatch, plan)
    assert plan.failed[operation] >= 1
    assert broken(demo.clean.findings, result.findings) == []
    # the run counts the failed read and says which checks it left `error`
    counted = result.run["skipped"]["operations"]
    assert any(op.split(" ")[0] == operation for op in counted), counted
    summary = outcome(result.findings, {**result.run, "fail_on": "high"})
    assert summary["incomplete"], summary
    # a failed call is counted as such; a role that cannot be assumed as an account not read
    assert any((p.endswith(" failed") and "AWS call" in p) or p.endswith("account not read")
               for p in summary["incomplete_parts"]), summary["incomplete_parts"]
    made_error = {f.control for f in result.findings if f.status == "error"} - {
        f.control for f in demo.clean.findings if f.status == "error"}
    unknowable = {c for op, cs in result.run["skipped"]["unknowable"].items()
                  if op.split(" ")[0] == operation for c in cs}
    assert unknowable <= made_error
    assert _exit_code(result) == _expected_exit(result)


# The holes this suite found first: the achieved-RPO table lost a backup bucket whose region
# could not be read, and every bucket when the listing failed; a failed trail listing made the
# trail bucket (a backup bucket because the trail writes to it) vanish from every bucket check.
@pytest.mark.parametrize("operation, control, resource", [
    ("s3:GetBucketLocation", "recovery-point-objective", "arn:aws:s3:::acme-db-exports"),
    ("s3:ListBuckets", "recovery-point-objective", "arn:aws:s3:::*"),
    ("cloudtrail:DescribeTrails", "recovery-point-objective", "arn:aws:s3:::*"),
    ("cloudtrail:DescribeTrails", "backup-bucket-object-lock", "arn:aws:s3:::*"),
    ("cloudtrail:DescribeTrails", "cloudtrail-bucket-protected",
     "arn:aws:cloudtrail:us-east-1:{management}:trail/*"),
])
def test_a_failed_read_is_error_where_it_was_needed(demo: Demo, monkeypatch: pytest.MonkeyPatch,
                                                    operation: str, control: str,
                                                    resource: str) -> None:
    result = demo.scan(monkeypatch, FailOperation(operation, demo.replay))
    ref = resource.format(management=demo.org.management)
    hits = [f for f in result.findings if f.control == control and f.resource == ref
            and f.account == demo.org.management]
    assert [f.status for f in hits] == ["error"], [
        (f.resource, f.status) for f in result.findings if f.control == control]
    assert operation in hits[0].message
    assert operation in {e["operation"] for e in hits[0].evidence["readErrors"]}


def test_a_fault_that_outlasts_the_retries_is_error(demo: Demo,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """With retries on, every attempt of the call fails, then the call: the same `error`."""
    assert demo.clean is not None
    plan = FailOperation("s3:ListBuckets", demo.replay)
    result = demo.scan(monkeypatch, plan, attempts=2)
    # two accounts, two attempts each
    assert plan.seen["s3:ListBuckets"] == plan.failed["s3:ListBuckets"] == 4
    assert result.run["skipped"]["operations"]["s3:ListBuckets"] == 2  # calls, not attempts
    assert broken(demo.clean.findings, result.findings) == []
    assert {f.status for f in result.findings if f.resource == "arn:aws:s3:::*"} == {"error"}


_ORG_READS = [op for op in OPERATIONS if op.startswith("organizations:")]


@pytest.fixture(scope="module")
def single(demo: Demo) -> ScanResult:
    """A clean scan of the management account alone (no --org)."""
    with pytest.MonkeyPatch.context() as mp:
        return demo.scan(mp, Clean(demo.replay), org=False)


@pytest.mark.parametrize("operation", _ORG_READS)
def test_single_account_scan_with_a_failed_organization_read(
        demo: Demo, single: ScanResult, monkeypatch: pytest.MonkeyPatch, operation: str) -> None:
    """Without --org the management account still judges the SCPs of the other accounts:
    when the organization cannot be read, they are `error` on every account's root."""
    plan = FailOperation(operation, demo.replay)
    result = demo.scan(monkeypatch, plan, org=False)
    assert plan.failed[operation] >= 1
    assert broken(single.findings, result.findings) == []
    assert "arn:aws:iam::*:root" in {f.resource for f in result.findings
                                     if f.control == "scp-deny-backup-deletion"
                                     and f.status == "error"}


# ---- whole scans with a share of every request failing --------------------------------------

_SEEDS = int(os.environ.get("DRG_FAULT_SEEDS", "2"))


@pytest.mark.parametrize("rate", (0.1, 0.3, 0.6))
@pytest.mark.parametrize("seed_", range(_SEEDS))
def test_random_faults_only_move_findings_toward_error(demo: Demo,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       rate: float, seed_: int) -> None:
    assert demo.clean is not None
    plan = RandomFaults(seed_ * 1000 + int(rate * 100), rate, spare=frozenset(BEFORE_ANY_CHECK),
                        replay=demo.replay)
    result = demo.scan(monkeypatch, plan)
    assert sum(plan.failed.values()) >= 1
    assert broken(demo.clean.findings, result.findings) == []
    assert _exit_code(result) == _expected_exit(result)


# ---- --org: an account whose role cannot be assumed -----------------------------------------

def test_org_account_that_cannot_be_opened_is_error_and_the_others_unchanged(
        demo: Demo, monkeypatch: pytest.MonkeyPatch) -> None:
    assert demo.clean is not None
    member = demo.org.member
    plan = FailWhere("sts:AssumeRole", kind="denied", replay=demo.replay)
    result = demo.scan(monkeypatch, plan)
    assert plan.failed["sts:AssumeRole"] == 1
    assert broken(demo.clean.findings, result.findings) == []
    # (SCP coverage is read from the management account: the member is still judged)
    mine = [f for f in result.findings if f.account == member
            and f.control != "scp-deny-backup-deletion"]
    assert mine and {f.status for f in mine} == {"error"}
    roots = [f for f in mine if f.resource == f"arn:aws:iam::{member}:root"]
    assert roots and all("AccessDenied" in f.message for f in roots)
    # every control judged in the member account by the clean run says error there
    assert {f.control for f in demo.clean.findings if f.account == member} - {
        "scp-deny-backup-deletion"} <= {f.control for f in mine}
    others = sorted((f.control, f.resource, f.status) for f in result.findings
                    if f.account != member and f.resource.split(":")[4:5] != ["*"])
    clean_others = sorted((f.control, f.resource, f.status) for f in demo.clean.findings
                          if f.account != member)
    # the management account is judged as before (a vault only the member's plan copies
    # into is `error` under the wildcard of what that account would have shown)
    assert [x for x in clean_others if x not in others] == [
        x for x in clean_others if x[0] == "backup-air-gapped" and demo.org.management in x[1]]
    assert result.run["account_status"][1]["status"] == "error" or any(
        a["status"] == "error" and a["id"] == member for a in result.run["account_status"])
    assert _exit_code(result) == 1


# ---- through the command line: exit code and what the reports say ---------------------------

def _cli(demo: Demo, monkeypatch: pytest.MonkeyPatch, plan: Plan, out: Any, *args: str,
         formats: str = "json,md") -> int:
    """The command as a user runs it (the emulator answers every call: no replay)."""
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("AWS_RETRY_MODE", "standard")
    cfg = out.parent / f"{out.name}.json"
    cfg.write_text(json.dumps({"scope": {"stateBucket": demo.org.state_bucket},
                               "controls": {**rpo.EMULATOR_CONTROLS,
                                            **recovery.EMULATOR_CONTROLS}}))
    with inject(monkeypatch, plan):
        return main([*args, "--endpoint-url", demo.url, "--output-dir", str(out),
                     "--config", str(cfg), "--format", formats])


def _scan_args(demo: Demo) -> list[str]:
    return ["scan", "--org", "--role-name", demo.org.role_name,
            "--regions", ",".join(demo.org.regions)]


def test_failed_trail_listing_keeps_the_trail_bucket_gaps_as_errors(
        demo: Demo, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """The trail bucket is a backup bucket because a trail writes to it: when the trails
    cannot be listed, its gaps (and every bucket control's) are `error` over the buckets whose
    scope could not be known, and the reports name the failed read and those controls."""
    out = tmp_path / "r"
    code = _cli(demo, monkeypatch, FailOperation("cloudtrail:DescribeTrails"),
                out, *_scan_args(demo), formats="json,md,html")
    report = json.loads((out / "report.json").read_text())
    assert code == report["summary"]["exit_code"] == 1
    unknowable = report["run"]["skipped"]["unknowable"]["cloudtrail:DescribeTrails"]
    assert {"backup-bucket-object-lock", "backup-bucket-versioning",
            "backup-bucket-deletion-alerts", "backup-bucket-public-access-block",
            "backup-bucket-replication", "recovery-point-objective",
            "cloudtrail-bucket-protected", "cloudtrail-enabled"} <= set(unknowable)
    wild = {f["control"] for f in report["findings"] if f["status"] == "error"
            and f["resource"] == "arn:aws:s3:::*"}
    assert {"backup-bucket-object-lock", "recovery-point-objective"} <= wild
    md = (out / "report.md").read_text()
    line = next(x for x in md.splitlines() if x.startswith("- `cloudtrail:DescribeTrails`"))
    assert "recovery-point-objective" in line and "could not be checked" in line
    html = (out / "report.html").read_text()
    assert "Failed read cloudtrail:DescribeTrails" in html


# ---- logs from S3: a listing or an object that fails ---------------------------------------

@pytest.mark.parametrize("where", ["listing", "object"])
def test_logs_with_a_failing_read_are_incomplete(demo: Demo, monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Any, where: str) -> None:
    source = f"s3://{demo.org.trail_bucket}/"
    if where == "listing":
        plan: Plan = FailOperation("s3:ListObjectsV2")
    else:  # one log file of the member account (its objects' keys carry the account id)
        plan = FailWhere("s3:GetObject", f"/{demo.org.member}/CloudTrail/us-west-2/")
    out = tmp_path / where
    code = _cli(demo, monkeypatch, plan, out, "logs", source)
    report = json.loads((out / "report.json").read_text())
    assert plan.failed, plan.seen
    logs = report["run"]
    assert report["summary"]["incomplete"] is True
    assert code == report["summary"]["exit_code"] == (1 if report["summary"]["gaps"] else 3)
    assert not [f for f in report["findings"] if f["status"] == "pass"]
    if where == "listing":
        assert logs["files"] == 0 and logs["skipped"]["sources"] >= 1
        assert code == 3 and not report["findings"]
    else:
        assert logs["skipped"]["files"] == sum(plan.failed.values()) >= 1
        assert logs["files"] > logs["skipped"]["files"]
    assert "incomplete" in (out / "report.md").read_text().lower()


# ---- state backends: a read that fails -----------------------------------------------------

@pytest.mark.parametrize("read", ["s3:ListObjectsV2", "s3:GetObject"])
def test_s3_state_backend_with_a_failing_read_is_incomplete(
        demo: Demo, monkeypatch: pytest.MonkeyPatch, tmp_path: Any, read: str) -> None:
    plan = FailWhere(read, f"/{demo.org.state_bucket}")
    out = tmp_path / "b"
    code = _cli(demo, monkeypatch, plan, out, *_scan_args(demo),
                "--backend", f"s3://{demo.org.state_bucket}", formats="json")
    report = json.loads((out / "report.json").read_text())
    assert plan.failed[read] >= 1
    assert report["run"]["backends"]["skipped"]["checkpoints"] >= 1
    assert report["summary"]["incomplete"] is True
    assert code == report["summary"]["exit_code"] == 1  # the demo's gaps


def test_file_state_backend_with_an_unreadable_checkpoint_is_incomplete(
        demo: Demo, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    stacks = tmp_path / "state" / ".pulumi" / "stacks" / "acme-platform"
    stacks.mkdir(parents=True)
    (stacks / "prod.json").write_text(json.dumps({"version": 3, "checkpoint": {
        "stack": "organization/acme-platform/prod", "latest": {"resources": []}}}))
    (stacks / "staging.json.gz").write_bytes(gzip.compress(b'{"version": 3, "checkp')[:-9])
    out = tmp_path / "f"
    code = _cli(demo, monkeypatch, Clean(), out, *_scan_args(demo),
                "--backend", f"file://{tmp_path / 'state'}", formats="json")
    report = json.loads((out / "report.json").read_text())
    assert report["run"]["backends"]["skipped"]["checkpoints"] == 1
    assert report["summary"]["incomplete"] is True and code == 1


def test_cloud_state_backend_that_cannot_be_reached_is_incomplete(
        demo: Demo, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """A Pulumi Cloud backend whose API drops the connection (nothing listens on the port):
    the stacks cannot be listed, the run says so. (An export that fails on a live Pulumi
    Cloud API: tests/test_backends.py.)"""
    from auditor.emulator import free_port

    monkeypatch.setenv("PULUMI_ACCESS_TOKEN", "pul-test-token")
    url = f"http://127.0.0.1:{free_port()}"
    out = tmp_path / "c"
    code = _cli(demo, monkeypatch, Clean(), out, *_scan_args(demo), "--backend", url,
                formats="json")
    report = json.loads((out / "report.json").read_text())
    backends = report["run"]["backends"]
    assert any("cannot list the stacks" in u for u in backends["unread"]), backends
    assert report["summary"]["incomplete"] is True and code == 1
    assert "pul-test-token" not in (out / "report.json").read_text()
