"""Fuzz every file surface of `dr-audit` with hostile input (hypothesis): the hardened reader
(configs, account names, history entries, reports), `plan`, `repo` and `merge`.

Each generated input must end in a report with the right exit code, or one line naming the file
(exit 2): never a traceback, a hang, a lost finding or a leaked secret. The normal run uses a
fixed seed and a small budget; `make fuzz` runs many more random examples and prints the totals
(inputs, tracebacks, hangs, lost findings, leaks, wrong exit codes)."""

from __future__ import annotations

import contextlib
import copy
import json
import os
import signal
import tempfile
import traceback
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from auditor.cli import main
from auditor.commands.summary import load_account_names
from auditor.reports import history, render_reports
from auditor.reports.json_report import load_report_doc
from drguard.errors import ConfigError
from drguard.findings import Finding
from tests.fuzzing import fuzz
from tests.test_fuzz_config import TRICKY_TEXT, nest
from tests.test_secret_sentinel import REPO_FILES, SENTINEL, _preview

HANG_SECONDS = 20
TOTALS: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=True)
def _totals() -> Iterator[None]:
    yield
    line = "fuzz totals: " + ", ".join(f"{k} {TOTALS[k]}" for k in (
        "inputs", "tracebacks", "hangs", "lost findings", "leaks", "wrong exit codes"))
    print("\n" + line)
    out = os.environ.get("DRG_FUZZ_TOTALS")
    if out:
        with open(out, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(dict(TOTALS)) + "\n")


@contextlib.contextmanager
def no_hang(seconds: int = HANG_SECONDS) -> Iterator[None]:
    def alarm(*_: Any) -> None:
        raise TimeoutError(f"no answer within {seconds} s")
    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def judge(run: Any, problems: list[str]) -> Any:
    """Run one input; count and record what went wrong."""
    TOTALS["inputs"] += 1
    try:
        with no_hang():
            return run()
    except TimeoutError:
        TOTALS["hangs"] += 1
        problems.append("hang")
    except ConfigError:
        raise
    except BaseException as e:  # noqa: BLE001 - anything else is a traceback
        TOTALS["tracebacks"] += 1
        problems.append("".join(traceback.format_exception_only(type(e), e)).strip())
    return None


scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2 ** 70), 2 ** 70), st.floats(),
    st.text(max_size=12), st.sampled_from(TRICKY_TEXT))
hostile = st.recursive(
    scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                     st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8)
values = st.one_of(hostile, st.integers(30, 300).map(nest))  # deeper: RAW below
RAW = ["NaN", "Infinity", "-Infinity", "1e999", "9" * 5000, "[" * 3000 + "]" * 3000,
       '"\\ud800"', "{}", "[]", "null"]


def paths(value: Any, prefix: tuple = (), depth: int = 6) -> list[tuple]:
    out = [prefix]
    if depth and isinstance(value, dict):
        for k, v in value.items():
            out += paths(v, (*prefix, k), depth - 1)
    elif depth and isinstance(value, list):
        for i, v in enumerate(value):
            out += paths(v, (*prefix, i), depth - 1)
    return out


MARK = "__drg_fuzz_mark__"


def put(doc: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    doc = copy.deepcopy(doc)
    cur = doc
    for k in path[:-1]:
        cur = cur[k]
    cur[path[-1]] = value
    return doc


def text_of(doc: Any, raw: str | None) -> str:
    """JSON text of `doc`, with the marker replaced by a raw literal (NaN, huge ints...)."""
    text = json.dumps(doc, allow_nan=True)
    return text.replace(json.dumps(MARK), raw) if raw is not None else text


@st.composite
def mutation(draw: st.DrawFn, base: Any) -> tuple[Any, str | None, tuple]:
    path = draw(st.sampled_from(paths(base)))
    if draw(st.booleans()):
        return put(base, path, MARK), draw(st.sampled_from(RAW)), path
    return put(base, path, draw(values)), None, path


def one_line_naming(err: str, path: Path) -> bool:
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("dr-audit: error:")]
    return len(lines) == 1 and str(path) in lines[0] and "Traceback" not in err


def cli(argv: list[str], capsys: pytest.CaptureFixture[str], problems: list[str]
        ) -> tuple[int | None, str]:
    capsys.readouterr()
    code = judge(lambda: main(argv), problems)
    err = capsys.readouterr().err
    if "Traceback" in err:
        TOTALS["tracebacks"] += 1
        problems.append("traceback on stderr")
    return code, err


