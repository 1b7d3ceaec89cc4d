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

Routes by owner (the config's `notify.routes`, drguard.notify_routes): each routed owner's
targets get a message about that owner's findings only, the --notify targets one about the
findings no route takes; each message's summary, diff and `--notify-on` decision are computed
over its own findings.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from typing import Any

from drguard.errors import ConfigError
from drguard.notify_routes import HTTP_URL, Route, redact, target_problem
from drguard.records import record

log = logging.getLogger(__name__)

WHEN = ("always", "new-gaps", "failure")
TOP = 5
TIMEOUT = 10.0
SNS_SUBJECT_MAX = 100
SNS_MESSAGE_MAX = 250_000


@record(frozen=True)
class Target:
    """Where a notification goes (a Slack webhook or an SNS topic), never printed."""

    kind: str            # "slack" | "sns"
    address: str         # webhook URL (secret) or topic ARN
    label: str           # what may be printed

    def __repr__(self) -> str:  # never the webhook
        return f"Target({self.label})"

    __str__ = __repr__


def parse_target(value: str, environ: Mapping[str, str] | None = None,
                 where: str = "--notify") -> Target:
    """One target (a --notify value, or a route's, `where` saying which); ConfigError (usage,
    exit 2) when it is not one, message redacted."""
    env = os.environ if environ is None else environ
    problem = target_problem(value)
    if problem:
        raise ConfigError(f"{where} {problem}")
    kind, _, rest = value.partition(":")
    if kind == "sns":
        return Target("sns", rest, f"sns:{rest}")
    if not rest.startswith("env:"):
        return Target("slack", rest, "slack:<webhook>")
    name = rest[4:]
    url = env.get(name, "")
    if not url:
        raise ConfigError(f"{where} slack:env:{name}: environment variable {name} is not "
                          "set or empty")
    if not HTTP_URL.match(url):
        raise ConfigError(f"{where} slack:env:{name}: the webhook is not an http(s) URL")
    return Target("slack", url, f"slack:env:{name}")


def resolve_routes(routes: Iterable[Route], environ: Mapping[str, str] | None = None,
                   where: str = "config") -> list[tuple[str, Target]]:
    """The config's owner routes with their targets read (webhooks from the environment);
    ConfigError naming the route when one cannot be used."""
    return [(r.owner, parse_target(r.target, environ,
                                   where=f"{where}: notify.routes (owner {r.owner!r}):"))
            for r in routes]


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


def content(doc: dict[str, Any], code: int, report_url: str | None,
            audience: str | None = None) -> dict[str, Any]:
    """What every message says: verdict, new, fixed, top 5 to fix, link; `audience` names
    whose findings these are (an owner) when the message holds only theirs."""
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
        "audience": audience,
    }


def _list(items: list[str], limit: int = 10) -> str:
    shown = [f"\u2022 {i}" for i in items[:limit]]
    if len(items) > limit:
        shown.append(f"\u2026 and {len(items) - limit} more")
    return "\n".join(shown) or "none"


def _title(c: dict[str, Any]) -> str:
    return "DR Guard nightly audit" + (f": {c['audience']}" if c.get("audience") else "")


def _brand(c: dict[str, Any]) -> str:
    return "DR Guard" + (f" ({c['audience']})" if c.get("audience") else "")


def slack_message(c: dict[str, Any]) -> dict[str, Any]:
    """A Block Kit message (plus `text`, the notification's fallback)."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _title(c)[:150]}},
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
    return {"text": f"{_brand(c)}: {c['verdict']}", "blocks": blocks}


def sns_message(c: dict[str, Any]) -> tuple[str, str]:
    subject = f"{_brand(c)}: {c['verdict']}"[:SNS_SUBJECT_MAX]
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


def _deliver(t: Target, c: dict[str, Any], sns_session: Any, endpoint_url: str | None,
             config: Any) -> tuple[str | None, Any]:
    """Send one message; (the failure, redacted, or None; the SNS session, made once)."""
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
        return redact(str(reason), t.address), sns_session
    return None, sns_session


def send(targets: list[Target], doc: dict[str, Any], code: int, *, when: str = "always",
         report_url: str | None = None, sns_session: Any = None,
         endpoint_url: str | None = None, config: Any = None,
         audience: str | None = None) -> list[str]:
    """Send to every target when `when` says so; the warnings (already logged, redacted)."""
    if not targets or not should_notify(when, doc.get("summary") or {}, code):
        return []
    c = content(doc, code, report_url, audience)
    warnings: list[str] = []
    for t in targets:
        failure, sns_session = _deliver(t, c, sns_session, endpoint_url, config)
        if failure is not None:
            msg = f"notification to {t.label} failed: {failure}"
            log.warning("%s", msg)
            warnings.append(msg)
        else:
            log.info("notification sent to %s", t.label)
    return warnings


# ---- routes by owner -----------------------------------------------------------------------

UNROUTED = "findings without an owner route"


@record
class Outcome:
    """What became of one target's notification."""

    target: str                  # its label (never a webhook)
    owner: str | None            # None: the --notify targets
    status: str = "skipped"      # sent | failed | skipped (--notify-on said no)
    error: str | None = None     # redacted


def _owner(f: Any) -> str | None:
    owner = f.get("owner") if isinstance(f, dict) else None
    return owner if isinstance(owner, str) and owner else None


