"""State backends as a source (`scan --backend`) and resource-managed-by-code.

The same stacks are served from a moto state bucket (the layout Pulumi writes: plain and
gzipped checkpoints, `.bak` files, history) and from a fake Pulumi Cloud API (a local HTTP
server answering the documented shapes, paginated, with one stack whose export fails)."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from auditor import aws as aws_mod
from auditor import backends
from auditor.cli import main
from drguard.errors import ConfigError
from drguard.stateindex import StateIndex

ACCOUNT = "123456789012"
REGION = "us-east-1"
TOKEN = "pul-0123456789abcdef-secret"


def res(project: str, stack: str, token: str, name: str, outputs: dict[str, Any],
        rid: str | None = None, **extra: Any) -> dict[str, Any]:
    urn = f"urn:pulumi:{stack}::{project}::{token}::{name}"
    return {"urn": urn, "type": token, "custom": True, "id": rid or name,
            "outputs": outputs, **extra}


def stack_resources(project: str, stack: str) -> list[dict[str, Any]]:
    """The resources of each stack: prod manages a bucket and a table, dev a database."""
    if stack == "prod":
        return [
            {"urn": f"urn:pulumi:prod::{project}::pulumi:pulumi:Stack::{project}-prod",
             "type": "pulumi:pulumi:Stack", "custom": False},
            res(project, "prod", "aws:s3/bucket:Bucket", "data", {"bucket": "app-data",
                "arn": "arn:aws:s3:::app-data"}, rid="app-data"),
            res(project, "prod", "aws:dynamodb/table:Table", "orders",
                {"name": "orders", "arn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/orders"},
                rid="orders"),
            # read with .get(): not managed by this stack
            res(project, "prod", "aws:dynamodb/table:Table", "shared",
                {"name": "shared-lookup"}, rid="shared-lookup", external=True),
        ]
    return [res(project, "dev", "aws:rds/instance:Instance", "db",
                {"identifier": "dev-db",
                 "arn": f"arn:aws:rds:{REGION}:{ACCOUNT}:db:dev-db"}, rid="db-ABCDEF")]


def checkpoint(project: str, stack: str) -> bytes:
    return json.dumps({"version": 3, "checkpoint": {
        "stack": f"organization/{project}/{stack}",
        "latest": {"manifest": {"time": "2026-12-01T00:00:00Z"},
                   "resources": stack_resources(project, stack)}}}).encode()


OLD = json.dumps({"version": 3, "checkpoint": {"latest": {"resources": [
    res("shop", "prod", "aws:dynamodb/table:Table", "legacy",
        {"name": "legacy", "arn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/legacy"})]}}})


def seed_state_bucket(aws: Any, bucket: str = "acme-pulumi-state", prefix: str = "") -> str:
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=bucket)
    root = f"{prefix}/.pulumi" if prefix else ".pulumi"
    s3.put_object(Bucket=bucket, Key=f"{root}/stacks/shop/prod.json",
                  Body=checkpoint("shop", "prod"))
    s3.put_object(Bucket=bucket, Key=f"{root}/stacks/shop/dev.json.gz",
                  Body=gzip.compress(checkpoint("shop", "dev")))
    # old checkpoints name a table no current checkpoint manages: never read
    s3.put_object(Bucket=bucket, Key=f"{root}/stacks/shop/prod.json.bak", Body=OLD)
    s3.put_object(Bucket=bucket, Key=f"{root}/history/shop/prod/prod-1.checkpoint.json",
                  Body=OLD)
    return f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"


def seed_live(aws: Any) -> None:
    """What exists: the managed table and database, and a table (legacy) no stack manages."""
    ddb = aws.client("dynamodb")
    for t in ("orders", "legacy", "shared-lookup"):
        ddb.create_table(TableName=t, BillingMode="PAY_PER_REQUEST",
                         KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "id",
                                                "AttributeType": "S"}])
    aws.client("rds").create_db_instance(
        DBInstanceIdentifier="dev-db", DBInstanceClass="db.t4g.medium", Engine="postgres",
        AllocatedStorage=20, MasterUsername="app", MasterUserPassword="password-123")


# ---- the fake Pulumi Cloud -----------------------------------------------------------------

class FakeCloud:
    """GET /api/user/stacks (two pages) and GET /api/stacks/{org}/{project}/{stack}/export."""

    def __init__(self, stacks: list[tuple[str, str, str]], broken: set[str]) -> None:
        self.stacks, self.broken = stacks, broken
        self.requests: list[tuple[str, str | None]] = []

    def handler(self) -> type[BaseHTTPRequestHandler]:
        cloud = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def _json(self, code: int, doc: Any) -> None:
                body = json.dumps(doc).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802
                from urllib.parse import parse_qs, urlparse
                u = urlparse(self.path)
                cloud.requests.append((u.path, self.headers.get("Authorization")))
                if self.headers.get("Authorization") != f"token {TOKEN}":
                    return self._json(401, {"code": 401, "message": "Unauthorized"})
                q = parse_qs(u.query)
                if u.path == "/api/user/stacks":
                    mine = [s for s in cloud.stacks
                            if s[0] == q.get("organization", [s[0]])[0]]
                    start = int(q.get("continuationToken", ["0"])[0])
                    page = mine[start:start + 1]
                    doc: dict[str, Any] = {"stacks": [
                        {"orgName": o, "projectName": p, "stackName": s,
                         "lastUpdate": 1764547200, "resourceCount": 3} for o, p, s in page]}
                    if start + 1 < len(mine):
                        doc["continuationToken"] = str(start + 1)
                    return self._json(200, doc)
                parts = u.path.strip("/").split("/")
                if len(parts) == 6 and parts[:2] == ["api", "stacks"] and parts[5] == "export":
                    o, p, s = parts[2:5]
                    if s in cloud.broken:
                        return self._json(500, {"code": 500, "message": "internal error"})
                    if (o, p, s) in cloud.stacks:
                        return self._json(200, {"version": 3, "deployment": {
                            "manifest": {}, "resources": stack_resources(p, s)}})
                return self._json(404, {"code": 404, "message": "Not Found"})

        return Handler


@pytest.fixture
def pulumi_cloud() -> Iterator[tuple[str, FakeCloud]]:
    cloud = FakeCloud([("acme", "shop", "prod"), ("acme", "shop", "dev"),
                       ("other", "misc", "qa")], broken=set())
    server = ThreadingHTTPServer(("127.0.0.1", 0), cloud.handler())
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", cloud
    finally:
        server.shutdown()
        server.server_close()


# ---- tests -----------------------------------------------------------------------------------

def test_stack_of_reads_only_current_checkpoints() -> None:
    assert backends.stack_of(".pulumi/stacks/shop/prod.json") == "shop/prod"
    assert backends.stack_of("p/q/.pulumi/stacks/shop/dev.json.gz") == "shop/dev"
    assert backends.stack_of(".pulumi/stacks/shop/prod.json.bak") is None
    assert backends.stack_of(".pulumi/stacks/shop/prod.json.gz.bak") is None
    assert backends.stack_of(".pulumi/history/shop/prod/prod-1.checkpoint.json") is None
    assert backends.stack_of(".pulumi/meta.yaml") is None


def test_index_skips_components_providers_reads_and_pending_deletes() -> None:
    idx = StateIndex()
    rs = stack_resources("shop", "prod") + [
        res("shop", "prod", "aws:s3/bucket:Bucket", "gone", {"bucket": "old-b"},
            rid="old-b", delete=True)]
    assert idx.add_stack("shop/prod", rs) == 2
    assert idx.lookup("arn:aws:s3:::app-data").stack == "shop/prod"
    # a table of the same name in another account or region is another table
    assert idx.lookup("arn:aws:dynamodb:eu-west-1:999999999999:table/orders") is None
    assert idx.lookup(f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/orders") is None
    assert idx.lookup(f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/orders") is not None
    assert idx.lookup(f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/shared-lookup") is None
    assert idx.lookup("arn:aws:s3:::old-b") is None
    # the same name under another service is not a match
    assert idx.lookup(f"arn:aws:rds:{REGION}:{ACCOUNT}:db:orders") is None


def _s3_client(aws: Any) -> Any:
    return aws_mod.guard_client(aws.client("s3"))


def test_s3_backend_reads_plain_and_gzip_and_skips_bak_and_history(aws) -> None:  # noqa: ANN001
    url = seed_state_bucket(aws, prefix="team/a")
    index, run = backends.read([url], lambda: _s3_client(aws))
    assert run.unread == [] and run.stacks == 2 and run.resources == 3
    assert index.lookup(f"arn:aws:rds:{REGION}:{ACCOUNT}:db:dev-db").stack == "shop/dev"
    assert index.lookup(f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/legacy") is None
    assert run.state_buckets == {"acme-pulumi-state"}


def test_unparseable_checkpoint_makes_the_run_incomplete(aws) -> None:  # noqa: ANN001
    url = seed_state_bucket(aws)
    s3 = aws.client("s3")
    s3.put_object(Bucket="acme-pulumi-state", Key=".pulumi/stacks/shop/qa.json",
                  Body=b'{"version": 3, "checkpoint": {"latest": {"resources": [{"urn": ')
    s3.put_object(Bucket="acme-pulumi-state", Key=".pulumi/stacks/shop/zip.json.gz",
                  Body=b"not gzip at all")
    index, run = backends.read([url], lambda: _s3_client(aws))
    assert run.stacks == 2 and len(run.unread) == 2
    assert run.to_run()["skipped"] == {"checkpoints": 2}
    assert {u.split(":")[0] + ":" + u.split(":")[1] for u in run.unread} == {
        "s3://acme-pulumi-state/.pulumi/stacks/shop/qa.json",
        "s3://acme-pulumi-state/.pulumi/stacks/shop/zip.json.gz"}


def test_missing_bucket_is_unread_not_empty(aws) -> None:  # noqa: ANN001
    _, run = backends.read(["s3://no-such-state"], lambda: _s3_client(aws))
    assert run.unread == ["s3://no-such-state: cannot list the stacks: NoSuchBucket"]


def test_file_backend(tmp_path: Path) -> None:
    stacks = tmp_path / ".pulumi" / "stacks" / "shop"
    stacks.mkdir(parents=True)
    (stacks / "prod.json").write_bytes(checkpoint("shop", "prod"))
    (stacks / "dev.json.gz").write_bytes(gzip.compress(checkpoint("shop", "dev")))
    (stacks / "prod.json.bak").write_text(OLD)
    index, run = backends.read([f"file://{tmp_path}"], lambda: None)
    assert (run.stacks, run.resources, run.unread) == (2, 3, [])
    assert index.lookup("arn:aws:s3:::app-data").urn.endswith("::data")


def test_cloud_backend_paginates_and_counts_a_failed_export(pulumi_cloud, caplog) -> None:  # noqa: ANN001
    url, cloud = pulumi_cloud
    cloud.broken.add("qa")
    index, run = backends.read([url], lambda: None, env={"PULUMI_ACCESS_TOKEN": TOKEN})
    assert [p for p, _ in cloud.requests].count("/api/user/stacks") == 3  # three pages
    assert run.stacks == 2 and run.resources == 3
    assert run.unread == [f"{url} other/misc/qa: HTTP 500"]
    assert index.lookup("arn:aws:s3:::app-data").stack == "shop/prod"
    # --backend-org narrows to one organization
    cloud.requests.clear()
    _, run = backends.read([url], lambda: None, org="acme", env={"PULUMI_ACCESS_TOKEN": TOKEN})
    assert run.stacks == 2 and run.unread == []
    assert all(p != "/api/stacks/other/misc/qa/export" for p, _ in cloud.requests)
    assert TOKEN not in caplog.text and TOKEN not in json.dumps(run.to_run())


def test_cloud_backend_without_token_is_unread(pulumi_cloud) -> None:  # noqa: ANN001
    url, _ = pulumi_cloud
    _, run = backends.read([url], lambda: None, env={})
    assert run.unread == [f"{url}: PULUMI_ACCESS_TOKEN is not set"]


def _managed(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["resource"].replace(":", "/").rsplit("/", 1)[-1]: f for f in report["findings"]
            if f["control"] == "resource-managed-by-code"}


def _scan(aws: Any, out: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    code = main(["scan", "--endpoint-url", aws.url, "--regions", REGION, "--output-dir",
                 str(out), "--format", "json", *extra])
    return code, json.loads((out / "report.json").read_text())


def test_scan_with_s3_backend_fails_exactly_the_unmanaged(aws, tmp_path) -> None:  # noqa: ANN001
    seed_live(aws)
    url = seed_state_bucket(aws)
    code, report = _scan(aws, tmp_path / "r", "--backend", url)
    managed = _managed(report)
    assert {n for n, f in managed.items() if f["status"] == "fail"} == {"legacy",
                                                                         "shared-lookup"}
    assert {n for n, f in managed.items() if f["status"] == "pass"} == {"orders", "dev-db"}
    assert managed["orders"]["evidence"]["stack"] == "shop/prod"
    assert managed["dev-db"]["evidence"]["urn"].endswith("aws:rds/instance:Instance::db")
    assert "acme-pulumi-state" not in managed  # the backend itself
    assert report["run"]["backends"]["stacks"] == 2
    assert code == 1


def test_scan_with_cloud_backend_same_verdicts_and_incomplete_on_failed_export(
        aws, tmp_path, pulumi_cloud, monkeypatch) -> None:  # noqa: ANN001
    url, cloud = pulumi_cloud
    seed_live(aws)
    monkeypatch.setenv("PULUMI_ACCESS_TOKEN", TOKEN)
    _, report = _scan(aws, tmp_path / "ok", "--backend", url, "--backend-org", "acme")
    managed = _managed(report)
    assert {n for n, f in managed.items() if f["status"] == "fail"} == {"legacy",
                                                                         "shared-lookup"}
    assert report["run"]["backends"]["skipped"] == {"checkpoints": 0}
    assert report["run"]["backends"]["stacks"] == 2
    cloud.broken.add("dev")
    code, report = _scan(aws, tmp_path / "broken", "--backend", url, "--backend-org", "acme")
    assert report["summary"]["incomplete"] is True
    assert report["run"]["backends"]["skipped"] == {"checkpoints": 1}
    # dev-db's stack could not be read: whether code manages it is unknown, not a gap
    # (nor is legacy's: the unread stack may manage it too); orders is still proven managed
    managed = _managed(report)
    assert {n: f["status"] for n, f in managed.items()} == {
        "dev-db": "error", "legacy": "error", "shared-lookup": "error", "orders": "pass"}
    assert managed["dev-db"]["evidence"]["unread"] == [f"{url} acme/shop/dev: HTTP 500"]
    assert "could not be read" in managed["dev-db"]["message"]
    assert code == 1
    assert TOKEN not in (tmp_path / "broken" / "report.json").read_text()


def test_without_a_backend_management_is_not_judged(aws, tmp_path) -> None:  # noqa: ANN001
    seed_live(aws)
    _, report = _scan(aws, tmp_path / "r")
    assert _managed(report) == {}
    notes = report["run"]["skipped"]["notes"]
    assert any(n.startswith("resource-managed-by-code: not checked: no state backend")
               for n in notes)


CONFIG = """
tiers:
  critical: {targetRpoHours: 1, targetRtoMinutes: 60, crossRegion: true, crossAccount: true}
  standard: {targetRpoHours: 24, targetRtoMinutes: 480, crossRegion: true, crossAccount: false}
