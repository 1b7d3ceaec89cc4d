"""Helpers shared by every report writer: ordering, summary, control metadata, safe text."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable
from typing import Any

import msgspec

from drguard import __version__
from drguard.control import remedy_text
from drguard.findings import STATUSES, Finding, at_or_above
from drguard.redact import Redactor, scrub
from drguard.registry import BY_ID, SEVERITY_ORDER
from drguard.verdict import Remediation, plural

from .words import verdict

SCHEMA_ID = "dr-audit/1"
TOOL_NAME = "dr-audit"
SEVERITIES_DESC: tuple[str, ...] = tuple(sorted(SEVERITY_ORDER, key=lambda s: -SEVERITY_ORDER[s]))

# Characters XML 1.0 cannot carry (and lone surrogates, which no UTF-8 file can): the
# complement of its Char production, spelt as the few ranges it leaves out (the negated form
# compiles ~20x slower, paid at every start)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_SURROGATES = re.compile("[\ud800-\udfff]")


def _default(o: Any) -> Any:
    if isinstance(o, dt.datetime | dt.date | dt.time):
        return o.isoformat()
    if isinstance(o, set | frozenset):
        return sorted(o, key=str)
    if isinstance(o, bytes):
        return o.decode("utf-8", "replace")
    return str(o)


def jsonable(value: Any) -> Any:
    """`value` as plain JSON data (datetimes, sets, paths... become strings or lists)."""
    text = json.dumps(value, default=_default, separators=(",", ":"))  # compact: less to read
    try:  # the same data, read ~2x faster; what msgspec refuses (NaN, lone surrogates) the
        return msgspec.json.decode(text)  # stdlib reads as before
    except msgspec.DecodeError:
        return json.loads(text)


_SCALARS = frozenset({str, int, float, bool, type(None)})


def is_plain_json(value: Any, depth: int = 0) -> bool:
    """Whether `value` is already what jsonable would return: dicts with str keys, lists,
    and str/int/float/bool/None, exactly those types (no tuples, subclasses, datetimes...).
    Such a value needs no round trip (which would copy every string of it)."""
    kind = type(value)
    if kind in _SCALARS:
        return True
    if depth > 100:
        return False
    if kind is dict:
        for k, v in value.items():
            if type(k) is not str:
                return False
            if type(v) not in _SCALARS and not is_plain_json(v, depth + 1):
                return False
        return True
    if kind is list:
        return all(type(v) in _SCALARS or is_plain_json(v, depth + 1) for v in value)
    return False


def _has_surrogates(text: str) -> bool:
    """Whether `text` holds a lone surrogate (what UTF-8 cannot encode); O(1) for ASCII text,
    a C-speed encode otherwise (a regex search over a large report costs ~10x more)."""
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def dumps(value: Any, indent: int | None = 2) -> str:
    """JSON text for files: UTF-8 friendly, falling back to ASCII escapes for lone surrogates.
    `indent=None` is compact (no spaces either): the C encoder, several times faster than the
    indenting one, which is pure Python."""
    seps = (",", ":") if indent is None else None
    text = json.dumps(value, indent=indent, separators=seps, ensure_ascii=False,
                      default=_default)
    if _has_surrogates(text):
        text = json.dumps(value, indent=indent, separators=seps, ensure_ascii=True,
                          default=_default)
    return text


def pretty(value: Any) -> str:
    """Indented JSON for people (evidence, events)."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=_default)


def clean_text(text: str) -> str:
    """`text` without lone surrogates (they cannot be written as UTF-8)."""
    return _SURROGATES.sub("\ufffd", text)


def xml_text(value: Any) -> str:
    """`value` as a string XML 1.0 can carry (illegal characters become U+FFFD)."""
    return _NOT_XML.sub("\ufffd", str(value))


def severity_rank(severity: str) -> int:
    return SEVERITY_ORDER.get(severity, -1)


def sort_key(f: Finding) -> tuple[Any, ...]:
    """Severity descending, then control, resource, and the rest for a total order."""
    return (-severity_rank(f.severity), f.control, f.resource, f.source, f.status,
            f.account or "", f.region or "", f.message)


def remedy_of(f: Finding) -> dict[str, Any] | None:
    """The finding's remediation completed from its control's declaration (why it matters,
    console steps), so every format shows the same fix."""
    c = BY_ID.get(f.control)
    r = f.remediation
    if c is None or not r:
        return r
    full = c.remedy(Remediation(str(r.get("summary") or ""), r.get("pulumi") or "",
                                r.get("cli")))
    extra = r.keys() - full.keys()
    return {**full, **{k: v for k, v in r.items() if k in extra}} if extra else full