def check_exit(code: int | None, err: str, path: Path, allowed: set[int],
               problems: list[str]) -> None:
    if code is None:
        return
    if code not in allowed or (code == 2 and not one_line_naming(err, path)):
        TOTALS["wrong exit codes"] += 1
        problems.append(f"exit {code}: {err.strip()[-300:]}")


# ---- the hardened reader -------------------------------------------------------------------

@fuzz(60)
@given(doc=values, fmt=st.sampled_from(["json", "yaml"]), raw=st.one_of(st.none(),
                                                                       st.sampled_from(RAW)),
       kind=st.sampled_from(["names", "report", "history"]))
def test_reader_surfaces(doc: Any, fmt: str, raw: str | None, kind: str) -> None:
    problems: list[str] = []
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"in.{fmt}"
        if raw is not None:
            text = text_of({"accounts": {"111122223333": MARK}, "x": doc}, raw)
        elif fmt == "json":
            text = json.dumps(doc)
        else:
            try:
                text = yaml.safe_dump(doc)
            except (yaml.YAMLError, RecursionError):
                return
        path.write_text(text, encoding="utf-8", errors="surrogatepass")

        def run() -> Any:
            try:
                if kind == "names":
                    return load_account_names(path)
                if kind == "report":
                    return load_report_doc(path)
                return history.load(Path(d))  # never raises: bad entries are skipped
            except ConfigError as e:
                if "\n" in str(e) or not str(e).startswith(str(path)):
                    TOTALS["wrong exit codes"] += 1
                    problems.append(f"not one line naming the file: {e}")
                return None
        judge(run, problems)
    assert not problems, problems


# ---- drill history: restore evidence ------------------------------------------------------

DRILL_ENTRY = {"schema": "dr-audit-drill-history/1", "run_id": "r1", "kind": "rds",
               "target": "orders", "region": "us-east-1", "started": "2026-12-01T10:00:00Z",
               "rto_seconds": 600, "verified": True, "cleaned_up": True,
               "outcome": "verified", "exit_code": 0}


@fuzz(60)
@given(edits=st.lists(st.tuples(st.sampled_from([*DRILL_ENTRY, "x"]), values), max_size=3),
       whole=st.one_of(st.none(), values))
def test_drill_history_entries_are_evidence_or_skipped(edits: list[tuple[str, Any]],
                                                       whole: Any) -> None:
    """A hostile drill entry in the history is skipped and counted; the valid one beside it
    is still evidence, and judging never raises."""
    import datetime as dt

    from auditor.history_store import DirStore
    from auditor.services.restore import drill_entries
    from drguard import restore_evidence as rev

    doc: Any = dict(DRILL_ENTRY, run_id="hostile")
    for key, value in edits:
        doc[key] = value
    if whole is not None:
        doc = whole
    problems: list[str] = []
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "drill-a-good.json").write_text(json.dumps(DRILL_ENTRY))
        try:
            text = json.dumps(doc, allow_nan=True)
        except (ValueError, RecursionError):
            return
        (Path(d) / "drill-b-hostile.json").write_text(text, errors="surrogatepass")
        now = dt.datetime(2026, 12, 5, tzinfo=dt.UTC)

        def run() -> Any:
            entries, skipped = drill_entries(DirStore(Path(d)), now)
            assert len(entries) + skipped == 2, (entries, skipped)
            assert DRILL_ENTRY in entries
            db = rev.Resource("rds", "orders", "us-east-1",
                              "arn:aws:rds:us-east-1:123456789012:db:orders")
            (ev,) = rev.gather([db], entries, [], {}, now)
            assert ev.last is not None  # the valid drill is evidence, whatever is beside it
            return rev.pick([ev])
        judge(run, problems)
    assert not problems, problems


# ---- plan ---------------------------------------------------------------------------------

PREVIEW = _preview()
PREVIEW["diagnostics"] = []


