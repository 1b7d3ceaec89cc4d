"""`dr-audit merge` on hostile shards: the worst view of a finding wins whatever the order,
anything not read makes the merge incomplete, shards of different runs are refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditor.cli import main
from auditor.commands.merge import PRECEDENCE, Shard, merge
from auditor.reports import render_reports
from auditor.reports.json_report import findings_of, load_report_doc
from drguard.findings import Finding
from tests.fuzzing import fuzz

A = "111122223333"
RUN = {"command": "scan", "tool_version": "0.0.0-test", "mode": "org", "endpoint_url": None,
       "principal_account": A, "regions": ["us-east-1"], "fail_on": "high",
       "started": "2026-12-01T00:00:00+00:00", "finished": "2026-12-01T00:01:00+00:00"}


def gap(status: str, resource: str = "arn:aws:rds:us-east-1:111122223333:db:orders",
        control: str = "rds-backup-retention", message: str = "m") -> Finding:
    return Finding(control=control, status=status, source="live", resource=resource,  # type: ignore[arg-type]
                   message=message, account=A, region="us-east-1")


def shard(tmp: Path, name: str, findings: list[Finding], **run: Any) -> Path:
    meta = {**RUN, "accounts": [A], "skipped": {}, **run}
    path = tmp / f"{name}.json"
    path.write_text(render_reports(findings, meta, ["json"])["json"], encoding="utf-8")
    return path


def patch(path: Path, edit: Any) -> Path:
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))
    return path


def merged(tmp: Path, *paths: Path, extra: tuple[str, ...] = ()) -> tuple[int, dict[str, Any]]:
    out = tmp / "out"
    code = main(["merge", *map(str, paths), "--output-dir", str(out), "--format", "json",
                 *extra])
    report = out / "report.json"
    doc = json.loads(report.read_text()) if code != 2 and report.exists() else {}
    if report.exists():
        report.unlink()
    return code, doc


@pytest.mark.parametrize("first, second, status, code", [
    ("pass", "fail", "fail", 1), ("fail", "pass", "fail", 1),
    ("pass", "error", "error", 3), ("error", "pass", "error", 3),
    ("error", "fail", "fail", 1), ("waived", "fail", "fail", 1),
])
def test_the_worst_status_wins_in_any_order(tmp_path: Path, first: str, second: str,
                                            status: str, code: int) -> None:
    a = shard(tmp_path, "a", [gap(first)], shard="1/2")
    b = shard(tmp_path, "b", [gap(second)], shard="2/2")
    for order in ((a, b), (b, a)):
        got, doc = merged(tmp_path, *order)
        assert got == code, doc.get("summary")
        assert [f["status"] for f in doc["findings"]] == [status]


def test_an_attempt_is_never_merged_into_the_finding_of_its_resource(tmp_path: Path) -> None:
    """A refused call is its own finding (its id names the call), in any shard order."""
    a = shard(tmp_path, "a", [gap("attempt")], shard="1/2")
    b = shard(tmp_path, "b", [gap("pass")], shard="2/2")
    for order in ((a, b), (b, a)):
        got, doc = merged(tmp_path, *order)
        assert got == 0, doc.get("summary")
        assert sorted(f["status"] for f in doc["findings"]) == ["attempt", "pass"]


def test_a_shard_whose_error_is_outranked_still_makes_the_merge_incomplete(
        tmp_path: Path) -> None:
    a = shard(tmp_path, "a", [gap("error"), gap("pass", resource="r2")], shard="1/2")
    b = shard(tmp_path, "b", [gap("fail")], shard="2/2")
    code, doc = merged(tmp_path, a, b)
    assert code == 1 and doc["summary"]["incomplete"]  # a gap outranks incompleteness
    assert doc["run"]["skipped"]["incompleteShards"] == 1


@pytest.mark.parametrize("value", [-1, 1.5, "3", None, True, [1], -(10 ** 40)])
def test_counts_that_are_not_counts_make_the_merge_incomplete(tmp_path: Path,
                                                               value: Any) -> None:
    a = shard(tmp_path, "a", [gap("pass")], shard="1/2")
    b = patch(shard(tmp_path, "b", [gap("pass", resource="r2")], shard="2/2"),
              lambda d: d["run"]["skipped"].update(regions=value))
    code, doc = merged(tmp_path, a, b)
    if value == -(10 ** 40):  # past the reader's integer bound: the file is refused
        assert code == 2
        return
    assert code == 3, doc["summary"]
    assert any("regions" in n for n in doc["run"]["skipped"]["notes"])


def test_sub_runs_that_skipped_or_read_nothing_make_the_merge_incomplete(
        tmp_path: Path) -> None:
    a = shard(tmp_path, "a", [gap("pass")], shard="1/2")
    b = shard(tmp_path, "b", [gap("pass", resource="r2")], shard="2/2",
              logs={"skipped": {"records": 4}})
    assert merged(tmp_path, a, b)[0] == 3
    c = shard(tmp_path, "c", [gap("pass")], command="logs", files=0)
    d = shard(tmp_path, "d", [gap("pass", resource="r2")], command="logs", files=2)
    code, doc = merged(tmp_path, c, d)
    assert code == 3 and doc["run"]["skipped"]["noLogFiles"] == 1


def test_missing_shards_and_a_huge_shard_count(tmp_path: Path) -> None:
    a = shard(tmp_path, "a", [gap("pass")], shard="1/3")
    code, doc = merged(tmp_path, a)
    assert code == 3 and doc["run"]["skipped"]["shards"] == 2
    huge = shard(tmp_path, "huge", [gap("pass")], shard=f"1/{10 ** 15}")
    code, doc = merged(tmp_path, huge)  # never allocates N entries
    assert code == 3 and doc["run"]["skipped"]["shards"] == 10 ** 15 - 1
    assert any("more missing" in n or "more" in n for n in doc["run"]["skipped"]["notes"])
    bad = shard(tmp_path, "bad", [gap("pass")], shard="5/3")
    assert merged(tmp_path, bad)[0] == 2


def test_shards_of_different_runs_are_refused_unless_allowed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = shard(tmp_path, "a", [gap("pass")], shard="1/2")
    b = shard(tmp_path, "b", [gap("pass", resource="r2")], shard="2/2",
              regions=["eu-west-1"])
    capsys.readouterr()
    assert merged(tmp_path, a, b)[0] == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "regions" in err[0] and "--allow-mixed" in err[0]
    code, doc = merged(tmp_path, a, b, extra=("--allow-mixed",))
    assert code == 0 and any("regions" in m for m in doc["run"]["mixed"])
    c = shard(tmp_path, "c", [gap("pass", resource="r3")], shard="1/3")
    assert merged(tmp_path, a, c)[0] == 2  # different shard counts


@pytest.mark.parametrize("accounts", [[123456789012], [None], [{"id": 1}], "111122223333"])
def test_accounts_that_are_not_strings_are_one_line_errors(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], accounts: Any) -> None:
    a = patch(shard(tmp_path, "a", [gap("pass")], shard="1/1"),
              lambda d: d["run"].update(accounts=accounts))
    capsys.readouterr()
    assert merged(tmp_path, a)[0] == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(a) in err[0]


statuses = st.sampled_from(["pass", "fail", "error", "attempt", "waived"])


def merged_in_process(paths: list[Path]) -> tuple[int, str]:
    """What `dr-audit merge` writes and exits with, without a process per order."""
    shards = []
    for p in paths:
        doc = load_report_doc(p)
        shards.append(Shard(p, doc["run"], findings_of(p, doc), doc["summary"]))
    run, findings = merge(shards)
    run["fail_on"] = "high"
    text = render_reports(findings, run, ["json"])["json"]
    return json.loads(text)["summary"]["exit_code"], text


@fuzz(40)
@given(views=st.lists(st.dictionaries(st.integers(0, 3), statuses, max_size=4),
                      min_size=2, max_size=4),
       skipped=st.lists(st.one_of(st.none(), st.integers(-2, 3), st.floats(0, 2)),
                        min_size=4, max_size=4),
       data=st.data())
def test_any_permutation_gives_the_same_report_and_exit_code(
        tmp_path_factory: pytest.TempPathFactory, views: list, skipped: list,
        data: st.DataObject) -> None:
    tmp = tmp_path_factory.mktemp("perm")
    n = len(views)
    paths = []
    for i, view in enumerate(views):
        fs = [gap(s, resource=f"arn:aws:rds:us-east-1:{A}:db:db{r}", message=f"shard {i}")
              for r, s in view.items()]
        extra = {} if skipped[i] is None else {"skipped": {"regions": skipped[i]}}
        paths.append(shard(tmp, f"s{i}", fs, shard=f"{i + 1}/{n}", **extra))
    results = {merged_in_process(order)
               for order in (paths, paths[::-1], data.draw(st.permutations(paths)))}
    assert len(results) == 1, [r[0] for r in results]
    ((code, text),) = results
    doc = json.loads(text)
    seen = {s for view in views for s in view.values()}
    expect_incomplete = "error" in seen or any(
        s is not None and not (isinstance(s, int) and s == 0) for s in skipped[:n])
    assert doc["summary"]["incomplete"] == expect_incomplete, (skipped, seen)
    assert code == (1 if "fail" in seen else 3 if expect_incomplete else 0)
    # an attempt is a finding of its own (its id names the refused call); of the other views
    # of each resource, the worst won
    by_id = {f["resource"]: f["status"] for f in doc["findings"] if f["status"] != "attempt"}
    attempted = {f["resource"] for f in doc["findings"] if f["status"] == "attempt"}
    for r in {r for view in views for r in view}:
        arn = f"arn:aws:rds:us-east-1:{A}:db:db{r}"
        assert (arn in attempted) == any(v.get(r) == "attempt" for v in views)
        rest = [v[r] for v in views if r in v and v[r] != "attempt"]
        if rest:
            assert by_id[arn] == max(rest, key=PRECEDENCE.__getitem__)
        else:
            assert arn not in by_id
