"""`dr-audit scan --security-hub`: import the scan's findings into AWS Security Hub.

The scan's one write, and only on request. It goes through a session of its own whose guard
lets exactly two write operations through, `securityhub:BatchImportFindings` and
`securityhub:BatchUpdateFindings`; every other non-read operation, on any service, raises
before it is sent (the scan's own sessions keep the read-only guard of auditor.aws).

- Each gap, error and waiver is imported as an ASFF finding whose `Id` is the finding's stable
  id, so a finding imported last night is updated in place (its `CreatedAt` kept).
- A DR Guard finding still ACTIVE in Security Hub that this run no longer reports, for an
  account and region this run scanned completely, is fixed: it is imported again with
  `RecordState: ARCHIVED`, compliance PASSED and workflow RESOLVED, then its workflow is set
  to RESOLVED with BatchUpdateFindings as well (the customer-side field).
- Imports go in batches of 100 (the API's limit); a batch that is throttled or whose findings
  fail for a transient reason is retried with exponential backoff.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import field
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from drguard.findings import Finding
from drguard.records import record

from .aws import AwsOptions, MutatingCallError, base_session, caller_account, is_read_only
from .reports import asff

log = logging.getLogger(__name__)

SERVICE = "securityhub"
ALLOWED_WRITES = frozenset({"BatchImportFindings", "BatchUpdateFindings"})
BATCH_SIZE = 100
MAX_ATTEMPTS = 4
NOT_RETRYABLE = frozenset({"InvalidInput", "InvalidInputException", "AccessDeniedException",
                           "InvalidAccessException", "UnauthorizedException"})
_READ_ONLY_GUARD = "dr-audit-guard"
_GUARD = "dr-audit-securityhub-guard"


def _guard_for(service: str, writes: frozenset[str]) -> Callable[..., None]:
    def guard(model: Any, params: dict[str, Any], **_: Any) -> None:
        """Reads anywhere; writes only `service`'s `writes`."""
        svc, operation = model.service_model.service_name, model.name
        if is_read_only(operation) or (svc == service and operation in writes):
            return
        raise MutatingCallError(f"refusing to call {svc}:{operation}: this session may only "
                                f"write with {service}:{' and '.join(sorted(writes))}")
    return guard


guard = _guard_for(SERVICE, ALLOWED_WRITES)


def narrow_session(options: AwsOptions, service: str, writes: frozenset[str],
                   ) -> boto3.Session:
    """A session (same credentials chain and role as the scan) whose guard lets exactly
    `writes` of `service` through besides reads."""
    session: boto3.Session = base_session(options)
    core = session._session  # the botocore session: swap the read-only guard for ours
    core.unregister("before-call", unique_id=_READ_ONLY_GUARD)
    core.register("before-call", _guard_for(service, writes), unique_id=_GUARD)
    return session


def client(options: AwsOptions, region: str) -> tuple[Any, str]:
    """A Security Hub client behind the narrow guard, and the account it writes to."""
    session = narrow_session(options, SERVICE, ALLOWED_WRITES)
    account = caller_account(session, options)
    return session.client(SERVICE, region_name=region, endpoint_url=options.endpoint_url,
                          config=options.config()), account