def with_remedy(f: Finding) -> Finding:
    """The finding with its remediation completed (remedy_of)."""
    if not f.remediation or f.control not in BY_ID:
        return f
    # a shallow copy, as dataclasses.replace makes, without re-running __init__ (hot: one
    # call per finding)
    out = object.__new__(type(f))
    out.__dict__.update(f.__dict__)
    out.remediation = remedy_of(f)
    return out


def sorted_findings(findings: Iterable[Finding]) -> list[Finding]:
    return sorted(findings, key=sort_key)


def control_info(control_id: str, severity: str = "") -> dict[str, Any]:
    """Title, severity, description, remediation and mapping of a control (unknown ids too)."""
    c = BY_ID.get(control_id)
    if c is None:
        return {"id": control_id, "title": control_id, "severity": severity or "medium",
                "tier": None, "description": "", "remediation": "", "mapping": "",
                "aws_config": [], "security_hub": [], "known": False, "why": "",
                "console": [], "remedy": None, "remedy_text": ""}
    general = c.remedy()
    return {"id": c.id, "title": c.title, "severity": c.severity, "tier": c.tier,
            "description": c.description, "remediation": c.remediation,
            "why": c.why, "console": list(c.console), "remedy": general,
            "remedy_text": remedy_text(general),
            "mapping": c.mapping.reference(), "aws_config": list(c.mapping.aws_config),
            "security_hub": list(c.mapping.security_hub), "known": True}


def normalize_run(run: dict[str, Any] | None) -> dict[str, Any]:
    """The caller's run metadata as JSON data, with the tool version filled in if absent."""
    out = jsonable(dict(run or {}))
    if not isinstance(out, dict):
        out = {}
    out["tool_version"] = str(out.get("tool_version") or __version__)
    return out


def redacted_run(run: dict[str, Any] | None, secrets: set[str]) -> dict[str, Any]:
    """normalize_run of `run` with every secret the readers met redacted, but for `fail_on`:
    the threshold the user chose, no reader's text; a secret that spells part of it (`igh`)
    would leave the summary without an exit code. A count equal to a secret number is
    redacted too (`skipped.values: 1` when a secret is 1): the summary counts what was not
    read from the run as the command made it, never from this copy."""
    out = normalize_run(scrub(run, Redactor(secrets)) if secrets and run else run)
    fail_on = (run or {}).get("fail_on")
    if isinstance(fail_on, str) and fail_on in SEVERITY_ORDER:
        out["fail_on"] = fail_on
    return out


def name_accounts(run_meta: dict[str, Any], account_names: dict[str, str] | None) -> None:
    """The report's `account_names`: every name the run knows (its accounts' status, its
    own) and `account_names` ({id: name}), sorted by id."""
    names = {str(a.get("id")): str(a["name"]) for a in run_meta.get("account_status") or ()
             if isinstance(a, dict) and a.get("id") and a.get("name")}
    names.update({str(k): str(v) for k, v in (run_meta.get("account_names") or {}).items()})
    names.update({str(k): str(v) for k, v in (account_names or {}).items()})
    if names:
        run_meta["account_names"] = dict(sorted(names.items()))


def waiver_expired(f: Finding) -> bool:
    return bool(f.waiver and f.waiver.get("expired"))


# run["skipped"] keys that count things outside what was asked (not a failure to read).
OUT_OF_SCOPE_SKIPS = frozenset({"bucketsOutsideRegions"})
# run["skipped"] keys already counted as `error` findings (checks that could not be made).
ERROR_SKIPS = frozenset({"resources"})
SKIP_WORDS: dict[str, str] = {"accounts": "account", "regions": "account region",
                              "sources": "log source", "files": "log file",
                              "records": "log record", "resources": "resource"}


def _words(key: str) -> str:
    if key in SKIP_WORDS:
        return SKIP_WORDS[key]
    text = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", key).replace("_", " ").lower().strip()
    return text[:-1] if text.endswith("s") else text