@fuzz(40)
@given(change=mutation(PREVIEW))
def test_plan_surface(tmp_path_factory: pytest.TempPathFactory,
                      capsys: pytest.CaptureFixture[str], change: tuple) -> None:
    doc, raw, where = change
    problems: list[str] = []
    tmp = tmp_path_factory.mktemp("plan")
    path = tmp / "preview.json"
    path.write_text(text_of(doc, raw), encoding="utf-8", errors="surrogatepass")
    out = tmp / "out"
    code, err = cli(["plan", "--file", str(path), "--output-dir", str(out), "--format",
                     "json,md,html,sarif"], capsys, problems)
    check_exit(code, err, path, {0, 1, 2, 3}, problems)
    if code in (0, 1, 3):
        text = "\n".join(p.read_text(errors="replace") for p in out.iterdir())
        if SENTINEL in text + err:
            TOTALS["leaks"] += 1
            problems.append("sentinel in the output")
        # the replacement of orders-db is judged unless the mutation touched that step's core
        core = where[:3] in [("steps", 0, k) for k in ("op", "urn", "oldState")] \
            or len(where) < 3
        report = json.loads((out / "report.json").read_text())
        if not core and not any(f["control"] == "plan-destroys-data"
                                and f["status"] in ("fail", "error")
                                for f in report["findings"]):
            TOTALS["lost findings"] += 1
            problems.append(f"lost the replacement finding ({where})")
    assert not problems, problems


# ---- repo ---------------------------------------------------------------------------------

STACK = yaml.safe_load(REPO_FILES["infra/Pulumi.prod.yaml"].replace("!!str ", "")
                       .replace("!custom ", "").replace(
                           "  app:apiKey:\n    secure: v1:AAAABBBB\n", ""))


@fuzz(40)
@given(change=mutation(STACK), edits=st.lists(st.tuples(st.integers(0, 10 ** 5),
                                                        st.binary(max_size=3)), max_size=2))
def test_repo_surface(tmp_path_factory: pytest.TempPathFactory,
                      capsys: pytest.CaptureFixture[str], change: tuple,
                      edits: list[tuple[int, bytes]]) -> None:
    doc, raw, where = change
    problems: list[str] = []
    tmp = tmp_path_factory.mktemp("repo")
    repo = tmp / "repo"
    (repo / "infra").mkdir(parents=True)
    try:
        text = yaml.safe_dump(doc, allow_unicode=True) if raw is None else \
            yaml.safe_dump(doc).replace(MARK, raw[:5000])
    except (yaml.YAMLError, RecursionError):
        return
    data = bytearray(text.encode("utf-8", "surrogatepass"))
    for pos, chunk in edits:
        at = pos % (len(data) + 1)
        data[at:at + len(chunk)] = chunk
    (repo / "infra" / "Pulumi.prod.yaml").write_bytes(bytes(data))
    out = tmp / "out"
    code, err = cli(["repo", str(repo), "--output-dir", str(out), "--format", "json,md,html"],
                    capsys, problems)
    check_exit(code, err, repo, {0, 1, 3}, problems)
    if code in (0, 1, 3):
        texts = "\n".join(p.read_text(errors="replace") for p in out.iterdir())
        if SENTINEL in texts + err:
            TOTALS["leaks"] += 1
            problems.append("sentinel in the output")
        # app:dbPassword untouched and the file intact: its plaintext is still a finding
        if not edits and where[:2] != ("config", "app:dbPassword") and where[:1] != ("config",) \
                and where != ():
            report = json.loads((out / "report.json").read_text())
            refused = any(f["status"] == "error" and f["resource"] == "infra/Pulumi.prod.yaml"
                          for f in report["findings"]) and code == 3
            if not refused and not any(f["status"] == "fail" for f in report["findings"]):
                TOTALS["lost findings"] += 1
                problems.append(f"lost the plaintext finding ({where})")
    assert not problems, problems


# ---- merge --------------------------------------------------------------------------------

A = "111122223333"


def _shard_doc(i: int, n: int, status: str) -> dict[str, Any]:
    f = Finding(control="rds-backup-retention", status=status, source="live",  # type: ignore[arg-type]
                resource=f"arn:aws:rds:us-east-1:{A}:db:orders", message="m", account=A,
                region="us-east-1")
    run = {"command": "scan", "tool_version": "0", "mode": "org", "principal_account": A,
           "regions": ["us-east-1"], "accounts": [A], "shard": f"{i}/{n}", "skipped": {},
           "fail_on": "high"}
    return json.loads(render_reports([f], run, ["json"])["json"])


SHARD = _shard_doc(2, 2, "pass")


