"""Property test: arbitrary text in findings never breaks a report format or escapes into HTML."""

from __future__ import annotations

import json
import re
import tempfile
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jsonschema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.reports import FORMATS, load_report, report_schema, write_reports
from auditor.reports._common import clean_text
from drguard.findings import STATUSES, Finding, merge
from drguard.registry import CONTROLS

DATA = Path(__file__).parent / "data"
_SARIF_SCHEMA = json.loads((DATA / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
SARIF = jsonschema.validators.validator_for(_SARIF_SCHEMA)(_SARIF_SCHEMA)
REPORT = jsonschema.validators.validator_for(report_schema())(report_schema())

# Tags our templates emit; an injected tag would show up as something else.
OUR_TAGS = {"html", "head", "meta", "title", "style", "body", "main", "script", "header", "h1",
            "h2", "h3", "span", "p", "dl", "div", "dt", "dd", "section", "table", "thead",
            "tbody", "tr", "th", "td", "code", "br", "form", "label", "select", "option",
            "input", "button", "strong", "details", "summary", "pre", "footer", "ul", "li",
            "ol", "a", "figure", "figcaption", "svg", "g", "rect", "text", "line", "i"}

# Text that leans on the characters that break formats, plus anything else (surrogates too).
nasty = st.text(alphabet=st.one_of(st.sampled_from(list("<>\"'&|\n\r\t`*_[]\\/:#!\x00\x0b")),
                                   st.characters(exclude_categories=())), max_size=40)
INJECT = '<x-evil a="1">'
leaf = st.one_of(nasty, st.integers(-5, 10**6), st.booleans(), st.none())
evidence = st.dictionaries(st.one_of(st.sampled_from(["path", "file", "line", "tags"]), nasty),
                           st.one_of(leaf, st.lists(leaf, max_size=3),
                                     st.dictionaries(nasty, leaf, max_size=3)), max_size=4)


@st.composite
def findings(draw: Any) -> Finding:
    status = draw(st.sampled_from(STATUSES))
    waiver = None
    if status == "waived" or draw(st.booleans()):
        waiver = {"reason": draw(nasty), "owner": draw(nasty), "expires": draw(nasty),
                  "expired": status != "waived"}
    event = draw(st.one_of(st.none(), st.dictionaries(
        st.sampled_from(["time", "principal", "source_ip", "event_name", "event_id", "x"]),
        nasty, max_size=6)))
    return Finding(control=draw(st.sampled_from([c.id for c in CONTROLS])), status=status,
                   source=draw(st.sampled_from(["deploy", "state", "live", "logs"])),
                   resource=draw(nasty) + draw(st.sampled_from(["", INJECT])),
                   message=draw(nasty) + draw(st.sampled_from(["", INJECT])),
                   account=draw(st.one_of(st.none(), nasty)),
                   region=draw(st.one_of(st.none(), nasty)),
                   evidence=draw(evidence), event=event, waiver=waiver)


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def unescaped_pipes(row: str) -> int:
    n, i = 0, 0
    while i < len(row):
        if row[i] == "\\":
            i += 2
            continue
        n += row[i] == "|"
        i += 1
    return n


@settings(max_examples=60, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(findings(), max_size=6), nasty)
def test_every_format_survives_arbitrary_text(items: list[Finding], command: str) -> None:
    run = {"command": command, "accounts": [command], "started": command, "weird": {command: 1}}
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_reports(items, run, Path(tmp), list(FORMATS))
        merged = merge(items)  # one finding per id: every report shows these
        incomplete = any(f.status == "error" for f in merged)

        doc = json.loads(paths["json"].read_text(encoding="utf-8"))
        assert list(REPORT.iter_errors(doc)) == []
        _, loaded = load_report(paths["json"])
        assert sorted(json.dumps(f.to_dict(), sort_keys=True) for f in loaded) == \
            sorted(json.dumps(f.to_dict(), sort_keys=True) for f in merged)
        assert len({d["id"] for d in doc["findings"]}) == len(doc["findings"])
        assert doc["summary"]["incomplete"] is incomplete

        sarif = json.loads(paths["sarif"].read_text(encoding="utf-8"))
        assert [e.message for e in SARIF.iter_errors(sarif)] == []
        assert len(sarif["runs"][0]["results"]) == sum(f.status != "pass" for f in merged)

        root = ET.parse(paths["junit"]).getroot()
        assert int(root.get("tests")) == len(merged) + incomplete  # + "run complete" case
        assert int(root.get("failures")) == sum(f.status == "fail" for f in merged)
        names = [(c.get("classname"), c.get("name")) for c in root.iter("testcase")]
        assert len(set(names)) == len(names)

        page = Tags()
        page.feed(paths["html"].read_bytes().decode("utf-8"))  # no newline translation
        page.close()
        assert {t for t, _ in page.tags} <= OUR_TAGS
        assert sum(t == "script" for t, _ in page.tags) == 1
        # one row per finding: the findings table, and the attempts listed on their own
        bodies = [a for t, a in page.tags if t in ("tbody", "li") and "data-status" in a]
        assert len(bodies) == len(merged)
        got = sorted(b["data-resource"] or "" for b in bodies)
        assert got == sorted(clean_text(f.resource) for f in merged)

        md = paths["md"].read_bytes().decode("utf-8")
        rows = [ln for ln in md.splitlines() if ln.startswith("| ")]
        width = 0
        for line in md.splitlines():  # every row of a table has its header's cell count
            if not line.startswith("| "):
                width = 0
            elif width == 0:
                width = unescaped_pipes(line)
            else:
                assert unescaped_pipes(line) == width, line
        # outside code spans (which show it as text) only as escaped, inert `\<x-evil`
        assert not re.search(r"(?<!\\)<x-evil", re.sub(r"(`+)(.+?)\1", "", md))
        gap_rows = [r for r in rows if r.split(" | ")[1:2] and r.split(" | ")[1] in
                    ("fail", "error")]
        assert len(gap_rows) == sum(f.status in ("fail", "error") for f in merged)
