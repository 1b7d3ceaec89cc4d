"""`dr-audit state --format json` writes most findings from their fields (Spool.add_plain),
without a Finding: the report is byte for byte the one written when every finding goes
through Finding and Spool.add, on exports with the edge cases either path meets (tags that
name an owner, tier or application, properties that are all an encrypted secret, unknown
values, lone surrogates, huge integers, separators in names, waivers, applications config,
gaps seen twice)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from auditor.cli import main
from auditor.reports.spool import Spool
from policypack.wire import SPECIAL_SECRET_SIG, SPECIAL_SIG_KEY, UNKNOWN_STRING_VALUE

ROOT = Path(__file__).resolve().parent
EXPORTS = {"export": ROOT / "data" / "goldens" / "export.json",
           "drifting": ROOT / "data" / "nasty-state" / "drifting-show-secrets.json"}
CONFIG = """
tiers:
  critical: {targetRpoHours: 1, targetRtoMinutes: 60, crossRegion: true, crossAccount: true}
applications:
  shop/prod: {tier: critical, owner: team-shop}
ownerTagKeys: [custodian, owner]
"""
WAIVERS = """
waivers:
  - control: backup-bucket-versioning
    resource: '*odd-1'
    reason: migrating
    owner: platform
    expires: 2999-03-31
  - control: rds-deletion-protection
    resource: '*'
    reason: expired on purpose
    owner: platform
    expires: 2001-01-01