@record
class SyncResult:
    """What a Security Hub import created, updated, archived or failed to send."""

    created: int = 0
    updated: int = 0
    archived: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    calls: int = 0

    @property
    def ok(self) -> bool:
        return self.failed == 0 and not self.errors

    def line(self) -> str:
        text = (f"Security Hub: {self.created} new, {self.updated} updated, {self.archived} "
                f"archived (fixed)")
        if self.failed:
            text += f"; {self.failed} failed ({'; '.join(self.errors[:3])})"
        return text


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def existing_findings(sh: Any, product_arn: str) -> dict[str, dict[str, Any]]:
    """DR Guard's ACTIVE findings in this Security Hub, by Id."""
    filters = {"ProductArn": [{"Value": product_arn, "Comparison": "EQUALS"}],
               "GeneratorId": [{"Value": asff.GENERATOR_PREFIX, "Comparison": "PREFIX"}],
               "RecordState": [{"Value": "ACTIVE", "Comparison": "EQUALS"}]}
    out: dict[str, dict[str, Any]] = {}
    for page in sh.get_paginator("get_findings").paginate(Filters=filters, MaxResults=100):
        for item in page.get("Findings") or ():
            # filters again here: an endpoint may ignore some of them
            if (item.get("ProductArn") == product_arn
                    and str(item.get("GeneratorId", "")).startswith(asff.GENERATOR_PREFIX)
                    and item.get("RecordState", "ACTIVE") == "ACTIVE"):
                out[str(item["Id"])] = item
    return out


def _closable(item: dict[str, Any], run: dict[str, Any]) -> bool:
    """Fixed, not merely unseen: its account and region were scanned, and completely."""
    scanned = {str(a) for a in run.get("accounts") or ()}
    regions = {str(r) for r in run.get("regions") or ()}
    incomplete = {str(a.get("id")) for a in run.get("account_status") or ()
                  if isinstance(a, dict) and a.get("status") not in (None, "ok", "scanned")}
    account = str(item.get("AwsAccountId", ""))
    region = item.get("Region")
    return (account in scanned and account not in incomplete
            and (region is None or not regions or region in regions))


def closing(item: dict[str, Any], now: str) -> dict[str, Any]:
    """The record that archives a fixed finding (same Id and ProductArn)."""
    record = {k: v for k, v in item.items() if k not in (
        "ProductFields", "Workflow", "WorkflowState", "Note", "UserDefinedFields",
        "FindingProviderFields", "ProcessedAt", "FirstObservedAt", "LastObservedAt")}
    record.update({"UpdatedAt": now, "RecordState": "ARCHIVED",
                   "Compliance": {"Status": "PASSED"}, "Workflow": {"Status": "RESOLVED"},
                   "ProductFields": {**(item.get("ProductFields") or {}),
                                     "drguard/status": "pass"}})
    return record


