"""The report writers (auditor.reports): every format from one findings list."""

from __future__ import annotations

import hashlib
import json
import random
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from markupsafe import escape

from auditor.reports import FILENAMES, FORMATS, diff, load_report, report_schema, write_reports
from auditor.reports.markdown import code, md
from drguard.control import remedy_text
from drguard.errors import ConfigError
from drguard.findings import Finding, exit_code, finding_id, merge
from drguard.registry import BY_ID, CONTROLS

DATA = Path(__file__).parent / "data"
XSS = "<script>alert(1)</script>"
XSS_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
QUOTED = 'db-"quoted" \'single\' onmouseover="alert(2)"'
RUN = {"command": "scan", "tool_version": "9.9.9", "started": "2025-06-01T02:00:00Z",
       "finished": "2025-06-01T02:03:10Z", "accounts": ["111111111111", "222222222222"],
       "regions": ["us-east-1", "us-west-2"], "endpoint_url": "http://127.0.0.1:5000",
       "skipped": {"trail-files": 2}, "sources": ["live", "logs"], "nightly_id": 42}


def make_findings() -> list[Finding]:
    """Several controls, statuses and sources, with hostile and unicode strings."""
    acct, other = "111111111111", "222222222222"
    return [
        Finding("rds-backup-retention", "fail", "live",
                f"arn:aws:rds:us-east-1:{acct}:db:{XSS}",
                "backupRetentionPeriod is 1 | below 7\nFix: set it to 7 or more.",
                account=acct, region="us-east-1",
                evidence={"BackupRetentionPeriod": 1, "tags": {"owner": XSS, "q": QUOTED}}),
        Finding("backup-bucket-versioning", "fail", "live", "arn:aws:s3:::backup-ünïcødé-桶",
                "versioning is Suspended; enable it", account=acct, region="us-east-1",
                evidence={"Status": "Suspended", "scope": "name matches (?i)backup"}),
        Finding("backup-bucket-object-lock", "fail", "state",
                "urn:pulumi:prod::app::aws:s3/bucketV2:BucketV2::backups",
                "Object Lock has no default retention",
                evidence={"path": "infra/__main__.py", "line": 12}),
        Finding("rds-deletion-protection", "waived", "live",
                f"arn:aws:rds:us-west-2:{other}:db:scratch-1", "deletionProtection is false",
                account=other, region="us-west-2",
                waiver={"control": "rds-deletion-protection", "reason": "scratch | rebuilt",
                        "owner": "platform-team", "expires": "2099-03-31", "expired": False}),
        Finding("rds-deletion-protection", "fail", "live",
                f"arn:aws:rds:us-west-2:{other}:db:scratch-2",
                "deletionProtection is false (waiver by platform-team expired on 2024-01-01)",
                account=other, region="us-west-2",
                waiver={"control": "rds-deletion-protection", "reason": "old exception",
                        "owner": "platform-team", "expires": "2024-01-01", "expired": True}),
        Finding("cloudtrail-enabled", "attempt", "logs",
                f"arn:aws:cloudtrail:us-east-1:{acct}:trail/main", "StopLogging denied",
                account=acct, region="us-east-1",
                event={"time": "2025-05-31T23:01:02Z",
                       "principal": f"arn:aws:iam::{acct}:user/mallory", "source_ip": "203.0.113.9",
                       "event_name": "StopLogging",
                       "event_id": "ev-123", "error_code": "AccessDenied"}),
        Finding("cloudtrail-enabled", "fail", "logs",
                f"arn:aws:cloudtrail:us-east-1:{acct}:trail/main", "StopLogging by alice",
                account=acct, region="us-east-1",
                event={"time": "2025-05-31T22:00:00Z",
                       "principal": f"arn:aws:iam::{acct}:user/alice", "source_ip": "198.51.100.7",
                       "event_name": "StopLogging",
                       "event_id": "ev-122"}),
        Finding("cloudtrail-enabled", "pass", "live",
                f"arn:aws:cloudtrail:us-east-1:{acct}:trail/main", "trail is logging",
                account=acct, region="us-east-1", evidence={"IsLogging": True}),
        Finding("iam-access-key-rotation", "error", "live", f"arn:aws:iam::{other}:user/ci",
                "AccessDenied on iam:ListAccessKeys; grant it to the audit role",
                account=other, evidence={"error": "AccessDenied"}),
        Finding("ebs-snapshot-coverage", "pass", "live",
                f"arn:aws:ec2:us-east-1:{acct}:volume/vol-1", "covered by DLM",
                account=acct, region="us-east-1"),
    ]


@pytest.fixture
def findings() -> list[Finding]:
    return make_findings()


@pytest.fixture
def reports(tmp_path: Path, findings: list[Finding]) -> dict[str, Path]:
    return write_reports(findings, RUN, tmp_path / "out" / "nested", list(FORMATS))


