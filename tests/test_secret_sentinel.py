"""A sentinel secret planted in every field of every input kind never reaches any output
format (nor stderr): stack exports, previews, repository files, CloudTrail records, and the
merge of reports made from them."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from auditor.cli import main
from auditor.logs import samples
from auditor.reports import FORMATS

DATA = Path(__file__).parent / "data" / "nasty-state"
EXPORT = json.loads((DATA / "drifting-show-secrets.json").read_text())
SIG, SECRET_SIG = "4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270"
SENTINEL = "Sntl9x7QpZ2mK4vB8nR1wT6yH3cF5jD0"  # credential-shaped, unique
ALL = ",".join(FORMATS)


def _outputs(out: Path, err: str) -> str:
    text = "\n".join(p.read_text(errors="replace") for p in sorted(out.rglob("*"))
                     if p.is_file())
    return text + "\n" + err


def _salted(value: Any) -> Any:
    """The value with the sentinel in every string (and key) of it."""
    if isinstance(value, str):
        return f"{value}-{SENTINEL}"
    if isinstance(value, dict):
        return {k: _salted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_salted(v) for v in value]
    return value


def _resources() -> list[str]:
    return [r["urn"] for r in EXPORT["deployment"]["resources"]
            if not r["type"].startswith("pulumi:")]


@pytest.mark.parametrize("urn", _resources(), ids=lambda u: u.rsplit("::", 1)[-1])
def test_state_every_output_of_a_resource_secret(tmp_path: Path, urn: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    doc = copy.deepcopy(EXPORT)
    (r,) = [r for r in doc["deployment"]["resources"] if r["urn"] == urn]
    for side in ("inputs", "outputs"):
        r[side] = {k: {SIG: SECRET_SIG, "plaintext": json.dumps(_salted(v))}
                   for k, v in (r.get(side) or {}).items()}
    path = tmp_path / "state.json"
    path.write_text(json.dumps(doc))
    code = main(["state", "--file", str(path), "--output-dir", str(tmp_path / "out"),
                 "--format", ALL])
    assert code in (0, 1, 3)
    assert SENTINEL not in _outputs(tmp_path / "out", capsys.readouterr().err)


def _preview() -> dict[str, Any]:
    old = {"type": "aws:rds/instance:Instance", "custom": True,
           "urn": "urn:pulumi:dev::orders::aws:rds/instance:Instance::orders-db",
           "id": "orders-db",
           "inputs": {"identifier": "orders-db", "skipFinalSnapshot": True,
                      "masterPassword": {SIG: SECRET_SIG, "value": SENTINEL},
                      "tags": {SIG: SECRET_SIG, "value": {SENTINEL: SENTINEL}},
                      "dbName": {SIG: SECRET_SIG, "value": f"db-{SENTINEL}"}},
           "outputs": {"identifier": "orders-db", "skipFinalSnapshot": True,
                       "deletionProtection": False, "backupRetentionPeriod": 0,
                       "masterPassword": {SIG: SECRET_SIG, "value": SENTINEL},
                       "tags": {SIG: SECRET_SIG, "value": {SENTINEL: SENTINEL}},
                       "arn": "arn:aws:rds:us-east-1:111122223333:db:orders-db"}}
    new = copy.deepcopy(old)
    new["outputs"]["dbName"] = {SIG: SECRET_SIG, "value": f"other-{SENTINEL}"}
    return {"steps": [
        {"op": "replace", "urn": old["urn"], "oldState": old, "newState": new,
         "diffReasons": ["dbName", f"tags.{SENTINEL}"],
         "replaceReasons": ["dbName", f"tags.{SENTINEL}", f"masterPassword.{SENTINEL}"],
         "detailedDiff": {"dbName": {"kind": "update-replace", "inputDiff": True},
                          f"tags.{SENTINEL}": {"kind": "update-replace", "inputDiff": True}}},
    ], "changeSummary": {"replace": 1}, "diagnostics": [
        {"severity": "error", "message": f"cannot connect with {SENTINEL}"}]}


def test_plan_secret_envelopes_and_reasons_inside_them(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "preview.json"
    path.write_text(json.dumps(_preview()))
    code = main(["plan", "--file", str(path), "--output-dir", str(tmp_path / "out"),
                 "--format", ALL])
    assert code in (1, 3)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert any(f["control"] == "plan-destroys-data" and f["status"] == "fail"
               for f in report["findings"])
    assert SENTINEL not in _outputs(tmp_path / "out", capsys.readouterr().err)


REPO_FILES = {
    "infra/Pulumi.prod.yaml": f"""config:
  app:dbPassword: {SENTINEL}
  app:tagged: !!str {SENTINEL}
  app:floaty: !custom {SENTINEL}
  app:{SENTINEL}: plain
  app:nested:
    inner: [{SENTINEL}, {{deep: {SENTINEL}}}]
  app:apiKey: {SENTINEL}
  app:apiKey:
    secure: v1:AAAABBBB
encryptionsalt: v1:abc
""",
    "Pulumi.yaml": f"name: orders\nruntime: python\nconfig:\n  app:token:\n"
                   f"    default: {SENTINEL}\n",
    ".github/workflows/deploy.yml": f"""on: push
jobs:
  deploy:
    runs-on: ubuntu-latest
    env:
      AWS_SECRET_ACCESS_KEY: {SENTINEL}
      AWS_ACCESS_KEY_ID: AKIA{SENTINEL[:16].upper()}
    steps:
      - run: echo {SENTINEL}
""",
}


def test_repo_secrets_under_tags_keys_duplicates_and_workflows(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = tmp_path / "repo"
    for rel, text in REPO_FILES.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    code = main(["repo", str(repo), "--output-dir", str(tmp_path / "out"), "--format", ALL])
    assert code == 1
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert sum(f["status"] == "fail" for f in report["findings"]) >= 5
    text = _outputs(tmp_path / "out", capsys.readouterr().err)
    assert SENTINEL not in text and SENTINEL[:16].upper() not in text


def test_logs_secret_request_parameters(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    t = dt.datetime(2024, 5, 2, 12, tzinfo=dt.UTC)
    rec = samples.record("ModifyDBInstance", "rds.amazonaws.com",
                         {"dBInstanceIdentifier": "orders-db", "backupRetentionPeriod": 0,
                          "masterUserPassword": SENTINEL,
                          "nested": {"secretString": SENTINEL, "clientSecret": [SENTINEL]}},
                         time=t, event_id="ev-1")
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "f.json.gz").write_bytes(samples.log_file([rec]))
    main(["logs", str(logs), "--output-dir", str(tmp_path / "out"), "--format", ALL])
    assert SENTINEL not in _outputs(tmp_path / "out", capsys.readouterr().err)


def test_merged_reports_keep_nothing_the_shards_redacted(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    path = tmp_path / "preview.json"
    path.write_text(json.dumps(_preview()))
    main(["plan", "--file", str(path), "--output-dir", str(tmp_path / "a"), "--format", "json"])
    main(["merge", str(tmp_path / "a" / "report.json"), "--output-dir", str(tmp_path / "m"),
          "--format", ALL, "--allow-mixed"])
    assert SENTINEL not in _outputs(tmp_path / "m", capsys.readouterr().err)