applications:
  shop/prod: {tier: critical, owner: team-shop}
  shop/dev: {tier: standard, owner: team-shop-dev}
ownerTagKeys: [owner, team]
"""


def test_finding_fields_follow_the_precedence(aws, tmp_path) -> None:  # noqa: ANN001
    seed_live(aws)
    ddb = aws.client("dynamodb")
    arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/"
    # the checkpoint wins over dr:app; a tag owner wins over the config's
    ddb.tag_resource(ResourceArn=arn + "orders", Tags=[
        {"Key": "dr:app", "Value": "not-this"}, {"Key": "team", "Value": "team-tagged"}])
    # in no stack: dr:app names the application; owner is the first of ownerTagKeys
    ddb.tag_resource(ResourceArn=arn + "legacy", Tags=[
        {"Key": "dr:app", "Value": "legacy-app"}, {"Key": "team", "Value": "second"},
        {"Key": "owner", "Value": "first"}, {"Key": "dr:tier", "Value": "standard"}])
    config = tmp_path / "dr.yaml"
    config.write_text(CONFIG)
    _, report = _scan(aws, tmp_path / "r", "--config", str(config), "--backend",
                      seed_state_bucket(aws))
    fields = ("application", "stack", "urn", "owner", "tier")
    by = {}
    for f in report["findings"]:
        assert all(k in f for k in fields), f
        by.setdefault(f["resource"].rsplit("/", 1)[-1].rsplit(":", 1)[-1], []).append(
            tuple(f[k] for k in fields))
    assert set(by["orders"]) == {("shop/prod", "shop/prod",
                                  "urn:pulumi:prod::shop::aws:dynamodb/table:Table::orders",
                                  "team-tagged", "critical")}
    assert set(by["legacy"]) == {("legacy-app", None, None, "first", "standard")}
    assert set(by["dev-db"]) == {("shop/dev", "shop/dev",
                                  "urn:pulumi:dev::shop::aws:rds/instance:Instance::db",
                                  "team-shop-dev", "standard")}


def test_config_tiers_and_applications_are_validated(tmp_path) -> None:
    from drguard.errors import ConfigError
    from drguard.settings import from_mapping

    with pytest.raises(ConfigError, match="tiers.gold.targetRtoMinutes"):
        from_mapping({"tiers": {"gold": {"targetRtoMinutes": "soon"}}})
    with pytest.raises(ConfigError, match="applications.a/b.tier: 'gold' is not one of"):
        from_mapping({"applications": {"a/b": {"tier": "gold"}}})
    s = from_mapping({"tiers": {"gold": {"targetRpoHours": 2}},
                      "applications": {"a/b": {"tier": "gold"}}, "ownerTagKeys": ["squad"]})
    assert s.apps.owner_tag_keys == ("squad",) and s.apps.objectives("gold") == {
        "targetRpoHours": 2}


APP_KEYS = {"name", "tier", "owner", "resources", "gaps", "rpo", "rto", "isolation",
            "unmanaged", "score"}


def test_applications_and_frameworks_in_report(aws, tmp_path, capsys) -> None:  # noqa: ANN001
    from auditor.reports.applications import GAP_POINTS, score
    from auditor.reports.json_report import validation_errors

    seed_live(aws)
    config = tmp_path / "dr.yaml"
    config.write_text(CONFIG)
    _, report = _scan(aws, tmp_path / "r", "--config", str(config), "--backend",
                      seed_state_bucket(aws))
    assert validation_errors(report) == []
    apps = {a["name"]: a for a in report["applications"]}
    assert set(apps) == {"shop/prod", "shop/dev"}
    for a in apps.values():
        assert set(a) == APP_KEYS
        assert set(a["rpo"]) == {"target_hours", "worst_achieved_hours",
                                 "without_recovery_point", "unknown"}
        assert set(a["rto"]) == {"target_minutes", "last_restore_minutes", "last_restore_at",
                                 "evidence"}
        assert set(a["isolation"]) == {"cross_region", "cross_account", "air_gapped"}
        assert a["score"] == score(a["gaps"], sum(
            1 for f in report["findings"] if f["application"] == a["name"]
            and f["status"] == "error"))
    prod = apps["shop/prod"]
    assert (prod["tier"], prod["owner"], prod["unmanaged"]) == ("critical", "team-shop", 0)
    assert prod["rpo"]["target_hours"] == 1 and prod["rto"]["target_minutes"] == 60
    fails = {(f["control"], f["resource"]) for f in report["findings"]
             if f["application"] == "shop/prod" and f["status"] == "fail"}
    assert sum(prod["gaps"].values()) == len(fails) > 0
    assert prod["score"] <= 100 - min(GAP_POINTS.values()) * len(fails)
    scores = [a["score"] for a in report["applications"]]
    assert scores == sorted(scores)  # worst first
    assert "worst applications: " + report["applications"][0]["name"] in capsys.readouterr().err
    rows = report["frameworks"]
    assert rows and all(set(r) == {"name", "requirement", "controls", "pass", "fail", "error"}
                        for r in rows)
    cm8 = next(r for r in rows if r["requirement"] == "CM-8")
    assert cm8["controls"] == ["resource-managed-by-code"] and cm8["fail"] == 2
    assert cm8["pass"] == 2


def test_framework_narrows_the_scan(aws, tmp_path) -> None:  # noqa: ANN001
    from drguard import frameworks
    from drguard.registry import CONTROLS

    seed_live(aws)
    url = seed_state_bucket(aws)
    _, full = _scan(aws, tmp_path / "all", "--backend", url)
    _, dora = _scan(aws, tmp_path / "dora", "--backend", url, "--framework", "dora")
    _, iso = _scan(aws, tmp_path / "iso", "--backend", url, "--framework",
                   "ISO/IEC 27001:2022")
    mapped = frameworks.controls_for(frameworks.DORA, CONTROLS)
    assert {f["control"] for f in dora["findings"]} <= mapped
    left_out = {f["control"] for f in full["findings"]} - mapped
    assert "iam-access-key-rotation" in left_out  # a hygiene control DORA is not about
    assert dora["run"]["framework"] == frameworks.DORA
    assert {f["control"] for f in iso["findings"]} <= frameworks.controls_for(
        frameworks.ISO, CONTROLS)
    assert main(["scan", "--endpoint-url", aws.url, "--framework", "pci",
                 "--output-dir", str(tmp_path / "x")]) == 2


@pytest.mark.parametrize("url", ["http://pulumi.example.com", "http://10.0.0.5:8080/api",
                                 "http://127.0.0.1.example.com"])
def test_a_plain_http_backend_off_loopback_is_refused(url: str) -> None:
    """The Pulumi access token goes in a header: over plain http it would cross the network
    in clear. Refused before anything is read; a loopback address (a local test server) is
    taken."""
    with pytest.raises(ConfigError, match="plain http would send the Pulumi access token"):
        backends.check_url(url)
    for ok in ("http://127.0.0.1:8080", "http://localhost:1/x", "http://[::1]:9",
               "https://pulumi.example.com"):
        assert backends.check_url(ok) == ok


def test_scan_refuses_a_plain_http_backend_as_a_usage_error(tmp_path: Path,
                                                            capsys: Any) -> None:
    code = main(["scan", "--backend", "http://pulumi.example.com",
                 "--output-dir", str(tmp_path)])
    assert code == 2
    assert "use https://" in capsys.readouterr().err


def test_a_user_and_password_in_a_backend_url_are_never_printed(pulumi_cloud) -> None:  # noqa: ANN001
    with pytest.raises(ConfigError) as refused:
        backends.check_url("http://me:s3cret@pulumi.example.com")
    assert "s3cret" not in str(refused.value) and "***@pulumi.example.com" in str(refused.value)
    url, _ = pulumi_cloud
    secret_url = url.replace("http://", "http://me:s3cret@")
    _, run = backends.read([secret_url], lambda: None, env={})  # no token: named unread
    assert "s3cret" not in json.dumps(run.to_run()) and run.unread


def test_a_loopback_http_backend_is_read_directly_not_through_a_proxy(pulumi_cloud) -> None:  # noqa: ANN001
    """http is taken for a loopback address only, and then never through a proxy (the token
    would cross the network in clear): an http_proxy that cannot be reached changes nothing."""
    url, _ = pulumi_cloud
    code = ("import json, sys; from auditor import backends; "
            "_, run = backends.read([sys.argv[1]], lambda: None); "
            "print(json.dumps(run.to_run()))")
    env = {**os.environ, "http_proxy": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",
           "no_proxy": "", "NO_PROXY": "", "PULUMI_ACCESS_TOKEN": TOKEN}
    proc = subprocess.run([sys.executable, "-c", code, url], capture_output=True, text=True,
                          env=env, check=True, timeout=120)
    run = json.loads(proc.stdout)
    assert run["unread"] == [] and run["stacks"] == 3


@pytest.mark.parametrize("unread", [[], ["https://***@pulumi.example.com acme/dev: HTTP 500"]])
def test_a_backend_url_with_credentials_is_not_in_the_findings(unread: list[str]) -> None:
    """A backend URL may carry a user name and password (https://user:token@host): the
    resource-managed-by-code findings name the backends read without them, as the run does."""
    from auditor import managed
    from drguard.findings import Finding
    from drguard.settings import Settings

    secret = "pul-s3cr3t-token"
    run = backends.BackendRun(urls=[f"https://ci:{secret}@pulumi.example.com"],
                              unread=list(unread))
    live = Finding("rds-backup-retention", "pass", "live",
                   "arn:aws:rds:us-east-1:111111111111:db:x", "ok", account="111111111111",
                   region="us-east-1")
    (f,) = managed.judge([live], StateIndex(), run, Settings())
    assert f.status == ("error" if unread else "fail")
    assert secret not in json.dumps(f.to_dict())
    assert f.evidence["backends"] == ["https://***@pulumi.example.com"]
