"""ci-cloud-credentials: GitHub Actions workflows reach AWS by OIDC, not long-lived keys.

A job **reaches AWS** when one of its steps uses `aws-actions/configure-aws-credentials` or
`pulumi/actions`, when an `AWS_*` variable is in its environment (workflow, job or step
`env`), or when it calls a reusable workflow handing it AWS key secrets.

It **fails** when, anywhere in what the job sees:
- `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` are set in `env` (workflow, job or step level),
  or passed to a reusable workflow (`with:` / `secrets:`);
- a `configure-aws-credentials` step is given `aws-access-key-id` / `aws-secret-access-key`
  (long-lived keys, even when it then assumes a role);
- a `configure-aws-credentials` step has `role-to-assume` but the job's effective permissions
  (the job's `permissions`, else the workflow's) do not grant `id-token: write` (or
  `write-all`): without the OIDC token the action falls back to whatever keys the runner has.

It **passes** when every AWS-reaching step authenticates by `role-to-assume` with
`id-token: write`, or when the job reaches AWS without any credential in the workflow (e.g.
`pulumi/actions` used only with a Pulumi Cloud backend, or credentials from Pulumi ESC):
then no long-lived key is stored in GitHub. Workflows are read from `.github/workflows/*.yml`
and `*.yaml` (GitHub does not look in subdirectories). YAML 1.1 reads the key `on` as the
boolean true; both spellings are accepted. Values are never copied into findings.
"""

from __future__ import annotations

from dataclasses import field, replace
from typing import Any

from drguard.records import record
from drguard.verdict import Remediation, Verdict

from .files import line_of

KEY_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
KEY_INPUTS = ("aws-access-key-id", "aws-secret-access-key")
CONFIGURE = "aws-actions/configure-aws-credentials"
PULUMI = "pulumi/actions"


def _uses(step: Any) -> str:
    u = step.get("uses") if isinstance(step, dict) else None
    return u.strip() if isinstance(u, str) else ""


def _action(uses: str) -> str:
    """`owner/repo` of a `uses:` (no ref, no subdirectory), lower-cased."""
    name = uses.split("@", 1)[0].lower()
    return "/".join(name.split("/")[:2])


def _env_keys(env: Any) -> list[str]:
    return [str(k) for k in env] if isinstance(env, dict) else []


def id_token_write(permissions: Any) -> bool:
    if isinstance(permissions, str):
        return permissions.strip() == "write-all"
    if isinstance(permissions, dict):
        return str(permissions.get("id-token", "")).strip() == "write"
    return False


@record
class JobCheck:
    """A CI workflow job as checked: where it is, how it reaches AWS, what is wrong."""

    workflow: str             # the workflow's name (or its file)
    rel: str
    job: str
    job_name: str
    line: int
    reaches: list[str] = field(default_factory=list)     # how it reaches AWS (step names)
    oidc_steps: list[str] = field(default_factory=list)
    problems: list[tuple[str, int]] = field(default_factory=list)  # (what, line)
    id_token: bool = False
    permissions_from: str = "default"


def _step_name(step: Any, index: int) -> str:
    if isinstance(step, dict):
        for k in ("name", "id", "uses"):
            v = step.get(k)
            if isinstance(v, str) and v.strip():
                return v.strip()
    return f"step {index + 1}"