def not_read(run: dict[str, Any] | None) -> dict[str, int]:
    """What the run could not read (COMMON run-info contract): the integer counts of
    run["skipped"] and of each sub-run's ["skipped"] (e.g. run["logs"]), summed by key.
    A logs read that read no file at all counts as `files: 1`-style incompleteness
    (`noLogFiles`)."""
    counts: dict[str, int] = {}

    def add(skipped: Any) -> None:
        if not isinstance(skipped, dict):
            return
        for k, v in skipped.items():
            if k in OUT_OF_SCOPE_SKIPS or isinstance(v, bool) or not isinstance(v, int):
                continue
            if v > 0:
                counts[k] = counts.get(k, 0) + v

    def no_files(meta: dict[str, Any]) -> bool:
        return (meta.get("command") == "logs" and isinstance(meta.get("files"), int)
                and meta["files"] == 0)

    run = run or {}
    add(run.get("skipped"))
    subs = [v for k, v in run.items() if isinstance(v, dict) and k != "skipped"]
    for sub in subs:
        add(sub.get("skipped"))
    if no_files(run) or any(no_files(sub) for sub in subs):
        counts["noLogFiles"] = 1
    return counts


def incomplete_parts(errors: int, unread: dict[str, int]) -> list[str]:
    """Human phrases for what a run missed, e.g. ['2 log files not read', '3 checks not made']."""
    parts = []
    for k, n in unread.items():
        if k in ERROR_SKIPS and errors:
            continue
        if k == "noLogFiles":
            parts.append("no log file read")
        elif k == "calls":
            parts.append(f"{plural(n, 'AWS call')} failed")
        else:
            parts.append(f"{plural(n, _words(k))} not read")
    if errors:
        parts.append(f"{plural(errors, 'check')} could not be made")
    return parts


def failed_reads(run: dict[str, Any] | None) -> list[tuple[str, str]]:
    """(read, what its failure cost) for every read of the run that failed: how often, and
    which controls it left `error` (run["skipped"]["operations"] and ["unknowable"])."""
    skipped = (run or {}).get("skipped")
    if not isinstance(skipped, dict) or not isinstance(skipped.get("operations"), dict):
        return []
    found = skipped.get("unknowable")
    unknowable: dict[str, Any] = found if isinstance(found, dict) else {}
    out = []
    for op, n in skipped["operations"].items():
        controls = [str(c) for c in unknowable.get(op) or ()]
        what = (f"{', '.join(controls)} could not be checked" if controls
                else "no check depended on it alone")
        out.append((str(op), f"failed ({plural(int(n), 'time')}): {what}"))
    return out


def incomplete_text(summary: dict[str, Any]) -> str:
    """The headline clause of an incomplete run ('' when complete)."""
    if not summary.get("incomplete"):
        return ""
    parts = summary.get("incomplete_parts") or []
    return "Run incomplete: " + ("; ".join(parts) if parts else "some data was not read") + "."


def headline(summary: dict[str, Any]) -> str:
    """The verdict every report and the terminal open with, e.g. `Gaps found: 52 gaps, 9
    critical`, `Run incomplete: nothing failed in what was read`, `No gaps: nothing failed`."""
    gaps = int(summary.get("gaps") or 0)
    critical = int((summary.get("by_severity") or {}).get("critical", {}).get("fail", 0))
    if gaps:
        detail = plural(gaps, "gap") + (f", {critical} critical" if critical else "")
    else:
        detail = "nothing failed" + (" in what was read" if summary.get("incomplete") else "")
    text = f"{str(summary.get('verdict') or verdict(summary)).capitalize()}: {detail}"
    if gaps and summary.get("incomplete"):
        text += "; run incomplete"
    return text


