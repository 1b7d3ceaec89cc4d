"""`dr-audit state`: the deploy-side controls on `pulumi stack export` files.

Exports come from the example programs (captured under mocks as an update, turned into the
export format by tests/export.py and checked against the documented deployment format), then
bent into the shapes users meet: protect flags, encrypted secrets, old versions, checkpoints,
damaged files."""

from __future__ import annotations

import copy
import json
import logging
import os
import stat
import sys
from pathlib import Path

import jsonschema
import pytest

from auditor import state
from auditor.cli import main
from tests.export import export
from tests.harness.analyzer import run_stack

DATA = Path(__file__).parent / "data"
DB_SECRET = {"config": {"dbPassword": "pw-Zq81-secret"}, "secrets": ["dbPassword"]}
SCHEMA = json.loads((DATA / "pulumi-deployment-v3.schema.json").read_text())


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory, capture) -> dict[str, dict]:  # noqa: ANN001
    """Export documents of the example stacks (update captures, shared with the pack tests)."""
    out = {}
    for name in ("dr-ready-stack", "drifting-stack"):
        out[name] = export(capture(f"examples/{name}", preview=False, **DB_SECRET))
    out["org-guardrails"] = export(capture("examples/org-guardrails", preview=False,
                                           config={"rootId": "r-a1b2"}))
    return out


def _write(tmp_path: Path, doc: object, name: str = "state.json") -> Path:
    p = tmp_path / name
    p.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return p


def _run(path: Path, out: Path, *extra: str) -> tuple[int, dict]:
    code = main(["state", "--file", str(path), "--output-dir", str(out), *extra])
    report = json.loads((out / "report.json").read_text()) if (out / "report.json").exists() \
        else {}
    return code, report


def _res(doc: dict, name: str) -> dict:
    (r,) = [r for r in doc["deployment"]["resources"] if r["urn"].endswith(f"::{name}")]
    return r


def test_exports_match_the_documented_format(exports) -> None:  # noqa: ANN001
    validator = jsonschema.Draft202012Validator(
        SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    for name, doc in exports.items():
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc)]
        assert not errors, (name, errors[:5])
    doc = exports["drifting-stack"]
    pw = _res(doc, "orders-db")["inputs"]["password"]
    assert set(pw) == {"4dabf18193072939515e22adb298388d", "ciphertext"}
    assert "pw-Zq81-secret" not in json.dumps(doc)
    # The schema is not a rubber stamp.
    bad = copy.deepcopy(doc)
    bad["deployment"]["resources"][1]["outputs"]["x"] = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
    assert not validator.is_valid(bad)


def test_dr_ready_export_passes_and_drifting_fails(exports, tmp_path) -> None:  # noqa: ANN001
    code, report = _run(_write(tmp_path, exports["dr-ready-stack"]), tmp_path / "ok")
    assert code == 0
    findings = report["findings"]
    assert findings and {f["status"] for f in findings} == {"pass"}
    assert {f["source"] for f in findings} == {"state"}
    assert report["run"]["command"] == "state" and report["run"]["stack"] == "dev"
    controls = {f["control"] for f in findings}
    assert {"backup-bucket-replication", "rds-cross-region-backup",
            "backup-bucket-deletion-alerts", "backup-vault-lock", "dynamodb-recovery",
            "ebs-snapshot-coverage", "backup-bucket-public-access-block"} <= controls

    code, report = _run(_write(tmp_path, exports["drifting-stack"]), tmp_path / "bad")
    assert code == 1
    fails = {(f["control"], f["resource"].rsplit("::", 1)[-1]) for f in report["findings"]
             if f["status"] == "fail"}
    for expected in [("stateful-resource-protect", "db-backups"),
                     ("backup-bucket-replication", "db-backups"),
                     ("backup-bucket-deletion-alerts", "db-backups"),
                     ("rds-cross-region-backup", "orders-db"),
                     ("dynamodb-recovery", "orders-ledger"),
                     ("backup-vault-lock", "primary-vault"),
                     ("iam-access-key-rotation", "ci-deployer-key")]:
        assert expected in fails
    for fmt in ("report.html", "report.md", "report.sarif", "report.junit.xml"):
        assert (tmp_path / "bad" / fmt).exists()


