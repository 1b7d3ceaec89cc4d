"""`dr-audit repo` on hostile repositories: YAML bombs, recursive aliases, huge, binary and
non-UTF-8 files named .yaml, symbolic links out of the repository, damaged history files.
Each gives a one-line reason and a counted skip (the run is incomplete), never a traceback."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from auditor.cli import main
from auditor.repo import RepoOptions, audit, parse_history_arg
from auditor.repo.files import MAX_FILE_BYTES, RepoInputError, load_yaml
from drguard.settings import Settings

BILLION_LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{n}: &{n} [{', '.join(['*' + p] * 9)}]\n"
    for p, n in zip("abcdefgh", "bcdefghi", strict=True))


def write(root: Path, rel: str, data: str | bytes) -> Path:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        p.write_bytes(data)
    else:
        p.write_text(data)
    return p


def cli(tmp_path: Path, repo: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    out = tmp_path / "report"
    code = main(["repo", str(repo), *extra, "--output-dir", str(out), "--format", "json,md"])
    return code, json.loads((out / "report.json").read_text())


def test_billion_laughs_is_refused_quickly() -> None:
    with pytest.raises(RepoInputError, match="expands to more than"):
        load_yaml(BILLION_LAUGHS)


def test_recursive_alias_and_deep_nesting_are_refused() -> None:
    with pytest.raises(RepoInputError, match="recursive YAML alias"):
        load_yaml("a: &x [*x]\n")
    with pytest.raises(RepoInputError, match="nested too deeply"):
        load_yaml("[" * 20000 + "]" * 20000)
    # a tag is never constructed: the value is read as the plain data written under it
    assert load_yaml("a: !!python/object/apply:os.system ['true']\n") == {"a": ["true"]}
    assert load_yaml("a: !!float 123\nb: !custom x\n") == {"a": "123", "b": "x"}
    with pytest.raises(RepoInputError, match="not valid YAML: month must be in 1..12"):
        load_yaml("expires: 2026-13-45\n")


@pytest.mark.parametrize("rel,data,reason", [
    ("Pulumi.bomb.yaml", BILLION_LAUGHS, "alias bomb"),
    ("Pulumi.huge.yaml", "config:\n" + "  app:k: v\n" * (MAX_FILE_BYTES // 10 + 1),
     "larger than"),
    ("Pulumi.bin.yaml", b"\x7fELF\x02\x01\x01\x00\x00\x00" * 10, "binary file"),
    ("Pulumi.latin1.yaml", "config:\n  app:name: caf\xe9\n".encode("latin-1"), "not UTF-8"),
    ("Pulumi.broken.yaml", "config:\n  app:a: [unclosed\n", "not valid YAML"),
    # the problem and where, not the parser's context first
    ("Pulumi.quote.yaml", "config:\n  app:a: 'unclosed\n",
     "not valid YAML: line 3, column 1: found unexpected end of stream (while scanning a "
     "quoted scalar that starts at line 2, column 10)"),
    ("Pulumi.list.yaml", "- just\n- a list\n", "not a YAML mapping"),
    (".github/workflows/bomb.yml", BILLION_LAUGHS, "alias bomb"),
    (".github/workflows/notes.yml", "title: not a workflow\n", "not a GitHub Actions workflow"),
])
def test_bad_file_is_one_line_error_and_counted_skip(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], rel: str, data: str | bytes,
        reason: str) -> None:
    repo = tmp_path / "repo"
    write(repo, rel, data)
    write(repo, "Pulumi.ok.yaml", "config:\n  app:region: us-east-1\n")
    code, doc = cli(tmp_path, repo)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert code == 3, doc["summary"]
    assert doc["run"]["skipped"]["repoFiles"] == 1
    detail = doc["run"]["skipped_detail"]
    assert detail[0]["path"] == rel and reason in detail[0]["reason"]
    assert "\n" not in detail[0]["reason"]
    errors = [f for f in doc["findings"] if f["status"] == "error"]
    assert [f["resource"] for f in errors] == [rel]
    assert doc["summary"]["incomplete"] is True
    # the good file next to it is still judged
    assert any(f["resource"] == "Pulumi.ok.yaml" and f["status"] == "pass"
               for f in doc["findings"])
    assert "incomplete" in (tmp_path / "report" / "report.md").read_text().lower()


def test_symlinks_out_of_the_repository_are_never_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    secret = write(outside, "Pulumi.prod.yaml",
                   "config:\n  app:dbPassword: Pl4nted-Outside-Value\n")
    write(outside, "wf/deploy.yml", "on: push\njobs: {}\n")
    repo = tmp_path / "repo"
    write(repo, "infra/Pulumi.yaml", "name: app\nruntime: python\n")
    os.symlink(secret, repo / "infra" / "Pulumi.prod.yaml")
    os.symlink(outside / "wf", repo / "linked-dir")
    os.symlink(tmp_path / "missing.yaml", repo / "Pulumi.gone.yaml")
    # an in-repository link is read through its target
    write(repo, "shared/Pulumi.base.yaml", "config:\n  app:region: us-east-1\n")
    os.symlink(repo / "shared" / "Pulumi.base.yaml", repo / "infra" / "Pulumi.dev.yaml")
    findings, run = audit(RepoOptions(repo), Settings())
    assert run["skipped"]["repoFiles"] == 3
    reasons = {d["path"]: d["reason"] for d in run["skipped_detail"]}
    assert "out of the repository" in reasons["infra/Pulumi.prod.yaml"]
    assert "outside the repository" in reasons["linked-dir"]
    assert "Pulumi.gone.yaml" in reasons
    assert {f.resource: f.status for f in findings} == {"infra/Pulumi.dev.yaml": "pass",
                                                        "shared/Pulumi.base.yaml": "pass"}
    assert not any("Pl4nted" in json.dumps(f.to_dict()) for f in findings)


@pytest.mark.parametrize("data,reason", [
    (b"\xff\xfe not json", "not UTF-8"),
    (b"{\"version\": 1", "not valid JSON"),
    (b"{\"updates\": 3}", "expected a JSON array"),
    (b"[" * 100000 + b"]" * 100000, "nested more than 64 levels"),
    (b"[{\"version\": NaN}]", "NaN"),
])
def test_damaged_history_file_is_an_error_not_a_traceback(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], data: bytes, reason: str) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    hist = write(tmp_path, "hist.json", data)
    code, doc = cli(tmp_path, repo, "--history", f"prod={hist}")
    assert code == 3 and "Traceback" not in capsys.readouterr().err
    (f,) = doc["findings"]
    assert f["status"] == "error" and f["resource"] == "prod#history" and reason in f["message"]
    assert doc["run"]["skipped"]["historyFiles"] == 1


def test_bad_history_records_are_skipped_and_counted(tmp_path: Path) -> None:
    good = {"version": 9, "kind": "update", "startTime": "2026-11-30T10:00:00.000Z",
            "environment": {"ci.system": "GitHub Actions", "git.dirty": "false",
                            "git.headName": "refs/heads/main"}}
    hist = write(tmp_path, "h.json", json.dumps(
        [good, "junk", {"kind": "update"}, {"version": 7, "startTime": "last tuesday"},
         {"version": 6, "startTime": 1e300}]))
    findings, run = audit(RepoOptions(tmp_path, histories=[parse_history_arg(str(hist))]),
                          Settings())
    assert [(f.resource, f.status) for f in findings] == [("h#update-9", "pass")]
    assert run["skipped"]["historyRecords"] == 4


def test_file_names_that_are_not_utf8_are_reported(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".github" / "workflows").mkdir(parents=True)
    root = os.fsencode(repo)
    with open(root + b"/Pulumi.\xff.yaml", "wb") as fh:
        fh.write(b"config:\n  app:dbPassword: Pl4nted-name-value\n")
    with open(root + b"/.github/workflows/\xfe.yml", "wb") as fh:
        fh.write(b"on: push\njobs:\n  a:\n    runs-on: x\n"
                 b"    env: {AWS_SECRET_ACCESS_KEY: x}\n    steps: []\n")
    code, doc = cli(tmp_path, repo)
    assert code == 1
    assert sorted(f["resource"] for f in doc["findings"]) == [
        ".github/workflows/\udcfe.yml#jobs.a", "Pulumi.\udcff.yaml#app:dbPassword"]
    assert "Pl4nted" not in (tmp_path / "report" / "report.json").read_text()


def test_a_directory_that_cannot_be_listed_is_counted(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "infra/Pulumi.dev.yaml", "config:\n  app:region: us-east-1\n")
    write(tmp_path, "locked/Pulumi.prod.yaml", "config:\n  app:dbPassword: x1\n")
    real = os.scandir

    def scandir(path: Any = ".") -> Any:
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    findings, run = audit(RepoOptions(tmp_path), Settings())
    assert run["skipped"] == {"repoFiles": 1}
    assert run["skipped_detail"] == [{"path": "locked", "reason": "directory cannot be "
                                                              "listed: Permission denied"}]
    assert [f.resource for f in findings] == ["infra/Pulumi.dev.yaml"]
