"""change-reviewed-deploys: every change to a stack ran in CI, clean, from the default branch.

Input: `pulumi stack history --json` (pkg/cmd/pulumi/stack/stack_history.go, `updateInfoJSON`):
a JSON array, newest first, of
`{"version", "kind", "startTime", "message", "environment": {...}, "config": {...},
"result", "endTime", "resourceChanges"}` where `startTime` is RFC 5424 with milliseconds
(`2026-11-30T10:00:00.000Z`). The service/DIY-backend shape (`apitype.UpdateInfo`, `startTime`
in Unix seconds, optionally wrapped as `{"updates": [...]}`) is read too.

The environment keys the CLI records (pkg/backend/updates.go, filled by
pkg/cmd/pulumi/metadata): `exec.kind` (cli, auto.local, auto.inline), `ci.system` (set only
when a CI system is detected: "GitHub Actions", "GitLab CI/CD", ..., or PULUMI_CI_SYSTEM),
`git.head`, `git.headName` (e.g. `refs/heads/main`; in CI the CI's branch, e.g. GITHUB_REF or
a pull request's head ref; absent on a detached HEAD), `git.dirty` ("true"/"false", set when
the program ran from a git checkout), `git.author`, `git.committer` (+ `.email`),
`ci.build.url`, `ci.build.type`.

Judged: every update of a kind that changes the stack (`update`, `destroy`, `refresh`,
`import`, `resource-import` by default; previews never) whose start is in the window. It fails
when it did not run in CI (no `ci.system`), did not run from a clean git worktree (`git.dirty`
not "false", which includes no git checkout at all), or not from the default branch
(`git.headName` other than `refs/heads/<default>` / `<default>`, or not recorded). The CLI
records no requester: "who" is the commit's committer (and author when different) and the CI
build. The `config` and `message` of an update are never read into a finding (`config` may
hold decrypted secrets when the file was written with --show-secrets).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from drguard import inputs
from drguard.records import record
from drguard.verdict import Remediation, Verdict

from .files import RepoInputError, Skips

log = logging.getLogger(__name__)

MAX_HISTORY_BYTES = 64 << 20
DEFAULT_KINDS = ("update", "destroy", "refresh", "import", "resource-import")


@record(frozen=True)
class Update:
    """One update of a stack's history: kind, start, result and environment."""

    version: int
    kind: str
    start: dt.datetime
    result: str | None
    env: dict[str, str]

    def who(self) -> str:
        e = self.env
        committer = _person(e.get("git.committer"), e.get("git.committer.email"))
        author = _person(e.get("git.author"), e.get("git.author.email"))
        parts = []
        if committer:
            parts.append(f"commit by {committer}")
        if author and author != committer:
            parts.append(f"authored by {author}")
        ci = e.get("ci.system")
        if ci:
            build = e.get("ci.build.url") or e.get("ci.build.id")
            parts.append(f"{ci}{' build ' + build if build else ''}")
        return ", ".join(parts) or "unknown (no git or CI identity recorded)"


def _person(name: str | None, email: str | None) -> str:
    name, email = (name or "").strip(), (email or "").strip()
    if name and email:
        return f"{name} <{email}>"
    return name or email


