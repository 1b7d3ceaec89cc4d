"""`dr-audit repo`: an infrastructure repository (and its stacks' update history) against the
repository-side DR controls, offline.

    audit(options, settings) -> (findings, run)

- pulumi-config-secrets on every `Pulumi.<stack>.yaml` (and the `config` of `Pulumi.yaml`);
- ci-cloud-credentials on `.github/workflows/*.yml|yaml`;
- change-reviewed-deploys on each `--history` file (`pulumi stack history --json`);
- the state backends the projects name (`backend.url` of each `Pulumi.yaml`) go into the run
  metadata; `project_backend()` is what `dr-audit scan --project` uses to find the state bucket.

Findings have source `repo`, resources named by repository path (`infra/Pulumi.prod.yaml#key`,
`.github/workflows/deploy.yml#jobs.deploy`) or by stack update (`org/proj/prod#update-42`), and
`evidence.file` / `evidence.line` so SARIF points at the line.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import field
from pathlib import Path
from typing import Any

from drguard.controls.repo import CI_CREDENTIALS, CONFIG_SECRETS, REVIEWED_DEPLOYS
from drguard.evaluate import finding
from drguard.facts import Resource
from drguard.findings import Finding
from drguard.records import record
from drguard.registry import BY_ID
from drguard.settings import Settings
from drguard.verdict import Verdict

from . import config_secrets, history, workflows
from .files import RepoFile, RepoInputError, Skips, load_yaml, read_text, walk

log = logging.getLogger(__name__)

SOURCE = "repo"

_STACK_FILE = re.compile(r"^Pulumi\.(.+)\.ya?ml$")
_PROJECT_FILE = re.compile(r"^Pulumi\.ya?ml$")
_WORKFLOW = re.compile(r"^\.github/workflows/[^/]+\.ya?ml$")


@record(frozen=True)
class HistoryInput:
    """A stack's update history file given to `dr-audit repo`, and its label."""

    stack: str       # label used in findings: the STACK of STACK=FILE, else the file's stem
    path: Path


@record
class RepoOptions:
    """What `dr-audit repo` reads: the repository, update histories, branch, exclusions."""

    root: Path
    histories: list[HistoryInput] = field(default_factory=list)
    since: dt.datetime | None = None
    default_branch: str | None = None   # None: the control's `defaultBranch` parameter
    exclude: tuple[str, ...] = ()


def parse_history_arg(value: str) -> HistoryInput:
    """`--history [STACK=]FILE`."""
    stack, sep, path = value.partition("=")
    if sep and stack and path and not Path(value).exists():
        return HistoryInput(stack.strip(), Path(path))
    p = Path(value)
    return HistoryInput(p.stem, p)


def _wanted(rel: str) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return bool(_PROJECT_FILE.match(name) or _STACK_FILE.match(name) or _WORKFLOW.match(rel))


def backend_url(doc: Any) -> str | None:
    """`backend.url` of a parsed Pulumi.yaml, or None."""
    if isinstance(doc, dict):
        b = doc.get("backend")
        if isinstance(b, dict) and isinstance(b.get("url"), str) and b["url"].strip():
            return b["url"].strip()
    return None


def project_backend(path: Path) -> str | None:
    """`backend.url` of a Pulumi project (a Pulumi.yaml, or a directory holding one).

    Raises drguard.errors.ConfigError naming the file when it cannot be read."""
    from drguard.errors import ConfigError

    p = Path(path)
    if p.is_dir():
        p = next((p / n for n in ("Pulumi.yaml", "Pulumi.yml") if (p / n).is_file()),
                 p / "Pulumi.yaml")
    try:
        doc = load_yaml(read_text(RepoFile(p.name, p)))
    except RepoInputError as e:
        raise ConfigError(f"{p}: {e}") from None
    return backend_url(doc)


def _fix(control: str) -> Any:
    """The control's declared remediation (its summary is then made about one resource)."""
    return getattr(BY_ID.get(control), "fix", None)