def parts(doc: dict[str, Any], owners: Iterable[str]) -> dict[str | None, dict[str, Any]]:
    """`doc` cut into one document per owner in `owners`, plus (key None) one of the findings
    of every other owner or none, in one pass over the findings. Each part has its own summary
    (counts, exit code, completeness: a run that could not read everything is incomplete for
    every part) and its baseline diff recomputed over its findings. A resolved gap belongs to
    the owner its resource has now, else to the one it had in the baseline."""
    from drguard.findings import Finding

    from .reports._common import build_summary

    keys: list[str | None] = [*dict.fromkeys(owners), None]
    known = set(keys)
    rows = [f for f in doc.get("findings") or () if isinstance(f, dict)]
    now = {f.get("id"): _owner(f) for f in rows}

    def key(f: dict[str, Any]) -> str | None:
        owner = now.get(f.get("id"), _owner(f))
        return owner if owner in known else None

    def split(items: Iterable[Any]) -> dict[str | None, list[dict[str, Any]]]:
        out: dict[str | None, list[dict[str, Any]]] = {k: [] for k in keys}
        for f in items:
            if isinstance(f, dict):
                out[key(f)].append(f)
        return out

    summary = doc.get("summary") or {}
    run = doc.get("run") or {}
    diff = summary.get("diff") if isinstance(summary.get("diff"), dict) else None
    fail_on = summary.get("fail_on") or run.get("fail_on")
    findings = split(rows)
    lists = {name: split((diff or {}).get(name) or ())
             for name in ("new", "resolved", "still_failing")}
    result: dict[str | None, dict[str, Any]] = {}
    for k in keys:
        cut: dict[str, Any] | None = None
        if diff is not None:
            mine = {name: lists[name][k] for name in lists}
            cut = {**diff, **mine, "counts": {**(diff.get("counts") or {}),
                                              **{n: len(v) for n, v in mine.items()}}}
            if isinstance(diff.get("new_by_severity"), dict):
                cut["new_by_severity"] = {
                    sev: sum(1 for f in mine["new"] if f.get("severity") == sev)
                    for sev in diff["new_by_severity"]}
        out = build_summary([Finding.from_dict(f) for f in findings[k]], cut,
                            fail_on=fail_on if isinstance(fail_on, str) else None, run=run)
        result[k] = {**doc, "summary": out, "findings": findings[k]}
    return result


def _code(doc: dict[str, Any]) -> int:
    s = doc.get("summary") or {}
    if isinstance(s.get("exit_code"), int):
        return int(s["exit_code"])
    return 1 if s.get("gaps") else 3 if s.get("incomplete") else 0


def plan(doc: dict[str, Any], routes: list[tuple[str, Target]], default: list[Target],
         code: int) -> list[tuple[str | None, list[Target], dict[str, Any], int]]:
    """(owner or None, targets, the findings they get as a document, its exit code) per
    destination: each routed owner gets only its own findings; the --notify targets get the
    findings no route takes (all of them, the report as is, when there are no routes)."""
    if not routes:
        return [(None, default, doc, code)] if default else []
    by_owner: dict[str, list[Target]] = {}
    for owner, t in routes:
        by_owner.setdefault(owner, []).append(t)
    cut = parts(doc, by_owner)
    out: list[tuple[str | None, list[Target], dict[str, Any], int]] = [
        (owner, targets, cut[owner], _code(cut[owner])) for owner, targets in by_owner.items()]
    if default:
        out.append((None, default, cut[None], _code(cut[None])))
    return out


def send_routed(routes: list[tuple[str, Target]], default: list[Target], doc: dict[str, Any],
                code: int, *, when: str = "always", report_url: str | None = None,
                sns_session: Any = None, endpoint_url: str | None = None,
                config: Any = None) -> list[Outcome]:
    """Each owner's findings to its routes, the rest to `default`; `when` is judged per
    destination on its own findings. A target that fails is logged (redacted) and the others
    still go out."""
    outcomes: list[Outcome] = []
    for owner, targets, part_doc, part_code in plan(doc, routes, default, code):
        go = should_notify(when, part_doc.get("summary") or {}, part_code)
        audience = owner if owner is not None else (UNROUTED if routes else None)
        c = content(part_doc, part_code, report_url, audience) if go else {}
        for t in targets:
            o = Outcome(t.label, owner)
            outcomes.append(o)
            if not go:
                continue
            o.error, sns_session = _deliver(t, c, sns_session, endpoint_url, config)
            o.status = "sent" if o.error is None else "failed"
            who = f" ({owner})" if owner else ""
            if o.error is None:
                log.info("notification sent to %s%s", t.label, who)
            else:
                log.warning("notification to %s%s failed: %s", t.label, who, o.error)
    return outcomes


def outcome_line(outcomes: list[Outcome], when: str) -> str:
    """One line for the run's summary: whose messages went out, which target failed and why
    (by its label: never a webhook), which --notify-on held back."""
    def who(o: Outcome) -> str:
        return o.owner or ("other owners" if any(x.owner for x in outcomes) else "--notify")

    def name(o: Outcome) -> str:
        return f"{o.owner} -> {o.target}" if o.owner else o.target

    def grouped(items: list[Outcome]) -> str:
        counts: dict[str, int] = {}
        for o in items:
            counts[who(o)] = counts.get(who(o), 0) + 1
        return ", ".join(f"{k} ({n} targets)" if n > 1 else k for k, n in counts.items())

    sent = [o for o in outcomes if o.status == "sent"]
    failed = [o for o in outcomes if o.status == "failed"]
    skipped = [o for o in outcomes if o.status == "skipped"]
    pieces = [f"{len(sent)} sent" + (f" ({grouped(sent)})" if sent else "")]
    if failed:
        pieces.append(f"{len(failed)} FAILED (" + "; ".join(
            f"{name(o)}: {o.error}" for o in failed) + ")")
    if skipped:
        pieces.append(f"{len(skipped)} not needed by --notify-on {when} ({grouped(skipped)})")
    return "notifications: " + ", ".join(pieces)
