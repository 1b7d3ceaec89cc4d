"""`dr-audit drill next --org`: one choice across the Organization's accounts (a role assumed
in each member, as `scan --org`), and the drill made in the chosen account through that role;
against the moto server over HTTP, with the Organization of the `scan --org` tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from auditor.aws import CALLS as aws_calls
from auditor.cli import main
from auditor.commands.drill import ORG_CALLS
from tests.faulty_proxy import Fault, FaultyProxy
from tests.live_support import ACCOUNT
from tests.test_drill import FAST, report, seed_db
from tests.test_drill_next import drilled as next_drilled
from tests.test_live_org import ROLE, make_org, member_client

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

READS = ("Describe", "Get", "List", "GET /", "HEAD /", "AssumeRole")


def drilled(hist: Path, target: str, account: str, days_ago: float) -> None:
    """A verified rds drill of `target` in `account`, `days_ago` days ago."""
    next_drilled(hist, "rds", target, days_ago, account)


def member_db(aws: Any, account: str, name: str = "orders") -> Any:
    rds = member_client(aws, account, "rds")
    rds.create_db_instance(DBInstanceIdentifier=name, Engine="postgres",
                           DBInstanceClass="db.t3.micro", AllocatedStorage=20,
                           MasterUsername="admin", MasterUserPassword="secret123",
                           DeletionProtection=True, BackupRetentionPeriod=7)
    # a name the management account has not: a restore sent to the wrong account fails
    rds.create_db_snapshot(DBInstanceIdentifier=name,
                           DBSnapshotIdentifier=f"{name}-{account}-snap")
    return rds


def rds_names(rds: Any) -> tuple[list[str], list[str]]:
    return (sorted(d["DBInstanceIdentifier"] for d in rds.describe_db_instances()["DBInstances"]),
            sorted(s["DBSnapshotIdentifier"]
                   for s in rds.describe_db_snapshots()["DBSnapshots"]))


def org_next(url: str, tmp_path: Path, hist: Path, *extra: str) -> int:
    return main(["drill", "next", "--org", "--role-name", ROLE, "--regions", "us-east-1",
                 "--endpoint-url", url, "--history", str(hist),
                 "--output-dir", str(tmp_path / "out"), *extra])


def test_a_members_never_restored_database_is_drilled_in_its_account(
        aws: Any, tmp_path: Path) -> None:
    ids = make_org(aws)
    mgmt = seed_db(aws, "orders")  # the management account's orders: drilled yesterday
    hist = tmp_path / "hist"
    drilled(hist, "orders", ACCOUNT, 1)
    prod = member_db(aws, ids["prod"])  # the same name in prod: never restored
    mgmt_before, prod_before = rds_names(mgmt), rds_names(prod)

    code = org_next(aws.url, tmp_path, hist, *FAST)
    d = report(tmp_path / "out")["drill"]
    assert code == 0, d
    assert (d["kind"], d["target"], d["account"], d["verified"], d["cleaned_up"]) == (
        "rds", "orders", ids["prod"], True, True)
    assert d["next"]["account"] == ids["prod"]
    assert d["next"]["why"].startswith(f"rds orders (us-east-1, account {ids['prod']}): no "
                                       "restore evidence")
    # the management account's orders was a candidate, with its own (account's) evidence
    evidence = {(c["account"], c["target"]): c["evidence"] for c in d["next"]["candidates"]}
    assert set(evidence) == {(ACCOUNT, "orders"), (ids["prod"], "orders")}
    assert evidence[(ACCOUNT, "orders")].startswith("last restored 24 h ago")
    assert evidence[(ids["prod"], "orders")].startswith("no restore evidence")
    assert {a["id"]: a["status"] for a in d["next"]["accounts"]} == {
        ACCOUNT: "read", ids["prod"]: "read", ids["lab"]: "read"}
    # the drill's writes were its own, on scratch names, in prod only
    restores = [c for c in d["calls"] if c["operation"] == "RestoreDBInstanceFromDBSnapshot"]
    assert restores and all(c["allowed"] and c["target"].startswith("drguard-drill-")
                            for c in restores)
    assert rds_names(prod) == prod_before  # scratch instance deleted
    assert rds_names(mgmt) == mgmt_before  # nothing created or changed in the management
    # the history entry carries the account: the next night, prod's orders has evidence
    entry = json.loads((hist / f"drill-{d['run_id']}.json").read_text())
    assert (entry["account"], entry["target"], entry["outcome"]) == (
        ids["prod"], "orders", "verified")
    assert [e for e in d["next"]["read_errors"]] == []


def test_an_account_whose_role_cannot_be_assumed_is_named_and_the_choice_goes_on(
        aws: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ids = make_org(aws)
    seed_db(aws, "billing")
    hist = tmp_path / "hist"
    drilled(hist, "billing", ACCOUNT, 3)
    member_db(aws, ids["prod"], "ledger")
    drilled(hist, "ledger", ids["prod"], 10)  # prod's ledger: restored longest ago
    deny = Fault("denied", service="sts", operation="AssumeRole", body_contains=ids["lab"])
    capsys.readouterr()
    with FaultyProxy(aws.url, [deny]) as proxy:
        code = org_next(proxy.url, tmp_path, hist, *FAST)
    out, err = capsys.readouterr()
    assert deny.hits >= 1
    d = report(tmp_path / "out")["drill"]
    assert code == 0, out + err
    assert (d["target"], d["account"], d["verified"]) == ("ledger", ids["prod"], True)
    assert d["next"]["why"].startswith(f"rds ledger (us-east-1, account {ids['prod']}): "
                                       "last restored 10 days ago")
    lab = {a["id"]: a for a in d["next"]["accounts"]}[ids["lab"]]
    assert lab["status"] == "error" and "AccessDenied" in lab["error"]
    assert any(e.startswith(f"account {ids['lab']}:") and "AssumeRole" in e
               for e in d["next"]["read_errors"])
    # named on stderr; never a candidate (its resources are unknown, not "no evidence")
    assert f"account {ids['lab']} (lab) not read" in err
    for name in ("drill.html", "drill.md"):  # and in the human reports
        text = (tmp_path / "out" / name).read_text()
        assert "Accounts not read" in text and ids["lab"] in text, name
    assert all(c["account"] != ids["lab"] for c in d["next"]["candidates"])


def test_dry_run_names_the_chosen_account_and_only_reads(
        aws: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ids = make_org(aws)
    seed_db(aws, "orders")  # management: never restored, chosen over prod (drilled)
    hist = tmp_path / "hist"
    prod = member_db(aws, ids["prod"], "ledger")
    drilled(hist, "ledger", ids["prod"], 3)
    prod_before = rds_names(prod)
    capsys.readouterr()
    with FaultyProxy(aws.url) as proxy:
        code = org_next(proxy.url, tmp_path, hist, "--dry-run")
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert out.startswith(f"drill next: rds orders (us-east-1, account {ACCOUNT}): no restore "
                          "evidence")
    assert f"rds       ledger (us-east-1, account {ids['prod']}): last restored 3 days ago" in out
    assert "rds:RestoreDBInstanceFromDBSnapshot" in out
    ops = {op for _, op in proxy.seen}
    assert ops and all(op.startswith(READS) for op in ops), ops
    # what the account it runs in sends beside the drill's reads is what the command declares
    # (and docs/drills.md lists as IAM actions)
    sent = {f"{svc}:{op}" for svc, op in proxy.seen if svc in ("organizations", "sts")}
    assert "organizations:ListAccounts" in sent and "sts:AssumeRole" in sent
    assert sent <= set(ORG_CALLS) | set(aws_calls), sent
    docs = (Path(__file__).parents[1] / "docs" / "drills.md").read_text()
    assert all(f"`{c}`" in docs for c in ORG_CALLS)
    assert rds_names(prod) == prod_before
    assert not (tmp_path / "out" / "drill.json").exists()


@pytest.mark.parametrize("argv, message", [
    (["--role-name", ROLE], "--role-name is only used with --org"),
    (["--org"], "--org needs --role-name"),
    (["--shard", "1/2"], "--shard splits the accounts of --org"),
    (["--org", "--role-name", ROLE, "--shard", "3/2"], "I must be between 1 and N"),
])
def test_org_flags_are_checked_as_scan_checks_them(
        aws: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
        message: str) -> None:
    capsys.readouterr()
    code = main(["drill", "next", "--endpoint-url", aws.url, "--dry-run",
                 "--output-dir", str(tmp_path), *argv])
    assert code == 2
    assert message in capsys.readouterr().err


def test_an_account_whose_reads_fail_is_named_and_the_choice_goes_on(
        aws: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ids = make_org(aws)
    seed_db(aws, "orders")
    member_db(aws, ids["prod"], "ledger")
    # the first account read is denied its DynamoDB tables: its RDS still counts, it is named
    deny = Fault("denied", service="dynamodb", operation="ListTables", times=1)
    capsys.readouterr()
    with FaultyProxy(aws.url, [deny]) as proxy:
        code = org_next(proxy.url, tmp_path, tmp_path / "hist", "--dry-run")
    out, err = capsys.readouterr()
    assert code == 0 and deny.hits == 1, out + err
    named = [line for line in err.splitlines() if "could not list account" in line]
    assert len(named) == 1 and "DynamoDB in us-east-1" in named[0] and "AccessDenied" in named[0]
    assert any(f"account {i}:" in named[0] for i in (ACCOUNT, *ids.values()))
    assert out.startswith("drill next: rds ") and "chosen among 2 candidate(s)" in out


def test_shards_split_the_accounts_as_the_scan_does(
        aws: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from auditor.org import Shard

    ids = make_org(aws)
    seed_db(aws, "orders")
    for name in ("prod", "lab"):
        member_db(aws, ids[name], f"{name}-db")
    seen: dict[str, set[str]] = {}
    for i in (1, 2):
        capsys.readouterr()
        code = org_next(aws.url, tmp_path, tmp_path / "hist", "--dry-run", "--shard", f"{i}/2")
        out, err = capsys.readouterr()
        assert code in (0, 3), out + err
        seen[f"{i}/2"] = {a for a in (ACCOUNT, *ids.values()) if f"account {a})" in out
                          or f"account {a}," in out}
    for shard, accounts in seen.items():
        assert accounts == {a for a in (ACCOUNT, *ids.values())
                            if Shard.parse(shard).holds(a)}, shard
    assert seen["1/2"] | seen["2/2"] == {ACCOUNT, *ids.values()}


def test_accounts_are_read_side_by_side_and_the_choice_is_the_same_whatever_the_workers(
        aws: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from auditor.drill import next as drill_next

    ids = make_org(aws)
    seed_db(aws, "orders")
    hist = tmp_path / "hist"
    member_db(aws, ids["prod"], "ledger")
    drilled(hist, "ledger", ids["prod"], 3)
    plans = {}
    for workers in ("1", "4"):
        capsys.readouterr()
        assert org_next(aws.url, tmp_path, hist, "--dry-run", "--workers", workers) == 0
        plans[workers] = run_ids(capsys.readouterr().out)
    assert plans["1"] == plans["4"] and "account" in plans["1"]
    # the three accounts' reads overlap: each waits until all three have begun
    barrier = threading.Barrier(3)
    real = drill_next.discover

    def together(*args: Any, **kwargs: Any) -> Any:
        barrier.wait(timeout=30)
        return real(*args, **kwargs)

    monkeypatch.setattr(drill_next, "discover", together)
    assert org_next(aws.url, tmp_path, hist, "--dry-run", "--workers", "3") == 0
    assert run_ids(capsys.readouterr().out) == plans["1"]


def run_ids(text: str) -> str:
    """A plan without its run id (the time and a random part) in scratch names."""
    import re

    return re.sub(r"\d{14}-[0-9a-f]{6}", "<run>", text)
