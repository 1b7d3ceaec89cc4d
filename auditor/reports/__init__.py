"""The report writers of dr-audit: every format from one findings list (docs/reports.md).

    write_reports(findings, run, out_dir, formats, baseline=None, history=None,
                  account_names=None) -> {format: path}
    outcome(findings, run) -> summary             # what the reports say: counts, exit code
    load_report(path) -> (run, findings)          # a previous report.json, for --baseline
    diff(baseline, current) -> dict               # new / resolved / still-failing gaps

Findings are merged first (drguard.findings.merge): one per (control, resource, account,
region), so every count is of distinct gaps and no two findings share an id.

`run` is the caller's metadata (command, tool_version, started, finished, accounts, regions,
endpoint_url, skipped, sources, optionally fail_on...); unknown keys are kept and shown as-is.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from drguard.errors import ConfigError
from drguard.findings import Finding, merge
from drguard.redact import known, redact

from ..history_store import HistoryStore, open_store
from . import applications as applications_mod
from . import history as history_mod
from . import json_report
from ._common import (
    build_summary,
    dumps,
    is_plain_json,
    jsonable,
    name_accounts,
    redacted_run,
    sorted_findings,
    with_remedy,
)
from .diff import diff
from .json_report import load_report, report_schema

if TYPE_CHECKING:
    from .spool import Spool

# The other writers (html, markdown, sarif, ...) are imported by _render when their format is
# asked for: jinja2 only when HTML or Markdown is written.

log = logging.getLogger(__name__)
_WRITE_SLICE = 1 << 20  # characters encoded and written at a time

FORMATS: tuple[str, ...] = ("json", "html", "md", "sarif", "junit", "ocsf", "asff")
FILENAMES: dict[str, str] = {"json": "report.json", "html": "report.html", "md": "report.md",
                             "sarif": "report.sarif", "junit": "report.junit.xml",
                             "ocsf": "report.ocsf.json", "asff": "report.asff.json"}

# Formats written in pieces, the findings one at a time (auditor.reports.spool), when
# they are all that is asked: no other writer needs every finding at once.
STREAMED = frozenset({"json"})

__all__ = ["FILENAMES", "FORMATS", "STREAMED", "Written", "diff", "load_report", "outcome",
           "render_reports", "report_schema", "write_reports"]


class Written(dict[str, Path]):
    """{format: path} of the reports written, and, when report.json was written in pieces,
    its `summary` (outcome's) and `critical` gaps (words.critical_gaps's), so the closing
    summary needs no second pass over the findings."""

    summary: dict[str, Any] | None = None
    critical: Sequence[str] | None = None


def _prepare(findings: list[Finding], run: dict[str, Any],
             account_names: dict[str, str] | None = None) -> tuple[dict[str, Any], list[Finding]]:
    """Run metadata as JSON (with account names) and the merged, sorted findings, every
    secret the readers met redacted (the one redaction step before any output)."""
    secrets = known()
    redact(findings, secrets)
    run_meta = redacted_run(run, secrets)
    name_accounts(run_meta, account_names)
    return run_meta, sorted_findings(with_remedy(f) for f in merge(findings))


def outcome(findings: list[Finding], run: dict[str, Any]) -> dict[str, Any]:
    """The summary every report carries (distinct gaps, incomplete, exit_code when the run
    names `fail_on`): what a command prints and exits with."""
    secrets = known()
    redact(findings, secrets)
    run_meta = redacted_run(run, secrets)
    # the counts need the merged findings only: not their order nor their full remediation
    # (what was not read: counted from `run` itself, see redacted_run)
    return build_summary(merge(findings), fail_on=run_meta.get("fail_on"), run=run)


def render_reports(findings: list[Finding], run: dict[str, Any], formats: list[str],
                   baseline: Path | None = None, trend: list[dict[str, Any]] | None = None,
                   account_names: dict[str, str] | None = None) -> dict[str, str]:
    """The text of each requested format (what write_reports writes), keyed by format.

    `trend`: summaries of earlier runs (auditor.reports.history), oldest first."""
    return _render(findings, run, formats, baseline, trend, account_names)[0]


def _render(findings: list[Finding], run: dict[str, Any], formats: list[str],
            baseline: Path | None, trend: list[dict[str, Any]] | None,
            account_names: dict[str, str] | None) -> tuple[dict[str, str], dict[str, Any]]:
    unknown = [f for f in formats if f not in FILENAMES]
    if unknown:
        raise ValueError(f"unknown report format(s): {', '.join(unknown)}; "
                         f"choose from {', '.join(FORMATS)}")
    run_meta, ordered = _prepare(findings, run, account_names)
    changes: dict[str, Any] | None = None
    if baseline is not None:
        base_run, base_findings = load_report(Path(baseline))
        changes = {"baseline": {"path": str(baseline), "run": base_run},
                   **diff(merge(base_findings), ordered)}
    summary = build_summary(ordered, changes, fail_on=run_meta.get("fail_on"),
                            run=run)  # (not read: counted from `run`, see redacted_run)
    # One plain-JSON copy of everything so every writer sees the same data.
    doc = json_report.build(run_meta, summary, ordered)
    # The findings are usually plain JSON already (readers clean their evidence): then they
    # are used as they are; a round trip would copy every string of every finding.
    finding_docs = doc.pop("findings")
    doc = jsonable(doc)
    doc["findings"] = finding_docs if is_plain_json(finding_docs) else jsonable(finding_docs)
    objectives: dict[str, Any] = run_meta["objectives"] \
        if isinstance(run_meta.get("objectives"), dict) else {}
    doc["applications"] = applications_mod.applications(
        doc["findings"], objectives.get("tiers"), objectives.get("applications"))
    doc["frameworks"] = applications_mod.framework_rows(doc["findings"])
    # the other writers read Finding objects of the plain copy (not needed for json alone)
    plain = [Finding.from_dict(d) for d in doc["findings"]] \
        if any(f != "json" for f in formats) else []
    points = [*(trend or []), history_mod.entry(doc["run"], doc["summary"])]
    out: dict[str, str] = {}
    for fmt in dict.fromkeys(formats):
        if fmt == "json":
            out[fmt] = json_report.render(doc)
        elif fmt == "html":
            from . import html

            out[fmt] = html.render(doc["run"], doc["summary"], plain, points,
                                   doc["applications"], doc["frameworks"])
        elif fmt == "md":
            from . import markdown, rpo

            out[fmt] = markdown.render(doc["run"], doc["summary"], plain,
                                       rpo.markdown_table(plain), doc["applications"],
                                       doc["frameworks"])
        elif fmt == "sarif":
            from . import sarif

            out[fmt] = dumps(sarif.build(doc["run"], doc["summary"], plain)) + "\n"
        elif fmt == "ocsf":
            from . import ocsf

            out[fmt] = ocsf.render(doc["run"], plain)
        elif fmt == "asff":
            from . import asff

            out[fmt] = asff.render(doc["run"], plain)
        elif fmt == "junit":
            from . import junit

            out[fmt] = junit.render(doc["run"], doc["summary"], plain)
    return out, points[-1]


def write_reports(findings: list[Finding] | Spool, run: dict[str, Any], out_dir: Path,
                  formats: list[str], baseline: Path | None = None,
                  history: Path | str | HistoryStore | None = None,
                  account_names: dict[str, str] | None = None,
                  plain: bool = False) -> Written:
    """Write the requested report files into `out_dir` (created); returns {format: path}.

    `baseline` is a previous report.json: its diff goes into every format; a bad file raises
    drguard.errors.ConfigError naming it, before anything is written. `history` is a folder
    (or s3://BUCKET/PREFIX, or an open auditor.history_store) of run summaries: earlier ones
    make the HTML trend, and this run's is added to it; a history that cannot be read or
    added to is logged, and the reports are written all the same.
    `account_names` ({id: name}) adds to the names the run already knows (Organizations).
    `plain`: the caller guarantees every finding holds plain JSON data only (str keys; str,
    finite float, int, bool, None, list, dict): report.json is then encoded by msgspec.
    When only JSON is asked, without a baseline, report.json is written in pieces
    (auditor.reports.spool); `findings` may then be a Spool the caller filled as it judged.
    """
    store = open_store(history) if history is not None else None
    trend = None
    if store is not None:
        try:
            trend = history_mod.load(store)
        except ConfigError as e:  # a history out of reach costs the trend, not the reports
            log.warning("%s; the report shows no trend", e)
    from .spool import Spool  # (tempfile and the rest: only when a report is written)

    out = Path(out_dir)
    paths = Written()
    if isinstance(findings, Spool) or (formats and set(formats) <= STREAMED
                                        and baseline is None):
        if isinstance(findings, Spool):
            spool = findings
            if not set(formats) <= STREAMED or baseline is not None:
                raise ValueError("spooled findings make report.json only, without a baseline")
        else:
            spool = Spool(plain, out)
            for finding in findings:
                spool.add(finding)
        out.mkdir(parents=True, exist_ok=True)
        path = out / FILENAMES["json"]
        doc_run, paths.summary, paths.critical = spool.write(path, run, account_names)
        entry = history_mod.entry(doc_run, paths.summary)
        paths["json"] = path
        log.info("wrote %s", path)
    else:
        texts, entry = _render(findings, run, formats, baseline, trend, account_names)
        out.mkdir(parents=True, exist_ok=True)
        for fmt, text in texts.items():
            path = out / FILENAMES[fmt]
            with path.open("w", encoding="utf-8", errors="replace") as f:
                # in slices: encoding a large report at once would hold a second copy of it
                for i in range(0, len(text), _WRITE_SLICE):
                    f.write(text[i:i + _WRITE_SLICE])
            paths[fmt] = path
            log.info("wrote %s", path)
    if store is not None:
        try:
            history_mod.record(store, entry)
        except (ConfigError, OSError) as e:  # the reports are written: this run is not kept
            log.error("--history %s: this run was not added (%s)", store.where,
                      getattr(e, "strerror", None) or e)
    return paths
