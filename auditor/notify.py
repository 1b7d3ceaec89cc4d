"""Notifications after a scan: `--notify slack:<webhook>|sns:<topic ARN>` (repeatable).

Targets:
- `slack:https://hooks.slack.com/...` (e.g. `slack:$DRGUARD_SLACK_WEBHOOK`, expanded by the
  shell) or `slack:env:NAME` (the URL is read from environment variable NAME, so it never
  appears on a command line): a Block Kit message;
- `sns:arn:aws:sns:REGION:ACCOUNT:TOPIC`: a subject and a plain-text body, published with the
  scan's credentials.

A webhook URL is a secret: it is never printed, logged or put in an error message (targets
are shown as `slack:env:NAME` or `slack:<webhook>`). `--notify-on` chooses when: `always`,
`new-gaps` (gaps new since `--baseline`, or any gap without one) or `failure` (exit code not
0). A notification that fails is a warning; it never changes the scan's exit code.
"""

from __future__ import annotations

import json
import logging
import os
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from drguard.errors import ConfigError

log = logging.getLogger(__name__)

WHEN = ("always", "new-gaps", "failure")
TOP = 5
TIMEOUT = 10.0
SNS_SUBJECT_MAX = 100
SNS_MESSAGE_MAX = 250_000
_SNS_ARN = re.compile(r"^arn:aws[\w-]*:sns:[a-z0-9-]+:\d{12}:[\w-]{1,256}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_URL = re.compile(r"https?://[^\s'\"<>]+")


@dataclass(frozen=True)
class Target:
    kind: str            # "slack" | "sns"
    address: str         # webhook URL (secret) or topic ARN
    label: str           # what may be printed

    def __repr__(self) -> str:  # never the webhook
        return f"Target({self.label})"

    __str__ = __repr__


def redact(text: str, *secrets: str) -> str:
    """`text` without any of `secrets` and without any URL (webhooks are URLs)."""
    for s in secrets:
        if s:
            text = text.replace(s, "<webhook>")
    return _URL.sub("<url>", text)


def parse_target(value: str, environ: dict[str, str] | None = None) -> Target:
    """One --notify value; ConfigError (usage, exit 2) when it is not one, message redacted."""
    env = os.environ if environ is None else environ
    kind, sep, rest = value.partition(":")
    if not sep or kind not in ("slack", "sns"):
        raise ConfigError(f"--notify {redact(value)!r}: expected slack:<webhook URL>, "
                          "slack:env:NAME or sns:<topic ARN>")
    if kind == "sns":
        if not _SNS_ARN.match(rest):
            raise ConfigError(f"--notify sns:{rest}: not an SNS topic ARN")
        return Target("sns", rest, f"sns:{rest}")
    if rest.startswith("env:"):
        name = rest[4:]
        if not _ENV_NAME.match(name):
            raise ConfigError(f"--notify slack:env:{redact(name)}: not an environment variable "
                              "name")
        url = env.get(name, "")
        if not url:
            raise ConfigError(f"--notify slack:env:{name}: environment variable {name} is not "
                              "set or empty")
        label = f"slack:env:{name}"
    else:
        url, label = rest, "slack:<webhook>"
    if not re.match(r"^https?://[^\s]+$", url):
        raise ConfigError(f"--notify {label}: the webhook is not an http(s) URL")
    return Target("slack", url, label)


def should_notify(when: str, summary: dict[str, Any], code: int) -> bool:
    if when == "always":
        return True
    if when == "failure":
        return code != 0
    diff = summary.get("diff")
    if isinstance(diff, dict):
        return bool((diff.get("counts") or {}).get("new"))
    return bool(summary.get("gaps"))


# ---- content -------------------------------------------------------------------------------

_SEV_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3}


def _where(f: dict[str, Any]) -> str:
    res = str(f.get("resource", ""))
    short = res.rsplit(":", 1)[-1].rsplit("/", 1)[-1] if res.startswith("arn:") else res
    acct = f" ({f['account']})" if f.get("account") else ""
    return f"{short}{acct}"


def verdict(summary: dict[str, Any], code: int) -> str:
    gaps = int(summary.get("gaps") or 0)
    if code == 2:
        return "dr-audit could not run"
    text = f"{gaps} DR gap{'s' if gaps != 1 else ''}" if gaps else "no DR gap"
    if summary.get("incomplete"):
        parts = summary.get("incomplete_parts")
        text += " - INCOMPLETE" + (f" ({parts})" if isinstance(parts, str) and parts else "")
    return f"{'FAIL' if code == 1 else 'INCOMPLETE' if code == 3 else 'OK'}: {text}"


