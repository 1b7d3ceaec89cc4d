"""One vocabulary and numbers that agree: the demo's reports in every format, read back.

- every status has one name in every format (the finding's own: fail, pass, waived, error,
  attempt) and the run's verdict is one of three, the same in JSON, HTML, Markdown, SARIF and on
  the terminal;
- every count in a header equals the rows listed below it (HTML cards, verdict, the tables by
  control / account / severity, the charts, the status filter; Markdown's count line);
- attempts are listed on their own, one per refused call, never under a control's counts;
- Fix first names the gap, not the passing condition;
- the terminal summary lists the gaps by severity and names every critical one;
- the demo repeats exactly: two runs write the same bytes.

The count checks also run on a small report holding every status (waived, error, attempt).
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from contextlib import redirect_stderr, redirect_stdout
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from auditor.cli import main
from auditor.commands.demo import DEMO_NOW
from auditor.reports import FILENAMES, FORMATS, write_reports
from auditor.reports._common import SEVERITIES_DESC, headline
from auditor.reports.words import STATUS_MEANING, VERDICTS, critical_gaps, verdict
from drguard.findings import STATUSES, Finding
from drguard.registry import BY_ID, CONTROLS
from tests import goldens

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
TABLE_STATUSES = tuple(s for s in STATUSES if s != "attempt")
VOID = {"br", "meta", "input", "img", "hr", "link", "wbr", "col", "source"}


# ---- a small DOM, enough to count what the page lists --------------------------------------


class Node:
    def __init__(self, tag: str, attrs: dict[str, str], parent: Node | None) -> None:
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Node | str] = []

    @property
    def classes(self) -> set[str]:
        return set((self.attrs.get("class") or "").split())

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def words(self) -> str:
        return " ".join(self.text().split())

    def all(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> list[Node]:
        out: list[Node] = []
        for c in self.children:
            if isinstance(c, Node):
                if ((tag is None or c.tag == tag) and (cls is None or cls in c.classes)
                        and all(c.attrs.get(k.replace("_", "-")) == v
                                for k, v in attrs.items())):
                    out.append(c)
                out += c.all(tag, cls, **attrs)
        return out

    def one(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> Node:
        found = self.all(tag, cls, **attrs)
        assert len(found) == 1, (tag, cls, attrs, len(found))
        return found[0]

    def by_id(self, ident: str) -> Node:
        return self.one(id=ident)


class Tree(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {}, None)
        self.cur = self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs}, self.cur)
        self.cur.children.append(node)
        if tag not in VOID:
            self.cur = node

    def handle_endtag(self, tag: str) -> None:
        n: Node | None = self.cur
        while n is not None and n.tag != tag:
            n = n.parent
        if n is not None and n.parent is not None:
            self.cur = n.parent

    def handle_data(self, data: str) -> None:
        self.cur.children.append(data)


def dom(text: str) -> Node:
    t = Tree()
    t.feed(text)
    t.close()
    return t.root


def num(node: Node) -> int:
    return int(node.words() or 0)


# ---- the reports under test ---------------------------------------------------------------


def _demo(out: Path) -> tuple[str, dict[str, Path]]:
    stdout, stderr = io.StringIO(), io.StringIO()
    with redirect_stdout(stdout), redirect_stderr(stderr):
        assert main(["demo", "--output-dir", str(out)]) == 0
    return stderr.getvalue(), {fmt: out / name for fmt, name in FILENAMES.items()}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    err, paths = _demo(tmp_path_factory.mktemp("demo"))
    return {"name": "demo", "stderr": err, "paths": paths,
            "report": json.loads(paths["json"].read_text(encoding="utf-8"))}


def _every_status() -> list[Finding]:
    a, b = "111111111111", "222222222222"
    fix = {"summary": "Set it.", "pulumi": "x", "cli": None}
    out = [
        Finding("rds-backup-retention", "fail", "live", f"arn:aws:rds:us-east-1:{a}:db:orders",
                "Backups kept 1 day.", a, "us-east-1", remediation=fix,
                evidence={"effectiveDays": 1, "minRetentionDays": 7}),
        Finding("backup-bucket-versioning", "fail", "live", "arn:aws:s3:::nightly-backups",
                "Suspended.", b, "us-west-2", remediation=fix,
                evidence={"versioning": "Suspended"}),
        Finding("backup-bucket-versioning", "pass", "live", "arn:aws:s3:::other-backups",
                "Enabled.", a, "us-east-1"),
        Finding("rds-deletion-protection", "waived", "live", f"arn:aws:rds:us-east-1:{a}:db:x",
                "Off.", a, "us-east-1", waiver={"reason": "scratch", "owner": "t",
                                                "expires": "2099-01-01"}),
        Finding("iam-access-key-rotation", "error", "live", f"arn:aws:iam::{b}:user/ci",
                "AccessDenied.", b, None),
        Finding("resource-drift-deleted", "attempt", "logs", "arn:aws:s3:::nightly-backups",
                "Refused (AccessDenied), nothing changed.", b, "us-west-2",
                event={"time": "2026-12-01T01:00:00Z", "eventName": "DeleteBucket",
                       "principal": f"arn:aws:iam::{b}:user/ci", "eventId": "e-1",
                       "errorCode": "AccessDenied"}),
        Finding("backup-bucket-versioning", "attempt", "logs", "arn:aws:s3:::nightly-backups",
                "Refused (AccessDenied), nothing changed.", b, "us-west-2",
                event={"time": "2026-12-01T01:05:00Z", "eventName": "PutBucketVersioning",
                       "principal": f"arn:aws:iam::{b}:user/ci", "eventId": "e-2",
                       "errorCode": "AccessDenied"}),
    ]
    return out


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("small")
    run = {"command": "scan", "fail_on": "high", "accounts": ["111111111111", "222222222222"],
           "regions": ["us-east-1", "us-west-2"]}
    paths = write_reports(_every_status(), run, out, list(FORMATS))
    return {"name": "small", "paths": paths,
            "report": json.loads(paths["json"].read_text(encoding="utf-8"))}


@pytest.fixture(scope="module", params=["demo", "small"])
def any_report(request: pytest.FixtureRequest) -> dict[str, Any]:
    return request.getfixturevalue(request.param)


# ---- 1. one name per status, one verdict ---------------------------------------------------


def test_one_name_for_each_status_and_the_verdict_in_every_format(
        any_report: dict[str, Any]) -> None:
    paths, report = any_report["paths"], any_report["report"]
    summary = report["summary"]
    assert summary["verdict"] in VERDICTS and summary["verdict"] == verdict(summary)
    assert {f["status"] for f in report["findings"]} <= set(STATUSES)
    line = headline(summary)
    assert line.lower().startswith(summary["verdict"])

    page = dom(paths["html"].read_text(encoding="utf-8"))
    v = page.by_id("verdict")
    assert v.attrs["data-verdict"] == summary["verdict"] and v.words().startswith(line)
    assert line in page.one("title").words()
    cards = page.by_id("summary").all("a", cls="card")
    assert [c.one(cls="lbl").words() for c in cards] == list(STATUSES)
    assert [c.attrs["title"] for c in cards] == [STATUS_MEANING[s] for s in STATUSES]
    for ident in ("by-control", "by-account"):
        heads = [th.words() for th in page.by_id(ident).one("thead").all("th")][1:]
        assert heads == list(TABLE_STATUSES)
    badges = [b for b in page.all("span", cls="badge") if any(c.startswith("st-")
                                                               for c in b.classes)]
    assert badges
    for b in badges:  # a status badge says its status, by its name
        assert b.words() == next(c[3:] for c in b.classes if c.startswith("st-"))
    options = page.by_id("filters").one("select", data_filter="status").all("option")
    assert [re.sub(r" \(\d+\)$", "", o.words()) for o in options] == \
        ["all but pass", *TABLE_STATUSES, "all"]
    text = paths["html"].read_text(encoding="utf-8")
    for old in ("gaps to fix", "attempts (logs)", ">not checked<", ">passing<",
                "show-pass"):
        assert old not in text, old

    md = paths["md"].read_text(encoding="utf-8").splitlines()
    assert md[0] == f"## DR Guard audit \u00b7 {line}"
    st = summary["by_status"]
    by_sev = ", ".join(f"{summary['by_severity'][s]['fail']} {s}" for s in SEVERITIES_DESC
                       if summary["by_severity"][s]["fail"])
    counts = (f"**{st['fail']} fail**" + (f" ({by_sev})" if by_sev else "") + " \u00b7 "
              + " \u00b7 ".join(f"{st[s]} {s}" for s in STATUSES[1:]))
    assert counts in md
    rows = [r.split(" | ") for r in md if r.startswith(("| critical", "| high", "| medium",
                                                         "| low"))]
    assert {r[1] for r in rows} <= set(STATUSES)

    sarif = json.loads(paths["sarif"].read_text(encoding="utf-8"))["runs"][0]
    assert sarif["properties"]["summary"]["verdict"] == summary["verdict"]
    assert {r["properties"]["status"] for r in sarif["results"]} <= set(STATUSES)
    ocsf = json.loads(paths["ocsf"].read_text(encoding="utf-8"))
    for o in ocsf:
        assert o["status_code"] == o["unmapped"]["dr_guard"]["status"].upper()
        assert o["unmapped"]["dr_guard"]["status"] in STATUSES
    asff = json.loads(paths["asff"].read_text(encoding="utf-8"))["Findings"]
    assert {a["ProductFields"]["drguard/status"] for a in asff} <= set(STATUSES)


def test_terminal_lists_gaps_by_severity_and_names_every_critical_one(
        demo: dict[str, Any]) -> None:
    summary = demo["report"]["summary"]
    lines = [ln.removeprefix("dr-audit demo: ") for ln in demo["stderr"].splitlines()
             if ln.startswith("dr-audit demo: ")]
    assert headline(summary) in lines
    sev = "gaps by severity: " + ", ".join(f"{summary['by_severity'][s]['fail']} {s}"
                                           for s in SEVERITIES_DESC)
    assert sev in lines
    st = summary["by_status"]
    assert any(ln.startswith(", ".join(f"{st[s]} {s}" for s in STATUSES)) for ln in lines)
    named = [ln.removeprefix("critical: ") for ln in lines if ln.startswith("critical: ")]
    findings = [Finding.from_dict(f) for f in demo["report"]["findings"]]
    critical = [f for f in findings if f.status == "fail" and f.severity == "critical"]
    assert len(named) == len(critical) == summary["by_severity"]["critical"]["fail"] > 0
    assert named == critical_gaps(findings)
    for f in critical:  # each critical gap by its control and resource name
        assert any(n.startswith(f"{f.control} on ") and
                   re.split(r"::|[:/]", f.resource)[-1] in n for n in named)


# ---- 2. counts in headers == the lists below them -----------------------------------------


def _rows(page: Node) -> tuple[list[Node], list[Node]]:
    return (page.by_id("findings").all("tbody", cls="finding") if page.all(id="findings")
            else [], page.all("li", cls="attempt"))


def test_html_counts_equal_the_lists(any_report: dict[str, Any]) -> None:
    report = any_report["report"]
    page = dom(any_report["paths"]["html"].read_text(encoding="utf-8"))
    table, attempts = _rows(page)
    rows = [b.attrs for b in table] + [li.attrs for li in attempts]
    assert len(rows) == len(report["findings"])
    assert not [b for b in table if b.attrs["data-status"] == "attempt"]
    status = Counter(r["data-status"] for r in rows)
    # cards
    for card in page.by_id("summary").all("a", cls="card"):
        assert num(card.one(cls="big")) == status[card.attrs["data-status"]]
    # the verdict: gaps and critical gaps
    gaps = [b.attrs for b in table if b.attrs["data-status"] == "fail"]
    critical = sum(g["data-severity"] == "critical" for g in gaps)
    words = page.by_id("verdict").words()
    if gaps:
        assert re.search(rf"\b{len(gaps)} gaps?\b", words)
        assert (f"{critical} critical" in words) == bool(critical)
    # by control: every cell counts the rows of that control and status; no attempt row
    shown = set()
    for tr in page.by_id("by-control").one("tbody").all("tr"):
        c = tr.attrs["data-control"]
        shown.add(c)
        for td in tr.all("td"):
            if "data-status" in td.attrs:
                assert num(td) == sum(1 for b in table if b.attrs["data-control"] == c and
                                      b.attrs["data-status"] == td.attrs["data-status"]), c
    assert shown == {b.attrs["data-control"] for b in table}
    # by account
    for tr in page.by_id("by-account").one("tbody").all("tr"):
        a = tr.attrs["data-account"]
        for td in tr.all("td"):
            if "data-status" in td.attrs:
                assert num(td) == sum(1 for b in table if b.attrs["data-account"] == a and
                                      b.attrs["data-status"] == td.attrs["data-status"]), a
    # by severity: gaps, and all findings (attempts included)
    for tr in page.by_id("by-severity").one("tbody").all("tr"):
        s = tr.attrs["data-severity"]
        assert num(tr.one("td", data_status="fail")) == sum(g["data-severity"] == s
                                                            for g in gaps)
        assert num(tr.one("td", data_total="")) == sum(r["data-severity"] == s for r in rows)
    # the status filter says how many rows each choice shows
    for o in page.by_id("filters").one("select", data_filter="status").all("option"):
        v, n = o.attrs["value"], int(o.attrs["data-count"])
        want = [b for b in table if v == "all" or (b.attrs["data-status"] == v if v
                                                   else b.attrs["data-status"] != "pass")]
        assert n == len(want) and o.words().endswith(f"({n})"), v
    # the chart by control: one bar per control with gaps, its value the gaps listed
    if page.all(id="chart-controls"):
        for bar in page.by_id("chart-controls").all(cls="bar"):
            label = bar.one(cls="bar-lbl").words()
            assert num(bar.one(cls="bar-val")) == sum(g["data-control"] == label
                                                      for g in gaps)
    # each application's gaps are its findings' gaps, by severity
    for tr in (page.by_id("applications").one("tbody").all("tr")
               if page.all(id="applications") else []):
        app = tr.attrs["data-app"]
        mine = Counter(g["data-severity"] for g in gaps if g["data-app"] == app)
        said = tr.all("td")[4].words()
        want = ", ".join(f"{mine[s]} {s}" for s in SEVERITIES_DESC if mine[s]) or "none"
        assert said == want, app
    # the section heading of the attempts says how many are listed
    if attempts:
        assert page.by_id("attempts").one("h2").words() == f"Attempts ({len(attempts)})"


def test_markdown_counts_equal_the_lists(any_report: dict[str, Any]) -> None:
    summary = any_report["report"]["summary"]
    text = any_report["paths"]["md"].read_text(encoding="utf-8")
    lines = text.splitlines()
    rows = [r.split(" | ") for r in lines if r.startswith(("| critical", "| high",
                                                           "| medium", "| low"))]
    listed = Counter(r[1] for r in rows)
    st = summary["by_status"]
    assert listed["fail"] == st["fail"] and listed["error"] == st["error"]
    for s in SEVERITIES_DESC:
        assert sum(r[0] == f"| {s}" and r[1] == "fail" for r in rows) == \
            summary["by_severity"][s]["fail"]
    head = re.search(r"^\*\*(\d+) fail\*\*", text, re.M)
    assert head and int(head.group(1)) == len([r for r in rows if r[1] == "fail"])
    if st["attempt"]:
        i = lines.index(f"### Attempts ({st['attempt']})")
        table = [ln for ln in lines[i:] if ln.startswith("| `")]
        assert len(table) == st["attempt"]
    else:
        assert "### Attempts" not in text
    if st["pass"]:
        assert f"_{st['pass']} pass not listed (see report.html)._" in text


# ---- 3. attempts on their own ------------------------------------------------------------


def test_attempts_are_their_own_findings_one_per_refused_call(any_report: dict[str, Any]
                                                              ) -> None:
    report = any_report["report"]
    attempts = [f for f in report["findings"] if f["status"] == "attempt"]
    calls = {f["event"]["eventId"] for f in attempts}
    assert len(calls) == len(attempts) == report["summary"]["attempts"] > 0
    logs = report["run"].get("logs")
    if logs is not None:  # the demo: the refused calls its logs read
        assert logs["attempts"] == len(attempts)
    # never counted under a control in the HTML summary, nor in a control's JUnit suite
    page = dom(any_report["paths"]["html"].read_text(encoding="utf-8"))
    only_attempts = {f["control"] for f in attempts} - {
        f["control"] for f in report["findings"] if f["status"] != "attempt"}
    shown = {tr.attrs["data-control"] for tr in page.by_id("by-control").one("tbody").all("tr")}
    assert not only_attempts & shown
    junit = ET.parse(any_report["paths"]["junit"]).getroot()
    ids = {f["id"] for f in attempts}
    for suite in junit.findall("testsuite"):
        in_suite = {c.get("name").rsplit("[", 1)[-1].rstrip("]")
                    for c in suite.findall("testcase")}
        if suite.get("name") == "dr-audit-attempts":
            assert in_suite == ids
        else:
            assert not in_suite & ids


# ---- 4. Fix first names the gap ------------------------------------------------------------


def test_every_control_says_its_gap_as_a_gap() -> None:
    for c in CONTROLS:
        assert c.gap, c.id
        text = c.gap_title({})
        assert "{" not in text and text != c.title, c.id
    rds = BY_ID["rds-backup-retention"]
    assert rds.gap_title({"effectiveDays": 1, "minRetentionDays": 7}) == \
        "Backups kept 1 day; needs 7"
    assert rds.gap_title({"effectiveDays": 3, "minRetentionDays": 7}) == \
        "Backups kept 3 days; needs 7"
    assert rds.gap_title({"minRetentionDays": 7}) == "Backups not kept long enough"


def test_fix_first_titles_name_the_gap(any_report: dict[str, Any]) -> None:
    page = dom(any_report["paths"]["html"].read_text(encoding="utf-8"))
    by_id = {f["id"]: f for f in any_report["report"]["findings"]}
    items = page.by_id("fix-first").all("li")
    assert items
    titles = []
    for li in items:
        link = li.one("div", cls="ff-head").one("a")
        f = by_id[link.attrs["href"].lstrip("#")]
        title = link.words()
        titles.append(title)
        assert title == BY_ID[f["control"]].gap_title(f["evidence"])
        assert title != BY_ID[f["control"]].title and not title.startswith("Not met")
    if any_report["name"] == "small":
        assert "Backups kept 1 day; needs 7" in titles
        assert "Versioning Suspended; needs Enabled" in titles


# ---- 6. the demo repeats exactly -----------------------------------------------------------


def test_two_demo_runs_write_the_same_reports(demo: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "again"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-m", "auditor", "demo", "--output-dir", str(out)],
                   check=True, capture_output=True, env=env, timeout=300)
    for fmt, path in demo["paths"].items():
        assert (out / path.name).read_bytes() == path.read_bytes(), fmt
    run = demo["report"]["run"]
    assert run["started"] == run["finished"] == DEMO_NOW.isoformat()  # the stopped clock
    assert "127.0.0.1" not in json.dumps(run)  # no ephemeral emulator port


def test_demo_report_equals_the_recorded_one(demo: dict[str, Any]) -> None:
    """Speed-ups change no finding: the demo's report.json is the one recorded before them."""
    goldens.assert_same("demo", 0, demo["report"])


def test_named_gaps_read_as_the_list_they_stand_for() -> None:
    from auditor.reports.words import NamedGaps, critical_words

    keys = [("c1", "111", "eu-west-1", "arn:aws:s3:::a"), ("c1", "", "", "urn:pulumi:s::p::t::b"),
            ("c2", "222", "", "arn:aws:rds:us-east-1:222:db:x")]
    named = NamedGaps(keys)
    whole = [critical_words(c, r, a, g) for c, a, g, r in keys]
    assert len(named) == 3 and list(named) == whole and named == whole
    assert named[0] == "c1 on a (111, eu-west-1)" and named[-1] == whole[-1]  # names shortened
    assert named[:2] == whole[:2] and named[5:] == []
    assert named != "".join(whole) and named != whole[:2] and NamedGaps([]) == []