class Tally:
    """The counts a report's summary is made of, added one finding at a time (a report
    written in pieces never holds every finding): `summary()` equals what build_summary
    returns for the same (merged) findings."""

    def __init__(self) -> None:
        # (status, severity, control, account or "-", source, expired waiver) -> findings
        self.counts: dict[tuple[str, str, str, str, str, bool], int] = {}

    def add(self, f: Finding, n: int = 1) -> None:
        """Count `f` (`n` = -1: take back a finding counted before)."""
        key = (f.status, f.severity, f.control, f.account or "-", f.source,
               bool(f.waiver and f.waiver.get("expired")))
        counts = self.counts
        total = counts.get(key, 0) + n
        if total:
            counts[key] = total
        else:
            del counts[key]

    def summary(self, diff: dict[str, Any] | None = None, fail_on: str | None = None,
                run: dict[str, Any] | None = None) -> dict[str, Any]:
        """drguard.findings.summarize plus exit-related counts, completeness and the diff."""
        by_status = {s: 0 for s in STATUSES}
        by_severity: dict[str, dict[str, int]] = {s: {"fail": 0, "total": 0}
                                                  for s in SEVERITY_ORDER}
        by_control: dict[str, dict[str, int]] = {}
        by_account: dict[str, dict[str, int]] = {}
        by_source: dict[str, dict[str, int]] = {}
        total = expired = 0
        gap_severities: dict[str, int] = {}
        for (status, severity, control, account, source, is_expired), n in self.counts.items():
            total += n
            by_status[status] += n
            by_severity[severity]["total"] += n
            for bucket, key in ((by_control, control), (by_account, account),
                                (by_source, source)):
                row = bucket.get(key)
                if row is None:
                    row = bucket[key] = {st: 0 for st in STATUSES}
                row[status] += n
            if status == "fail":
                by_severity[severity]["fail"] += n
                gap_severities[severity] = gap_severities.get(severity, 0) + n
            if is_expired:
                expired += n
        s: dict[str, Any] = {"total": total, "by_status": by_status, "by_severity": by_severity,
                             "by_control": dict(sorted(by_control.items())),
                             "by_account": dict(sorted(by_account.items()))}
        s["by_source"] = dict(sorted(by_source.items()))
        s["gaps"] = sum(gap_severities.values())
        s["gaps_at_or_above"] = {
            sev: sum(n for g, n in gap_severities.items()
                     if g in SEVERITY_ORDER and at_or_above(g, sev))
            for sev in SEVERITIES_DESC}
        s["errors"] = by_status["error"]
        s["attempts"] = by_status["attempt"]
        s["waived"] = by_status["waived"]
        s["expired_waivers"] = expired
        unread = not_read(run)
        s["not_read"] = unread
        s["incomplete"] = bool(s["errors"] or unread)
        s["incomplete_parts"] = incomplete_parts(s["errors"], unread)
        # drguard.findings.exit_code over the counts: 1 for a gap at or above the threshold,
        # else 3 when incomplete (errors included), else 0
        s["exit_codes"] = {
            sev: 1 if any(at_or_above(g, sev) for g in gap_severities)
            else 3 if s["incomplete"] else 0
            for sev in SEVERITIES_DESC}
        s["verdict"] = verdict(s)
        if fail_on in SEVERITY_ORDER:
            s["fail_on"] = fail_on
            s["exit_code"] = s["exit_codes"][fail_on]
        if diff is not None:
            s["diff"] = diff
        return s


def build_summary(findings: Iterable[Finding], diff: dict[str, Any] | None = None,
                  fail_on: str | None = None,
                  run: dict[str, Any] | None = None) -> dict[str, Any]:
    """drguard.findings.summarize plus exit-related counts, completeness (from the findings'
    errors and `run`'s skipped counts) and, when given, the baseline diff. `findings` are
    already merged (one per gap), so every count is of distinct gaps."""
    tally = Tally()
    for f in findings:
        tally.add(f)
    return tally.summary(diff, fail_on, run)


# Logs events: the labels people read, and the key spellings the logs side may use.
EVENT_FIELDS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("event_name", "event", ("event_name", "eventName", "name")),
    ("time", "when", ("time", "event_time", "eventTime")),
    ("principal", "who", ("principal", "principal_arn", "user", "userIdentity")),
    ("source_ip", "from", ("sourceIp", "source_ip", "sourceIPAddress", "source_ip_address", "ip")),
    ("region", "region", ("region", "aws_region", "awsRegion")),
    ("event_id", "event id", ("event_id", "eventID", "eventId", "id")),
    ("error_code", "error", ("error_code", "errorCode")),
)


def event_fields(event: dict[str, Any] | None) -> list[tuple[str, Any]]:
    """(label, value) pairs of a logs event: the well-known fields first, then the rest."""
    if not event:
        return []
    out: list[tuple[str, Any]] = []
    used: set[str] = set()
    for _key, label, aliases in EVENT_FIELDS:
        for a in aliases:
            if a in event and a not in used:
                used.add(a)
                if event[a] not in (None, ""):
                    out.append((label, event[a]))
                break
    out += [(k, v) for k, v in event.items() if k not in used and v not in (None, "")]
    return out


def event_value(event: dict[str, Any] | None, key: str) -> Any:
    """A well-known event field (EVENT_FIELDS key) under any of its spellings, or None."""
    for k, _label, aliases in EVENT_FIELDS:
        if k == key:
            return next((event[a] for a in aliases if event and event.get(a)), None)
    raise KeyError(key)