def _batches(items: list[Any], size: int) -> Iterable[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _code(e: ClientError) -> str:
    return str(e.response.get("Error", {}).get("Code", ""))


def import_findings(sh: Any, records: list[dict[str, Any]], result: SyncResult,
                    batch_size: int = BATCH_SIZE, max_attempts: int = MAX_ATTEMPTS,
                    sleep: Callable[[float], None] = time.sleep) -> set[str]:
    """BatchImportFindings in batches, retrying transient failures; the Ids that failed."""
    failed_ids: set[str] = set()
    for batch in _batches(records, batch_size):
        pending = batch
        for attempt in range(1, max_attempts + 1):
            last = attempt == max_attempts
            try:
                result.calls += 1
                resp = sh.batch_import_findings(Findings=pending)
            except ClientError as e:
                if last or _code(e) in NOT_RETRYABLE:
                    failed_ids |= {r["Id"] for r in pending}
                    result.errors.append(f"BatchImportFindings: {_code(e) or e}")
                    break
                sleep(0.5 * 2 ** (attempt - 1))
                continue
            except BotoCoreError as e:
                if last:
                    failed_ids |= {r["Id"] for r in pending}
                    result.errors.append(f"BatchImportFindings: {e}")
                    break
                sleep(0.5 * 2 ** (attempt - 1))
                continue
            failures = resp.get("FailedFindings") or []
            retry_ids = {x.get("Id") for x in failures
                         if x.get("ErrorCode") not in NOT_RETRYABLE}
            for x in failures:
                if x.get("ErrorCode") in NOT_RETRYABLE or last:
                    failed_ids.add(str(x.get("Id")))
                    result.errors.append(f"{x.get('Id')}: {x.get('ErrorCode')} "
                                         f"{x.get('ErrorMessage', '')}".strip())
            pending = [r for r in pending if r["Id"] in retry_ids]
            if not pending or last:
                break
            sleep(0.5 * 2 ** (attempt - 1))
    result.failed += len(failed_ids)
    return failed_ids


def resolve_workflow(sh: Any, items: list[dict[str, Any]], result: SyncResult,
                     batch_size: int = BATCH_SIZE) -> None:
    """BatchUpdateFindings Workflow RESOLVED for archived findings (best effort: the import
    already archived them)."""
    for batch in _batches(items, batch_size):
        ids = [{"Id": i["Id"], "ProductArn": i["ProductArn"]} for i in batch]
        try:
            result.calls += 1
            resp = sh.batch_update_findings(
                FindingIdentifiers=ids, Workflow={"Status": "RESOLVED"},
                Note={"Text": "fixed: no longer reported by dr-audit", "UpdatedBy": "dr-audit"})
        except (ClientError, BotoCoreError) as e:
            meta = e.response.get("ResponseMetadata", {}) if isinstance(e, ClientError) else {}
            why = (_code(e) or f"HTTP {meta.get('HTTPStatusCode')}"
                   if isinstance(e, ClientError) else str(e))
            log.warning("Security Hub: BatchUpdateFindings (workflow RESOLVED) failed (%s); the "
                        "import archived the findings already", why)
            return
        for x in resp.get("UnprocessedFindings") or ():
            log.warning("Security Hub: workflow of %s not updated: %s",
                        (x.get("FindingIdentifier") or {}).get("Id"), x.get("ErrorMessage"))


def sync(sh: Any, account: str, region: str, findings: list[Finding], run: dict[str, Any],
         *, now: str | None = None, batch_size: int = BATCH_SIZE,
         max_attempts: int = MAX_ATTEMPTS,
         sleep: Callable[[float], None] = time.sleep) -> SyncResult:
    """Import this run's findings into the Security Hub of `account` in `region`."""
    now = now or _now()
    result = SyncResult()
    product = asff.product_arn(account, region)
    try:
        existing = existing_findings(sh, product)
    except (ClientError, BotoCoreError) as e:
        result.errors.append(f"GetFindings: {e}")
        result.failed += sum(asff.exportable(f) for f in findings)
        return result
    records: list[dict[str, Any]] = []
    seen: set[str] = set()
    for f in findings:
        if not asff.exportable(f) or f.id in seen:
            continue
        seen.add(f.id)
        record = asff.to_asff(f, now, region, product_account=account)
        old = existing.get(f.id)
        if old and old.get("CreatedAt"):
            record["CreatedAt"] = old["CreatedAt"]
        records.append(record)
    # fixed: passing now, or gone from a run that read everything it was asked to
    passing = {f.id for f in findings if f.status == "pass"}
    skipped = run.get("skipped") or {}
    complete = not any(isinstance(skipped.get(k), int) and skipped[k]
                       for k in ("accounts", "regions"))
    fixed = [closing(item, now) for fid, item in existing.items()
             if fid not in seen and (fid in passing or (complete and _closable(item, run)))]
    failed = import_findings(sh, records + fixed, result, batch_size, max_attempts, sleep)
    for r in records:
        if r["Id"] not in failed:
            if r["Id"] in existing:
                result.updated += 1
            else:
                result.created += 1
    archived = [r for r in fixed if r["Id"] not in failed]
    result.archived = len(archived)
    if archived:
        resolve_workflow(sh, archived, result, batch_size)
    return result


def publish(options: AwsOptions, region: str, findings: list[Finding],
            run: dict[str, Any]) -> SyncResult:
    """--security-hub: connect with the narrow guard, then sync. Never raises for AWS errors:
    they are in the result."""
    try:
        sh, account = client(options, region)
    except (ClientError, BotoCoreError) as e:
        return SyncResult(errors=[f"cannot reach Security Hub: {e}"],
                          failed=sum(asff.exportable(f) for f in findings))
    return sync(sh, account, region, findings, run)
