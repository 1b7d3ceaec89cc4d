"""resource-drift-deleted: stateful resources recorded in Pulumi state that no longer exist.

`dr-audit scan --state EXPORT.json`: for every stateful resource the export records whose
type a service declares in its `drift` (`auditor.services.<service>`: RDS instances and clusters,
S3 buckets, DynamoDB tables, AWS Backup vaults, ...), one read-only call
in the resource's own region and account (Describe*/Head*) says whether it still exists. Gone
means someone deleted it outside Pulumi: a critical finding. A call that fails for any other
reason is `error` (never `pass`, never a false "deleted"). With `--logs`, each deletion is
linked to the CloudTrail event that did it (`link_events`).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import logging
import shlex
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from drguard.errors import ConfigError
from drguard.evaluate import finding
from drguard.facts import Resource
from drguard.findings import Finding
from drguard.records import record
from drguard.settings import Settings
from drguard.verdict import Remediation, Verdict

from . import aws, services, state
from .collectors import ReadError
from .live import DriftKind
from .services.pulumi import DRIFT_CONTROL

log = logging.getLogger(__name__)

CONTROL = DRIFT_CONTROL


def kinds() -> dict[str, DriftKind]:
    """Pulumi type token -> how to tell it still exists (each service's `drift`)."""
    return services.drift_kinds()


def delete_events() -> frozenset[str]:
    """CloudTrail events that delete a kind of `kinds()` (for --logs)."""
    return frozenset(k.delete_event for k in kinds().values())


AccountFor = Callable[[str | None], "aws.Account | None"]


@record
class Target:
    """One stateful resource of the export, located."""

    res: state.StateResource
    kind: DriftKind
    name: str | None
    region: str
    account: str | None
    arn: str


def _arn_part(arn: Any, index: int) -> str | None:
    if isinstance(arn, str) and arn.startswith("arn:"):
        parts = arn.split(":", 5)
        if len(parts) > index and parts[index]:
            return parts[index]
    return None


def targets(export: state.Export, default_region: str, default_account: str) -> list[Target]:
    """The stateful resources of the export that Pulumi manages (not `.get()` reads, not old
    copies awaiting deletion)."""
    out = []
    for r in export.resources:
        kind = kinds().get(r.type)
        if kind is None or r.external or r.delete or r.pending_replacement or not r.custom:
            continue
        name = next((r.props[k] for k in kind.names if isinstance(r.props.get(k), str)), None)
        if name is None and kind.use_id and r.id:
            name = r.id
        if name == state.UNKNOWN_VALUE:
            name = None
        arn = next((r.props[k] for k in ("arn", "dbInstanceArn", "dbClusterArn")
                    if isinstance(r.props.get(k), str)), None)
        region = r.props.get("region")
        if not isinstance(region, str) or region == state.UNKNOWN_VALUE:
            prov = export.provider_props(r) or {}
            region = prov.get("region") if isinstance(prov.get("region"), str) else None
        region = region or _arn_part(arn, 3) or default_region
        account = _arn_part(arn, 4)
        if arn is None and name is not None:
            arn = kind.arn(region, account or default_account, name)
        out.append(Target(r, kind, name, region, account, arn or r.urn))
    return out


# How to bring back each kind of deleted resource from its backups (AWS CLI), by service.
_RESTORE_CLI = {
    "rds": "aws rds restore-db-instance-from-db-snapshot --db-instance-identifier {name} "
           "--db-snapshot-identifier SNAPSHOT_ID  # or restore-db-instance-to-point-in-time",
    "dynamodb": "aws dynamodb restore-table-to-point-in-time --source-table-name {name} "
                "--target-table-name {name} --use-latest-restorable-time",
    "backup": "aws backup start-restore-job --recovery-point-arn RECOVERY_POINT_ARN "
              "--iam-role-arn RESTORE_ROLE_ARN --metadata file://restore-metadata.json",
}


def _restore(t: Target) -> Remediation:
    """The fix for a resource deleted outside Pulumi: restore it, then reconcile the state."""
    name = t.name or t.res.name
    cli = _RESTORE_CLI.get(t.kind.service)
    return Remediation(
        f"Restore {t.kind.label} {name} from its backups (snapshot, replica or recovery point), "
        "then run `pulumi refresh` so the stack matches what exists.",
        f"# after restoring it under the same name:\n"
        f"#   pulumi refresh --target '{t.res.urn}'\n"
        f"# or, restored under a new name:\n"
        f"#   pulumi import {t.res.type} {t.res.name} NEW_ID",
        cli.format(name=shlex.quote(str(name))) if cli else None)


def _judge(t: Target, account: aws.Account | None, base_id: str) -> tuple[Verdict, str]:
    """(verdict, account id) for one target."""
    ev: dict[str, Any] = {"urn": t.res.urn, "type": t.res.type, "id": t.res.id, "name": t.name,
          "check": t.kind.operation}
    acct = t.account or base_id
    where = f"in account {acct} ({t.region})"
    label = f"{t.kind.label} {t.name or t.res.name!r}"
    if account is None:
        return Verdict("error", f"{label} is recorded in account {acct}, which the scan's "
                                f"credentials do not reach (use --org --role-name, or "
                                f"--role-arn into that account).", ev), acct
    if t.name is None:
        return Verdict("error", f"{label}: the export does not say its name (an encrypted "
                                "secret or an unknown value), so whether it still exists "
                                "cannot be checked.", ev), acct
    try:
        t.kind.call(account.client(t.kind.service, t.region), t.name)
    except (ClientError, BotoCoreError) as e:
        code = (str(e.response.get("Error", {}).get("Code", ""))
                if isinstance(e, ClientError) else "")
        if code in t.kind.gone:
            return Verdict("fail", f"{label} is recorded in the Pulumi state ({t.res.urn}) "
                                   f"but no longer exists {where}: it was deleted outside "
                                   "Pulumi.", ev, _restore(t)), acct
        err = ReadError.of(t.kind.operation, e)
        ev["readErrors"] = [err.to_dict()]
        return Verdict("error", f"Could not tell whether {label} still exists {where}: "
                                f"{err}.", ev), acct
    return Verdict.ok(f"{label} still exists {where}.", **ev), acct


def check(export: state.Export, base: aws.Account, account_for: AccountFor,
          settings: Settings, default_region: str, workers: int = 8,
          today: dt.date | None = None) -> list[Finding]:
    """A resource-drift-deleted finding (source `live`) per stateful resource of `export`."""
    if CONTROL not in settings.enabled:
        return []
    found = targets(export, default_region, base.id)
    accounts: dict[str | None, aws.Account | None] = {}
    for t in found:  # open each account once, before the pool (assume-role is not free)
        if t.account not in accounts:
            accounts[t.account] = account_for(t.account)

    def one(t: Target) -> Finding:
        verdict, acct = _judge(t, accounts[t.account], base.id)
        tags = t.res.props.get("tags")
        fact = Resource(ref=t.arn, name=t.name or t.res.name, type=t.res.type, account=acct,
                        region=t.region,
                        tags=tags if isinstance(tags, dict) else {})
        return finding(CONTROL, fact, verdict, "live", settings, today)

    with ThreadPoolExecutor(max_workers=max(1, workers),
                            thread_name_prefix="dr-audit-drift") as pool:
        out = list(pool.map(one, found))
    state.redact(out, export.secrets)  # names and ids from a --show-secrets export
    return out


def link_events(findings: Iterable[Finding], hits: Iterable[Any]) -> None:
    """Set `event` on each deleted-resource finding to the CloudTrail call that deleted it.

    The logs side files a DeleteDBInstance under rds-deletion-protection, a DeleteBucket under
    the backup-bucket controls, and so on; here any such deletion explains a missing resource,
    so the hits are relabelled to this control and matched with the logs side's `explain`."""
    from .logs.explain import explain

    relabelled = [dataclasses.replace(h, control=CONTROL) for h in hits
                  if h.status == "fail" and h.event.get("eventName") in delete_events()
                  and h.detection.links_by != "account"]
    explain([f for f in findings if f.control == CONTROL], relabelled)


def validate(path: Any) -> None:
    """Read the export now, so a damaged file stops the scan before it starts."""
    state.load(path)


def scan_hook(args: argparse.Namespace, settings: Settings, result: Any) -> list[Finding]:
    """`dr-audit scan --state`: called by auditor.commands.scan after the live scan."""
    export = state.load(args.state)
    options = aws.AwsOptions(profile=args.profile, role_arn=args.role_arn,
                             external_id=args.external_id, endpoint_url=args.endpoint_url)
    session, principal = getattr(result, "session", None), result.run.get("principal_account")
    # The scan's own session when it exposes one (same credentials and role), else a new one.
    base = aws.Account(session, principal, options) if session is not None and principal \
        else aws.connect(options)
    opened: dict[str, aws.Account | None] = {base.id: base}

    def account_for(acct: str | None) -> aws.Account | None:
        if acct is None or acct in opened:
            return opened.get(acct or base.id)
        if not (args.org and args.role_name):
            opened[acct] = None
            return None
        role = f"arn:aws:iam::{acct}:role/{args.role_name}"
        try:
            session = aws.assume_role(base.session, role, options, args.external_id)
            opened[acct] = aws.Account(session, acct, options)
        except (ClientError, BotoCoreError, ConfigError) as e:
            log.warning("--state: cannot assume %s: %s", role, e)
            opened[acct] = None
        return opened[acct]

    regions = getattr(args, "regions", None) or [base.session.region_name or aws.DEFAULT_REGION]
    findings = check(export, base, account_for, settings, regions[0],
                     workers=getattr(args, "workers", 8))
    result.run["state"] = {
        "file": str(args.state), "checked": len(findings),
        "deleted": sum(1 for f in findings if f.status == "fail"),
        "unverified": sum(1 for f in findings if f.status == "error")}
    return findings
