"""report.json written in pieces (only JSON asked, no baseline) is the same document the
whole-text writer makes: same parsed JSON, key order, summary, applications, frameworks; the
closing summary it hands back equals outcome's and critical_gaps's."""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
import random
from pathlib import Path
from typing import Any

import pytest

from auditor.reports import Written, outcome, render_reports, write_reports
from auditor.reports._common import Tally, build_summary
from auditor.reports.applications import framework_counts, framework_rows
from auditor.reports.words import critical_gaps
from drguard.findings import STATUSES, Finding, exit_code, merge, summarize
from drguard.redact import known, redact
from drguard.registry import BY_ID, CONTROLS, SEVERITY_ORDER

RUN = {"command": "state", "tool_version": "0.0.0", "started": "2026-01-01T00:00:00+00:00",
       "skipped": {"resources": 1, "values": 2}, "fail_on": "high",
       "objectives": {"tiers": {"gold": {"targetRpoHours": 4, "targetRtoMinutes": 60}},
                      "applications": {"shop": {"owner": "team-a"}}}}


def make(seed: int, n: int, plain: bool) -> list[Finding]:
    """Findings of every status, with applications, tiers, waivers (expired or not), RPO and
    restore evidence, duplicates to merge, remediations, unicode and (`plain`=False) values
    the stdlib encoder needs a default for."""
    rng = random.Random(seed)
    controls = rng.sample(CONTROLS, 12)  # few controls and resources: gaps seen twice merge
    out: list[Finding] = []
    for i in range(n):
        c = rng.choice(controls)
        status = rng.choice(("fail", "fail", "pass", "error", "waived", "attempt"))
        resource = f"urn:pulumi:prod::app::aws:s3/bucket:Bucket::b{rng.randrange(n // 20 + 1)}"
        evidence: dict[str, Any] = {"k": rng.randrange(100), "ünï": "桶", "big": 10**30,
                                    "nested": {"list": [1, 2.5, None, True]}}
        if rng.random() < 0.3:
            evidence["achievedRpoHours"] = rng.choice((1, 2.5, 30))
        if rng.random() < 0.2:
            evidence.update(restoredAt=f"2026-01-0{rng.randrange(1, 9)}T00:00:00Z",
                            restoreMinutes=rng.randrange(5, 90), restoreEvidence="drill")
        if not plain and rng.random() < 0.3:
            evidence.update(when=dt.datetime(2026, 1, 2, tzinfo=dt.UTC), tags={"b", "a"},
                            pair=("x", 1), nan=math.nan)
        message = "m\ud800" if rng.random() < 0.05 else f"gap {i} \u2028 <&>"
        f = Finding(control=c.id, status=status, source=rng.choice(("state", "live", "logs")),  # type: ignore[arg-type]
                    resource=resource, message=message,
                    account=rng.choice((None, "111111111111", "222222222222")),
                    region=rng.choice((None, "us-east-1")), evidence=evidence,
                    remediation=rng.choice((None, {"summary": f"fix {i}", "pulumi": "p()",
                                                   "cli": None},
                                            {"summary": "s", "pulumi": None, "cli": "aws x",
                                             "extra": [1]})))
        if rng.random() < 0.5:
            f.application = rng.choice(("shop", "billing", "ünï"))
            f.tier = rng.choice((None, "gold"))
            f.owner = rng.choice((None, "ops"))
        if status in ("waived", "fail") and rng.random() < 0.3:
            f.waiver = {"control": c.id, "reason": "r", "owner": "o", "expires": "2026-01-01",
                        "expired": status == "fail"}
        if status == "attempt":
            f.event = {"eventId": f"ev-{i}", "time": "2026-01-01T00:00:00Z"}
        out.append(f)
    out.append(Finding(control="not-a-control", status="fail", source="state",
                       resource="r", message="unknown control", severity="high",
                       remediation={"summary": "s", "pulumi": None, "cli": None}))
    return out


def _read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize(("seed", "plain"), [(1, True), (2, True), (3, False), (4, False)])
def test_streamed_report_is_the_whole_text_report(tmp_path: Path, seed: int,
                                                  plain: bool) -> None:
    findings = make(seed, 400, plain)
    whole = json.loads(render_reports(copy.deepcopy(findings), RUN, ["json"])["json"])
    written = write_reports(copy.deepcopy(findings), RUN, tmp_path, ["json"], plain=plain)
    assert isinstance(written, Written) and written.summary is not None
    doc = _read(written["json"])
    assert list(doc) == list(whole) == ["schema", "run", "summary", "findings",
                                        "applications", "frameworks"]
    for key in whole:
        assert doc[key] == whole[key], key
    assert [list(f) for f in doc["findings"]] == [list(f) for f in whole["findings"]]
    assert doc["applications"] and doc["frameworks"]  # the case is not empty
    # the closing summary: the same as a second pass over the findings would say
    assert written.summary == outcome(copy.deepcopy(findings), RUN) == doc["summary"]
    redacted = copy.deepcopy(findings)
    redact(redacted, known())  # as finish() sees them (outcome redacts first)
    assert written.critical == critical_gaps(redacted)
    assert written.critical  # some critical gaps named
    merged = merge(copy.deepcopy(findings))
    assert len(doc["findings"]) == len(merged) < len(findings)  # some gaps were seen twice
    assert any(len(f.get("sources") or ()) > 1 for f in doc["findings"])


