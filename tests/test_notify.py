"""--notify: Slack (a loopback HTTP server stands in for the webhook) and SNS (moto server,
read back through a subscribed SQS queue); webhook URLs never printed; a failed
notification is a warning and leaves the exit code alone."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from auditor import notify
from auditor.aws import AwsOptions
from auditor.securityhub import narrow_session
from drguard.errors import ConfigError
from tests.conftest import AwsEndpoint

SECRET_PATH = "/services/T000/B000/s3cr3t-token"


class _Hook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []
    status = 200

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).received.append({"path": self.path, "json": json.loads(body),
                                    "type": self.headers.get("Content-Type")})
        self.send_response(type(self).status)
        self.end_headers()
        self.wfile.write(b"ok" if type(self).status == 200 else b"invalid_token")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def slack() -> Iterator[tuple[str, type[_Hook]]]:
    hook = type("Hook", (_Hook,), {"received": [], "status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}{SECRET_PATH}", hook
    finally:
        server.shutdown()
        server.server_close()


def gap(control: str, name: str, severity: str) -> dict[str, Any]:
    return {"id": f"drg-{name}", "control": control, "severity": severity, "status": "fail",
            "source": "live", "account": "123456789012", "region": "us-east-1",
            "resource": f"arn:aws:s3:::{name}", "message": f"{control} on {name}",
            "remediation": {"summary": f"Fix {name}.", "pulumi": "", "cli": None}}


def doc(with_baseline: bool = True) -> dict[str, Any]:
    gaps = [gap("backup-bucket-versioning", f"b{i}", "high") for i in range(6)]
    gaps.append(gap("backup-bucket-object-lock", "vault", "critical"))
    summary: dict[str, Any] = {"gaps": len(gaps), "incomplete": False}
    if with_baseline:
        summary["diff"] = {"counts": {"new": 1, "resolved": 1, "still_failing": 6},
                           "new": [gaps[-1]],
                           "resolved": [{**gap("rds-deletion-protection", "orders", "high"),
                                         "status": "pass"}]}
    return {"run": {"accounts": ["123456789012"]}, "summary": summary, "findings": gaps}


def test_slack_block_kit_message(slack: tuple[str, type[_Hook]]) -> None:
    url, hook = slack
    target = notify.parse_target(f"slack:{url}")
    warnings = notify.send([target], doc(), 1, report_url="https://reports.example/dr/42")
    assert warnings == []
    (msg,) = hook.received
    assert msg["path"] == SECRET_PATH and msg["type"] == "application/json"
    body = msg["json"]
    text = json.dumps(body["blocks"])
    assert body["text"].startswith("DR Guard: FAIL: 7 DR gaps")
    assert "New since baseline (1)" in text and "backup-bucket-object-lock on vault" in text
    assert "Fixed (1)" in text and "rds-deletion-protection on orders" in text
    top = next(b for b in body["blocks"] if "Top to fix" in json.dumps(b))["text"]["text"]
    assert top.count("\n") == 5  # header + 5 entries, critical first
    assert top.splitlines()[1].startswith("1. *critical* `backup-bucket-object-lock`")
    assert "Fix vault." in top
    (button,) = next(b for b in body["blocks"] if b["type"] == "actions")["elements"]
    assert button["url"] == "https://reports.example/dr/42"
    for block in body["blocks"]:
        assert block["type"] in ("header", "section", "actions")


def test_webhook_from_the_environment_and_never_printed(
        slack: tuple[str, type[_Hook]], monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    url, hook = slack
    monkeypatch.setenv("DRGUARD_SLACK_WEBHOOK", url)
    target = notify.parse_target("slack:env:DRGUARD_SLACK_WEBHOOK")
    assert target.address == url and SECRET_PATH not in repr(target) + str(target)
    assert notify.send([target], doc(), 0) == []
    assert len(hook.received) == 1
    # a failing webhook: a warning naming the target, never its URL
    hook.status = 403
    with caplog.at_level(logging.WARNING):
        warnings = notify.send([target], doc(), 1)
    assert len(warnings) == 1 and "slack:env:DRGUARD_SLACK_WEBHOOK" in warnings[0]
    assert "s3cr3t" not in warnings[0] and "s3cr3t" not in caplog.text
    assert "s3cr3t" not in caplog.text


def test_unreachable_webhook_is_a_redacted_warning(caplog: pytest.LogCaptureFixture) -> None:
    target = notify.parse_target("slack:http://127.0.0.1:9/services/T1/B1/s3cr3t")
    with caplog.at_level(logging.WARNING):
        warnings = notify.send([target], doc(), 1)
    assert len(warnings) == 1 and "failed" in warnings[0]
    assert "s3cr3t" not in warnings[0] and "s3cr3t" not in caplog.text


@pytest.mark.parametrize("value,needle", [
    ("slack:env:NOT_SET_ANYWHERE", "not set"),
    ("slack:ftp://x/services/s3cr3t", "not an http"),
    ("sns:arn:aws:s3:::bucket", "not an SNS topic ARN"),
    ("email:ops@example.com", "expected slack"),
    ("slack:env:bad name", "not an environment variable"),
])
def test_bad_targets_are_usage_errors_without_the_secret(value: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle) as e:
        notify.parse_target(value, environ={})
    assert "s3cr3t" not in str(e.value)


def test_notify_on() -> None:
    with_new, without_new = doc()["summary"], doc()["summary"]
    without_new["diff"] = {**without_new["diff"], "counts": {"new": 0}}
    assert notify.should_notify("always", without_new, 0)
    assert notify.should_notify("new-gaps", with_new, 1)
    assert not notify.should_notify("new-gaps", without_new, 1)
    assert notify.should_notify("new-gaps", doc(False)["summary"], 1)  # no baseline: any gap
    assert not notify.should_notify("new-gaps", {"gaps": 0}, 0)
    assert notify.should_notify("failure", without_new, 3)
    assert not notify.should_notify("failure", with_new, 0)


def test_sns_subject_and_text_arrive(aws: AwsEndpoint) -> None:
    sns, sqs = aws.client("sns"), aws.client("sqs")
    topic = sns.create_topic(Name="dr-alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName="dr-alerts-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    options = AwsOptions(endpoint_url=aws.url)
    session = narrow_session(options, "sns", frozenset({"Publish"}))
    warnings = notify.send([notify.parse_target(f"sns:{topic}")], doc(), 1,
                           report_url="https://reports.example/dr/42", sns_session=session,
                           endpoint_url=aws.url, config=options.config())
    assert warnings == []
    (message,) = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=2)["Messages"]
    envelope = json.loads(message["Body"])
    assert envelope["Subject"] == "DR Guard: FAIL: 7 DR gaps"
    assert "New since baseline (1):" in envelope["Message"]
    assert "1. [critical] backup-bucket-object-lock on vault" in envelope["Message"]
    assert "Report: https://reports.example/dr/42" in envelope["Message"]


def test_sns_failure_is_a_warning(aws: AwsEndpoint) -> None:
    session = narrow_session(AwsOptions(endpoint_url=aws.url), "sns", frozenset({"Publish"}))
    target = notify.parse_target("sns:arn:aws:sns:us-east-1:123456789012:no-such-topic")
    warnings = notify.send([target], doc(), 1, sns_session=session, endpoint_url=aws.url)
    assert len(warnings) == 1 and "sns:arn:aws:sns:us-east-1:123456789012:no-such-topic" \
        in warnings[0]


def test_scan_delivers_to_security_hub_and_slack(aws: AwsEndpoint, tmp_path: Any,
                                                 slack: tuple[str, type[_Hook]],
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str],
                                                 caplog: pytest.LogCaptureFixture) -> None:
    """End to end: `dr-audit scan --security-hub --notify ...` against the emulator."""
    from auditor.cli import main

    url, hook = slack
    monkeypatch.setenv("DRGUARD_SLACK_WEBHOOK", url)
    aws.client("securityhub").enable_security_hub()
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="acme-backups")
    argv = ["scan", "--endpoint-url", aws.url, "--regions", "us-east-1", "--format", "json",
            "--security-hub", "--notify", "slack:env:DRGUARD_SLACK_WEBHOOK",
            "--report-url", "https://reports.example/dr/1"]
    code = main([*argv, "--output-dir", str(tmp_path / "one")])
    report = json.loads((tmp_path / "one" / "report.json").read_text())
    gap_ids = {f["id"] for f in report["findings"] if f["status"] == "fail"
               and f["account"]}
    assert code == report["summary"]["exit_code"] and gap_ids
    hub = {f["Id"]: f for f in aws.client("securityhub").get_findings()["Findings"]}
    assert gap_ids <= set(hub)
    assert all(hub[i]["RecordState"] == "ACTIVE" for i in gap_ids)
    (msg,) = hook.received
    assert "Open the report" in json.dumps(msg["json"])
    err = capsys.readouterr().err
    assert "Security Hub:" in err and url not in err and "DRGUARD_SLACK" not in err

    # versioning fixed: its finding is archived the next run
    s3.put_bucket_versioning(Bucket="acme-backups",
                             VersioningConfiguration={"Status": "Enabled"})
    fixed = {f["id"] for f in report["findings"]
             if f["control"] == "backup-bucket-versioning" and f["status"] == "fail"}
    assert fixed
    # and a dead webhook only warns: the exit code is what the reports say
    dead = ["--notify", "slack:http://127.0.0.1:9/services/T/B/s3cr3t"]
    code2 = main([*argv, *dead, "--output-dir", str(tmp_path / "two")])
    report2 = json.loads((tmp_path / "two" / "report.json").read_text())
    assert code2 == report2["summary"]["exit_code"]
    hub = {f["Id"]: f for f in aws.client("securityhub").get_findings()["Findings"]}
    for i in fixed:
        assert hub[i]["RecordState"] == "ARCHIVED" and hub[i]["Workflow"]["Status"] == \
            "RESOLVED"
    logged = capsys.readouterr().err + caplog.text
    assert "notification to slack:<webhook> failed" in logged and "s3cr3t" not in logged


def test_the_nightly_example_notifies_through_valid_targets() -> None:
    from auditor.cli import build_parser
    from auditor.delivery import check_delivery
    from tests.test_ci_examples import CI, _load, _run_steps, argv, dr_audit_commands

    scans = [(args, env) for s, env in _run_steps(_load(CI / "nightly.yml"))
             for c in dr_audit_commands(s) if (args := argv(c, env))[0] == "scan"]
    assert scans
    for args, _env in scans:
        ns = build_parser().parse_args(args)
        assert ns.security_hub and ns.notify_on == "new-gaps" and ns.report_url
        assert {t.split(":", 1)[0] for t in ns.notify} == {"slack", "sns"}
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("DRGUARD_SLACK_WEBHOOK", "https://hooks.slack.example/services/T/B/x")
            ns.report_url = "https://github.example/acme/runs/1"  # a GitHub expression there
            check_delivery(ns)  # every target parses: no usage error at night
        assert [t.kind for t in ns.notify_targets] == ["slack", "sns"]