class _Run:
    """One `dr-audit repo` run: findings, counts and skips, filled as the inputs are read."""

    def __init__(self, o: RepoOptions, settings: Settings, now: dt.datetime) -> None:
        self.o, self.settings, self.now = o, settings, now
        self.skips = Skips()
        self.findings: list[Finding] = []
        self.counts = {"stackFiles": 0, "projectFiles": 0, "workflows": 0,
                       "workflowJobsReachingAws": 0}
        self.backends: list[dict[str, str]] = []
        self.history_meta: list[dict[str, Any]] = []

    def add(self, control: str, ref: str, verdict: Verdict, name: str | None = None) -> None:
        if control not in self.settings.enabled:
            return
        fact = Resource(ref=ref, name=name or ref)
        self.findings.append(finding(control, fact, verdict, SOURCE, self.settings,
                                     self.now.date()))

    def unreadable(self, control: str, rel: str, reason: str) -> None:
        self.skips.add("repoFiles", rel, reason)
        self.add(control, rel, Verdict("error", f"{rel} could not be checked: {reason}.",
                                       {"file": rel}))

    # ---- repository files ---------------------------------------------------------------

    def scan_files(self) -> None:
        files = list(walk(self.o.root, _wanted, self.skips, self.o.exclude))
        docs: dict[str, Any] = {}
        for f in files:
            control = CI_CREDENTIALS if _WORKFLOW.match(f.rel) else CONFIG_SECRETS
            try:
                docs[f.rel] = load_yaml(read_text(f))
            except RepoInputError as e:
                self.unreadable(control, f.rel, str(e))
        projects: dict[str, str | None] = {}
        for rel, doc in docs.items():
            name = rel.rsplit("/", 1)[-1]
            if _PROJECT_FILE.match(name) and not _WORKFLOW.match(rel):
                d = rel.rsplit("/", 1)[0] if "/" in rel else ""
                url = backend_url(doc)
                projects[d] = url
                if url:
                    self.backends.append({"file": rel, "url": url})
        p = self.settings.of(CONFIG_SECRETS)
        min_len, min_ent = p["minTokenLength"], p["minTokenEntropy"]
        for rel, doc in docs.items():
            name = rel.rsplit("/", 1)[-1]
            if _WORKFLOW.match(rel):
                self.workflow(rel, doc)
                continue
            m = _STACK_FILE.match(name)
            stack = m.group(1) if m else None
            if doc is not None and not isinstance(doc, dict):
                self.unreadable(CONFIG_SECRETS, rel, "not a YAML mapping at the top level")
                continue
            self.counts["stackFiles" if stack else "projectFiles"] += 1
            sc = config_secrets.read_config(rel, doc, stack, min_len, min_ent)
            fix = _fix(CONFIG_SECRETS)
            for pt in sc.plaintext:
                self.add(CONFIG_SECRETS, f"{rel}#{pt.key}",
                         config_secrets.value_verdict(sc, pt, fix))
            backend = _nearest(projects, rel)
            v = config_secrets.provider_verdict(sc, backend, fix)
            if v is not None and (stack is not None or sc.values):
                self.add(CONFIG_SECRETS, rel, v)

    def workflow(self, rel: str, doc: Any) -> None:
        if not workflows.is_workflow(doc):
            self.unreadable(CI_CREDENTIALS, rel, "not a GitHub Actions workflow (no `on` and "
                                                 "`jobs` mappings)")
            return
        self.counts["workflows"] += 1
        for jc in workflows.check_workflow(rel, doc):
            self.counts["workflowJobsReachingAws"] += 1
            self.add(CI_CREDENTIALS, f"{rel}#jobs.{jc.job}",
                     workflows.verdict(jc, _fix(CI_CREDENTIALS)), name=f"{jc.workflow}/{jc.job}")

    # ---- update history -----------------------------------------------------------------

    def scan_history(self) -> None:
        p = self.settings.of(REVIEWED_DEPLOYS)
        branch = self.o.default_branch or p["defaultBranch"]
        kinds = set(p["checkedKinds"])
        for h in self.o.histories:
            meta: dict[str, Any] = {"stack": h.stack, "file": str(h.path)}
            self.history_meta.append(meta)
            try:
                updates = history.load(h.path, h.stack, self.skips)
            except RepoInputError as e:
                self.skips.add("historyFiles", str(h.path), str(e))
                self.add(REVIEWED_DEPLOYS, f"{h.stack}#history",
                         Verdict("error", f"The update history of {h.stack} ({h.path}) could "
                                          f"not be read: {e}.", {"historyFile": str(h.path)}))
                meta["error"] = str(e)
                continue
            judged = [u for u in updates if u.kind in kinds
                      and (self.o.since is None or u.start >= self.o.since)]
            meta.update(updates=len(updates), judged=len(judged))
            for u in judged:
                self.add(REVIEWED_DEPLOYS, f"{h.stack}#update-{u.version}",
                         history.verdict(u, h.stack, branch, _fix(REVIEWED_DEPLOYS)))

    def run_meta(self, started: dt.datetime) -> dict[str, Any]:
        from drguard import __version__

        run: dict[str, Any] = {
            "command": "repo", "tool_version": __version__, "started": started.isoformat(),
            "finished": dt.datetime.now(dt.UTC).isoformat(), "root": str(self.o.root),
            "sources": [str(self.o.root), *(str(h.path) for h in self.o.histories)],
            **self.counts, "stateBackends": self.backends,
            "skipped": dict(self.skips.counts),
        }
        if self.o.histories:
            run["history"] = self.history_meta
            run["since"] = self.o.since.isoformat() if self.o.since else None
            run["defaultBranch"] = (self.o.default_branch
                                    or self.settings.of(REVIEWED_DEPLOYS)["defaultBranch"])
        if self.skips.detail:
            run["skipped_detail"] = list(self.skips.detail)
        if self.o.exclude:
            run["exclude"] = list(self.o.exclude)
        return run


def _nearest(projects: dict[str, str | None], rel: str) -> str | None:
    """backend.url of the Pulumi.yaml in the stack file's directory or the closest above."""
    d = rel.rsplit("/", 1)[0] if "/" in rel else ""
    while True:
        if d in projects:
            return projects[d]
        if not d:
            return None
        d = d.rsplit("/", 1)[0] if "/" in d else ""


def audit(o: RepoOptions, settings: Settings,
          now: dt.datetime | None = None) -> tuple[list[Finding], dict[str, Any]]:
    """Findings and run metadata of one `dr-audit repo` run."""
    started = now or dt.datetime.now(dt.UTC)
    r = _Run(o, settings, started)
    r.scan_files()
    r.scan_history()
    return r.findings, r.run_meta(started)
