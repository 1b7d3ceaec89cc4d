"""`scan --shard I/N` + `dr-audit merge`: the shards cover every account once, and their merged
report equals the report of one unsharded run."""

from __future__ import annotations

import json

import pytest

from auditor.cli import main
from auditor.commands.merge import merge
from auditor.org import Shard
from drguard.errors import ConfigError
from tests.test_live_org import ROLE, make_org, member_client

pytestmark = pytest.mark.slow

IGNORED_RUN_KEYS = {"started", "finished", "command", "shard", "merged_from"}


def _scan(aws, out, *extra):
    return main(["scan", "--org", "--role-name", ROLE, "--regions", "us-east-1",
                 "--endpoint-url", aws.url, "--output-dir", str(out), "--format",
                 "json,md,sarif,junit,html", *extra])


def _gaps(doc):
    return sorted((f["id"], f["status"], f["control"], f["resource"], f["message"])
                  for f in doc["findings"])


def test_stable_hash_splits_accounts_disjointly():
    ids = [f"{n:012d}" for n in range(1000, 1400)]
    shards = [Shard(i, 4) for i in range(1, 5)]
    owners = [[s for s in shards if s.holds(a)] for a in ids]
    assert all(len(o) == 1 for o in owners)  # every account in exactly one shard
    sizes = [sum(1 for o in owners if o[0] == s) for s in shards]
    assert min(sizes) > 60  # and the split is not lopsided (400 accounts, 4 shards)
    assert Shard.parse("2/4") == Shard(2, 4)
    for bad in ("0/4", "5/4", "x", "1/0", "2"):
        with pytest.raises(ConfigError):
            Shard.parse(bad)


def test_merged_shards_equal_one_run(aws, tmp_path):
    ids = make_org(aws)
    for i, account in enumerate(ids.values()):
        member_client(aws, account, "rds").create_db_instance(
            DBInstanceIdentifier=f"db-{i}", DBInstanceClass="db.t3.micro", Engine="postgres",
            MasterUsername="admin", MasterUserPassword="password-123", AllocatedStorage=20,
            BackupRetentionPeriod=1 + 10 * i, DeletionProtection=bool(i))
        member_client(aws, account, "s3").create_bucket(Bucket=f"backup-{account}")

    whole = _scan(aws, tmp_path / "whole")
    accounts = json.loads((tmp_path / "whole" / "report.json").read_text())["run"]["accounts"]
    # moto draws member account ids at random: take the first N that splits them
    n = next(n for n in range(2, 9)
             if sum(1 for i in range(1, n + 1) if any(Shard(i, n).holds(a)
                                                        for a in accounts)) >= 2)
    codes = [_scan(aws, tmp_path / f"shard{i}", "--shard", f"{i}/{n}")
             for i in range(1, n + 1)]
    merged = main(["merge", *(str(tmp_path / f"shard{i}" / "report.json")
                              for i in range(1, n + 1)),
                   "--output-dir", str(tmp_path / "merged"), "--format",
                   "json,md,sarif,junit,html"])

    one = json.loads((tmp_path / "whole" / "report.json").read_text())
    parts = [json.loads((tmp_path / f"shard{i}" / "report.json").read_text())
             for i in range(1, n + 1)]
    both = json.loads((tmp_path / "merged" / "report.json").read_text())
    # the shards scanned disjoint parts of the accounts, at least two non-empty, together all
    shard_accounts = [set(p["run"]["accounts"]) for p in parts]
    assert sum(1 for s in shard_accounts if s) >= 2
    assert sum(len(s) for s in shard_accounts) == len(set().union(*shard_accounts))
    assert set().union(*shard_accounts) == set(one["run"]["accounts"])
    # the merged report is the one-run report
    assert _gaps(both) == _gaps(one)
    assert both["summary"]["by_status"] == one["summary"]["by_status"]
    assert merged == whole and max(codes) == whole
    for name in ("report.md", "report.sarif", "report.junit.xml", "report.html"):
        assert (tmp_path / "merged" / name).stat().st_size > 0


def test_missing_shard_makes_the_merge_incomplete(aws, tmp_path):
    make_org(aws)
    _scan(aws, tmp_path / "s1", "--shard", "1/3")
    code = main(["merge", str(tmp_path / "s1" / "report.json"), "--output-dir",
                 str(tmp_path / "m"), "--format", "json"])
    doc = json.loads((tmp_path / "m" / "report.json").read_text())
    assert doc["run"]["skipped"]["shards"] == 2
    assert any("2/3" in n and "3/3" in n for n in doc["run"]["skipped"]["notes"])
    assert code in (1, 3) and doc["summary"]["exit_code"] == code


