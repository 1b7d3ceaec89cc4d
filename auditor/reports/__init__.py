"""The report writers of dr-audit: every format from one findings list (outputs.md, "Reports").

    write_reports(findings, run, out_dir, formats, baseline=None) -> {format: path}
    load_report(path) -> (run, findings)          # a previous report.json, for --baseline
    diff(baseline, current) -> dict               # new / resolved / still-failing gaps

`run` is the caller's metadata (command, tool_version, started, finished, accounts, regions,
endpoint_url, skipped, sources, optionally fail_on...); unknown keys are kept and shown as-is.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from drguard.findings import Finding

from . import asff, html, json_report, junit, markdown, ocsf, sarif
from ._common import build_summary, dumps, jsonable, normalize_run, sorted_findings
from .diff import diff
from .json_report import load_report, report_schema

log = logging.getLogger(__name__)

FORMATS: tuple[str, ...] = ("json", "html", "md", "sarif", "junit", "ocsf", "asff")
FILENAMES: dict[str, str] = {"json": "report.json", "html": "report.html", "md": "report.md",
                             "sarif": "report.sarif", "junit": "report.junit.xml",
                             "ocsf": "report.ocsf.json", "asff": "report.asff.json"}

__all__ = ["FILENAMES", "FORMATS", "diff", "load_report", "render_reports", "report_schema",
           "write_reports"]


def render_reports(findings: list[Finding], run: dict[str, Any], formats: list[str],
                   baseline: Path | None = None) -> dict[str, str]:
    """The text of each requested format (what write_reports writes), keyed by format."""
    unknown = [f for f in formats if f not in FILENAMES]
    if unknown:
        raise ValueError(f"unknown report format(s): {', '.join(unknown)}; "
                         f"choose from {', '.join(FORMATS)}")
    run_meta = normalize_run(run)
    ordered = sorted_findings(findings)
    changes: dict[str, Any] | None = None
    if baseline is not None:
        base_run, base_findings = load_report(Path(baseline))
        changes = {"baseline": {"path": str(baseline), "run": base_run},
                   **diff(base_findings, ordered)}
    summary = build_summary(ordered, changes, fail_on=run_meta.get("fail_on"))
    # One plain-JSON copy of everything so every writer sees the same data.
    doc = json_report.build(run_meta, summary, ordered)
    doc = jsonable(doc)
    plain = [Finding.from_dict(d) for d in doc["findings"]]
    out: dict[str, str] = {}
    for fmt in dict.fromkeys(formats):
        if fmt == "json":
            out[fmt] = json_report.render(doc)
        elif fmt == "html":
            out[fmt] = html.render(doc["run"], doc["summary"], plain)
        elif fmt == "md":
            out[fmt] = markdown.render(doc["run"], doc["summary"], plain)
        elif fmt == "sarif":
            out[fmt] = dumps(sarif.build(doc["run"], doc["summary"], plain)) + "\n"
        elif fmt == "ocsf":
            out[fmt] = ocsf.render(doc["run"], plain)
        elif fmt == "asff":
            out[fmt] = asff.render(doc["run"], plain)
        elif fmt == "junit":
            out[fmt] = junit.render(doc["run"], plain)
    return out


def write_reports(findings: list[Finding], run: dict[str, Any], out_dir: Path,
                  formats: list[str], baseline: Path | None = None) -> dict[str, Path]:
    """Write the requested report files into `out_dir` (created); returns {format: path}.

    `baseline` is a previous report.json: its diff goes into every format; a bad file raises
    drguard.errors.ConfigError naming it, before anything is written.
    """
    texts = render_reports(findings, run, formats, baseline)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for fmt, text in texts.items():
        path = out / FILENAMES[fmt]
        path.write_text(text, encoding="utf-8", errors="replace")
        paths[fmt] = path
        log.info("wrote %s", path)
    return paths