def check_job(rel: str, workflow: str, doc: dict[str, Any], job_id: str,
              job: dict[str, Any]) -> JobCheck:
    jobs = doc.get("jobs")
    jc = JobCheck(workflow=workflow, rel=rel, job=job_id,
                  job_name=str(job.get("name") or job_id), line=line_of(jobs, job_id))
    if "permissions" in job:
        perms, jc.permissions_from = job.get("permissions"), "job"
    elif "permissions" in doc:
        perms, jc.permissions_from = doc.get("permissions"), "workflow"
    else:
        perms = None
    jc.id_token = id_token_write(perms)
    wf_env, job_env = doc.get("env"), job.get("env")
    for where, env in (("workflow", wf_env), ("job", job_env)):
        keys = _env_keys(env)
        if any(k.upper().startswith("AWS_") for k in keys):
            jc.reaches.append(f"{where} env")
        for k in keys:
            if k.upper() in KEY_ENV:
                jc.problems.append((f"{where}-level env sets {k} (a long-lived access key)",
                                    line_of(env, k)))
    # reusable workflow call
    uses = job.get("uses")
    if isinstance(uses, str):
        for part in ("with", "secrets"):
            block = job.get(part)
            for k in _env_keys(block):
                if k.upper() in KEY_ENV or k.lower() in KEY_INPUTS:
                    jc.reaches.append(f"reusable workflow {uses}")
                    jc.problems.append((f"passes {k} to the reusable workflow {uses} "
                                        "(a long-lived access key)", line_of(block, k)))
    steps = job.get("steps")
    if not isinstance(steps, list):
        steps = []
    for i, step in enumerate(steps):
        if not isinstance(step, dict):
            continue
        name = _step_name(step, i)
        s_line = line_of(steps, i)
        action = _action(_uses(step))
        s_env = step.get("env")
        s_keys = _env_keys(s_env)
        if action in (CONFIGURE, PULUMI) or any(k.upper().startswith("AWS_") for k in s_keys):
            jc.reaches.append(f"step {name!r}")
        for k in s_keys:
            if k.upper() in KEY_ENV:
                jc.problems.append((f"step {name!r} sets {k} in its env (a long-lived access "
                                    "key)", line_of(s_env, k)))
        if action != CONFIGURE:
            continue
        with_ = step.get("with")
        inputs = {str(k).lower(): k for k in _env_keys(with_)}
        keys_given = [inputs[k] for k in KEY_INPUTS if k in inputs]
        if keys_given:
            jc.problems.append((f"step {name!r} gives configure-aws-credentials "
                                f"{', '.join(map(str, keys_given))} (long-lived keys)",
                                line_of(with_, keys_given[0], s_line)))
        elif "role-to-assume" in inputs:
            if jc.id_token:
                jc.oidc_steps.append(name)
            else:
                where = {"job": "the job's permissions",
                         "workflow": "the workflow's permissions"}.get(
                    jc.permissions_from, "no permissions block (the default token)")
                jc.problems.append((f"step {name!r} assumes a role but {where} do not grant "
                                    "id-token: write, so no OIDC token is available and the "
                                    "action falls back to long-lived credentials",
                                    line_of(with_, inputs["role-to-assume"], s_line)))
        elif "web-identity-token-file" in inputs:
            jc.oidc_steps.append(name)
    return jc


def check_workflow(rel: str, doc: dict[str, Any]) -> list[JobCheck]:
    """Every job of a parsed workflow that reaches AWS."""
    name = doc.get("name")
    workflow = str(name) if isinstance(name, str) and name.strip() else rel
    jobs = doc.get("jobs")
    out = []
    for job_id, job in (jobs or {}).items():
        if not isinstance(job, dict):
            continue
        jc = check_job(rel, workflow, doc, str(job_id), job)
        if jc.reaches:
            out.append(jc)
    return out


def is_workflow(doc: Any) -> bool:
    return isinstance(doc, dict) and isinstance(doc.get("jobs"), dict) and \
        ("on" in doc or True in doc)


def verdict(jc: JobCheck, fix: Remediation | None = None) -> Verdict:
    ev = {"file": jc.rel, "line": jc.problems[0][1] if jc.problems else jc.line,
          "workflow": jc.workflow, "job": jc.job, "reachesAwsVia": sorted(set(jc.reaches)),
          "idTokenWrite": jc.id_token, "permissionsFrom": jc.permissions_from,
          "oidcSteps": jc.oidc_steps}
    label = f"Workflow {jc.workflow!r} ({jc.rel}), job {jc.job!r}"
    if jc.problems:
        ev["problems"] = [p for p, _ in jc.problems]
        v = Verdict.fail(f"{label} reaches AWS without OIDC: "
                         + "; ".join(p for p, _ in jc.problems) + ".", **ev)
        if fix is not None:
            v.remediation = replace(
                fix, summary=f"Give job {jc.job!r} of {jc.rel} `permissions: id-token: write` and "
                             "a configure-aws-credentials step with role-to-assume (trusting "
                             "token.actions.githubusercontent.com for this repository), then "
                             "delete the AWS key secrets and deactivate the keys.")
        return v
    if jc.oidc_steps:
        return Verdict.ok(f"{label} reaches AWS by OIDC (role-to-assume with id-token: write).",
                          **ev)
    return Verdict.ok(f"{label} reaches AWS ({', '.join(sorted(set(jc.reaches)))}) without any "
                      "AWS credential in the workflow (no long-lived key stored in GitHub).",
                      **ev)