def test_merge_rejects_what_is_not_a_report(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "something-else"}')
    assert main(["merge", str(bad), "--output-dir", str(tmp_path / "o")]) == 2
    assert main(["merge", str(tmp_path / "missing.json"), "--output-dir",
                 str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("dr-audit: error:") for line in err)


def test_merge_unit_dedupes_findings_seen_by_several_shards(tmp_path):
    from drguard.findings import Finding

    f = Finding(control="scp-deny-backup-deletion", status="fail", source="live",
                resource="arn:aws:iam::111111111111:root", message="m",
                account="111111111111")
    runs = [(tmp_path / f"{i}.json", {"shard": f"{i}/2", "accounts": [str(i)],
                                      "regions": ["us-east-1"],
                                      "skipped": {"accounts": i, "notes": [f"n{i}"]}}, [f])
            for i in (1, 2)]
    run, findings = merge(runs)
    assert len(findings) == 1
    assert run["skipped"]["accounts"] == 3 and run["skipped"]["notes"] == ["n1", "n2"]
    assert run["accounts"] == ["1", "2"]
    with pytest.raises(ConfigError):
        merge([runs[0], (tmp_path / "x.json", {"shard": "1/3"}, [])])


def test_slow_account_times_out_and_the_others_complete(aws, monkeypatch):
    """An account whose every call is slow is cut at its --account-timeout budget: its
    remaining reads are `error`, the other accounts are judged as usual."""
    import time

    from auditor import aws as aws_mod
    from tests.live_support import one, run_scan

    ids = make_org(aws)
    for name, account in ids.items():
        member_client(aws, account, "rds").create_db_instance(
            DBInstanceIdentifier=f"{name}-db", DBInstanceClass="db.t3.micro",
            Engine="postgres", MasterUsername="admin", MasterUserPassword="password-123",
            AllocatedStorage=20, BackupRetentionPeriod=1, DeletionProtection=True)
    slow = ids["lab"]
    real_client = aws_mod.Account.client
    skew = [0.0]

    def client(self, service, region=None):
        c = real_client(self, service, region)
        if self.id == slow:
            # every call of this account takes 120 s, on its own clock: deterministic
            # whatever the load of the machine running the test
            self.clock.now = lambda: time.monotonic() + skew[0]
            c.meta.events.register("before-send", lambda **_: skew.__setitem__(
                0, skew[0] + 120.0), unique_id="test-slow-account")
        return c

    monkeypatch.setattr(aws_mod.Account, "client", client)
    result = run_scan(aws, regions=["us-east-1"], org=True, role_name=ROLE,
                      account_timeout=900)
    lab = [f for f in result.findings if f.account == slow and f.status == "error"]
    assert lab and any("account-timeout" in f.message for f in lab)
    assert result.run["skipped"]["timedOutAccounts"] == 1
    assert any(slow in n and "account-timeout" in n for n in result.run["skipped"]["notes"])
    # the others were judged from what they hold
    assert one(result.findings, "rds-backup-retention",
               f"{ids['prod']}:db:prod-db").status == "fail"
    assert all(f.status != "error" for f in result.findings
               if f.account == ids["prod"] and f.control == "rds-backup-retention")


def test_account_clock_counts_busy_time_not_queueing():
    import threading
    import time

    from auditor.aws import AccountClock, AccountTimeout

    clock = AccountClock(budget=10, concurrency=2)
    with clock.unit():
        time.sleep(0.05)
    time.sleep(0.2)  # waiting between units is not the account's time
    assert 0.04 < clock.busy() < 0.2
    # at most `concurrency` units at once
    inside, peak, lock = [0], [0], threading.Lock()

    def unit():
        with clock.unit():
            with lock:
                inside[0] += 1
                peak[0] = max(peak[0], inside[0])
            time.sleep(0.02)
            with lock:
                inside[0] -= 1

    threads = [threading.Thread(target=unit) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == 2
    spent = AccountClock(budget=0.0)
    with spent.unit():
        time.sleep(0.01)
        with pytest.raises(AccountTimeout):
            spent.check()
    assert spent.expired


def test_one_shard_names_no_waiver_as_stale(aws, tmp_path, caplog):
    """A shard reads part of the organization: a waiver it met nothing for may cover another
    shard's resource, so only an unsharded scan names it."""
    ids = make_org(aws)
    for account in ids.values():
        member_client(aws, account, "s3").create_bucket(Bucket=f"backup-{account}")
    cfg = tmp_path / "dr.yaml"
    cfg.write_text("waivers:\n  - {control: backup-bucket-versioning, resource: "
                   "'arn:aws:s3:::retired-*', reason: r, owner: o, expires: 2999-01-01}\n")
    _scan(aws, tmp_path / "shard", "--shard", "1/2", "--config", str(cfg))
    assert not [r for r in caplog.records if "waived no finding" in r.getMessage()]
    _scan(aws, tmp_path / "whole", "--config", str(cfg))
    assert [r for r in caplog.records if "waived no finding" in r.getMessage()]
