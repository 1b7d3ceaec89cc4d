"""`dr-audit plan`: `pulumi preview --json` documents judged before merge.

The documents are built from real programs captured under mocks (tests/harness/capture.py):
the stack as it is (an update capture: state with outputs) and as the pull request would make
it (a preview capture: checked inputs, unknowns), put into the shape the Pulumi CLI writes
(`display.PreviewDigest`, pkg/display/json.go; states as `apitype.ResourceV3` with secrets
blinded to "[secret]" by `MassageSecrets` and unknowns as the engine's computed placeholder,
pkg/backend/display/json.go and pkg/resource/stack/deployment.go). Which property changes
force a replacement is the provider's call; REPLACE_ON lists the few these programs change
(ForceNew in the pulumi-aws schema).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest

from auditor.cli import main
from tests.harness.wire import RESOURCE_SIG, SIG_KEY, UNKNOWN, is_secret

PASSWORD = "pw-Plan-9f3e-secret"
CONFIG = {"config": {"dbPassword": PASSWORD}, "secrets": ["dbPassword"]}

# pkg/display/json.go and sdk/go/common/apitype/core.go (ResourceV3): the JSON field names.
DIGEST_FIELDS = {"config", "steps", "diagnostics", "duration", "changeSummary", "maybeCorrupt"}
STEP_FIELDS = {"op", "urn", "provider", "oldState", "newState", "diffReasons", "replaceReasons",
               "detailedDiff"}
RESOURCE_V3_FIELDS = {
    "urn", "custom", "delete", "id", "type", "inputs", "outputs", "parent", "protect", "taint",
    "external", "dependencies", "initErrors", "provider", "propertyDependencies",
    "pendingReplacement", "additionalSecretOutputs", "aliases", "customTimeouts", "importID",
    "retainOnDelete", "deletedWith", "replaceWith", "created", "modified", "sourcePosition",
    "stackTrace", "ignoreChanges", "hideDiff", "replaceOnChanges", "replacementTrigger",
    "refreshBeforeUpdate", "viewOf", "resourceHooks", "extensionRef", "snippetID"}
# pkg/resource/deploy/step.go StepOps; sdk/go/common/resource/plugin/provider.go DiffKind.
STEP_OPS = {"same", "create", "update", "delete", "replace", "create-replacement",
            "delete-replaced", "read", "read-replacement", "refresh", "discard",
            "discard-replaced", "remove-pending-replace", "import", "import-replacement", "diff",
            "extend-parameterize"}
DIFF_KINDS = {"add", "add-replace", "delete", "delete-replace", "update", "update-replace"}
# Multi-region (and multi-account) controls this single-region, single-account test stack
# leaves to examples/dr-ready-stack.
CONTROLS_OFF = ("backup-bucket-replication", "backup-bucket-deletion-alerts",
                "rds-cross-region-backup", "backup-cross-account-copy")
REPLACE_ON = {"aws:rds/instance:Instance": {"identifier", "dbName", "storageEncrypted"},
              "aws:dynamodb/table:Table": {"name", "hashKey", "rangeKey"},
              "aws:s3/bucket:Bucket": {"bucket", "bucketPrefix", "objectLockEnabled"},
              "aws:s3/bucketVersioning:BucketVersioning": {"bucket"},
              "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration": {"bucket"},
              "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": {"bucket"}}


def orders() -> None:
    """The program under review; config `variant` is the pull request's change. The stack
    passes the single-region deploy-side controls (CONTROLS_OFF names the multi-region ones)."""
    cfg = pulumi.Config()
    v = cfg.get("variant") or "base"
    tags = {"team": "orders"}
    if v == "tags":
        tags = {"team": "orders", "cost-center": "42"}
    keep = pulumi.ResourceOptions(protect=True)
    if v != "delete":
        holder = aws.s3.Bucket("orders-backup", bucket="orders-backup-v2" if v == "replace"
                               else "orders-backup", object_lock_enabled=True,
                               tags={**tags, "dr:backup": "true"}, opts=keep)
        aws.s3.BucketVersioning("orders-backup-versioning", bucket=holder.id,
                                versioning_configuration={"status": "Enabled"})
        aws.s3.BucketObjectLockConfiguration(
            "orders-backup-lock", bucket=holder.id,
            rule={"default_retention": {"mode": "COMPLIANCE", "days": 30}})
        aws.s3.BucketPublicAccessBlock("orders-backup-pab", bucket=holder.id,
                                       block_public_acls=True, block_public_policy=True,
                                       ignore_public_acls=True, restrict_public_buckets=True)
        dp: Any = v != "dp-off"
        if v == "unknowns":  # known only once a resource this update creates exists
            flag = aws.ssm.Parameter("dp-flag", type="String", value="on")
            dp = flag.id.apply(lambda _: True)
        elif v == "secret-dp":
            dp = pulumi.Output.secret(True)
        aws.rds.Instance("orders-db", identifier="orders-db-v2" if v == "replace"
                         else "orders-db", engine="postgres", instance_class="db.t4g.micro",
                         allocated_storage=20, username="app",
                         password=cfg.require_secret("dbPassword"),
                         backup_retention_period=7, deletion_protection=dp,
                         skip_final_snapshot=False, final_snapshot_identifier="orders-db-final",
                         delete_automated_backups=False, copy_tags_to_snapshot=True, tags=tags,
                         opts=keep)
        aws.dynamodb.Table("orders", name="orders-v2" if v == "replace" else "orders",
                           hash_key="id", attributes=[{"name": "id", "type": "S"}],
                           billing_mode="PAY_PER_REQUEST",
                           point_in_time_recovery={"enabled": True},
                           deletion_protection_enabled=True, tags=tags, opts=keep)
    aws.s3.Bucket("assets", bucket="orders-assets", tags=tags)


# ---- the CLI's document, from captures ---------------------------------------------------------

def _massage(v: Any) -> Any:
    """MassageSecrets (showSecrets=false) and the analyzer-free resource reference form."""
    if is_secret(v):
        return "[secret]"
    if isinstance(v, dict):
        if v.get(SIG_KEY) == RESOURCE_SIG:
            return v.get("id") or UNKNOWN
        return {k: _massage(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_massage(x) for x in v]
    return v


def _state(r: dict[str, Any], *, new: bool) -> dict[str, Any]:
    """apitype.ResourceV3 as stack.SerializeResource writes it (omitempty)."""
    out: dict[str, Any] = {"urn": r["urn"], "custom": bool(r["custom"])}
    if not new and r["custom"] and r.get("id"):
        out["id"] = r["id"]
    out["type"] = r["type"]
    inputs = r.get("properties") if r["custom"] else r.get("inputs")
    if inputs:
        out["inputs"] = _massage(inputs)
    if not new and r.get("outputs"):  # a planned state has no outputs during preview
        out["outputs"] = _massage(r["outputs"])
    for key in ("parent", "protect"):
        if r.get(key):
            out[key] = r[key]
    if r.get("dependencies"):
        out["dependencies"] = list(r["dependencies"])
    deps = {k: list(v) for k, v in (r.get("propertyDependencies") or {}).items() if v}
    if deps:
        out["propertyDependencies"] = deps
    if r.get("providerRef"):
        out["provider"] = r["providerRef"]
    return out


def _known_inputs(r: dict[str, Any], prev: dict[str, Any] | None, replaced: set[str],
                  existing: set[str]) -> dict[str, Any]:
    """The planned inputs of an existing resource as the engine has them: an input the preview
    capture leaves unknown only because its dependencies are new in the capture is known when
    every dependency already exists and is not being replaced (it keeps its old value)."""
    r = copy.deepcopy(r)
    if prev is None:
        return r
    props, before = r.get("properties") or {}, prev.get("properties") or {}
    for key, value in list(props.items()):
        deps = (r.get("propertyDependencies") or {}).get(key) or []
        if UNKNOWN in json.dumps(value) and key in before and deps and all(
                d in existing and d not in replaced for d in deps):
            props[key] = copy.deepcopy(before[key])
    return r


def _diff(old: dict[str, Any], new: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    forcing = REPLACE_ON.get(type_, set())
    a, b = old.get("properties") or {}, new.get("properties") or {}
    out = {}
    for key in sorted(set(a) | set(b)):
        if key.startswith("__") or a.get(key) == b.get(key):
            continue
        kind = "add" if key not in a else "delete" if key not in b else "update"
        if key in forcing:
            kind += "-replace"
        out[key] = {"kind": kind, "inputDiff": False}
    return out


def preview_doc(before: Any, after: Any, *, show_sames: bool = False,
                show_replacement_steps: bool = False) -> dict[str, Any]:
    """The `pulumi preview --json` digest of updating `before` (update capture, or None for a
    new stack) to `after` (preview capture)."""
    old = {r["urn"]: r for r in (before.resources if before is not None else [])}
    replaced: set[str] = set()
    for _ in range(2):  # a replaced dependency makes its dependents' inputs unknown again
        planned = [_known_inputs(r, old.get(r["urn"]), replaced, set(old))
                   for r in after.resources]
        replaced = {r["urn"] for r in planned if r["urn"] in old and any(
            d["kind"].endswith("-replace")
            for d in _diff(old[r["urn"]], r, r["type"]).values())}
    steps: list[dict[str, Any]] = []
    deletes: list[dict[str, Any]] = []
    summary: dict[str, int] = {}

    def add(step: dict[str, Any], late: bool = False) -> None:
        (deletes if late else steps).append(step)

    for r in planned:
        prev = old.get(r["urn"])
        base = {"urn": r["urn"], "provider": r.get("providerRef") or ""}
        if not base["provider"]:
            del base["provider"]
        if prev is None:
            add({"op": "create", **base, "newState": _state(r, new=True), "detailedDiff": None})
            summary["create"] = summary.get("create", 0) + 1
            continue
        diff = _diff(prev, r, r["type"])
        if not diff or r["type"] == "pulumi:pulumi:Stack":
            summary["same"] = summary.get("same", 0) + 1
            if show_sames or r["type"] == "pulumi:pulumi:Stack":
                add({"op": "same", **base, "oldState": _state(prev, new=False),
                     "newState": _state(r, new=True), "detailedDiff": None})
            continue
        reasons = [k for k, d in diff.items() if d["kind"].endswith("-replace")]
        states = {"oldState": _state(prev, new=False), "newState": _state(r, new=True)}
        if reasons:
            summary["replace"] = summary.get("replace", 0) + 1
            if show_replacement_steps:
                add({"op": "create-replacement", **base, **copy.deepcopy(states),
                     "diffReasons": list(diff), "replaceReasons": reasons,
                     "detailedDiff": diff})
            add({"op": "replace", **base, **states, "diffReasons": list(diff),
                 "replaceReasons": reasons, "detailedDiff": diff})
            if show_replacement_steps:
                gone = {**_state(prev, new=False), "delete": True}
                add({"op": "delete-replaced", **base, "oldState": gone, "detailedDiff": None},
                    late=True)
        else:
            summary["update"] = summary.get("update", 0) + 1
            add({"op": "update", **base, **states, "diffReasons": list(diff),
                 "detailedDiff": diff})
    current = {r["urn"] for r in after.resources}
    for r in reversed(before.resources if before is not None else []):
        if r["urn"] not in current:
            summary["delete"] = summary.get("delete", 0) + 1
            add({"op": "delete", "urn": r["urn"], "oldState": _state(r, new=False),
                 "detailedDiff": None}, late=True)
    return {"config": {"aws:region": "us-east-1", "orders:dbPassword": "[secret]"},
            "steps": steps + deletes, "duration": 4_200_000_000, "changeSummary": summary}


@pytest.fixture(scope="module")
def stacks(capture) -> dict[str, Any]:  # noqa: ANN001
    # A generous timeout: eight captures in a row on a loaded machine.
    out: dict[str, Any] = {"base": capture(orders, preview=False, timeout=600, **CONFIG)}
    for variant in ("base", "replace", "delete", "tags", "dp-off", "unknowns", "secret-dp"):
        out[f"pr:{variant}"] = capture(orders, preview=True, timeout=600, config={
            **CONFIG["config"], "variant": variant}, secrets=CONFIG["secrets"])
    return out


def _config(tmp_path: Path, extra: str = "") -> Path:
    cfg = tmp_path / "dr.yaml"
    cfg.write_text("controls:\n" + "".join(f"  {c}: {{enabled: false}}\n" for c in CONTROLS_OFF)
                   + extra)
    return cfg


def _run(tmp_path: Path, doc: Any, *extra: str, name: str = "preview.json") -> tuple[int, dict]:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc, indent=4))
    out = tmp_path / "report"
    if "--config" not in extra:
        extra = (*extra, "--config", str(_config(tmp_path)))
    code = main(["plan", "--file", str(path), "--output-dir", str(out), *extra])
    report = json.loads((out / "report.json").read_text()) if (out / "report.json").exists() \
        else {}
    return code, report


def _one(report: dict, control: str, name: str) -> dict:
    found = [f for f in report["findings"]
             if f["control"] == control and f["resource"].endswith(f"::{name}")]
    assert len(found) == 1, (control, name, [(f["control"], f["resource"])
                                             for f in report["findings"]])
    return found[0]


# ---- the shape -----------------------------------------------------------------------------------

def test_documents_use_the_cli_types(stacks) -> None:  # noqa: ANN001
    docs = [preview_doc(stacks["base"], stacks["pr:replace"], show_sames=True,
                        show_replacement_steps=True),
            preview_doc(stacks["base"], stacks["pr:delete"]),
            preview_doc(None, stacks["pr:base"])]
    ops = set()
    for doc in docs:
        assert set(doc) <= DIGEST_FIELDS
        for step in doc["steps"]:
            assert set(step) <= STEP_FIELDS and step["op"] in STEP_OPS
            ops.add(step["op"])
            for key in ("oldState", "newState"):
                if key in step:
                    assert set(step[key]) <= RESOURCE_V3_FIELDS, set(step[key]) - \
                        RESOURCE_V3_FIELDS
            for d in (step.get("detailedDiff") or {}).values():
                assert set(d) == {"kind", "inputDiff"} and d["kind"] in DIFF_KINDS
        assert set(doc["changeSummary"]) <= STEP_OPS
        assert PASSWORD not in json.dumps(doc)
    assert ops >= {"create", "same", "replace", "create-replacement", "delete-replaced",
                   "delete"}
    # The planned state of the preview carries unknowns in the engine's placeholder.
    text = json.dumps(preview_doc(None, stacks["pr:base"]))
    assert UNKNOWN in text and "[secret]" in text


# ---- Done when: replace and delete of an RDS instance, a DynamoDB table, a backup bucket ---

def test_replace_of_database_table_and_backup_bucket(stacks, tmp_path) -> None:  # noqa: ANN001
    code, report = _run(tmp_path, preview_doc(stacks["base"], stacks["pr:replace"]))
    assert code == 1
    db = _one(report, "plan-destroys-data", "orders-db")
    assert db["status"] == "fail" and db["severity"] == "critical"
    assert "replaces DB instance 'orders-db'" in db["message"]
    assert "identifier 'orders-db' -> 'orders-db-v2'" in db["message"]
    assert "final snapshot 'orders-db-final'" in db["message"]
    assert "still a data-loss risk" in db["message"]
    assert "deletion protection is on" in db["message"]
    assert "`protect` is set: the engine refuses to delete it" in db["message"]
    assert db["evidence"]["replaceReasons"] == ["identifier"]
    assert db["evidence"]["operation"] == "replace"
    table = _one(report, "plan-destroys-data", "orders")
    assert table["status"] == "fail"
    assert "name 'orders' -> 'orders-v2'" in table["message"]
    assert "point-in-time recovery is on" in table["message"]
    bucket = _one(report, "plan-destroys-data", "orders-backup")
    assert bucket["status"] == "fail"
    assert "bucket 'orders-backup' -> 'orders-backup-v2'" in bucket["message"]
    assert "forceDestroy is off" in bucket["message"]
    # A plain bucket is not stateful for DR: no finding for it.
    assert not [f for f in report["findings"] if f["control"] == "plan-destroys-data"
                and f["resource"].endswith("::assets")]
    md = (tmp_path / "report" / "report.md").read_text()
    assert "plan-destroys-data" in md and "orders-db" in md
    assert PASSWORD not in json.dumps(report) and PASSWORD not in md


def test_replacement_steps_give_one_finding_per_resource(stacks, tmp_path) -> None:  # noqa: ANN001
    doc = preview_doc(stacks["base"], stacks["pr:replace"], show_replacement_steps=True,
                      show_sames=True)
    code, report = _run(tmp_path, doc)
    assert code == 1
    db = _one(report, "plan-destroys-data", "orders-db")
    assert db["evidence"]["steps"] == ["create-replacement", "replace", "delete-replaced"]
    assert db["evidence"]["deleteBeforeReplace"] is False
    # deleteBeforeReplace: the engine deletes the old resource before creating the new one.
    dbr = copy.deepcopy(doc)
    urn = db["resource"]
    gone = next(s for s in dbr["steps"] if s["op"] == "delete-replaced" and s["urn"] == urn)
    dbr["steps"].remove(gone)
    first = next(i for i, s in enumerate(dbr["steps"]) if s["urn"] == urn)
    dbr["steps"].insert(first, gone)
    _code, report = _run(tmp_path, dbr, name="dbr.json")
    f = _one(report, "plan-destroys-data", "orders-db")
    assert f["evidence"]["deleteBeforeReplace"] is True
    assert "the old one goes first" in f["message"]
    # Only delete-replaced steps (a hand-trimmed document) still count as a replacement.
    only = {**doc, "steps": [s for s in doc["steps"] if s["op"] == "delete-replaced"]}
    code, report = _run(tmp_path, only, name="only.json")
    assert code == 1
    assert _one(report, "plan-destroys-data", "orders")["evidence"]["operation"] == "replace"


def test_delete_of_database_table_and_backup_bucket(stacks, tmp_path) -> None:  # noqa: ANN001
    code, report = _run(tmp_path, preview_doc(stacks["base"], stacks["pr:delete"]))
    assert code == 1
    db = _one(report, "plan-destroys-data", "orders-db")
    assert db["status"] == "fail" and "deletes DB instance 'orders-db'" in db["message"]
    assert "final snapshot 'orders-db-final' is taken" in db["message"]
    assert "still a data-loss risk" not in db["message"]  # a delete, not a replacement
    assert "automated backups are kept" in db["message"]
    assert db["evidence"]["deletionProtection"] is True
    for name in ("orders", "orders-backup"):
        f = _one(report, "plan-destroys-data", name)
        assert f["status"] == "fail" and "This plan deletes" in f["message"]
    # The split versioning resource going away is not itself stateful.
    assert not [f for f in report["findings"]
                if f["resource"].endswith("::orders-backup-versioning")]


def test_update_turning_off_deletion_protection_is_a_regression(stacks, tmp_path) -> None:  # noqa: ANN001
    code, report = _run(tmp_path, preview_doc(stacks["base"], stacks["pr:dp-off"]))
    assert code == 1
    f = _one(report, "rds-deletion-protection", "orders-db")
    assert f["status"] == "fail"
    assert f["message"].startswith("Regression: this change turns off deletion protection")
    assert f["evidence"]["regression"]["before"] == "pass"
    # Updated in place: the data stays.
    keep = _one(report, "plan-destroys-data", "orders-db")
    assert keep["status"] == "pass"
    # Controls that did not change are not regressions.
    assert not [x for x in report["findings"] if "Regression" in x["message"]
                and x["control"] != "rds-deletion-protection"]


def test_safe_plan_with_tag_changes_passes(stacks, tmp_path) -> None:  # noqa: ANN001
    code, report = _run(tmp_path, preview_doc(stacks["base"], stacks["pr:tags"],
                                              show_sames=True))
    assert code == 0, [(f["control"], f["status"], f["message"]) for f in report["findings"]
                       if f["status"] != "pass"]
    statuses = {f["status"] for f in report["findings"]}
    assert statuses == {"pass"}
    assert _one(report, "plan-destroys-data", "orders-db")["status"] == "pass"
    assert _one(report, "rds-deletion-protection", "orders-db")["status"] == "pass"


def test_create_runs_the_deploy_controls_on_the_planned_state(stacks, tmp_path) -> None:  # noqa: ANN001
    code, report = _run(tmp_path, preview_doc(None, stacks["pr:base"]))
    controls = {f["control"] for f in report["findings"]}
    assert {"rds-backup-retention", "rds-deletion-protection", "rds-final-snapshot",
            "dynamodb-recovery", "backup-bucket-versioning"} <= controls
    assert _one(report, "backup-bucket-versioning", "orders-backup")["status"] == "pass"
    assert _one(report, "backup-bucket-object-lock", "orders-backup")["status"] == "pass"
    assert {f["status"] for f in report["findings"]} == {"pass"}
    assert code == 0
    # The same new stack without protect and Object Lock: what the pack would block.
    doc = preview_doc(None, stacks["pr:base"])
    for step in doc["steps"]:
        step["newState"].pop("protect", None)
        step["newState"].get("inputs", {}).pop("objectLockEnabled", None)
    doc["steps"] = [s for s in doc["steps"] if "bucketObjectLock" not in s["urn"]]
    code, report = _run(tmp_path, doc, name="unprotected.json")
    assert code == 1
    assert _one(report, "backup-bucket-object-lock", "orders-backup")["status"] == "fail"
    assert _one(report, "stateful-resource-protect", "orders-db")["status"] == "fail"


# ---- unknowns, secrets, waivers ------------------------------------------------------------------

def test_unknown_in_the_planned_state_is_not_a_pass(stacks, tmp_path) -> None:  # noqa: ANN001
    code, report = _run(tmp_path, preview_doc(stacks["base"], stacks["pr:unknowns"]))
    f = _one(report, "rds-deletion-protection", "orders-db")
    assert f["status"] == "error"
    assert "cannot be checked from this preview" in f["message"]
    assert code == 3


def test_secrets_are_never_read_nor_printed(stacks, tmp_path) -> None:  # noqa: ANN001
    doc = preview_doc(stacks["base"], stacks["pr:secret-dp"])
    steps = {s["urn"].rsplit("::", 1)[-1]: s for s in doc["steps"]}
    assert steps["orders-db"]["newState"]["inputs"]["deletionProtection"] == "[secret]"
    assert steps["orders-db"]["newState"]["inputs"]["password"] == "[secret]"
    code, report = _run(tmp_path, doc)
    f = _one(report, "rds-deletion-protection", "orders-db")
    assert f["status"] == "error"  # a secret cannot be judged: never a pass
    assert code == 3
    # Even a hostile document with a secret envelope holding plaintext is not read out.
    steps["orders-db"]["newState"]["inputs"]["masterPassword"] = {
        SIG_KEY: "1b47061264138c4ac30d75fd1eb44270", "plaintext": json.dumps(PASSWORD)}
    _run(tmp_path, doc, name="hostile.json")
    for p in (tmp_path / "report").iterdir():
        assert PASSWORD not in p.read_text(), p.name


def test_waiver_for_a_planned_migration(stacks, tmp_path) -> None:  # noqa: ANN001
    cfg = _config(tmp_path, "waivers:\n  - control: plan-destroys-data\n"
                  "    resource: '*::orders-db'\n"
                  "    reason: migration to orders-db-v2 (data copied by DMS)\n"
                  "    owner: orders-team\n    expires: 2099-01-31\n")
    code, report = _run(tmp_path, preview_doc(stacks["base"], stacks["pr:replace"]),
                        "--config", str(cfg))
    db = _one(report, "plan-destroys-data", "orders-db")
    assert db["status"] == "waived" and db["waiver"]["owner"] == "orders-team"
    assert _one(report, "plan-destroys-data", "orders")["status"] == "fail"
    assert code == 1


def test_rename_hint_on_delete_and_create_of_the_same_type(stacks, tmp_path) -> None:  # noqa: ANN001
    doc = preview_doc(stacks["base"], stacks["pr:delete"])
    created = copy.deepcopy(next(s for s in preview_doc(None, stacks["pr:base"])["steps"]
                                 if s["urn"].endswith("::orders")))
    created["urn"] = created["newState"]["urn"] = created["urn"] + "-table"
    doc["steps"].insert(1, created)
    _code, report = _run(tmp_path, doc)
    f = _one(report, "plan-destroys-data", "orders")
    assert "orders-table" in f["message"] and "aliases" in f["message"]


# ---- malformed documents -------------------------------------------------------------------------

@pytest.mark.parametrize("text,expected", [
    ("", "empty"),
    ("{not json", "not valid JSON"),
    ("[]", "JSON list"),
    ('"steps"', "JSON object"),
    ('{"version": 3, "deployment": {}}', "stack export"),
    ('{"hello": 1}', "none of steps"),
    ('{"steps": {}}', "'steps' must be a list"),
    ('{"steps": [{"op": "create"}]}', "none of its 1 steps"),
    ('{"changeSummary": {"create": "two"}}', "changeSummary"),
    ('{"sequence":0,"timestamp":1,"preludeEvent":{}}\n{"sequence":1,"timestamp":1}',
     "streaming event form"),
])
def test_malformed_documents_exit_2_with_one_line(tmp_path, capsys, text, expected) -> None:  # noqa: ANN001
    code, report = _run(tmp_path, text)
    err = capsys.readouterr().err.strip()
    assert code == 2 and not report
    assert len(err.splitlines()) == 1 and expected in err, err
    assert err.startswith("dr-audit: error: ") and "Traceback" not in err


def test_missing_file_is_a_usage_error(tmp_path, capsys) -> None:  # noqa: ANN001
    assert main(["plan", "--file", str(tmp_path / "nope.json"),
                 "--output-dir", str(tmp_path / "out")]) == 2
    assert "preview file not found" in capsys.readouterr().err


def test_one_bad_step_is_skipped_and_counted(stacks, tmp_path) -> None:  # noqa: ANN001
    doc = preview_doc(stacks["base"], stacks["pr:tags"], show_sames=True)
    doc["steps"].append({"op": "teleport", "urn": "urn:pulumi:dev::orders::aws:x/y:Z::z"})
    doc["steps"].append("garbage")
    code, report = _run(tmp_path, doc)
    assert code == 3  # incomplete is never green
    assert report["run"]["skipped"]["steps"] == 2
    reasons = [d["reason"] for d in report["run"]["skipped_detail"]]
    assert any("unknown op 'teleport'" in r for r in reasons)


def test_preview_errors_make_the_run_incomplete(stacks, tmp_path) -> None:  # noqa: ANN001
    doc = preview_doc(stacks["base"], stacks["pr:tags"], show_sames=True)
    doc["diagnostics"] = [{"urn": doc["steps"][0]["urn"], "message": "error: preview failed: "
                           "unable to replace protected resource", "severity": "error"}]
    code, report = _run(tmp_path, doc)
    assert code == 3
    assert "preview reported 1 error" in report["run"]["skipped"]["notes"][0]


# ---- a read-only look for a recent backup (moto) -------------------------------------------------

def test_check_backups_names_the_newest_backup(stacks, tmp_path, aws) -> None:  # noqa: ANN001
    rds = aws.client("rds")
    rds.create_db_instance(DBInstanceIdentifier="orders-db", DBInstanceClass="db.t4g.micro",
                           Engine="postgres", MasterUsername="app",
                           MasterUserPassword="pw-not-checked-1", AllocatedStorage=20,
                           BackupRetentionPeriod=7)
    rds.create_db_snapshot(DBInstanceIdentifier="orders-db",
                           DBSnapshotIdentifier="orders-db-nightly")
    ddb = aws.client("dynamodb")
    ddb.create_table(TableName="orders", BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
    calls: list[str] = []

    class Recorder:
        def on_call(self, service: str, operation: str, params: dict) -> None:
            calls.append(operation)

        def on_attempt(self, service: str, operation: str) -> None:
            pass

    from auditor.aws import observe

    with observe(Recorder()):
        code, report = _run(tmp_path, preview_doc(stacks["base"], stacks["pr:delete"]),
                            "--endpoint-url", aws.url)
    assert code == 1
    db = _one(report, "plan-destroys-data", "orders-db")
    assert "Newest backup: " in db["message"]
    assert db["evidence"]["recentBackup"]["ageHours"] < 1
    assert "orders-db-nightly" in db["evidence"]["recentBackup"]["what"] or \
        "point-in-time" in db["evidence"]["recentBackup"]["what"]
    # The emulator has no AWS Backup recovery-point listing: an unanswered lookup is said,
    # never read as "no backup".
    table = _one(report, "plan-destroys-data", "orders")
    assert "Could not check for a recent backup" in table["message"]
    assert "No backup" not in table["message"]
    assert report["run"]["backups"]["checked"] == 3
    assert calls and all(c.startswith(("Describe", "List", "Get")) for c in calls), calls


# ---- the pre-merge example ---------------------------------------------------------------

def test_pre_merge_example_runs_the_plan_check_and_keeps_one_comment() -> None:
    from auditor.cli import build_parser
    from tests.test_ci_examples import CI, _load, action_argv, action_steps

    doc = _load(CI / "pre-merge.yml")
    job = doc["jobs"]["plan-check"]
    assert job["permissions"]["pull-requests"] == "write"
    scripts = [s["run"] for s in job["steps"] if "run" in s]
    preview = next(s for s in scripts if "pulumi preview" in s)
    assert "--json" in preview and "--show-sames" in preview and "preview.json" in preview
    (inputs,) = action_steps({"jobs": {"j": job}})  # the check is DR Guard's action
    ns = build_parser().parse_args(action_argv(inputs))
    assert ns.command == "plan" and str(ns.file) == "preview.json"
    # the action writes Markdown by default (its `formats` input), which the comment posts
    assert "md" in (inputs.get("formats") or "json,md,sarif").split(",")
    comment = next(s for s in job["steps"] if "github-script" in s.get("uses", ""))
    script = comment["with"]["script"]
    assert "report.md" in script and "updateComment" in script and "createComment" in script
    assert "<!-- dr-guard-plan -->" in script  # the marker that finds the one comment again


# ---- hostile documents ---------------------------------------------------------------------------

HOSTILE = [None, True, -1, 1e308, "", "x" * 5000, [], {}, [[[]]], {"a": {"b": [1, "2"]}},
           [{"key": 1}], {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270"},
           "04da6b54-80e4-46f7-96ec-b56ff0331ba9", "[secret]"]


def test_hostile_values_never_crash(stacks, tmp_path) -> None:  # noqa: ANN001
    base = preview_doc(stacks["base"], stacks["pr:replace"], show_sames=True,
                       show_replacement_steps=True)
    keys = ("identifier", "tags", "backupRetentionPeriod", "deletionProtection", "bucket",
            "versioningConfiguration", "pointInTimeRecovery", "forceDestroy", "rule", "name")
    for i, value in enumerate(HOSTILE):
        doc = copy.deepcopy(base)
        for step in doc["steps"]:
            for side in ("oldState", "newState"):
                state = step.get(side)
                if not state:
                    continue
                for part in ("inputs", "outputs"):
                    props = state.get(part)
                    if isinstance(props, dict):
                        for k in keys:
                            if k in props:
                                props[k] = copy.deepcopy(value)
            for k in list(step.get("detailedDiff") or {}):
                step["detailedDiff"][k + ".x[0]"] = {"kind": "update", "inputDiff": True}
        code, report = _run(tmp_path, doc, name=f"hostile-{i}.json")
        assert code in (1, 3), (value, code)
        assert report["findings"], value


# ---- every stateful kind, deleted with and without what keeps its data ---------------------

def kinds() -> None:
    """One resource of every stateful kind the controls know; config `keep` says whether each
    is set up so that its data outlives a delete, `gone` deletes them all."""
    cfg = pulumi.Config()
    if cfg.get("gone"):
        return
    keep = cfg.get("keep") == "yes"
    pw = cfg.require_secret("dbPassword")
    final = (lambda n: {"skip_final_snapshot": False, "final_snapshot_identifier": f"{n}-final"}
             ) if keep else (lambda n: {"skip_final_snapshot": True})
    aws.rds.Instance("k-db", identifier="k-db", engine="postgres", instance_class="db.t4g.micro",
                     allocated_storage=20, username="app", password=pw,
                     delete_automated_backups=not keep, **final("k-db"))
    aws.rds.Cluster("k-aurora", cluster_identifier="k-aurora", engine="aurora-postgresql",
                    master_username="app", master_password=pw, **final("k-aurora"))
    aws.docdb.Cluster("k-docs", cluster_identifier="k-docs", master_username="app",
                      master_password=pw, **final("k-docs"))
    aws.neptune.Cluster("k-graph", cluster_identifier="k-graph", **final("k-graph"))
    aws.redshift.Cluster("k-warehouse", cluster_identifier="k-warehouse",
                         node_type="ra3.xlplus", master_username="app", master_password=pw,
                         **final("k-warehouse"))
    aws.dynamodb.Table("k-table", name="k-table", hash_key="id", billing_mode="PAY_PER_REQUEST",
                       attributes=[{"name": "id", "type": "S"}],
                       point_in_time_recovery={"enabled": keep})
    fs = aws.efs.FileSystem("k-files")
    if keep:
        aws.efs.BackupPolicy("k-files-backup", file_system_id=fs.id,
                             backup_policy={"status": "ENABLED"})
    aws.elasticache.ReplicationGroup(
        "k-cache", replication_group_id="k-cache", description="sessions", engine="redis",
        node_type="cache.t4g.micro", snapshot_retention_limit=7,
        **({"final_snapshot_identifier": "k-cache-final"} if keep else {}))
    aws.s3.Bucket("k-backups", bucket="k-backups", object_lock_enabled=keep,
                  force_destroy=not keep, tags={"dr:backup": "true"})


# name -> (what a delete keeps when it is set up to; fragment of what is missing otherwise)
KINDS = {
    "k-db": ("final snapshot 'k-db-final'", "skipFinalSnapshot is true"),
    "k-aurora": ("final snapshot 'k-aurora-final'", "skipFinalSnapshot is true"),
    "k-docs": ("final snapshot 'k-docs-final'", "skipFinalSnapshot is true"),
    "k-graph": ("final snapshot 'k-graph-final'", "skipFinalSnapshot is true"),
    "k-warehouse": ("final snapshot 'k-warehouse-final'", "skipFinalSnapshot is true"),
    "k-table": ("point-in-time recovery", "point-in-time recovery is off"),
    "k-files": ("recovery points (automatic backups)", "it is not backed up"),
    "k-cache": ("final snapshot 'k-cache-final'", "no finalSnapshotIdentifier is set"),
    "k-backups": ("locked object versions", "forceDestroy is true"),
}


@pytest.fixture(scope="module")
def kind_stacks(capture) -> dict[str, Any]:  # noqa: ANN001
    out = {}
    for keep in ("yes", "no"):
        out[keep] = capture(kinds, preview=False, timeout=600, config={
            **CONFIG["config"], "keep": keep}, secrets=CONFIG["secrets"])
    out["gone"] = capture(kinds, preview=True, timeout=600, config={
        **CONFIG["config"], "gone": "yes"}, secrets=CONFIG["secrets"])
    return out


@pytest.mark.parametrize("keep", ["yes", "no"])
def test_every_stateful_kind_says_what_outlives_its_delete(kind_stacks, tmp_path, keep) -> None:  # noqa: ANN001
    doc = preview_doc(kind_stacks[keep], kind_stacks["gone"])
    assert {s["op"] for s in doc["steps"]} >= {"delete"}
    code, report = _run(tmp_path, doc)
    assert code == 1
    for name, (kept, missing) in KINDS.items():
        f = _one(report, "plan-destroys-data", name)
        assert f["status"] == "fail" and "This plan deletes" in f["message"], f["message"]
        outlives = f["evidence"]["keptAfterDelete"]
        if keep == "yes":
            assert any(kept in k for k in outlives), (name, outlives)
            assert f"what outlives it: {', '.join(outlives)}" in f["message"]
        else:
            assert outlives == [] and "what outlives it" not in f["message"], (name, outlives)
            assert missing in f["message"], (name, f["message"])


def test_redshift_delete_names_its_final_snapshot_or_says_none_is_taken(kind_stacks,
                                                                         tmp_path) -> None:  # noqa: ANN001
    _, saved = _run(tmp_path, preview_doc(kind_stacks["yes"], kind_stacks["gone"]), name="a.json")
    f = _one(saved, "plan-destroys-data", "k-warehouse")
    assert f["evidence"]["finalSnapshotIdentifier"] == "k-warehouse-final"
    assert "deletes Redshift cluster 'k-warehouse'" in f["message"]
    assert "a final snapshot 'k-warehouse-final' is taken before the delete" in f["message"]
    _, lost = _run(tmp_path, preview_doc(kind_stacks["no"], kind_stacks["gone"]), name="b.json")
    f = _one(lost, "plan-destroys-data", "k-warehouse")
    assert f["evidence"]["skipFinalSnapshot"] is True
    assert "no final snapshot is taken" in f["message"]
    assert f["evidence"]["wouldSaveData"] == []


def test_a_new_stateful_kind_is_covered_by_declaring_it() -> None:
    """Every fact that can be stateful declares what keeps its data on delete (the plan has
    no list of kinds of its own)."""
    import dataclasses

    from drguard import facts, registry  # noqa: F401 - the registry imports every service

    def subclasses(c: type) -> list[type]:
        return [s for d in c.__subclasses__() for s in (d, *subclasses(d))]

    stateful = [c for c in subclasses(facts.Resource)
                if dataclasses.is_dataclass(c) and "stateful" in vars(c)]
    assert len(stateful) >= 7
    missing = [c.__name__ for c in stateful if "on_delete" not in vars(c)]
    assert not missing, missing


# ---- hostile previews ----------------------------------------------------------------------------

def test_a_urn_in_two_steps_makes_the_run_incomplete_and_hides_no_delete(stacks,  # noqa: ANN001
                                                                         tmp_path) -> None:
    doc = preview_doc(stacks["base"], stacks["pr:delete"])
    (delete,) = [s for s in doc["steps"] if s["op"] == "delete"
                 and s["urn"].endswith("::orders-db")]
    # a `same` step listed first, reusing the database's URN with a state of another type
    other = copy.deepcopy(delete["oldState"])
    other["type"] = "aws:s3/bucketV2:BucketV2"
    doc["steps"].insert(0, {"op": "same", "urn": delete["urn"], "oldState": other,
                            "newState": other})
    code, report = _run(tmp_path, doc)
    assert code == 1 and report["summary"]["incomplete"]
    db = _one(report, "plan-destroys-data", "orders-db")
    assert db["status"] == "fail" and "deletes DB instance 'orders-db'" in db["message"]
    reasons = [d["reason"] for d in report["run"]["skipped_detail"]]
    assert any("appears in 2 steps" in r for r in reasons), reasons


def test_plan_history_is_written_and_read(stacks, tmp_path) -> None:  # noqa: ANN001
    doc = preview_doc(stacks["base"], stacks["pr:tags"], show_sames=True)
    history = tmp_path / "history"
    for _ in range(2):
        code, _report = _run(tmp_path, doc, "--history", str(history), "--format", "json,html")
        assert code == 0
    entries = sorted(history.glob("*-plan.json"))
    assert len(entries) == 2
    (history / "zzz-poisoned.json").write_text('{"schema": "dr-audit-history/1", "gaps": NaN,'
                                               ' "by_severity": {"high": NaN}}')
    code, _report = _run(tmp_path, doc, "--history", str(history), "--format", "json,html")
    assert code == 0  # a bad entry is skipped with a warning, never fatal
    assert "trend" in (tmp_path / "report" / "report.html").read_text().lower()