@fuzz(40)
@given(change=mutation(SHARD))
def test_merge_surface(tmp_path_factory: pytest.TempPathFactory,
                       capsys: pytest.CaptureFixture[str], change: tuple) -> None:
    doc, raw, where = change
    problems: list[str] = []
    tmp = tmp_path_factory.mktemp("merge")
    good = tmp / "a.json"
    good.write_text(json.dumps(_shard_doc(1, 2, "fail")))
    bad = tmp / "b.json"
    bad.write_text(text_of(doc, raw), encoding="utf-8", errors="surrogatepass")
    out = tmp / "out"
    code, err = cli(["merge", str(good), str(bad), "--output-dir", str(out), "--format",
                     "json,md"], capsys, problems)
    check_exit(code, err, bad, {1, 2}, problems)  # shard 1's fail always wins
    if code is not None and code != 2:
        report = json.loads((out / "report.json").read_text())
        if not any(f["status"] == "fail" for f in report["findings"]):
            TOTALS["lost findings"] += 1
            problems.append("the fail of shard 1 was lost")
    assert not problems, problems


# ---- files that are not regular files --------------------------------------------------------

@pytest.mark.parametrize("surface", ["config", "waivers", "names", "baseline", "merge", "plan",
                                     "state", "repo", "repo-history", "history-entry"])
def test_fifos_are_refused_by_name_never_waited_on(tmp_path: Path, surface: str,
                                                   capsys: pytest.CaptureFixture[str],
                                                   caplog: pytest.LogCaptureFixture) -> None:
    fifo = tmp_path / "in.json"
    os.mkfifo(fifo)
    out = ["--output-dir", str(tmp_path / "out"), "--format", "json"]
    preview = tmp_path / "p.json"
    preview.write_text(json.dumps(PREVIEW))
    shard = tmp_path / "s.json"
    shard.write_text(json.dumps(_shard_doc(1, 1, "fail")))
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"waiversFile: {fifo}\n")
    repo = tmp_path / "repo"
    (repo / "infra").mkdir(parents=True)
    hist = tmp_path / "hist"
    hist.mkdir()
    argv = {
        "config": ["plan", "--file", str(preview), "--config", str(fifo), *out],
        "waivers": ["plan", "--file", str(preview), "--config", str(cfg), *out],
        "names": ["plan", "--file", str(preview), "--account-names", str(fifo), *out],
        "baseline": ["plan", "--file", str(preview), "--baseline", str(fifo), *out],
        "merge": ["merge", str(shard), str(fifo), *out],
        "plan": ["plan", "--file", str(fifo), *out],
        "state": ["state", "--file", str(fifo), *out],
        "repo": ["repo", str(repo), *out],
        "repo-history": ["repo", str(repo), "--history", f"prod={fifo}", *out],
        "history-entry": ["plan", "--file", str(preview), "--history", str(hist), *out],
    }[surface]
    if surface == "repo":
        os.mkfifo(repo / "infra" / "Pulumi.prod.yaml")
    if surface == "history-entry":
        os.mkfifo(hist / "20260101T000000000000Z-plan.json")
    problems: list[str] = []
    code, err = cli(argv, capsys, problems)
    assert not problems, problems
    if surface in ("repo", "repo-history"):
        assert code == 3, err  # the rest was read: incomplete, with the reason
        report = json.loads((tmp_path / "out" / "report.json").read_text())
        assert "FIFO" in json.dumps(report["run"])
    elif surface == "history-entry":
        assert code in (1, 3) and "FIFO" in caplog.text  # skipped with a warning, never fatal
    else:
        assert code == 2 and one_line_naming(err, fifo), err
        assert "FIFO" in err