def test_a_large_report_is_written_in_pieces(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from auditor.reports import spool

    monkeypatch.setattr(spool, "_WRITE_BYTES", 4096)
    sizes: list[int] = []
    real_open = Path.open

    class Spy:
        def __init__(self, f: Any) -> None:
            self.f = f

        def write(self, b: bytes) -> int:
            sizes.append(len(b))
            return int(self.f.write(b))

        def __enter__(self) -> Spy:
            return self

        def __exit__(self, *exc: Any) -> None:
            self.f.close()

    def spy_open(self: Path, mode: str = "r", *a: Any, **k: Any) -> Any:
        f = real_open(self, mode, *a, **k)
        return Spy(f) if mode == "wb" else f

    monkeypatch.setattr(Path, "open", spy_open)
    findings = make(5, 300, True)
    whole = render_reports(copy.deepcopy(findings), RUN, ["json"])["json"]
    written = write_reports(findings, RUN, tmp_path, ["json"], plain=True)
    assert len(sizes) > 10 and max(sizes) < len(whole) // 5  # never the whole text at once
    assert _read(written["json"]) == json.loads(whole)


def _reference_summary(findings: list[Finding], fail_on: str,
                       run: dict[str, Any]) -> dict[str, Any]:
    """What the summary was made of before it was counted in one pass."""
    s = summarize(findings)
    by_source: dict[str, dict[str, int]] = {}
    for f in findings:
        by_source.setdefault(f.source, {st: 0 for st in STATUSES})[f.status] += 1
    sevs = sorted(SEVERITY_ORDER, key=lambda x: -SEVERITY_ORDER[x])
    incomplete = bool(s["by_status"]["error"] or run.get("skipped"))
    return {**s, "by_source": dict(sorted(by_source.items())),
            "gaps": sum(1 for f in findings if f.is_gap),
            "gaps_at_or_above": {v: sum(1 for f in findings if f.is_gap and
                                        SEVERITY_ORDER[f.severity] >= SEVERITY_ORDER[v])
                                 for v in sevs},
            "expired_waivers": sum(1 for f in findings if f.waiver and f.waiver.get("expired")),
            "exit_codes": {v: exit_code(findings, v, incomplete) for v in sevs},
            "exit_code": exit_code(findings, fail_on, incomplete)}


@pytest.mark.parametrize("seed", [7, 8, 9])
def test_one_pass_summary_counts_as_before(seed: int) -> None:
    findings = merge(make(seed, 300, True))
    run = {"skipped": {"values": seed % 2}}
    got = build_summary(findings, fail_on="medium", run=run)
    want = _reference_summary(findings, "medium", run)
    for key, value in want.items():
        assert got[key] == value, key
    tally = Tally()
    for f in findings:
        tally.add(f)
    assert tally.summary(fail_on="medium", run=run) == got
    rows = [f.to_dict() for f in findings]
    assert framework_counts(tally.counts) == framework_rows(rows)
    assert any(r["fail"] and r["pass"] for r in framework_rows(rows))
    assert set(BY_ID) >= {f.control for f in findings if f.control != "not-a-control"}


@pytest.mark.parametrize("plain", [True, False])
def test_no_findings_streamed(tmp_path: Path, plain: bool) -> None:
    written = write_reports([], RUN, tmp_path, ["json"], plain=plain)
    whole = json.loads(render_reports([], RUN, ["json"])["json"])
    assert _read(written["json"]) == whole and whole["findings"] == []
    assert written.summary == whole["summary"] and written.critical == []


@pytest.mark.parametrize("stop", [KeyboardInterrupt(), OSError(28, "No space left on device")])
def test_a_write_stopped_part_way_leaves_no_partial_report(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stop: BaseException) -> None:
    """report.json is written in pieces: stopped after its findings (Ctrl-C, a full disk),
    the folder keeps the previous report whole and no piece of the new one."""
    from auditor.reports import applications

    before = write_reports(make(11, 200, True), RUN, tmp_path, ["json"], plain=True)
    previous = before["json"].read_bytes()
    assert json.loads(previous)["findings"]

    def stopped(*a: Any, **k: Any) -> Any:  # the tail, after every finding was copied
        raise stop

    monkeypatch.setattr(applications, "framework_counts", stopped)
    with pytest.raises(type(stop)):
        write_reports(make(12, 200, True), RUN, tmp_path, ["json"], plain=True)
    assert before["json"].read_bytes() == previous
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_attempts_sharing_an_id_merge_once(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Refused calls without an event id share one when they share a time (a log may hold
    thousands): they merge into one finding as the whole-text writer merges them, each read
    and merged once, not the group again for every copy (quadratic)."""
    from auditor.reports import spool

    control = CONTROLS[0].id
    k = 300
    findings = [Finding(control=control, status="attempt", source="logs",
                        resource="arn:aws:s3:::bucket", message=f"refused {i}",
                        account="111111111111", region="us-east-1",
                        event={"time": "2026-01-01T00:00:00Z", "principal": f"p{i % 7}",
                               "eventName": "DeleteBucket"})
                for i in range(k)]
    findings += make(13, 100, True)
    assert len({f.id for f in findings[:k]}) == 1
    merged: list[int] = []
    real = spool.merge

    def counting(group: Any) -> list[Finding]:
        group = list(group)
        merged.append(len(group))
        return real(group)

    monkeypatch.setattr(spool, "merge", counting)
    whole = json.loads(render_reports(copy.deepcopy(findings), RUN, ["json"])["json"])
    written = write_reports(copy.deepcopy(findings), RUN, tmp_path, ["json"], plain=True)
    doc = _read(written["json"])
    assert doc == whole
    assert doc["summary"]["attempts"] == whole["summary"]["attempts"] >= 1
    assert written.summary == doc["summary"]
    assert sum(merged) <= 2 * len(findings)