def sarif_validator() -> jsonschema.protocols.Validator:
    schema = json.loads((DATA / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
    return jsonschema.validators.validator_for(schema)(schema)


def report_validator() -> jsonschema.protocols.Validator:
    schema = report_schema()
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


class TagCollector(HTMLParser):
    """Start tags and their attributes, plus the text inside <script> blocks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.script_text: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.script_text.append(data)


def parse_html(text: str) -> TagCollector:
    p = TagCollector()
    p.feed(text)
    p.close()
    return p


# ---- write_reports ------------------------------------------------------------------------


def test_write_reports_writes_each_requested_format(tmp_path: Path, findings: list[Finding]):
    out = tmp_path / "a" / "b"
    paths = write_reports(findings, RUN, out, ["md", "junit"])
    assert paths == {"md": out / "report.md", "junit": out / "report.junit.xml"}
    assert sorted(p.name for p in out.iterdir()) == ["report.junit.xml", "report.md"]
    everything = write_reports(findings, RUN, out, list(FORMATS))
    assert {p.name for p in everything.values()} == {FILENAMES[f] for f in FORMATS} >= {
        "report.json", "report.html", "report.md", "report.sarif", "report.junit.xml"}


def test_unknown_format_is_rejected(tmp_path: Path, findings: list[Finding]):
    with pytest.raises(ValueError, match="pdf"):
        write_reports(findings, RUN, tmp_path, ["json", "pdf"])


def test_empty_findings_render_every_format(tmp_path: Path):
    paths = write_reports([], {}, tmp_path, list(FORMATS))
    assert report_validator().is_valid(json.loads(paths["json"].read_text()))
    assert "No gaps" in paths["md"].read_text()
    assert list(sarif_validator().iter_errors(json.loads(paths["sarif"].read_text()))) == []
    assert ET.parse(paths["junit"]).getroot().get("tests") == "0"
    assert "No findings." in paths["html"].read_text()


# ---- JSON ---------------------------------------------------------------------------------


def test_json_validates_and_round_trips(reports: dict[str, Path], findings: list[Finding]):
    doc = json.loads(reports["json"].read_text(encoding="utf-8"))
    errors = [e.message for e in report_validator().iter_errors(doc)]
    assert errors == []
    assert doc["schema"] == "dr-audit/1"
    assert doc["run"]["nightly_id"] == 42 and doc["run"]["tool_version"] == "9.9.9"
    run, loaded = load_report(reports["json"])
    assert run == doc["run"]
    def canon(fs: list[Finding]) -> list[str]:
        return sorted(json.dumps(f.to_dict(), sort_keys=True) for f in fs)

    assert canon(loaded) == canon(merge(findings))
    assert all(d["id"] == finding_id(d["control"], d["resource"], d["account"], d["region"])
               for d in doc["findings"] if d["status"] != "attempt")
    (attempt,) = [d for d in doc["findings"] if d["status"] == "attempt"]
    assert attempt["id"] == finding_id(attempt["control"], attempt["resource"],
                                       attempt["account"], attempt["region"], "ev-123")


def test_json_findings_sorted_and_deterministic(tmp_path: Path, findings: list[Finding]):
    a = write_reports(findings, RUN, tmp_path / "a", ["json"])["json"].read_text()
    shuffled = findings[:]
    random.Random(7).shuffle(shuffled)
    b = write_reports(shuffled, RUN, tmp_path / "b", ["json"])["json"].read_text()
    assert a == b
    rows = json.loads(a)["findings"]
    rank = {"critical": 3, "high": 2, "medium": 1, "low": 0}
    keys = [(-rank[r["severity"]], r["control"], r["resource"]) for r in rows]
    assert keys == sorted(keys)
    assert rows[0]["severity"] == "critical"


def test_json_summary_counts(reports: dict[str, Path], findings: list[Finding]):
    s = json.loads(reports["json"].read_text())["summary"]
    # the trail's live pass and logs change are one finding (one per id); the refused
    # StopLogging is an attempt of its own
    assert s["total"] == len(findings) - 1 == len(merge(findings))
    assert s["by_status"] == {"fail": 4, "pass": 2, "waived": 1, "error": 1, "attempt": 1}
    assert s["gaps"] == 4 and s["errors"] == 1 and s["attempts"] == 1 and s["waived"] == 1
    assert s["expired_waivers"] == 1
    # backup-bucket-versioning + object-lock are critical; 2 high gaps
    assert s["gaps_at_or_above"] == {"critical": 2, "high": 4, "medium": 4, "low": 4}
    # RUN skipped 2 trail files: incomplete, so 3 where no gap reaches the threshold
    assert s["incomplete"] is True and s["not_read"] == {"trail-files": 2}
    assert s["exit_codes"] == {sev: exit_code(merge(findings), sev, incomplete=True)
                               for sev in ("critical", "high", "medium", "low")}
    assert s["by_control"]["rds-deletion-protection"]["waived"] == 1
    assert s["by_account"]["-"]["fail"] == 1  # the state finding has no account
    # the logs change was merged into the live finding; the refused call stays an attempt
    assert s["by_source"]["logs"] == {"fail": 0, "pass": 0, "waived": 0, "error": 0,
                                      "attempt": 1}
    assert "diff" not in s and "exit_code" not in s


def test_json_exit_code_when_fail_on_given(tmp_path: Path):
    only_error = [Finding("rds-deletion-protection", "error", "live", "arn:x", "denied")]
    doc = json.loads(write_reports(only_error, {"fail_on": "high"}, tmp_path, ["json"])["json"]
                     .read_text())
    assert doc["summary"]["exit_code"] == 3 and doc["summary"]["fail_on"] == "high"


def test_json_handles_non_json_values(tmp_path: Path):
    import datetime as dt

    f = Finding("rds-backup-retention", "fail", "live", "arn:x", "m",
                evidence={"when": dt.datetime(2025, 1, 2, 3, 4, 5), "set": {"b", "a"},
                          "path": Path("p")})
    run = {"started": dt.datetime(2025, 1, 1), "out": Path("/tmp/o")}
    paths = write_reports([f], run, tmp_path, list(FORMATS))
    doc = json.loads(paths["json"].read_text())
    assert doc["findings"][0]["evidence"] == {"when": "2025-01-02T03:04:05", "set": ["a", "b"],
                                              "path": "p"}
    assert doc["run"]["started"] == "2025-01-01T00:00:00"
    assert report_validator().is_valid(doc)


# ---- load_report --------------------------------------------------------------------------


def _valid_doc(tmp_path: Path) -> dict[str, Any]:
    p = write_reports(make_findings(), RUN, tmp_path / "v", ["json"])["json"]
    return json.loads(p.read_text())


@pytest.mark.parametrize("case", ["missing", "truncated", "not-json", "array", "no-schema",
                                  "wrong-schema", "no-findings", "bad-status", "bad-finding"])
def test_load_report_rejects_bad_files(tmp_path: Path, case: str):
    path = tmp_path / f"prev-{case}.json"
    good = _valid_doc(tmp_path)
    text = json.dumps(good)
    if case == "truncated":
        path.write_text(text[: len(text) // 2])
    elif case == "not-json":
        path.write_text("<html>not a report</html>")
    elif case == "array":
        path.write_text("[]")
    elif case == "no-schema":
        path.write_text(json.dumps({"findings": []}))
    elif case == "wrong-schema":
        path.write_text(json.dumps({**good, "schema": "dr-audit/2"}))
    elif case == "no-findings":
        path.write_text(json.dumps({k: v for k, v in good.items() if k != "findings"}))
    elif case == "bad-status":
        good["findings"][0]["status"] = "broken"
        path.write_text(json.dumps(good))
    elif case == "bad-finding":
        del good["findings"][2]["control"]
        path.write_text(json.dumps(good))
    with pytest.raises(ConfigError) as info:
        load_report(path)
    msg = str(info.value)
    assert str(path) in msg and "\n" not in msg
    expected = {"missing": "not found", "truncated": "not valid JSON", "not-json": "not valid JSON",
                "array": "not a dr-audit report", "no-schema": "not a dr-audit report",
                "wrong-schema": "dr-audit/2", "no-findings": "findings",
                "bad-status": "findings[0].status", "bad-finding": "control"}[case]
    assert expected in msg


def test_bad_baseline_raises_before_writing(tmp_path: Path, findings: list[Finding]):
    bad = tmp_path / "prev.json"
    bad.write_text("{")
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match="prev.json"):
        write_reports(findings, RUN, out, list(FORMATS), baseline=bad)
    assert not out.exists()


# ---- diff ---------------------------------------------------------------------------------


def _f(control: str, resource: str, status: str, source: str = "live") -> Finding:
    return Finding(control, status, source, resource, f"{control} on {resource}")  # type: ignore[arg-type]


def test_diff_new_resolved_still_failing():
    base = [_f("rds-backup-retention", "db1", "fail"), _f("rds-backup-retention", "db2", "fail"),
            _f("backup-bucket-versioning", "b1", "fail"),
            _f("backup-bucket-versioning", "b2", "pass"),
            _f("rds-deletion-protection", "db1", "fail"), _f("cloudtrail-enabled", "t", "fail")]
    cur = [_f("rds-backup-retention", "db1", "fail"),           # still failing
           _f("rds-backup-retention", "db2", "pass"),           # resolved (pass)
           _f("backup-bucket-versioning", "b2", "fail"),        # new (was pass)
           _f("backup-bucket-versioning", "b3", "fail"),        # new (absent before)
           _f("rds-deletion-protection", "db1", "waived"),      # resolved (waived)
           _f("cloudtrail-enabled", "t", "fail", "logs"),       # new: other source, other key
           _f("ebs-snapshot-coverage", "v", "error")]           # not a gap
    d = diff(base, cur)
    assert d["counts"] == {"new": 2, "resolved": 3, "still_failing": 2}
    assert [(r["control"], r["resource"], r["source"]) for r in d["new"]] == [
        ("backup-bucket-versioning", "b2", "live"), ("backup-bucket-versioning", "b3", "live")]
    assert d["new_by_severity"] == {"critical": 2, "high": 0, "medium": 0, "low": 0}
    now = {(r["control"], r["resource"], r["source"]): r["now"] for r in d["resolved"]}
    assert now == {("rds-backup-retention", "db2", "live"): "pass",
                   ("backup-bucket-versioning", "b1", "live"): "absent",
                   ("rds-deletion-protection", "db1", "live"): "waived"}
    # keyed by the stable id: the same gap seen by another source is still the same gap
    assert [(r["control"], r["resource"]) for r in d["still_failing"]] == [
        ("cloudtrail-enabled", "t"), ("rds-backup-retention", "db1")]
    assert all(r["id"] == finding_id(r["control"], r["resource"], None, None)
               for r in d["new"] + d["resolved"] + d["still_failing"])


def test_diff_against_itself_is_empty(findings: list[Finding]):
    d = diff(merge(findings), merge(findings))
    assert d["counts"] == {"new": 0, "resolved": 0, "still_failing": 4}


def test_baseline_diff_in_json(tmp_path: Path, findings: list[Finding]):
    prev = write_reports(findings[:3] + [_f("dynamodb-recovery", "arn:t", "fail")], RUN,
                         tmp_path / "prev", ["json"])["json"]
    doc = json.loads(write_reports(findings, RUN, tmp_path / "now", ["json"],
                                   baseline=prev)["json"].read_text())
    assert report_validator().is_valid(doc)
    d = doc["summary"]["diff"]
    assert d["baseline"]["path"] == str(prev) and d["baseline"]["run"]["command"] == "scan"
    assert d["counts"] == {"new": 1, "resolved": 1, "still_failing": 3}
    assert d["resolved"][0]["resource"] == "arn:t" and d["resolved"][0]["now"] == "absent"


# ---- HTML ---------------------------------------------------------------------------------


def test_html_escapes_hostile_data(reports: dict[str, Path], findings: list[Finding]):
    text = reports["html"].read_text(encoding="utf-8")
    assert "<script>alert(1)" not in text
    assert XSS_ESCAPED in text
    assert 'onmouseover="alert(2)"' not in text
    page = parse_html(text)
    scripts = [t for t, _ in page.tags if t == "script"]
    assert scripts == ["script"]  # only our own inline script
    assert "alert(" not in "".join(page.script_text)
    assert not any("onmouseover" in attrs for _, attrs in page.tags)
    # attribute values survive intact (quoting not broken): the parser gives them back
    resources = {attrs.get("data-resource") for t, attrs in page.tags if t == "tbody"}
    assert {f.resource for f in findings} <= resources
    # the hostile evidence tag value appears escaped inside the evidence <pre>
    assert str(escape(json.dumps(XSS))) in text


def test_html_is_self_contained(reports: dict[str, Path]):
    page = parse_html(reports["html"].read_text(encoding="utf-8"))
    for tag, attrs in page.tags:
        assert tag not in ("link", "iframe", "img"), tag
        assert "src" not in attrs, (tag, attrs)
        href = attrs.get("href") or ""
        assert not href.startswith(("http:", "https:", "//")), href
    assert ("style", {}) in page.tags and ("script", {}) in page.tags


def test_html_content(reports: dict[str, Path], findings: list[Finding]):
    text = reports["html"].read_text(encoding="utf-8")
    page = parse_html(text)
    ids = {attrs.get("id") for _, attrs in page.tags}
    assert {"summary", "by-control", "by-account", "by-severity", "findings", "filters",
            "verdict", "incomplete", "fix-first", "run"} <= ids
    assert "changes" not in ids  # no baseline given
    # top down: verdict, fix first, summary, findings, then the run details
    order = [text.index(f'id="{i}"') for i in ("verdict", "incomplete", "fix-first", "summary",
                                                "findings-section", "run")]
    assert order == sorted(order)
    assert "Gaps found: 4 gaps, 2 critical; run incomplete." in text
    assert "Run incomplete: 2 trail-files not read; 1 check could not be made." in text
    # run metadata: readable (no microseconds, no raw key names), collapsed at the bottom
    run_part = text[text.index('<details id="run"'):]
    for v in ("dr-audit scan", "9.9.9", "2025-06-01 02:00:00 UTC", "3 min 10 s",
              "111111111111", "us-west-2", "Nightly id", "42"):
        assert v in run_part, v
    assert "2025-06-01T02:00:00Z" not in run_part and "nightly_id" not in run_part
    assert '<details id="run" class="run">' in text  # collapsed (no `open`)
    # control titles; with no remediation on the finding, the control's general fix, once
    for cid in {f.control for f in findings}:
        assert BY_ID[cid].title in text
    for f in merge(findings):
        if f.status in ("fail", "error"):
            assert str(escape(BY_ID[f.control].remediation)) in text
    # logs event, waiver, expired waiver, evidence collapsed
    for v in ("mallory", "203.0.113.9", "ev-123", "StopLogging", "platform-team",
              "scratch | rebuilt", "2099-03-31", "Expired waiver (no longer applies)",
              "<details class=\"evidence\"><summary>Evidence</summary>"):
        assert v in text, v
    # one tbody per finding, with filter data attributes
    bodies = [a for t, a in page.tags if t == "tbody" and "data-status" in a]
    attempts = [a for t, a in page.tags if t == "li" and a.get("data-status") == "attempt"]
    assert len(bodies) == sum(f.status != "attempt" for f in merge(findings))
    assert len(attempts) == sum(f.status == "attempt" for f in merge(findings)) == 1
    assert {b["id"] for b in bodies + attempts} == {f.id for f in merge(findings)}  # anchors
    assert {b["data-status"] for b in bodies + attempts} == {"fail", "pass", "waived", "error",
                                                        "attempt"}
    assert all(b["data-search"] == b["data-search"].lower() for b in bodies)
    # filter options are the distinct values seen
    options = [a.get("value") for t, a in page.tags if t == "option"]
    assert "222222222222" in options and "iam-access-key-rotation" in options


def test_html_summary_tables_count(reports: dict[str, Path]):
    text = reports["html"].read_text(encoding="utf-8")
    section = text[text.index('id="by-severity"'):]
    section = section[: section.index("</table>")]
    # critical: 2 gaps of 2 findings
    row = section[section.index("sev-critical"):]
    row = row[: row.index("</tr>")]
    assert '<span class="n st-fail">2</span>' in row and ">2</td>" in row


def test_html_baseline_section(tmp_path: Path, findings: list[Finding]):
    prev = write_reports([_f("dynamodb-recovery", "arn:aws:dynamodb:t/old", "fail")] + findings[1:],
                         RUN, tmp_path / "prev", ["json"])["json"]
    text = write_reports(findings, RUN, tmp_path / "now", ["html"], baseline=prev)["html"] \
        .read_text(encoding="utf-8")
    page = parse_html(text)
    ids = {attrs.get("id") for _, attrs in page.tags}
    assert {"changes", "diff-new", "diff-resolved"} <= ids
    changes = text[text.index('id="changes"'):text.index('id="findings-section"')]
    assert "arn:aws:dynamodb:t/old" in changes and "not reported this run" in changes
    assert XSS_ESCAPED in changes and "<script>alert" not in changes  # the new gap
    # the new gap is marked where it is listed (Fix first and the findings), nowhere else
    new_id = next(f.id for f in findings if f.resource.endswith(XSS))
    body = text[text.index(f'<tbody id="{new_id}"'):]
    assert 'class="badge new"' in body[:body.index("</tbody>")]
    assert text.count('class="badge new"') == 2


def test_html_works_without_js(reports: dict[str, Path]):
    text = reports["html"].read_text(encoding="utf-8")
    assert ".filters { display: none;" in text and ".js .filters { display: flex; }" in text
    assert " hidden" not in text.split("<script>")[0]  # nothing hidden server-side
    assert "<details open" not in text


# ---- SARIF --------------------------------------------------------------------------------


def test_sarif_valid_against_official_schema(reports: dict[str, Path]):
    log = json.loads(reports["sarif"].read_text(encoding="utf-8"))
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in sarif_validator().iter_errors(log)]
    assert errors == []


def test_sarif_schema_is_the_official_one():
    schema = json.loads((DATA / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
    assert schema["title"] == "Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema"
    assert "result" in schema["definitions"] and "suppression" in schema["definitions"]
    # and it does reject an invalid log (so the validity test can fail)
    assert not sarif_validator().is_valid({"version": "2.1.0", "runs": [{"results": []}]})
    assert not sarif_validator().is_valid({"version": "2.0.0", "runs": []})


def test_sarif_rules_and_results(reports: dict[str, Path], findings: list[Finding]):
    run = json.loads(reports["sarif"].read_text(encoding="utf-8"))["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "dr-audit" and driver["version"] == "9.9.9"
    rules = driver["rules"]
    assert [r["id"] for r in rules] == [c.id for c in CONTROLS]  # one per registry control
    rule = rules[[r["id"] for r in rules].index("backup-bucket-versioning")]
    assert rule["shortDescription"]["text"] == BY_ID["backup-bucket-versioning"].title
    assert rule["help"]["text"] == remedy_text(BY_ID["backup-bucket-versioning"].remedy())
    assert rule["properties"]["security-severity"] == "9.5"
    assert rule["properties"]["severity"] == "critical"
    assert "aws-config/S3_BUCKET_VERSIONING_ENABLED" in rule["properties"]["tags"]
    scores = {r["id"]: r["properties"]["security-severity"] for r in rules}
    assert scores["iam-access-key-rotation"] == "5.5" and scores["rds-backup-retention"] == "8.0"
    results = run["results"]
    merged = merge(findings)
    assert len(results) == sum(1 for f in merged if f.status != "pass")
    for r in results:
        assert rules[r["ruleIndex"]]["id"] == r["ruleId"]
    by = {(r["ruleId"], r["properties"]["status"], r["properties"]["source"]): r for r in results}
    assert by[("backup-bucket-versioning", "fail", "live")]["level"] == "error"
    assert by[("rds-backup-retention", "fail", "live")]["level"] == "error"
    err = by[("iam-access-key-rotation", "error", "live")]
    assert err["kind"] == "open" and err["level"] == "none"
    waived = by[("rds-deletion-protection", "waived", "live")]
    assert waived["suppressions"] == [{"kind": "external", "status": "accepted",
                                       "justification": "scratch | rebuilt",
                                       "properties": {"owner": "platform-team",
                                                      "expires": "2099-03-31"}}]
    expired = by[("rds-deletion-protection", "fail", "live")]
    assert "suppressions" not in expired and expired["properties"]["waiver"]["expired"] is True
    loc = by[("rds-backup-retention", "fail", "live")]["locations"][0]
    assert loc["logicalLocations"][0]["fullyQualifiedName"] == findings[0].resource
    assert "physicalLocation" not in loc
    state = by[("backup-bucket-object-lock", "fail", "state")]["locations"][0]
    assert state["physicalLocation"] == {"artifactLocation": {"uri": "infra/__main__.py"},
                                         "region": {"startLine": 12}}
    prints = [r["partialFingerprints"]["drGuardFindingId/v1"] for r in results]
    assert by[("backup-bucket-versioning", "fail", "live")]["partialFingerprints"] == {
        "drGuardFindingId/v1": finding_id("backup-bucket-versioning",
                                          "arn:aws:s3:::backup-ünïcødé-桶", "111111111111",
                                          "us-east-1")}
    assert prints == [r["properties"]["id"] for r in results] and len(set(prints)) == len(prints)
    inv = run["invocations"][0]
    assert inv["executionSuccessful"] is False  # one check in error, two files not read
    assert inv["toolExecutionNotifications"][0]["message"]["text"].startswith("Run incomplete")
    assert inv["startTimeUtc"] == "2025-06-01T02:00:00Z"


def test_finding_id_is_stable_and_derived_from_the_gap_only():
    a = Finding("rds-backup-retention", "fail", "live", "arn:db", "m1", "1", "us-east-1")
    b = Finding("rds-backup-retention", "pass", "logs", "arn:db", "other", "1", "us-east-1",
                evidence={"x": 1})
    assert a.id == b.id == finding_id("rds-backup-retention", "arn:db", "1", "us-east-1")
    assert a.id == "drg-" + hashlib.sha256(
        b"rds-backup-retention\x1farn:db\x1f1\x1fus-east-1").hexdigest()[:20]
    others = {finding_id(*k) for k in (("rds-deletion-protection", "arn:db", "1", "us-east-1"),
                                       ("rds-backup-retention", "arn:db2", "1", "us-east-1"),
                                       ("rds-backup-retention", "arn:db", "2", "us-east-1"),
                                       ("rds-backup-retention", "arn:db", "1", "us-west-2"))}
    assert len(others) == 4 and a.id not in others
    assert Finding.from_dict(a.to_dict()).id == a.id


# ---- JUnit --------------------------------------------------------------------------------


def test_junit_structure_and_counts(reports: dict[str, Path], findings: list[Finding]):
    root = ET.parse(reports["junit"]).getroot()
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    # one suite per control with a fail/pass/waived/error finding, the refused calls on their
    # own (never under the control they would have broken), the incomplete-run suite
    assert sorted(s.get("name") for s in suites) == sorted(
        {f.control for f in findings if f.status != "attempt"}
        | {"dr-audit-run", "dr-audit-attempts"})
    total = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for s in suites:
        cases = s.findall("testcase")
        assert int(s.get("tests")) == len(cases)
        assert int(s.get("failures")) == sum(1 for c in cases if c.find("failure") is not None)
        assert int(s.get("errors")) == sum(1 for c in cases if c.find("error") is not None)
        assert int(s.get("skipped")) == sum(1 for c in cases if c.find("skipped") is not None)
        assert all(c.get("classname") == s.get("name") for c in cases)
        names = [c.get("name") for c in cases]
        assert len(set(names)) == len(names)
        for k in total:
            total[k] += int(s.get(k))
    # one case per merged finding, plus "run complete" in error (2 trail files not read)
    assert total == {"tests": len(merge(findings)) + 1, "failures": 4, "errors": 2,
                     "skipped": 1}
    assert {k: int(root.get(k)) for k in total} == total

    def case(control: str, f: Finding) -> ET.Element:
        s = next(x for x in suites if x.get("name") == control)
        return next(c for c in s.findall("testcase") if c.get("name") == f"{f.resource} [{f.id}]")

    fail = case("rds-backup-retention", findings[0]).find("failure")
    assert fail.get("type") == "high" and fail.get("message") == findings[0].message
    assert fail.text.count("Fix") == 1  # the message's own; the general fix is "How to fix"
    assert BY_ID["rds-backup-retention"].remediation in fail.text and XSS in fail.text
    skipped = case("rds-deletion-protection", findings[3]).find("skipped")
    assert skipped.get("message") == "waived: scratch | rebuilt (platform-team, until 2099-03-31)"
    # three findings on one trail are one case: the live pass, with both logs events in it
    passing = case("cloudtrail-enabled", findings[7])
    assert list(passing) == []
    err = case("iam-access-key-rotation", findings[8]).find("error")
    assert err is not None and "AccessDenied" in err.get("message")
    run_case = next(x for x in suites if x.get("name") == "dr-audit-run").find("testcase")
    assert "2 trail-files not read" in run_case.find("error").get("message")


def test_junit_remediation_once(tmp_path: Path):
    f = Finding("rds-deletion-protection", "fail", "live", "arn:aws:rds:us-east-1:1:db:x",
                "deletionProtection is false.", "111111111111", "us-east-1",
                remediation={"summary": "Turn on deletion protection for x.",
                             "pulumi": "aws.rds.Instance(\"x\", deletion_protection=True)",
                             "cli": "aws rds modify-db-instance --db-instance-identifier x "
                                    "--deletion-protection --apply-immediately"})
    root = ET.parse(write_reports([f], {}, tmp_path, ["junit"])["junit"]).getroot()
    text = root.find("testsuite/testcase/failure").text
    assert text.count("Fix:") == 1 and "Turn on deletion protection for x." in text
    assert "deletion_protection=True" in text and "--deletion-protection" in text
    assert BY_ID["rds-deletion-protection"].remediation not in text  # specific beats general


# ---- Markdown -----------------------------------------------------------------------------


def test_markdown(reports: dict[str, Path], findings: list[Finding]):
    text = reports["md"].read_text(encoding="utf-8")
    assert text.startswith("## DR Guard audit \u00b7 Gaps found: 4 gaps, 2 critical; "
                           "run incomplete\n")
    assert "**Run incomplete: 2 trail\\-files not read; 1 check could not be made.**" in text \
        or "**Run incomplete: 2 trail-files not read; 1 check could not be made.**" in text
    assert ("**4 fail** (2 critical, 2 high) · 2 pass · 1 waived · 1 error "
            "· 1 attempt") in text
    table = [ln for ln in text.splitlines() if ln.startswith("| ")]
    header = table[0]
    assert header == ("| severity | status | control | resource | account | region | "
                      "what is wrong | fix |")
    gap_rows = [ln for ln in table if ln.startswith(("| critical", "| high", "| medium",
                                                       "| low"))]
    assert len(gap_rows) == 5  # 4 fail + 1 error
    for row in gap_rows:
        # unescaped pipes only as cell separators
        assert row.replace("\\|", "").count("|") == 9, row
    assert "below 7 Fix: set it to 7 or more." in text  # newline folded, nothing cut
    assert "backupRetentionPeriod is 1 \\| below 7" in text
    assert "`us-east-1`" in text  # region column
    prose = re.sub(r"(`+)(.+?)\1", "", text)  # code spans show HTML as text
    assert "<script>" not in prose and "&lt;" not in text and "&gt;" not in text
    assert f"`{findings[0].resource}`" in text
    assert "](" not in text and "http" not in text  # link-free
    assert "1 waived; 1 waiver expired" in text
    assert "_2 pass not listed (see report.html)._" in text
    assert "### Attempts (1)" in text  # a refused call is its own row, never merged


def test_markdown_no_gaps(tmp_path: Path):
    ok = [_f("rds-backup-retention", "db", "pass")]
    text = write_reports(ok, {"command": "state"}, tmp_path, ["md"])["md"].read_text()
    assert "## DR Guard audit \u00b7 No gaps: nothing failed" in text and "No gaps:" in text
    assert "| severity |" not in text and "incomplete" not in text


def test_markdown_cell_escaping():
    assert md("a|b\nc\r\nd\te") == "a\\|b c d e"
    assert md("x" * 300) == "x" * 300  # never cut
    assert md("*bold* _i_ `code` [x](y) <b> a >= 1 & $x$") == \
        "\\*bold\\* \\_i\\_ \\`code\\` \\[x\\](y) \\<b\\> a \\>= 1 \\& \\$x\\$"
    assert code("a|b") == "`a\\|b`" and code("x`y") == "`` x`y ``"


@pytest.mark.parametrize("hostile", [
    "https://evil.example/phish", "HTTP://evil.example", "www.evil.example/x",
    "dave@evil.example", "@octocat please look", "see #123", "ftp://x.example/y",
    "<https://evil.example>", "[click](https://evil.example)", "javascript:alert(1)//x"])
def test_markdown_values_never_become_links(tmp_path: Path, hostile: str):
    """A value we did not write (a CloudTrail key, a tag, a principal) is
    never a live link, autolink, @mention or #ref in GitHub's renderer."""
    f = Finding("backup-bucket-versioning", "fail", "live", f"arn:aws:s3:::{hostile}",
                f"object {hostile} was changed by {hostile}", "111111111111", "us-east-1")
    text = write_reports([f], {"command": "scan"}, tmp_path, ["md"])["md"].read_text()
    prose = re.sub(r"(`+)(.+?)\1", "", text)  # outside code spans nothing may link
    assert not re.search(r"(?i)\b[a-z][a-z0-9+.-]*://", prose), prose
    assert not re.search(r"(?i)\bwww\.", prose)
    assert not re.search(r"(?<![\[\\])@\w", prose)
    assert not re.search(r"(?<![\[\\])#\d", prose)
    assert "](" not in prose.replace("\\](", "") and not re.search(r"(?<!\\)<", prose)
    assert f"`arn:aws:s3:::{hostile}`" in text  # the identifier itself, verbatim, inert


def test_markdown_plurals_and_no_entities(tmp_path: Path):
    f = Finding("rds-backup-retention", "fail", "live", "arn:aws:rds:us-east-1:1:db:a",
                "backupRetentionPeriod >= 1 day & < 7", "111111111111", "us-east-1")
    text = write_reports([f], {"command": "scan"}, tmp_path, ["md"])["md"].read_text()
    assert text.startswith("## DR Guard audit \u00b7 Gaps found: 1 gap\n")
    assert "**1 fail** (1 high)" in text and "0 pass" in text
    assert "&gt;" not in text and "&amp;" not in text and "&lt;" not in text
    assert "\\>= 1 day \\& \\< 7" in text


def test_markdown_stays_under_github_limit(tmp_path: Path):
    many = [Finding("backup-bucket-versioning" if i % 2 else "rds-deletion-protection", "fail",
                    "live", f"arn:aws:s3:::bucket-{i:05d}-" + "x" * 60,
                    "a long message " * 20, f"{100000000000 + i % 40}", "us-east-1")
            for i in range(4000)]
    text = write_reports(many, {"command": "scan"}, tmp_path, ["md"])["md"].read_text()
    assert len(text) < 65_536
    assert "4000 rows grouped by control and status" in text
    assert "bucket-00001-" in text and "and 1997 more" in text


def test_markdown_baseline_line(tmp_path: Path, findings: list[Finding]):
    prev = write_reports(findings[1:], RUN, tmp_path / "p", ["json"])["json"]
    text = write_reports(findings, RUN, tmp_path / "n", ["md"], baseline=prev)["md"].read_text()
    assert "### Changes since the previous report" in text
    assert "1 new gap (1 high) · 0 fixed · 3 still open" in text


def test_finding_ids_of_hostile_names_do_not_collide_and_others_keep_theirs() -> None:
    import hashlib

    # what the id has always been: the four parts joined by U+001F (baselines key on it)
    arn = "arn:aws:rds:us-east-1:111111111111:db:orders"
    joined = "\x1f".join(("rds-backup-retention", arn, "111111111111", "us-east-1"))
    assert finding_id("rds-backup-retention", arn, "111111111111", "us-east-1") == \
        "drg-" + hashlib.sha256(joined.encode()).hexdigest()[:20]
    # names holding the separator (an attacker's URN, a forged awsRegion) could make two
    # different gaps join to the same text, and merge them into one finding
    a = finding_id("rds-backup-retention", "db\x1f111111111111", "us-east-1", None)
    b = finding_id("rds-backup-retention", "db", "111111111111", "us-east-1")
    c = finding_id("rds-backup-retention", "db", "111111111111\x1fus-east-1", None)
    d = finding_id("rds-backup-retention", "db\x1e", "111111111111", "us-east-1")
    e = finding_id("rds-backup-retention", "db", "111111111111", "us-east-1", attempt="\x1f")
    assert len({a, b, c, d, e}) == 5
    merged = merge([Finding("rds-backup-retention", "fail", "state", "db\x1f111111111111",
                            "x", "us-east-1"),
                    Finding("rds-backup-retention", "fail", "state", "db", "y",
                            "111111111111", "us-east-1")])
    assert len(merged) == 2