def test_state_judges_what_the_pack_judges(exports, analyzer, capture, tmp_path) -> None:  # noqa: ANN001
    """Offline on the export = the policy pack on the same update, control by control."""
    cap = capture("examples/drifting-stack", preview=False, **DB_SECRET)
    pack = {(d.policy_name, d.urn) for d in run_stack(analyzer, cap).diagnostics}
    code, report = _run(_write(tmp_path, exports["drifting-stack"]), tmp_path / "out")
    offline = {(f["control"], f["resource"]) for f in report["findings"]
               if f["status"] == "fail"}
    assert offline == pack


def test_protect_comes_from_the_export(exports, tmp_path) -> None:  # noqa: ANN001
    doc = copy.deepcopy(exports["dr-ready-stack"])
    table = _res(doc, "orders-ledger")
    assert table["protect"] is True
    del table["protect"]  # what the CLI writes for protect: false
    code, report = _run(_write(tmp_path, doc), tmp_path / "out")
    assert code == 1
    (f,) = [f for f in report["findings"] if f["status"] == "fail"]
    assert f["control"] == "stateful-resource-protect"
    assert f["resource"] == table["urn"] and f["evidence"]["protect"] is False


def test_encrypted_secret_cannot_be_judged_but_plaintext_can(exports, capture,
                                                              tmp_path) -> None:  # noqa: ANN001
    doc = copy.deepcopy(exports["dr-ready-stack"])
    db = _res(doc, "orders-db")
    hidden = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
              "ciphertext": "v1:abc:v1:def"}
    db["inputs"]["backupRetentionPeriod"] = db["outputs"]["backupRetentionPeriod"] = hidden
    code, report = _run(_write(tmp_path, doc), tmp_path / "enc")
    assert code == 3  # incomplete, not clean
    (f,) = [f for f in report["findings"] if f["status"] == "error"]
    assert f["control"] == "rds-backup-retention"
    assert "cannot be checked from this stack export" in f["message"]
    assert "preview" not in f["message"]

    shown = export(capture("examples/dr-ready-stack", preview=False, **DB_SECRET),
                   show_secrets=True)
    assert json.loads(_res(shown, "orders-db")["inputs"]["password"]["plaintext"]) \
        == "pw-Zq81-secret"
    code, report = _run(_write(tmp_path, shown, "shown.json"), tmp_path / "shown")
    assert code == 0
    assert "pw-Zq81-secret" not in (tmp_path / "shown" / "report.json").read_text()


def test_older_versions_and_checkpoint_files_are_read(exports, tmp_path) -> None:  # noqa: ANN001
    doc = copy.deepcopy(exports["drifting-stack"])
    want = state.evaluate(state.parse(doc, "v3"), _settings())
    v2 = copy.deepcopy(doc)
    v2["version"] = 2
    for r in v2["deployment"]["resources"]:
        r.pop("propertyDependencies", None)
    got = state.evaluate(state.parse(v2, "v2"), _settings())
    assert {(f.control, f.resource, f.status) for f in got} == \
        {(f.control, f.resource, f.status) for f in want}
    checkpoint = {"version": 3, "checkpoint": {"stack": "organization/drifting-stack/dev",
                                               "latest": doc["deployment"]}}
    code, report = _run(_write(tmp_path, checkpoint), tmp_path / "cp")
    assert code == 1 and len(report["findings"]) == len(want)


def _settings():  # noqa: ANN202
    from drguard.settings import Settings
    return Settings()