"""


def _ciphertext(value: Any) -> Any:
    """`value` with every decrypted secret turned back into ciphertext (no plaintext the run
    would redact: the plain path is taken) and no additionalSecretOutputs."""
    if isinstance(value, dict):
        if value.get(SPECIAL_SIG_KEY) == SPECIAL_SECRET_SIG:
            return {SPECIAL_SIG_KEY: SPECIAL_SECRET_SIG, "ciphertext": "AAAA"}
        return {k: _ciphertext(v) for k, v in value.items() if k != "additionalSecretOutputs"}
    if isinstance(value, list):
        return [_ciphertext(v) for v in value]
    return value


def _odd(doc: dict[str, Any], surrogate: bool) -> dict[str, Any]:
    """`doc` without plaintext secrets, with resources of every edge case appended."""
    doc = _ciphertext(copy.deepcopy(doc))
    resources = doc["deployment"]["resources"]
    bucket = next(r for r in resources if r["type"] == "aws:s3/bucket:Bucket")
    db = next(r for r in resources if r["type"] == "aws:rds/instance:Instance")
    extra: list[dict[str, Any]] = []

    def add(like: dict[str, Any], name: str, outputs: Any) -> None:
        r = copy.deepcopy(like)
        r["urn"] = like["urn"].rsplit("::", 1)[0] + "::" + name
        r["id"] = name
        r["outputs"] = r["inputs"] = outputs
        extra.append(r)

    tags = {"dr:backup": "true"}
    add(bucket, "odd-1", {"bucket": "backup-odd-1", "tags": {**tags, "owner": "alice",
                                                             "custodian": "bob",
                                                             "dr:tier": "gold"}})
    add(bucket, "odd-2", {"bucket": "backup-odd-2", "tags": {**tags, "dr:app": "shop/prod"}})
    add(bucket, "odd-3", {"bucket": "backup-odd-3", "tags": {**tags, "team": ""}})
    add(db, "odd-4", {SPECIAL_SIG_KEY: SPECIAL_SECRET_SIG, "ciphertext": "AAAA"})
    add(bucket, "odd-5", {"bucket": UNKNOWN_STRING_VALUE, "tags": tags})
    add(bucket, "odd-6", {"bucket": "backup-odd\x1f6", "tags": {**tags, "owner": ["x"]}})
    add(bucket, "odd-7", {"bucket": "backup-odd-7", "tags": UNKNOWN_STRING_VALUE})
    add(db, "odd-db-1", {**db["outputs"], "backupRetentionPeriod": 10**30,
                         "identifier": "odd-db-1"})
    add(db, "odd-db-2", {**db["outputs"], "backupRetentionPeriod": 2.5,
                         "deletionProtection": UNKNOWN_STRING_VALUE,
                         "tags": {"owner": "carol", "dr:tier": "silver"}})
    if surrogate:
        add(bucket, "odd-8", {"bucket": "backup-\ud800-8", "tags": tags})
    resources.extend(extra)
    return doc


def _run(path: Path, out: Path, plain: bool, monkeypatch: pytest.MonkeyPatch,
         *extra: str) -> tuple[int, str, int]:
    """(exit code, report.json without its times, findings written from their fields)."""
    taken = [0]
    real = Spool.add_plain

    def counted(self: Spool, *a: Any, **k: Any) -> bool:
        ok = real(self, *a, **k) if plain else False
        taken[0] += ok
        return ok

    with monkeypatch.context() as m:
        m.setattr(Spool, "add_plain", counted)
        code = main(["state", "--file", str(path), "--output-dir", str(out),
                     "--format", "json", *extra])
    text = (out / "report.json").read_text(encoding="utf-8")
    doc = json.loads(text)
    for key in ("started", "finished"):
        text = text.replace(json.dumps(doc["run"][key]), '"-"')
    return code, text, taken[0]


@pytest.mark.parametrize("surrogate", [False, True])
@pytest.mark.parametrize("config", ["", CONFIG, WAIVERS])
@pytest.mark.parametrize("name", sorted(EXPORTS))
def test_plain_findings_write_the_report_the_findings_write(
        name: str, config: str, surrogate: bool, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    doc = _odd(json.loads(EXPORTS[name].read_text(encoding="utf-8")), surrogate)
    path = tmp_path / "export.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    extra: tuple[str, ...] = ()
    if config:
        (tmp_path / "dr.yaml").write_text(config, encoding="utf-8")
        extra = ("--config", str(tmp_path / "dr.yaml"))
    code, fast, taken = _run(path, tmp_path / "fast", True, monkeypatch, *extra)
    code2, slow, none = _run(path, tmp_path / "slow", False, monkeypatch, *extra)
    assert none == 0
    assert (code, fast) == (code2, slow)
    report = json.loads(fast)
    findings = report["findings"]
    if config == WAIVERS:  # a waiver may apply: every finding goes through Finding
        assert taken == 0
        assert {f["status"] for f in findings} >= {"waived", "fail"}
    else:
        assert taken > len(findings) // 2
    names = {f["resource"].rsplit("::", 1)[-1] for f in findings}
    odd = {f"odd-{i}" for i in range(1, 8)} | {"odd-db-1", "odd-db-2"}
    assert odd <= names  # every edge case was judged
    if surrogate:
        assert "odd-8" in names
    owners = {f["resource"].rsplit("::", 1)[-1]: f["owner"] for f in findings}
    assert owners["odd-1"] == ("bob" if config == CONFIG else "alice")
    assert owners["odd-db-2"] == "carol"
    assert any(f["tier"] == "silver" for f in findings)
    assert any(f["status"] == "error" for f in findings)
    assert any(f["application"] == "shop/prod" for f in findings)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_add_plain_writes_what_add_writes(seed: int, tmp_path: Path) -> None:
    """Spool.add_plain of a finding's fields, and add() of the finding, interleaved as a run
    makes them (gaps seen twice merged, lone surrogates, unknown controls, every status):
    the same report.json, byte for byte."""
    from drguard.redact import forget
    from tests.test_report_streamed import RUN, make

    forget()  # no secret of an earlier test: the spool would redact (and add_plain refuse)
    findings = make(seed, 400, plain=True)
    texts = []
    for use_plain in (True, False):
        spool = Spool(plain=True, dir=tmp_path)
        taken = 0
        for f in copy.deepcopy(findings):
            r = f.remediation
            fits = f.status in ("pass", "fail", "error") and f.waiver is None \
                and f.application is None and f.event is None and not f.events \
                and f.sources == [f.source] and f.stack is None and f.urn is None \
                and (r is None or list(r) == ["summary", "pulumi", "cli"])
            if use_plain and fits and spool.add_plain(
                    f.control, f.status, f.source, f.resource, f.message, f.account,
                    f.region, f.evidence,
                    None if r is None else (r["summary"], r["pulumi"], r["cli"]),
                    f.owner, f.tier):
                taken += 1
                continue
            spool.add(f)
        assert taken > 50 if use_plain else taken == 0
        out = tmp_path / f"report-{use_plain}.json"
        spool.write(out, copy.deepcopy(RUN))
        texts.append(out.read_bytes())
    assert texts[0] == texts[1]
    doc = json.loads(texts[0])
    ids = [f["id"] for f in doc["findings"]]
    assert len(ids) == len(set(ids))
    assert len(ids) < len(findings)  # gaps seen twice were merged
