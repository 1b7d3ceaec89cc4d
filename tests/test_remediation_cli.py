"""Every AWS CLI fix is a call AWS would take: the operation and each flag exist in botocore's
model of that service, the required members are given, enum values are allowed ones, and no
placeholder stands where the resource's real id or name belongs.

The commands come from the demo's findings (the embedded moto server, a fixed planted
account). A fix may be a small shell script (`&&`, `||`, `$(...)`, `if ... fi`): every `aws`
invocation in it is checked.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.model import OperationModel, Shape

from auditor.cli import main

# CLI service names that differ from botocore's.
SERVICES = {"s3api": "s3", "configservice": "config"}
# Options every command takes (awscli/clidriver.py), with whether they take a value.
GLOBAL = {"--region": True, "--query": True, "--output": True, "--profile": True,
          "--endpoint-url": True, "--no-cli-pager": False, "--debug": False,
          "--no-verify-ssl": False, "--no-paginate": False, "--color": True,
          "--cli-read-timeout": True, "--cli-connect-timeout": True}
SHELL_WORDS = {"if", "then", "else", "elif", "fi", "do", "done", "{", "}", "[", "]", "!"}
PLACEHOLDER = re.compile(
    r"^<.*>$|^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$|0123456789abcdef|^my-|EXAMPLE|^(REGION|ACCOUNT)$")
PLACEHOLDER_ANYWHERE = re.compile(
    r"fs-0123456789abcdef0|\b(ROOT_ID|POLICY_ID|ACCOUNT_ID|AUDIT_BUCKET|REGION)\b|"
    r"my-backup-bucket|\bmy-db\b|<[a-z-]+>")

_session = botocore.session.get_session()


def aws_calls(script: str) -> list[list[str]]:
    """Each `aws ...` invocation of a shell fix, as its words."""
    lexer = shlex.shlex(script.replace("\\\n", " "), posix=True, punctuation_chars=";&|()")
    lexer.whitespace_split = True
    words = list(lexer)
    calls, current = [], None
    for w in words:
        if w == "aws" and current is None:
            current = []
            continue
        if current is not None:
            if set(w) <= set(";&|()") or w in SHELL_WORDS:
                calls.append(current)
                current = None
            else:
                current.append(w)
    if current is not None:
        calls.append(current)
    return calls


def _operation(service: str, command: str) -> OperationModel:
    model = _session.get_service_model(SERVICES.get(service, service))
    by_cli = {botocore.xform_name(op, "-"): op for op in model.operation_names}
    assert command in by_cli, f"aws {service} {command}: no such operation"
    return model.operation_model(by_cli[command])


def _check_value(where: str, shape: Shape, value: str) -> list[str]:
    problems = []
    if shape.type_name == "string":
        enum = getattr(shape, "enum", None) or []
        if enum and value not in enum and not value.startswith("$"):
            problems.append(f"{where}: {value!r} is not one of {enum}")
        elif not enum and PLACEHOLDER.search(value):
            problems.append(f"{where}: placeholder {value!r}")
    elif shape.type_name == "structure":
        members = set(shape.members)
        if value.lstrip().startswith("{"):
            keys = set(json.loads(value))
        else:  # shorthand: Key=Value,Key2=Value2
            keys = {part.split("=", 1)[0] for part in value.split(",") if "=" in part}
        unknown = keys - members
        if unknown:
            problems.append(f"{where}: {sorted(unknown)} not members of {shape.name}")
    return problems


def check_call(words: list[str]) -> list[str]:
    """Problems with one `aws SERVICE OPERATION --flag value ...` call (empty: valid)."""
    assert len(words) >= 2, words
    service, command, args = words[0], words[1], words[2:]
    op = _operation(service, command)
    label = f"aws {service} {command}"
    shape = op.input_shape
    members = {botocore.xform_name(m, "-"): m for m in (shape.members if shape else {})}
    given: set[str] = set()
    problems: list[str] = []
    i = 0
    while i < len(args):
        flag = args[i]
        if not flag.startswith("--"):
            problems.append(f"{label}: stray argument {flag!r}")
            i += 1
            continue
        name = flag[2:]
        if flag in GLOBAL:
            i += 2 if GLOBAL[flag] else 1
            continue
        negated = name.startswith("no-") and name[3:] in members
        key = name[3:] if negated else name
        if key not in members:
            problems.append(f"{label}: {flag} is not a parameter of {op.name}")
            i += 1
            continue
        member = shape.members[members[key]]
        given.add(members[key])
        if member.type_name == "boolean" and (i + 1 == len(args) or args[i + 1].startswith("--")):
            i += 1
            continue
        if negated:
            problems.append(f"{label}: {flag} takes no value")
        if i + 1 >= len(args):
            problems.append(f"{label}: {flag} has no value")
            break
        problems += _check_value(f"{label} {flag}", member, args[i + 1])
        i += 2
    missing = [m for m in (shape.required_members if shape else []) if m not in given]
    if missing:
        problems.append(f"{label}: required {missing} not given")
    return problems


def validate(cli: str) -> list[str]:
    problems = [f"placeholder in {cli[:80]!r}: {m.group(0)}"
                for m in PLACEHOLDER_ANYWHERE.finditer(cli)]
    calls = aws_calls(cli)
    if not calls:
        problems.append(f"no aws call in {cli[:80]!r}")
    for words in calls:
        problems += check_call(words)
    return problems


# ---- the checker itself --------------------------------------------------------------------

@pytest.mark.parametrize("cli, fragment", [
    ("aws s3api put-bucket-versioning --bucket b", "required ['VersioningConfiguration']"),
    ("aws s3api put-bucket-versionin --bucket b", "no such operation"),
    ("aws efs put-backup-policy --file-system-id fs-0123456789abcdef0 "
     "--backup-policy Status=ENABLED", "placeholder"),
    ("aws rds modify-db-instance --db-instance-identifier x --retention 7", "--retention"),
    ("aws organizations attach-policy --policy-id POLICY_ID --target-id r-ab12", "POLICY_ID"),
    ("aws s3api put-bucket-versioning --bucket b --versioning-configuration Stat=Enabled",
     "not members"),
    ("aws organizations list-policies --filter SCP", "is not one of"),
])
def test_the_checker_refuses_what_aws_would(cli: str, fragment: str) -> None:
    try:
        problems = validate(cli)
    except AssertionError as e:
        problems = [str(e)]
    assert any(fragment in p for p in problems), problems


def test_the_checker_reads_shell_scripts() -> None:
    script = ('X=$(aws organizations list-policies --filter SERVICE_CONTROL_POLICY --query '
              '"Policies[0].Id" --output text) && \\\n{ aws organizations list-targets-for-policy '
              '--policy-id "$X" | grep -q . || aws organizations attach-policy --policy-id "$X" '
              '--target-id r-ab12; }')
    assert [c[:2] for c in aws_calls(script)] == [
        ["organizations", "list-policies"], ["organizations", "list-targets-for-policy"],
        ["organizations", "attach-policy"]]
    assert validate(script) == []


# ---- every fix of the demo -----------------------------------------------------------------

@pytest.fixture(scope="module")
def demo_findings(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    out = tmp_path_factory.mktemp("demo")
    main(["demo", "--output-dir", str(out)])
    return json.loads((Path(out) / "report.json").read_text())["findings"]


def test_every_cli_fix_of_the_demo_is_a_valid_aws_call_with_real_ids(demo_findings) -> None:  # noqa: ANN001
    fixes = [(f["control"], f["resource"], f["remediation"]["cli"]) for f in demo_findings
             if (f.get("remediation") or {}).get("cli")]
    assert len({c for c, _, _ in fixes}) >= 12, fixes  # the demo plants most kinds of gap
    problems = [f"{control} {resource}: {p}" for control, resource, cli in fixes
                for p in validate(cli)]
    assert not problems, "\n".join(problems)


def test_the_scp_fix_is_idempotent_and_attaches_to_the_root(demo_findings) -> None:  # noqa: ANN001
    scp = [f["remediation"]["cli"] for f in demo_findings
           if f["control"] == "scp-deny-backup-deletion" and f["status"] == "fail"
           and (f.get("remediation") or {}).get("cli")]
    assert scp
    for cli in scp:
        ops = [c[1] for c in aws_calls(cli)]
        # looked up first, created only when absent, attached only where it is not
        assert ops.index("list-policies") < ops.index("create-policy")
        assert "if [ \"$policy_id\" = None ]; then" in cli
        assert "list-targets-for-policy" in ops and "|| aws organizations attach-policy" in cli
        target = re.search(r"attach-policy --policy-id \"\$policy_id\" --target-id (\S+?);", cli)
        assert target and target.group(1).startswith("r-"), cli