def parse_time(value: Any) -> dt.datetime | None:
    """startTime as the CLI writes it (RFC 5424 text) or as the API does (Unix seconds)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return dt.datetime.fromtimestamp(value, dt.UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str) and value.strip():
        text = value.strip().replace("Z", "+00:00")
        try:
            t = dt.datetime.fromisoformat(text)
        except ValueError:
            return None
        return t if t.tzinfo else t.replace(tzinfo=dt.UTC)
    return None


def parse_since(value: str | None) -> dt.datetime | None:
    """--since: a day (YYYY-MM-DD, from its start, UTC) or an ISO 8601 time; ValueError."""
    if not value:
        return None
    t = parse_time(value)
    if t is None:
        raise ValueError(f"--since {value!r}: expected YYYY-MM-DD or an ISO 8601 time")
    return t


def load(path: Path, label: str, skips: Skips) -> list[Update]:
    """The updates of one history file; RepoInputError (one line) when the file is unusable,
    bad records skipped and counted (kind `historyRecords`)."""
    limits = inputs.Limits(max_bytes=MAX_HISTORY_BYTES, max_depth=64)
    try:
        doc = inputs.load(path, "history file", "json", limits)
    except inputs.FileRefused as e:
        raise RepoInputError(str(e).removeprefix(f"{path}: ")) from None
    if isinstance(doc, dict) and isinstance(doc.get("updates"), list):
        doc = doc["updates"]
    if not isinstance(doc, list):
        raise RepoInputError("not `pulumi stack history --json` output (expected a JSON "
                             "array of updates)")
    out: list[Update] = []
    for i, rec in enumerate(doc):
        where = f"{label} update #{i + 1}"
        if not isinstance(rec, dict):
            skips.add("historyRecords", where, "not a JSON object")
            continue
        version = rec.get("version")
        if not isinstance(version, int) or isinstance(version, bool):
            skips.add("historyRecords", where, "no integer version")
            continue
        start = parse_time(rec.get("startTime"))
        if start is None:
            skips.add("historyRecords", f"{label} version {version}",
                      "no readable startTime")
            continue
        env_raw = rec.get("environment")
        env = {str(k): str(v) for k, v in env_raw.items()
               if isinstance(v, str | int | float | bool)} if isinstance(env_raw, dict) else {}
        kind = rec.get("kind")
        result = rec.get("result")
        # no kind recorded: judged as an update (fail closed), never dropped
        out.append(Update(version=version,
                          kind=kind if isinstance(kind, str) and kind else "update",
                          start=start, result=str(result) if isinstance(result, str) else None,
                          env=env))
    return out


def branch_of(head_name: str | None) -> str | None:
    if not head_name:
        return None
    return head_name.removeprefix("refs/heads/")


def problems(u: Update, default_branch: str) -> list[str]:
    e = u.env
    out = []
    if not e.get("ci.system", "").strip():
        out.append(f"it ran from a workstation, not in CI (no ci.system recorded; exec.kind "
                   f"{e.get('exec.kind') or 'not recorded'})")
    dirty = e.get("git.dirty", "").strip().lower()
    if dirty == "true":
        out.append("the worktree had uncommitted changes (git.dirty true)")
    elif dirty != "false":
        out.append("it did not run from a git checkout (no git.dirty recorded), so what ran "
                   "is not in the repository")
    head = e.get("git.headName", "").strip()
    branch = branch_of(head)
    if not branch:
        out.append(f"no branch was recorded (detached HEAD), so it cannot be shown to come "
                   f"from {default_branch!r}")
    elif branch != default_branch:
        out.append(f"it ran from {head!r}, not the default branch {default_branch!r}")
    return out


def verdict(u: Update, label: str, default_branch: str,
            fix: Remediation | None = None) -> Verdict:
    when = u.start.strftime("%Y-%m-%dT%H:%M:%SZ")
    e = u.env
    ev = {"stack": label, "version": u.version, "kind": u.kind, "result": u.result,
          "startTime": when, "who": u.who(), "ciSystem": e.get("ci.system"),
          "execKind": e.get("exec.kind"), "gitHead": e.get("git.head"),
          "gitHeadName": e.get("git.headName"), "gitDirty": e.get("git.dirty"),
          "defaultBranch": default_branch}
    found = problems(u, default_branch)
    what = f"{u.kind or 'update'} version {u.version} of stack {label} at {when} ({u.who()})"
    if found:
        v = Verdict.fail(f"Unreviewed change: {what}: " + "; ".join(found) + ".", **ev)
        if fix is not None:
            v.remediation = replace(
                fix, summary=f"Run {u.kind or 'updates'} of {label} only from CI on "
                             f"{default_branch!r} after review (branch protection with required "
                             "reviews), and take stack write access away from workstations.")
        return v
    return Verdict.ok(f"{what[0].upper()}{what[1:]} ran in {e.get('ci.system')} from a clean "
                      f"checkout of {default_branch!r}.", **ev)