def content(doc: dict[str, Any], code: int, report_url: str | None) -> dict[str, Any]:
    """What every message says: verdict, new, fixed, top 5 to fix, link."""
    summary = doc.get("summary") or {}
    findings = [f for f in doc.get("findings") or () if isinstance(f, dict)]
    diff = summary.get("diff") if isinstance(summary.get("diff"), dict) else None
    gaps = [f for f in findings if f.get("status") == "fail"]
    gaps.sort(key=lambda f: (_SEV_ORDER.get(str(f.get("severity")), 9), str(f.get("control")),
                             str(f.get("resource"))))
    top = [{"severity": f.get("severity"), "control": f.get("control"), "where": _where(f),
            "fix": ((f.get("remediation") or {}).get("summary") or f.get("message") or "")}
           for f in gaps[:TOP]]
    return {
        "verdict": verdict(summary, code),
        "baseline": diff is not None,
        "new": [f"{f.get('severity')} {f.get('control')} on {_where(f)}"
                for f in (diff or {}).get("new") or ()],
        "fixed": [f"{f.get('control')} on {_where(f)}"
                  for f in (diff or {}).get("resolved") or () if isinstance(f, dict)],
        "top": top,
        "report_url": report_url,
        "accounts": len((doc.get("run") or {}).get("accounts") or ()),
    }


def _list(items: list[str], limit: int = 10) -> str:
    shown = [f"\u2022 {i}" for i in items[:limit]]
    if len(items) > limit:
        shown.append(f"\u2026 and {len(items) - limit} more")
    return "\n".join(shown) or "none"


def slack_message(c: dict[str, Any]) -> dict[str, Any]:
    """A Block Kit message (plus `text`, the notification's fallback)."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "DR Guard nightly audit"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{c['verdict']}*"}},
    ]
    if c["baseline"]:
        blocks.append({"type": "section", "fields": [
            {"type": "mrkdwn", "text": f"*New since baseline ({len(c['new'])})*\n"
                                       f"{_list(c['new'])}"},
            {"type": "mrkdwn", "text": f"*Fixed ({len(c['fixed'])})*\n{_list(c['fixed'])}"}]})
    if c["top"]:
        lines = [f"{i}. *{t['severity']}* `{t['control']}` on {t['where']}: {t['fix']}"
                 for i, t in enumerate(c["top"], 1)]
        blocks.append({"type": "section", "text": {
            "type": "mrkdwn", "text": "*Top to fix*\n" + "\n".join(lines)[:2900]}})
    if c["report_url"]:
        blocks.append({"type": "actions", "elements": [{
            "type": "button", "text": {"type": "plain_text", "text": "Open the report"},
            "url": c["report_url"]}]})
    return {"text": f"DR Guard: {c['verdict']}", "blocks": blocks}


def sns_message(c: dict[str, Any]) -> tuple[str, str]:
    subject = f"DR Guard: {c['verdict']}"[:SNS_SUBJECT_MAX]
    lines = [c["verdict"], ""]
    if c["baseline"]:
        lines += [f"New since baseline ({len(c['new'])}):", _list(c["new"], 50), "",
                  f"Fixed ({len(c['fixed'])}):", _list(c["fixed"], 50), ""]
    if c["top"]:
        lines.append("Top to fix:")
        lines += [f"{i}. [{t['severity']}] {t['control']} on {t['where']}: {t['fix']}"
                  for i, t in enumerate(c["top"], 1)]
        lines.append("")
    if c["report_url"]:
        lines.append(f"Report: {c['report_url']}")
    return subject, "\n".join(lines)[:SNS_MESSAGE_MAX]


# ---- delivery ------------------------------------------------------------------------------

def post_slack(url: str, message: dict[str, Any], timeout: float = TIMEOUT) -> None:
    data = json.dumps(message).encode("utf-8")
    req = urllib.request.Request(url, data=data, method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (http(s) checked)
        body = resp.read(200).decode("utf-8", "replace")
        if resp.status != 200:
            raise RuntimeError(f"HTTP {resp.status}: {body}")


def publish_sns(session: Any, arn: str, subject: str, text: str,
                endpoint_url: str | None = None, config: Any = None) -> None:
    """sns:Publish through a client of its own; the scan's sessions stay read-only."""
    region = arn.split(":")[3]
    kwargs: dict[str, Any] = {"region_name": region, "endpoint_url": endpoint_url}
    if config is not None:
        kwargs["config"] = config
    session.client("sns", **kwargs).publish(TopicArn=arn, Subject=subject, Message=text)


def send(targets: list[Target], doc: dict[str, Any], code: int, *, when: str = "always",
         report_url: str | None = None, sns_session: Any = None,
         endpoint_url: str | None = None, config: Any = None) -> list[str]:
    """Send to every target when `when` says so; the warnings (already logged, redacted)."""
    if not targets or not should_notify(when, doc.get("summary") or {}, code):
        return []
    c = content(doc, code, report_url)
    warnings: list[str] = []
    for t in targets:
        try:
            if t.kind == "slack":
                post_slack(t.address, slack_message(c))
            else:
                if sns_session is None:
                    import boto3

                    sns_session = boto3.Session()
                subject, text = sns_message(c)
                publish_sns(sns_session, t.address, subject, text, endpoint_url, config)
        except Exception as e:  # noqa: BLE001 - any failure is a warning, never the exit code
            reason = e.reason if isinstance(e, urllib.error.URLError) and not isinstance(
                e, urllib.error.HTTPError) else e
            msg = f"notification to {t.label} failed: {redact(str(reason), t.address)}"
            log.warning("%s", msg)
            warnings.append(msg)
        else:
            log.info("notification sent to %s", t.label)
    return warnings