def _damaged(doc: dict) -> dict[str, tuple[object, str]]:
    def edit(fn) -> dict:  # noqa: ANN001
        d = copy.deepcopy(doc)
        fn(d)
        return d

    text = json.dumps(doc)
    return {
        "truncated": (text[: len(text) // 2], "not valid JSON (Unterminated string"),
        "empty": ("", "not valid JSON (Expecting value: line 1 column 1)"),
        "newer": (edit(lambda d: d.update(version=4)),
                  "deployment version 4 is not supported (newer than this dr-audit "
                  "understands; upgrade dr-audit)"),
        "string-version": (edit(lambda d: d.update(version="3")),
                           "'version' must be an integer, found '3'"),
        "no-version": (edit(lambda d: d.pop("version")), "no 'version' field"),
        "no-deployment": (edit(lambda d: d.pop("deployment")), "no 'deployment' object"),
        "a-list": ([doc], "expected a JSON object at the top, found list"),
        "resources-object": (edit(lambda d: d["deployment"].update(resources={})),
                             "'deployment.resources' must be a list"),
        "no-urn": (edit(lambda d: d["deployment"]["resources"][2].pop("urn")),
                   "resource #3 has no 'urn'"),
        "bad-urn": (edit(lambda d: d["deployment"]["resources"][2].update(urn="db-1")),
                    "resource #3 has an invalid urn 'db-1'"),
        "outputs-list": (edit(lambda d: d["deployment"]["resources"][2].update(outputs=[])),
                         "'outputs' must be an object"),
        "duplicate": (edit(lambda d: d["deployment"]["resources"].append(
            d["deployment"]["resources"][2])), "appears twice"),
    }


@pytest.mark.parametrize("case", ["truncated", "empty", "newer", "string-version", "no-version",
                                  "no-deployment", "a-list", "resources-object", "no-urn",
                                  "bad-urn", "outputs-list", "duplicate"])
def test_damaged_exports_exit_2_with_one_clear_line(exports, tmp_path, capsys,
                                                    case) -> None:  # noqa: ANN001
    doc, fragment = _damaged(exports["drifting-stack"])[case]
    path = _write(tmp_path, doc)
    code = main(["state", "--file", str(path), "--output-dir", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"dr-audit: error: {path}: not a usable stack export: ")
    assert fragment in err
    assert not (tmp_path / "out").exists()


def test_unreadable_files_exit_2(tmp_path, capsys) -> None:  # noqa: ANN001
    binary = tmp_path / "state.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    assert main(["state", "--file", str(binary)]) == 2
    assert f"{binary}: stack export is not UTF-8 text" in capsys.readouterr().err
    assert main(["state", "--file", str(tmp_path / "missing.json")]) == 2
    assert "missing.json: stack export not found" in capsys.readouterr().err
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    assert main(["state", "--file", str(fifo)]) == 2  # refused at once, never waited on
    assert f"{fifo}: stack export is a FIFO (named pipe)" in capsys.readouterr().err

    with pytest.raises(SystemExit) as e:  # neither --file nor --stack: argparse usage error
        main(["state"])
    assert e.value.code == 2


def _fake_pulumi(bin_dir: Path, body: str) -> None:
    exe = bin_dir / "pulumi"
    exe.write_text(f"#!{sys.executable}\n{body}\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)


def test_stack_option_needs_the_pulumi_cli(exports, tmp_path, capsys,
                                           monkeypatch) -> None:  # noqa: ANN001
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert main(["state", "--stack", "dev", "--output-dir", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert "--stack dev: the Pulumi CLI (`pulumi`) is not installed" in err

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exported = _write(tmp_path, exports["drifting-stack"], "exported.json")
    _fake_pulumi(bin_dir, "import sys\n"
                          "assert sys.argv[1:4] == ['stack', 'export', '--stack'], sys.argv\n"
                          f"print(open({str(exported)!r}).read())")
    monkeypatch.setenv("PATH", str(bin_dir) + os.pathsep + os.environ.get("PATH", ""))
    code = main(["state", "--stack", "dev", "--output-dir", str(tmp_path / "b"),
                 "--format", "json"])
    assert code == 1
    report = json.loads((tmp_path / "b" / "report.json").read_text())
    assert report["run"]["sources"] == ["pulumi stack export --stack dev"]

    _fake_pulumi(bin_dir, "import sys\nprint('error: no stack named dev', file=sys.stderr)\n"
                          "sys.exit(255)")
    assert main(["state", "--stack", "dev", "--output-dir", str(tmp_path / "c")]) == 2
    assert "exited with code 255: error: no stack named dev" in capsys.readouterr().err


def test_waivers_and_fail_on_apply_to_state_findings(exports, tmp_path) -> None:  # noqa: ANN001
    doc = copy.deepcopy(exports["dr-ready-stack"])
    key = copy.deepcopy(_res(exports["drifting-stack"], "ci-deployer-key"))
    key["urn"] = key["urn"].replace("drifting-stack", "dr-ready-stack")
    key.pop("provider", None)
    doc["deployment"]["resources"].append(key)
    path = _write(tmp_path, doc)
    code, report = _run(path, tmp_path / "a")
    assert code == 0  # medium gap, default --fail-on high
    (f,) = [f for f in report["findings"] if f["status"] == "fail"]
    assert f["control"] == "iam-access-key-rotation" and f["severity"] == "medium"
    code, _ = _run(path, tmp_path / "b", "--fail-on", "medium")
    assert code == 1
    config = tmp_path / "dr-audit.yaml"
    config.write_text("waivers:\n  - control: iam-access-key-rotation\n"
                      "    resource: '*ci-deployer-key'\n    reason: legacy CI until March\n"
                      "    owner: platform\n    expires: 2999-03-31\n")
    code, report = _run(path, tmp_path / "c", "--fail-on", "medium", "--config", str(config))
    assert code == 0
    assert [f["status"] for f in report["findings"]
            if f["control"] == "iam-access-key-rotation"] == ["waived"]


def _waiver(control: str = "rds-deletion-protection", **extra: object) -> dict[str, object]:
    return {"control": control, "reason": "r", "owner": "platform", "expires": "2999-03-31",
            **extra}


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The stale-waiver warnings of the run (stderr outside pytest, which captures logging)."""
    found = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING
             and "waived no finding" in r.getMessage()]
    caplog.clear()
    return found


@pytest.mark.parametrize("formats", ["json", "json,md"])  # report.json streamed, and not
def test_a_waiver_that_waived_nothing_is_named_on_stderr(exports, tmp_path, caplog,  # noqa: ANN001
                                                         formats) -> None:
    """A waiver of a control the run judged that waived none of its findings is stale (the
    gap was fixed, the resource renamed or gone): one warning line each, naming it and where
    it was declared. The report itself is unchanged."""
    doc = copy.deepcopy(exports["dr-ready-stack"])
    _res(doc, "orders-db")["outputs"]["deletionProtection"] = False
    path = _write(tmp_path, doc)
    (tmp_path / "waivers.yaml").write_text(json.dumps({"waivers": [
        _waiver(resource="*orders-db"),                       # waives the gap: quiet
        _waiver(resource="*gone-db*"),                        # matches nothing: named
        _waiver("*", tags={"team": "nobody"}),                # matches nothing: named
        _waiver("backup-jobs-healthy", resource="*"),         # not a state control: quiet
        _waiver("mongodb-atlas-backup", resource="*"),  # no such resource here: quiet
    ]}))
    config = tmp_path / "dr.yaml"
    config.write_text("waiversFile: waivers.yaml\nwaivers:\n"
                      "  - {control: rds-backup-retention, resource: '*old-db', reason: r,\n"
                      "     owner: dba, expires: 2999-01-31}\n")
    out = tmp_path / "out"
    code, report = _run(path, out, "--config", str(config), "--format", formats)
    assert code == 0
    assert [f["status"] for f in report["findings"] if f["control"] ==
            "rds-deletion-protection" and f["resource"].endswith("::orders-db")] == ["waived"]
    warned = "\n".join(_warnings(caplog))
    assert len(warned.splitlines()) == 3, warned
    where = tmp_path / "waivers.yaml"
    assert f"{where}: waivers: waiver #2 (control rds-deletion-protection, resource " \
           "'*gone-db*', owner platform, expires 2999-03-31)" in warned, warned
    assert f"{where}: waivers: waiver #3 (control *, tags team=nobody," in warned, warned
    assert f"{config}: waivers: waiver #1 (control rds-backup-retention, resource '*old-db'" \
        in warned, warned
    # every waiver matched: no warning
    (tmp_path / "waivers.yaml").write_text(json.dumps({"waivers": [
        _waiver(resource="*orders-db")]}))
    config.write_text("waiversFile: waivers.yaml\n")
    _run(path, tmp_path / "all", "--config", str(config), "--format", formats)
    assert _warnings(caplog) == []


def test_an_expired_waiver_is_reported_once(exports, tmp_path, caplog) -> None:  # noqa: ANN001
    """An expired waiver that met its gap is already named by the report (the finding says it
    expired): no second warning. One that met nothing is named once, with its expiry."""
    doc = copy.deepcopy(exports["dr-ready-stack"])
    _res(doc, "orders-db")["outputs"]["deletionProtection"] = False
    path = _write(tmp_path, doc)
    config = tmp_path / "dr.yaml"
    config.write_text(json.dumps({"waivers": [
        _waiver(resource="*orders-db", expires="2020-01-31"),
        _waiver(resource="*gone-db", expires="2020-01-31")]}))
    code, report = _run(path, tmp_path / "out", "--config", str(config))
    (gap,) = [f for f in report["findings"] if f["control"] == "rds-deletion-protection"
              and f["resource"].endswith("::orders-db")]
    assert code == 1 and gap["status"] == "fail" and "expired on 2020-01-31" in gap["message"]
    warned = _warnings(caplog)
    assert len(warned) == 1 and "waiver #2" in warned[0] and "expired on 2020-01-31" \
        in warned[0], warned


def test_replaced_copies_awaiting_deletion_are_ignored(exports, tmp_path) -> None:  # noqa: ANN001
    """After a create-before-delete replacement that failed to delete, the old copy stays in
    the state with `delete: true` under the same URN: not a duplicate, not judged."""
    doc = copy.deepcopy(exports["dr-ready-stack"])
    old = copy.deepcopy(_res(doc, "orders-db"))
    old.update(delete=True, id="db-OLDCOPY")
    old["outputs"]["deletionProtection"] = False
    doc["deployment"]["resources"].append(old)
    code, report = _run(_write(tmp_path, doc), tmp_path / "out")
    assert code == 0
    assert report["run"]["resources"] == len(exports["dr-ready-stack"]["deployment"]
                                             ["resources"])


def test_a_waiver_may_name_the_arn_a_stack_export_records(exports, tmp_path) -> None:  # noqa: ANN001
    """A state finding's resource is the URN, but the export records the ARN too: a waiver
    written for the live scan (an ARN glob) waives the same gap in `dr-audit state`."""
    doc = copy.deepcopy(exports["dr-ready-stack"])
    db = _res(doc, "orders-db")
    db["outputs"]["deletionProtection"] = False
    db["outputs"]["arn"] = "arn:aws:rds:us-east-1:123456789012:db:scratch-orders"
    path = _write(tmp_path, doc)
    code, report = _run(path, tmp_path / "a")
    (gap,) = [f for f in report["findings"] if f["control"] == "rds-deletion-protection"
                  and f["resource"].endswith("::orders-db")]
    assert code == 1 and gap["status"] == "fail" and gap["resource"].startswith("urn:")
    for glob, waived in (("arn:aws:rds:*:*:db:scratch-*", True), ("arn:aws:rds:*:*:db:prod-*",
                                                                   False)):
        config = tmp_path / "dr-audit.yaml"
        config.write_text(f"waivers:\n  - control: rds-deletion-protection\n"
                          f"    resource: '{glob}'\n    reason: scratch databases\n"
                          "    owner: platform\n    expires: 2999-03-31\n")
        out = tmp_path / glob.replace("*", "x").replace(":", "_")
        _, report = _run(path, out, "--config", str(config))
        (gap,) = [f for f in report["findings"] if f["control"] == "rds-deletion-protection"
                  and f["resource"].endswith("::orders-db")]
        assert gap["status"] == ("waived" if waived else "fail"), glob
        assert gap["account"] == "123456789012"
