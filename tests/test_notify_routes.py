"""notify.routes: each owner's findings go to that owner's targets only, the rest to --notify.

Slack webhooks are loopback HTTP servers (one per team, one for the default), SNS is the moto
server read back through a subscribed SQS queue, and the findings come from a real scan of
the emulator whose buckets carry owner tags."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from auditor import notify
from auditor.cli import main
from drguard.errors import ConfigError
from drguard.notify_routes import Route
from drguard.settings import from_mapping
from tests.conftest import AwsEndpoint

SECRET = "/services/T0/B0/s3cr3t-"
OWNERS = {"payments-backup": "team-payments", "data-backup": "team-data",
          "misc-backup": None}


class Webhook:
    """A Slack incoming webhook on loopback: records what was posted, answers `status`."""

    def __init__(self, name: str) -> None:
        self.received: list[dict[str, Any]] = []
        self.status = 200
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hook.received.append(json.loads(body))
                self.send_response(hook.status)
                self.end_headers()
                self.wfile.write(b"ok" if hook.status == 200 else b"no_service")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{SECRET}{name}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hooks(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Webhook]]:
    made = {n: Webhook(n) for n in ("payments", "data", "default")}
    for name, hook in made.items():
        monkeypatch.setenv(f"{name.upper()}_WEBHOOK", hook.url)
    try:
        yield made
    finally:
        for hook in made.values():
            hook.close()


def seed(aws: AwsEndpoint) -> None:
    """Three backup buckets: one tagged owner=team-payments, one team=team-data (the second
    of the default ownerTagKeys), one with no owner."""
    s3 = aws.client("s3")
    for name, owner in OWNERS.items():
        s3.create_bucket(Bucket=name)
        if owner:
            key = "owner" if owner == "team-payments" else "team"
            s3.put_bucket_tagging(Bucket=name,
                                  Tagging={"TagSet": [{"Key": key, "Value": owner}]})


def sns_inbox(aws: AwsEndpoint, name: str) -> tuple[str, str]:
    """(topic ARN, queue URL): a topic whose messages land in an SQS queue we can read."""
    sns, sqs = aws.client("sns"), aws.client("sqs")
    topic = sns.create_topic(Name=name)["TopicArn"]
    queue = sqs.create_queue(QueueName=f"{name}-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    return topic, queue


def write_config(path: Path, routes: list[dict[str, str]]) -> Path:
    path.write_text(json.dumps({"notify": {"routes": routes}}))
    return path


def scan(aws: AwsEndpoint, out: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    code = main(["scan", "--endpoint-url", aws.url, "--regions", "us-east-1",
                 "--format", "json,md", "--output-dir", str(out), *extra])
    return code, json.loads((out / "report.json").read_text())


def named(text: str) -> set[str]:
    """Which of the seeded buckets a message names."""
    return {b for b in OWNERS if b in text}


def owners_gaps(report: dict[str, Any]) -> dict[str | None, int]:
    out: dict[str | None, int] = {}
    for f in report["findings"]:
        if f["status"] == "fail":
            out[f.get("owner")] = out.get(f.get("owner"), 0) + 1
    return out


# ---- the config ---------------------------------------------------------------------------

def test_routes_are_read_from_the_auditor_config() -> None:
    s = from_mapping({"notify": {"routes": [
        {"owner": "team-payments", "target": "slack:env:PAYMENTS_WEBHOOK"},
        {"owner": "team-payments", "target": "sns:arn:aws:sns:us-east-1:111122223333:pay"},
        {"owner": "team-data", "target": "slack:https://hooks.example/services/T/B/s3cr3t"},
    ]}})
    assert [(r.owner, r.target.split(":", 1)[0]) for r in s.notify_routes] == [
        ("team-payments", "slack"), ("team-payments", "sns"), ("team-data", "slack")]
    shown = repr(s.notify_routes) + str(s.notify_routes[2])
    assert "s3cr3t" not in shown and "slack:<webhook>" in shown
    assert from_mapping({"notify": None}).notify_routes == ()
    assert from_mapping({"controls": {}}).notify_routes == ()


@pytest.mark.parametrize("notify_block,needle", [
    ("slack:env:X", "dr.yaml: notify: expected a mapping with a 'routes' list, found a string"),
    ({"route": []}, "dr.yaml: notify: unknown key(s) route (expected routes)"),
    ({"routes": {"owner": "a"}}, "dr.yaml: notify.routes: expected a list"),
    ({"routes": ["team-a"]}, "dr.yaml: notify.routes[0]: expected a mapping with owner and "
                             "target, found a string"),
    ({"routes": [{"owner": "a", "target": "sns:arn:aws:sns:us-east-1:111122223333:t"},
                 {"owner": "", "target": "slack:env:A"}]},
     "dr.yaml: notify.routes[1].owner: expected the owner's name"),
    ({"routes": [{"owner": "a"}]}, "dr.yaml: notify.routes[0].target: expected slack:<webhook "
                                   "URL>, slack:env:NAME or sns:<topic ARN>, found null"),
    ({"routes": [{"owner": "a", "target": "email:ops@example.com"}]},
     "dr.yaml: notify.routes[0].target: 'email:ops@example.com': expected slack:"),
    ({"routes": [{"owner": "a", "target": "sns:arn:aws:s3:::bucket"}]},
     "notify.routes[0].target: sns:arn:aws:s3:::bucket: not an SNS topic ARN"),
    ({"routes": [{"owner": "a", "target": "slack:env:bad name"}]},
     "notify.routes[0].target: slack:env:bad name: not an environment variable name"),
    ({"routes": [{"owner": "a", "target": "slack:ftp://h/services/s3cr3t"}]},
     "notify.routes[0].target: slack:<webhook>: the webhook is not an http(s) URL"),
    ({"routes": [{"owner": "a", "target": "slack:env:A", "on": "always"}]},
     "notify.routes[0]: unknown key(s) on (expected owner, target)"),
    ({"routes": [{"owner": "a", "target": "slack:https://h/services/s3cr3t"},
                 {"owner": "a", "target": "slack:https://h/services/s3cr3t"}]},
     "notify.routes[1]: the route 'a' -> slack:<webhook> is given twice"),
])
def test_bad_routes_are_one_line_errors_naming_the_entry(notify_block: Any,
                                                         needle: str) -> None:
    with pytest.raises(ConfigError) as e:
        from_mapping({"notify": notify_block}, where="dr.yaml")
    message = str(e.value)
    assert needle in message and "\n" not in message
    assert "s3cr3t" not in message


def test_a_route_whose_webhook_variable_is_unset_stops_the_scan_before_it_starts(
        aws: AwsEndpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("NOWHERE_WEBHOOK", raising=False)
    config = write_config(tmp_path / "dr.json", [
        {"owner": "team-data", "target": "slack:env:NOWHERE_WEBHOOK"}])
    monkeypatch.setenv("DEFAULT_WEBHOOK", "http://127.0.0.1:9/hook")
    code = main(["scan", "--endpoint-url", aws.url, "--regions", "us-east-1",
                 "--config", str(config), "--output-dir", str(tmp_path / "out"),
                 "--notify", "slack:env:DEFAULT_WEBHOOK"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{config}: notify.routes (owner 'team-data'): slack:env:NOWHERE_WEBHOOK: " \
           "environment variable NOWHERE_WEBHOOK is not set" in err
    assert not (tmp_path / "out" / "report.json").exists()


def test_routes_are_used_only_when_the_run_notifies(
        aws: AwsEndpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        hooks: dict[str, Webhook], capsys: pytest.CaptureFixture[str]) -> None:
    """A run without --notify (a laptop run with the nightly's config) sends nothing, even
    when every route's webhook is set, and an unset one is no error then."""
    seed(aws)
    monkeypatch.delenv("NOWHERE_WEBHOOK", raising=False)
    config = write_config(tmp_path / "dr.json", [
        {"owner": "team-payments", "target": "slack:env:PAYMENTS_WEBHOOK"},
        {"owner": "team-data", "target": "slack:env:NOWHERE_WEBHOOK"}])
    code, _ = scan(aws, tmp_path / "r", "--config", str(config))
    assert code == 1  # judged as always: gaps, no usage error
    assert all(not h.received for h in hooks.values())
    assert "notifications" not in capsys.readouterr().err


# ---- a scan, delivered by owner ------------------------------------------------------------

def test_each_owner_hears_only_about_its_own_findings(
        aws: AwsEndpoint, tmp_path: Path, hooks: dict[str, Webhook],
        capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    seed(aws)
    topic, queue = sns_inbox(aws, "data-dr")
    config = write_config(tmp_path / "dr.json", [
        {"owner": "team-payments", "target": "slack:env:PAYMENTS_WEBHOOK"},
        {"owner": "team-data", "target": "slack:env:DATA_WEBHOOK"},
        {"owner": "team-data", "target": f"sns:{topic}"},
        {"owner": "team-nobody-tags", "target": "slack:env:PAYMENTS_WEBHOOK"},
    ])
    with caplog.at_level(logging.INFO):
        code, report = scan(aws, tmp_path / "r", "--config", str(config),
                            "--notify", "slack:env:DEFAULT_WEBHOOK",
                            "--report-url", "https://reports.example/dr/7")
    gaps = owners_gaps(report)
    assert gaps["team-payments"] and gaps["team-data"] and gaps[None]
    assert code == report["summary"]["exit_code"] == 1

    # payments: one message, its own gaps only (its count, its bucket, nobody else's);
    # the route of an owner that has no findings gets its "no DR gap" message under --notify-on
    # always, on the same webhook
    pay = [m for m in hooks["payments"].received
           if "team-payments" in m["blocks"][0]["text"]["text"]]
    nobody = [m for m in hooks["payments"].received
              if "team-nobody-tags" in m["blocks"][0]["text"]["text"]]
    assert len(pay) == 1 and len(nobody) == 1 and len(hooks["payments"].received) == 2
    text = json.dumps(pay[0])
    assert pay[0]["text"] == f"DR Guard (team-payments): FAIL: {gaps['team-payments']} DR gaps"
    assert named(text) == {"payments-backup"}
    assert nobody[0]["text"] == "DR Guard (team-nobody-tags): OK: no DR gap"

    (data,) = hooks["data"].received
    assert data["text"] == f"DR Guard (team-data): FAIL: {gaps['team-data']} DR gaps"
    assert named(json.dumps(data)) == {"data-backup"}
    (message,) = aws.client("sqs").receive_message(QueueUrl=queue, WaitTimeSeconds=2)[
        "Messages"]
    envelope = json.loads(message["Body"])
    assert envelope["Subject"] == f"DR Guard (team-data): FAIL: {gaps['team-data']} DR gaps"
    assert named(envelope["Message"]) == {"data-backup"}

    # the --notify target: every finding no route takes (no owner, or an owner without one)
    (rest,) = hooks["default"].received
    assert rest["text"] == f"DR Guard (findings without an owner route): FAIL: " \
                           f"{gaps[None]} DR gaps"
    assert named(json.dumps(rest)) == {"misc-backup"}
    assert "Open the report" in json.dumps(rest)

    err = capsys.readouterr().err
    assert "dr-audit: notifications: 5 sent (team-payments, team-data (2 targets), " \
           "team-nobody-tags, other owners)" in err
    logged = err + caplog.text + (tmp_path / "r" / "report.json").read_text() \
        + (tmp_path / "r" / "report.md").read_text()
    assert "s3cr3t" not in logged and "127.0.0.1:" + str(
        hooks["data"].server.server_address[1]) not in logged


def test_a_failing_route_is_reported_and_the_others_still_go_out(
        aws: AwsEndpoint, tmp_path: Path, hooks: dict[str, Webhook],
        capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    seed(aws)
    hooks["payments"].status = 500
    config = write_config(tmp_path / "dr.json", [
        {"owner": "team-payments", "target": "slack:env:PAYMENTS_WEBHOOK"},
        {"owner": "team-payments", "target": "sns:arn:aws:sns:us-east-1:123456789012:gone"},
        {"owner": "team-data", "target": "slack:env:DATA_WEBHOOK"}])
    with caplog.at_level(logging.WARNING):
        code, report = scan(aws, tmp_path / "r", "--config", str(config),
                            "--notify", "slack:env:DEFAULT_WEBHOOK")
    assert code == report["summary"]["exit_code"]  # a notification never changes it
    assert len(hooks["payments"].received) == 1  # tried, answered 500
    assert len(hooks["data"].received) == 1 and len(hooks["default"].received) == 1
    err = capsys.readouterr().err
    line = next(ln for ln in err.splitlines() if "notifications:" in ln)
    assert line.startswith("dr-audit: notifications: 2 sent (team-data, other owners), "
                           "2 FAILED (team-payments -> slack:env:PAYMENTS_WEBHOOK: HTTP Error "
                           "500")
    assert "team-payments -> sns:arn:aws:sns:us-east-1:123456789012:gone: " in line
    assert "s3cr3t" not in err + caplog.text


def test_without_routes_the_notify_targets_get_the_whole_report(
        aws: AwsEndpoint, tmp_path: Path, hooks: dict[str, Webhook]) -> None:
    seed(aws)
    _, report = scan(aws, tmp_path / "r", "--notify", "slack:env:DEFAULT_WEBHOOK")
    (msg,) = hooks["default"].received
    assert msg["text"] == f"DR Guard: FAIL: {report['summary']['gaps']} DR gaps"
    assert msg["blocks"][0]["text"]["text"] == "DR Guard nightly audit"


def test_new_gaps_is_judged_per_route(aws: AwsEndpoint, tmp_path: Path,
                                      hooks: dict[str, Webhook]) -> None:
    """With a baseline, a route hears only when its own owner has a new gap."""
    seed(aws)
    config = write_config(tmp_path / "dr.json", [
        {"owner": "team-payments", "target": "slack:env:PAYMENTS_WEBHOOK"},
        {"owner": "team-data", "target": "slack:env:DATA_WEBHOOK"}])
    scan(aws, tmp_path / "night1", "--config", str(config),
         "--notify", "slack:env:DEFAULT_WEBHOOK")  # --notify-on always
    assert len(hooks["payments"].received) == len(hooks["data"].received) == 1
    for hook in hooks.values():
        hook.received.clear()
    # night 2: payments has a new bucket with gaps; data's gaps are all old ones
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="payments-ledger-backup")
    s3.put_bucket_tagging(Bucket="payments-ledger-backup", Tagging={
        "TagSet": [{"Key": "owner", "Value": "team-payments"}]})
    code, report = scan(aws, tmp_path / "night2", "--config", str(config),
                        "--notify", "slack:env:DEFAULT_WEBHOOK", "--notify-on", "new-gaps",
                        "--baseline", str(tmp_path / "night1" / "report.json"))
    assert code == 1
    (pay,) = hooks["payments"].received
    new = report["summary"]["diff"]["new"]
    assert new and {f["owner"] for f in new} == {"team-payments"}
    assert f"New since baseline ({len(new)})" in json.dumps(pay)
    cut = notify.parts(report, ["team-payments", "team-data"])
    assert [cut[k]["summary"]["diff"]["counts"]["new"] for k in cut] == [len(new), 0, 0]
    assert sum(cut[k]["summary"]["diff"]["counts"]["still_failing"] for k in cut) == \
        report["summary"]["diff"]["counts"]["still_failing"]
    assert hooks["data"].received == [] and hooks["default"].received == []


# ---- the parts: a cut of the report, consistent with the whole ------------------------------

def test_parts_add_up_to_the_report(aws: AwsEndpoint, tmp_path: Path) -> None:
    seed(aws)
    _, report = scan(aws, tmp_path / "r")
    whole = notify.parts(report, [])[None]  # no owner routed: one part, the whole report
    assert whole["summary"] == report["summary"] and whole["findings"] == report["findings"]
    routes = [("team-payments", notify.parse_target("sns:arn:aws:sns:us-east-1:123456789012:x"))]
    default = [notify.parse_target("slack:https://hooks.example/services/T/B/x")]
    parts = notify.plan(report, routes, default, 1)
    assert [p[0] for p in parts] == ["team-payments", None]
    assert sum(len(p[2]["findings"]) for p in parts) == len(report["findings"])
    assert sum(p[2]["summary"]["gaps"] for p in parts) == report["summary"]["gaps"]
    assert {f.get("owner") for f in parts[0][2]["findings"]} == {"team-payments"}
    assert "team-payments" not in {f.get("owner") for f in parts[1][2]["findings"]}
    # the route part's exit code is its own: gaps at or above fail-on
    assert parts[0][3] == 1 and parts[0][2]["summary"]["exit_code"] == 1


def test_failure_is_judged_per_route() -> None:
    """--notify-on failure: an owner whose findings all pass hears nothing."""
    ok = {"id": "drg-ok", "control": "backup-bucket-versioning", "severity": "high",
          "status": "pass", "source": "live", "account": "123456789012",
          "region": "us-east-1", "resource": "arn:aws:s3:::fine", "message": "ok",
          "owner": "team-ok"}
    bad = {**ok, "id": "drg-bad", "status": "fail", "resource": "arn:aws:s3:::broken",
           "owner": "team-bad"}
    doc = {"run": {"fail_on": "high", "accounts": ["123456789012"]},
           "summary": {"gaps": 1, "fail_on": "high", "exit_code": 1},
           "findings": [ok, bad]}
    routes = [(o, notify.Target("slack", f"http://127.0.0.1:9/{o}", f"slack:env:{o}"))
              for o in ("team-ok", "team-bad")]
    outcomes = notify.send_routed(routes, [], doc, 1, when="failure")
    sent = [o.owner for o in outcomes if o.status != "skipped"]
    assert sent == ["team-bad"]  # tried (and failed: nothing listens on port 9)
    assert [o.status for o in outcomes] == ["skipped", "failed"]
    assert notify.outcome_line(outcomes, "failure").startswith(
        "notifications: 0 sent, 1 FAILED (team-bad -> slack:env:team-bad: ")


def test_route_repr_never_shows_an_inline_webhook() -> None:
    r = Route("team-a", "slack:https://hooks.example/services/T/B/s3cr3t")
    assert "s3cr3t" not in repr(r) and "team-a" in repr(r)


def test_merge_routes_the_merged_report(aws: AwsEndpoint, tmp_path: Path,
                                        hooks: dict[str, Webhook]) -> None:
    """The sharded nightly notifies once, from `dr-audit merge`, with the same routes."""
    seed(aws)
    _, report = scan(aws, tmp_path / "shard")
    config = write_config(tmp_path / "dr.json", [
        {"owner": "team-data", "target": "slack:env:DATA_WEBHOOK"}])
    main(["merge", str(tmp_path / "shard" / "report.json"), "--config", str(config),
          "--notify", "slack:env:DEFAULT_WEBHOOK", "--output-dir", str(tmp_path / "merged"),
          "--format", "json"])
    gaps = owners_gaps(report)
    (data,) = hooks["data"].received
    assert data["text"] == f"DR Guard (team-data): FAIL: {gaps['team-data']} DR gaps"
    (rest,) = hooks["default"].received
    assert named(json.dumps(rest)) == {"misc-backup", "payments-backup"}
    assert rest["text"].endswith(f"{report['summary']['gaps'] - gaps['team-data']} DR gaps")


# ---- the nightly example -------------------------------------------------------------------

def test_the_nightly_example_routes_by_owner_with_the_pack_thresholds() -> None:
    from auditor.cli import build_parser
    from drguard.settings import load_file
    from tests.test_ci_examples import CI, _load, _run_steps, argv, dr_audit_commands

    workflow = _load(CI / "nightly.yml")
    commands = [(argv(c, env), env) for s, env in _run_steps(workflow)
                for c in dr_audit_commands(s)]
    scans = [(a, env) for a, env in commands if a[0] == "scan"]
    drills = [a for a, _ in commands if a[:2] == ["drill", "next"]]
    assert scans and drills
    configs = {a[a.index("--config") + 1] for a in [*(a for a, _ in scans), *drills]}
    assert configs == {".github/dr-audit.yaml"}
    for args, _env in scans:  # the loop: backend, history in S3, owners and --notify
        ns = build_parser().parse_args(args)
        assert ns.backend == ["https://api.pulumi.com"] and ns.history.startswith("s3://")
        assert ns.notify and ns.notify_on == "new-gaps"

    audit = load_file(CI / "dr-audit.yaml")
    pack = from_mapping(json.loads((CI / "dr-policy.json").read_text()), where="dr-policy.json")
    assert audit.params == pack.params and audit.enabled == pack.enabled
    assert audit.scope == pack.scope and audit.waivers == pack.waivers
    assert {r.owner for r in audit.notify_routes} == {"team-payments", "team-data"}
    assert {r.owner for r in audit.notify_routes} <= {
        a["owner"] for a in audit.apps.applications.values()}
    # every webhook a route reads is a secret in the job's environment, so the routes resolve
    env = workflow["env"]
    names = [r.target.split(":", 2)[2] for r in audit.notify_routes
             if r.target.startswith("slack:env:")]
    assert names and all(env[n] == f"${{{{ secrets.{n} }}}}" for n in names)
    fake = {n: f"https://hooks.slack.example/services/T/B/{n}" for n in names}
    routes = notify.resolve_routes(audit.notify_routes, fake, where="dr-audit.yaml")
    assert [t.kind for _, t in routes] == ["slack", "sns", "slack"]


def test_an_incomplete_run_is_incomplete_for_every_owner() -> None:
    """What the run could not read may be anyone's: no part of it is reported green."""
    ok = {"id": "drg-ok", "control": "backup-bucket-versioning", "severity": "high",
          "status": "pass", "source": "live", "account": "123456789012",
          "region": "us-east-1", "resource": "arn:aws:s3:::fine", "message": "ok",
          "owner": "team-ok"}
    doc = {"run": {"fail_on": "high", "skipped": {"regions": 1}},
           "summary": {"gaps": 0, "fail_on": "high", "exit_code": 3}, "findings": [ok]}
    cut = notify.parts(doc, ["team-ok", "team-empty"])
    for k in ("team-ok", "team-empty", None):
        assert cut[k]["summary"]["incomplete"] and cut[k]["summary"]["exit_code"] == 3
    c = notify.content(cut["team-ok"], 3, None, "team-ok")
    assert "INCOMPLETE" in c["verdict"] and "no DR gap" in c["verdict"]
