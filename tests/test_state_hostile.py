"""`dr-audit state` on hostile exports: deep nesting, huge integers, non-finite numbers,
secret objects where mappings belong, non-string tags, wrongly typed properties. Each is read
as "cannot be judged" (an `error` finding or a counted skip), never a traceback, and every
other resource is still judged. Secrets never reach a report, names and identifiers
included.

The base export is tests/data/nasty-state/drifting-show-secrets.json: examples/drifting-stack
captured as an update and exported by tests/export.py with show_secrets=True."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from auditor import state
from auditor.cli import main

DATA = Path(__file__).parent / "data" / "nasty-state"
BASE = json.loads((DATA / "drifting-show-secrets.json").read_text())
SECRET_SIG = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270"}
FORMATS = ("json", "html", "md", "sarif", "junit")


def _res(doc: dict, name: str) -> dict:
    (r,) = [r for r in doc["deployment"]["resources"] if r["urn"].endswith(f"::{name}")]
    return r


def _nest(depth: int, leaf: Any = "x") -> Any:
    value = leaf
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


def _run(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict, str]:
    path = tmp_path / "export.json"
    path.write_text(text)
    out = tmp_path / "out"
    code = main(["state", "--file", str(path), "--output-dir", str(out),
                 "--format", ",".join(FORMATS)])
    err = capsys.readouterr().err
    report = json.loads((out / "report.json").read_text())
    return code, report, err


def _status(report: dict, name: str, control: str) -> str | None:
    for f in report["findings"]:
        if f["control"] == control and f["resource"].endswith(f"::{name}"):
            return f["status"]
    return None


def _secret(value: Any) -> dict:
    return {**SECRET_SIG, "plaintext": json.dumps(value)}


def _ciphertext() -> dict:
    return {**SECRET_SIG, "ciphertext": "v1:AAAA:v1:BBBB"}


Edit = Callable[[dict], None]


def _set(name: str, key: str, value: Any) -> Edit:
    def edit(doc: dict) -> None:
        _res(doc, name)["outputs"][key] = value
    return edit


def _raw(doc: dict, name: str, key: str, literal: str) -> str:
    """The export text with one output replaced by a raw JSON literal (huge ints, NaN...)."""
    marker = "__dr_guard_marker__"
    _res(doc, name)["outputs"][key] = marker
    return json.dumps(doc).replace(json.dumps(marker), literal)


# (case, edit of the export, (resource, control, statuses that are acceptable))
CASES: list[tuple[str, Edit | tuple[str, str, str], tuple[str, str, set[str]]]] = [
    ("deep-500", _set("db-backups", "tags", _nest(500)),
     ("db-backups", "backup-bucket-versioning", {"fail", "error"})),
    ("deep-5000", ("audit-trail-logs", "policy", "[" * 5000 + "]" * 5000),
     ("orders-db", "rds-backup-retention", {"fail"})),
    ("retention-huge-int", ("orders-db", "backupRetentionPeriod", "9" * 5000),
     ("orders-db", "rds-backup-retention", {"error"})),
    ("retention-nan", ("orders-db", "backupRetentionPeriod", "NaN"),
     ("orders-db", "rds-backup-retention", {"error"})),
    ("retention-inf", ("orders-db", "backupRetentionPeriod", "1e400"),
     ("orders-db", "rds-backup-retention", {"error"})),
    ("outputs-ciphertext", lambda d: _res(d, "orders-db").update(outputs=_ciphertext()),
     ("orders-db", "rds-backup-retention", {"error"})),
    ("outputs-plaintext", lambda d: _res(d, "orders-db").update(
        outputs=_secret({**_res(d, "orders-db")["outputs"], "masterPassword": "pw"})),
     ("orders-db", "rds-backup-retention", {"fail"})),
    ("tags-object-value", _set("db-backups", "tags", {"dr:backup": {"nested": True}}),
     ("orders-db", "rds-backup-retention", {"fail"})),
    ("tags-list", _set("archive-backups", "tags", [1, "two", None]),
     ("orders-db", "rds-backup-retention", {"fail"})),
    ("tags-string", _set("archive-backups", "tags", "dr:backup=true"),
     ("orders-db", "rds-backup-retention", {"fail"})),
    ("tags-secret", _set("db-backups", "tags", _ciphertext()),
     ("orders-db", "rds-backup-retention", {"fail"})),
    ("retention-string", _set("orders-db", "backupRetentionPeriod", "seven"),
     ("orders-db", "rds-backup-retention", {"fail", "error"})),
    ("retention-list", _set("orders-db", "backupRetentionPeriod", [7]),
     ("orders-db", "rds-backup-retention", {"fail", "error"})),
    ("retention-bool", _set("orders-db", "backupRetentionPeriod", True),
     ("orders-db", "rds-backup-retention", {"fail", "error"})),
    ("retention-object", _set("orders-db", "backupRetentionPeriod", {"days": 7}),
     ("orders-db", "rds-backup-retention", {"fail", "error"})),
    ("deletion-protection-string", _set("orders-db", "deletionProtection", "false"),
     ("native-db", "rds-backup-retention", {"fail"})),
    ("versioning-status-list", _set("db-backups-versioning", "versioningConfiguration",
                                    {"status": ["Enabled"]}),
     ("orders-db", "rds-backup-retention", {"fail"})),
    ("bucket-name-number", _set("db-backups", "bucket", 12345),
     ("orders-db", "rds-backup-retention", {"fail"})),
    ("lock-days-string", _set("archive-backups-object-lock", "rule",
                              {"defaultRetention": {"days": "thirty", "mode": 5}}),
     ("orders-db", "rds-backup-retention", {"fail"})),
    ("integer-sig-garbage", _set("orders-db", "backupRetentionPeriod",
                                 {"4dabf18193072939515e22adb298388d":
                                  "7eb310220ed6211bd6f147f2a75bfbb6", "value": [1]}),
     ("orders-db", "rds-backup-retention", {"error"})),
    ("resource-ref-garbage", _set("db-backups-versioning", "bucket",
                                  {"4dabf18193072939515e22adb298388d":
                                   "5cf8f73096256a8f31e491e813e4eb8e", "urn": 5}),
     ("orders-db", "rds-backup-retention", {"fail"})),
]


@pytest.mark.parametrize("case, edit, expect", CASES, ids=[c[0] for c in CASES])
def test_hostile_values_are_judged_or_counted_never_a_crash(tmp_path, capsys, case, edit,  # noqa: ANN001
                                                             expect) -> None:
    doc = copy.deepcopy(BASE)
    if isinstance(edit, tuple):
        text = _raw(doc, *edit)
    else:
        edit(doc)
        text = json.dumps(doc)
    code, report, err = _run(tmp_path, text, capsys)
    assert "Traceback" not in err
    assert code in (1, 3), err
    name, control, statuses = expect
    assert _status(report, name, control) in statuses, (case, _status(report, name, control))
    # A valid detection elsewhere is never lost.
    if name != "ledger":
        assert _status(report, "ledger", "rds-deletion-protection") == "fail"


def test_unreadable_values_make_the_run_incomplete(tmp_path, capsys) -> None:  # noqa: ANN001
    doc = copy.deepcopy(BASE)
    text = _raw(doc, "audit-trail-logs", "policy", "{\"a\": " * 5000 + "1" + "}" * 5000)
    code, report, _ = _run(tmp_path, text, capsys)
    assert report["run"]["skipped"]["values"] >= 1
    assert report["summary"]["incomplete"] is True


def _all_reports(out: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in sorted(out.iterdir()) if p.is_file())


def test_plaintext_secrets_never_reach_a_report(tmp_path, capsys) -> None:  # noqa: ANN001
    doc = copy.deepcopy(BASE)
    bucket = _res(doc, "db-backups")["outputs"]
    name = bucket["bucket"]
    for key in ("bucket", "id", "arn"):  # the bucket's name is a secret (show-secrets export)
        bucket[key] = _secret(bucket[key])
    db = _res(doc, "orders-db")
    ident = db["outputs"]["identifier"]
    db["additionalSecretOutputs"] = ["identifier", "arn"]  # marked secret, stored plain
    arn = db["outputs"]["arn"]
    code, report, err = _run(tmp_path, json.dumps(doc), capsys)
    assert code == 1
    assert _status(report, "db-backups", "backup-bucket-versioning") == "fail"  # still judged
    text = _all_reports(tmp_path / "out") + err
    for secret in (name, ident, arn, "pw-Zq81-secret"):
        assert secret not in text, secret
    assert "[secret]" in text


def test_secret_shaped_values_anywhere_are_redacted_in_findings() -> None:
    doc = copy.deepcopy(BASE)
    _res(doc, "orders-db")["outputs"]["identifier"] = _secret("orders-db-TOPSECRET")
    export = state.parse(doc, "x")
    assert "orders-db-TOPSECRET" in export.secrets
    from drguard.settings import Settings

    findings = state.evaluate(export, Settings())
    assert findings
    assert "TOPSECRET" not in json.dumps([f.to_dict() for f in findings], default=str)


@pytest.mark.parametrize("depth", [499, 500, 999, 1000, 20000])
def test_any_depth_is_read(depth: int) -> None:
    doc = copy.deepcopy(BASE)
    _res(doc, "audit-trail-logs")["outputs"]["policy"] = _nest(depth)
    text = json.dumps(doc) if depth < 900 else _raw(
        doc, "audit-trail-logs", "policy", "[" * depth + "]" * depth)
    export = state.parse(state.loads(text), "x")
    assert len(export.resources) == len(BASE["deployment"]["resources"])
    assert export.unreadable >= (1 if depth > state.MAX_VALUE_DEPTH else 0)


def test_drift_findings_redact_secret_names() -> None:
    """`scan --state`: a resource named by a plaintext secret is reported without the name."""
    from types import SimpleNamespace

    from auditor import drift
    from drguard.settings import Settings

    doc = copy.deepcopy(BASE)
    bucket = _res(doc, "db-backups")["outputs"]
    name = bucket["bucket"]
    for key in ("bucket", "id", "arn"):
        bucket[key] = _secret(bucket[key])
    export = state.parse(doc, "x")
    base = SimpleNamespace(id="123456789012")
    findings = drift.check(export, base, lambda _acct: None, Settings(), "us-east-1")  # type: ignore[arg-type]
    assert findings
    dumped = json.dumps([f.to_dict() for f in findings], default=str)
    assert name not in dumped and "[secret]" in dumped