def test_a_lone_surrogate_in_a_refusal_is_shown_escaped(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    path = tmp_path / "preview.json"
    doc = put(PREVIEW, ("steps", 0, "urn"), MARK)
    path.write_text(text_of(doc, '"\\ud800"'))
    problems: list[str] = []
    code, err = cli(["plan", "--file", str(path), "--output-dir", str(tmp_path / "out")],
                    capsys, problems)
    assert not problems and code == 2 and one_line_naming(err, path), err
    assert "\\ud800" in err


@fuzz(60)
@given(edits=st.lists(st.tuples(st.sampled_from([*DRILL_ENTRY, "signature", "x"]), values),
                      max_size=3),
       whole=st.one_of(st.none(), values))
def test_signed_history_never_takes_a_hostile_entry(edits: list[tuple[str, Any]],
                                                    whole: Any) -> None:
    """With --history-key, a hostile entry (any signature field, any shape) is never evidence
    and never raises; the entry the key signed beside it still is."""
    import datetime as dt

    from auditor import history_key
    from auditor.history_store import DirStore
    from auditor.services.restore import read_drills

    key = b"fuzz-key-0123456789abcdef"
    good = history_key.sign(dict(DRILL_ENTRY), key)
    doc: Any = dict(good, run_id="hostile")
    for k, value in edits:
        doc[k] = value
    if whole is not None:
        doc = whole
    if doc == good:  # the edits gave back the signed entry itself: a true copy, not hostile
        return
    problems: list[str] = []
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "drill-a-good.json").write_text(json.dumps(good))
        try:
            text = json.dumps(doc, allow_nan=True)
        except (ValueError, RecursionError):
            return
        (Path(d) / "drill-b-hostile.json").write_text(text, errors="surrogatepass")

        def run() -> Any:
            h = read_drills(DirStore(Path(d)), dt.datetime(2026, 12, 5, tzinfo=dt.UTC), key)
            assert h.entries == [good], h
            return h
        judge(run, problems)
    assert not problems, problems


# ---- policy documents and replication rules: what the rules judge -------------------------

SCP_DOC = {"Version": "2012-10-17", "Statement": [
    {"Sid": "ProtectBackups", "Effect": "Deny", "Action": ["s3:DeleteBucket", "backup:*"],
     "Resource": "*", "Condition": {"ArnNotLike": {
         "aws:PrincipalArn": "arn:aws:iam::*:role/break-glass"}}},
    {"Sid": "ProtectBreakGlass", "Effect": "Deny", "Action": ["iam:CreateRole",
                                                              "iam:UpdateAssumeRolePolicy"],
     "Resource": "arn:aws:iam::*:role/break-glass"}]}
VAULT_DOC = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Deny", "Principal": {"AWS": "*"}, "Resource": "*", "Action": [
        "backup:DeleteRecoveryPoint", "backup:UpdateRecoveryPointLifecycle",
        "backup:PutBackupVaultAccessPolicy", "backup:DeleteBackupVaultAccessPolicy"],
     "Condition": {"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/bg"}}}]}
REPLICATION_RULE = {"id": "r", "status": "Enabled", "bucket": "copies", "account": "210987654321",
                    "owner": "Destination", "region": "us-west-2", "kmsObjects": "Enabled",
                    "replicaKey": "arn:aws:kms:us-west-2:210987654321:key/k"}


@fuzz(80)
@given(data=st.data(), what=st.sampled_from(["scp", "vault", "replication"]))
def test_hostile_policies_and_replication_rules_are_judged_never_raise(
        data: st.DataObject, what: str) -> None:
    """SCPs, vault policies and replication rules come from stacks and accounts an attacker
    may write: every mutation is judged (a verdict, or a document refused as not JSON), never
    a traceback."""
    from drguard import iampolicy
    from drguard.controls import recovery, s3
    from drguard.controls.s3 import Bucket

    problems: list[str] = []
    base = {"scp": SCP_DOC, "vault": VAULT_DOC, "replication": REPLICATION_RULE}[what]
    doc, _, _ = data.draw(mutation(base))
    sse = data.draw(st.one_of(st.sampled_from(["aws:kms", "AES256", None]), values))

    def run() -> Any:
        if what == "scp":
            try:
                stmts = iampolicy.statements(doc)
            except ValueError:  # not a JSON object: the callers report it unreadable
                return None
            principals = iampolicy.Principals(account="111122223333", guards=stmts)
            return iampolicy.analyze(doc, ["s3:DeleteBucket", "backup:DeleteRecoveryPoint"],
                                     principals)
        if what == "vault":
            v = recovery.VaultPolicy(ref="v", name="v", account="123456789012",
                                     region="us-east-1", policy=doc)
            return recovery.deny_delete(v, {"allowedPrincipals": ["arn:aws:iam::*:role/bg"]})
        rules = [doc] if isinstance(doc, dict) else []
        p = recovery.Protected(ref="b", name="b", kind="backup bucket", account="123456789012",
                               replication=rules, sse=sse)
        b = Bucket(ref="b", name="b", region="us-east-1", replication=rules, sse=sse,
                   scope_reasons=["name"])
        return recovery.cross_account_copy(p, {"maxCopyAgeHours": 26}), s3.replication(b)
    judge(run, problems)
    assert not problems, (what, doc, sse, problems)
