"""AWS KMS, live: every key that encrypts recovery data, described once per run
(backup-kms-key-usable).

The keys come from what the other steps already read, by one convention: a fact whose
`evidence["kmsKeyId"]` is set (databases, DynamoDB tables, EFS file systems, backup vaults in
every scanned account) or a normalised record with a `kmsKeyId` (RDS snapshots and replicated
automated backups, in every scanned region), and the EncryptionKeyArn of every vault that
receives cross-account copies (auditor.services.recovery describes them, in an account the scan
does not cover too) and the replica key of every backup bucket's replication rules. The only
new reads are `s3:GetBucketEncryption` of each backup bucket (and the state bucket) and one
`kms:DescribeKey` per distinct key: the run keeps one answer per key ARN, however many
resources, regions or accounts use it.

Fail closed: a listing that would have named keys and could not be read, a bucket whose
encryption could not be read and a DescribeKey refused or unanswered are `error` findings
naming the call; never a pass.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from dataclasses import field
from typing import TYPE_CHECKING, Any

from drguard.controls import kms as ctl
from drguard.controls.kms import Key
from drguard.facts import UNKNOWN, Resource
from drguard.records import record

from ..collectors import UNIT_ERRORS, ReadError, arn_account, arn_region, guarded
from ..live import AccountScan, Live, LiveService, Phase, ScanContext

if TYPE_CHECKING:
    from ..aws import Account

log = logging.getLogger(__name__)

# Reads whose failure hides which keys encrypt recovery data (the error findings name them).
FEEDS = frozenset({
    "rds", "rds:DescribeDBInstances", "rds:DescribeDBClusters", "rds:DescribeDBSnapshots",
    "rds:DescribeDBClusterSnapshots", "rds:DescribeDBInstanceAutomatedBackups",
    "dynamodb:ListTables", "dynamodb:DescribeTable", "efs:DescribeFileSystems",
    "backup:ListBackupVaults", "backup:DescribeBackupVault", "redshift:DescribeClusters",
    "s3:GetBucketEncryption"})
# How the error findings name what a region step (auditor.services.*) holds; every step's
# data is searched for key references.
SOURCES = {"rds": "RDS databases and snapshots", "dynamodb": "DynamoDB tables",
           "efs": "EFS file systems", "backup": "backup vaults",
           "redshift": "Redshift clusters"}

# A key id (UUID or multi-Region mrk-...), a key or alias ARN, or an alias name.
_KEY_REF = re.compile(r"^(arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)/.+|"
                      r"(mrk-)?[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}"
                      r"|[0-9a-f]{32}|alias/.+)$")


@record
class Use:
    """One resource encrypted with a key."""

    key: str  # the key ARN (or alias ARN) as referenced, normalised to an ARN
    ref: str  # ARN of what it encrypts
    label: str
    account: str  # the scanned account that found it (whose session describes the key)


@record
class KmsRun:
    """What the phase found: uses by key, the answers, the errors that hide keys."""

    uses: dict[str, list[Use]] = field(default_factory=dict)
    answers: dict[str, Any] = field(default_factory=dict)  # key ARN -> KeyMetadata or UNKNOWN
    errors: dict[str, ReadError] = field(default_factory=dict)  # key ARN -> DescribeKey error
    # (account, region or None, what) -> errors of reads that would have named keys
    hidden: dict[tuple[str, str | None, str], list[ReadError]] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)
    describe_calls: int = 0


def key_arn(ref: str, account: str | None, region: str | None) -> str:
    """A key reference as an ARN (a bare key id or alias is in the user's account/region)."""
    if ref.startswith("arn:"):
        return ref
    return f"arn:aws:kms:{region}:{account}:{ref if ref.startswith('alias/') else 'key/' + ref}"


def _label(fact: Resource) -> str:
    kind = (fact.type or "resource").split("::")[-1]
    return f"{kind} {fact.name!r}"


def _walk(value: Any, found: list[tuple[str, str, str]], errors: list[ReadError],
          depth: int = 0) -> None:
    """Key references (reference, what it encrypts, label) and read errors anywhere in a
    step's data (facts, records, containers, dataclasses)."""
    if depth > 6 or value is None or value is UNKNOWN or isinstance(value, (str, int, float)):
        return
    if isinstance(value, ReadError):
        errors.append(value)
    elif isinstance(value, Resource):
        ref = value.evidence.get("kmsKeyId")
        if isinstance(ref, str) and ref:
            found.append((ref, value.ref, _label(value)))
    elif isinstance(value, dict):
        ref = value.get("kmsKeyId")
        if isinstance(ref, str) and ref:
            arn = str(value.get("arn") or "")
            cluster = "cluster " if value.get("kind") == "cluster" else ""
            if value.get("snapshot_id"):
                label = f"RDS {cluster}snapshot {value['snapshot_id']!r}"
            elif value.get("db_arn"):
                label = f"RDS automated backups of {value['db_arn']!r}"
            else:
                label = arn or "a recovery point"
            found.append((ref, arn, label))
        for v in value.values():
            _walk(v, found, errors, depth + 1)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _walk(v, found, errors, depth + 1)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            _walk(getattr(value, f.name), found, errors, depth + 1)


def bucket_key(account: Account, region: str | None, name: str,
               errors: dict[str, ReadError], resp: Any = UNKNOWN) -> Any:
    """The SSE-KMS key of a bucket's default encryption (None: SSE-S3 or the AWS managed
    aws/s3 key, neither of which can be deleted or disabled), or UNKNOWN. `resp`: the
    GetBucketEncryption answer when the bucket's reads already hold it."""
    if resp is UNKNOWN:
        s3 = account.client("s3", region)
        resp = guarded(errors, name, "s3:GetBucketEncryption",
                       lambda: s3.get_bucket_encryption(Bucket=name),
                       absent={"ServerSideEncryptionConfigurationNotFoundError": None})
    if resp is UNKNOWN or resp is None:
        return resp
    for rule in (resp.get("ServerSideEncryptionConfiguration") or {}).get("Rules") or ():
        default = rule.get("ApplyServerSideEncryptionByDefault") or {}
        if str(default.get("SSEAlgorithm", "")).startswith("aws:kms") and \
                default.get("KMSMasterKeyID"):
            return str(default["KMSMasterKeyID"])
    return None


# ---- the phase -------------------------------------------------------------------------------


def _note_use(run: KmsRun, ref: str, what: str, label: str, account: str,
              region: str | None) -> None:
    if not _KEY_REF.match(ref):
        run.ignored.append(f"{label}: {ref!r}")  # not a key reference (an endpoint's filler)
        return
    arn = key_arn(ref, account, region)
    uses = run.uses.setdefault(arn, [])
    if not any(u.ref == what for u in uses):
        uses.append(Use(arn, what, label, account))


def _hide(run: KmsRun, account: str, region: str | None, what: str,
          errs: list[ReadError | None]) -> None:
    """Record reads that failed and would have named keys (only the reads in FEEDS)."""
    known = [e for e in errs if e is not None and e.operation in FEEDS]
    if known:
        run.hidden.setdefault((account, region, what), []).extend(known)


def _gather(scanner: ScanContext, live: list[AccountScan], run: KmsRun) -> None:
    for a in live:
        for region, rs in sorted(a.regions.items()):
            for step in sorted(set(rs.data) | set(rs.errors)):
                if step == "recovery":  # plans and job listings: no key there (see below)
                    continue
                what = SOURCES.get(step, step)
                if step in rs.errors:
                    _hide(run, a.id, region, f"{what} in {region}", [rs.errors[step]])
                found: list[tuple[str, str, str]] = []
                errors: list[ReadError] = []
                _walk(rs.data.get(step), found, errors)
                for ref, what, label in found:
                    _note_use(run, ref, what, label, a.id, region)
                if errors:
                    _hide(run, a.id, region, f"{what} in {region}", list(errors))
    _copy_vaults(scanner, run)


def _copy_vaults(scanner: ScanContext, run: KmsRun) -> None:
    """The keys of the vaults that receive cross-account copies (auditor.services.recovery
    described them): without --org the destination account is not scanned, and its vault may
    well be encrypted with a key of the production account, whose admin can delete it."""
    shared = scanner.shared.get("recovery") or {}
    asked = shared.get("askedBy") or {}
    for arn, ((got, err), _why, _foreign) in sorted((shared.get("vaults") or {}).items()):
        account, region = asked.get(arn), arn_region(arn)
        if not account:
            continue
        name = arn.rsplit(":", 1)[-1]
        if got is UNKNOWN:
            _hide(run, account, region, f"copy destination vault {name}", [err])
        elif isinstance(got, dict) and isinstance(got.get("EncryptionKeyArn"), str):
            _note_use(run, got["EncryptionKeyArn"], arn, f"copy destination vault {name!r}",
                      account, region)


def _bucket_unit(scanner: ScanContext, a: AccountScan, read: Any) -> tuple[Any, Any]:
    errors: dict[str, ReadError] = {}
    assert a.target.account is not None
    if read.detailed and "encryption" in read.errors:  # the bucket's reads asked already
        return UNKNOWN, read.errors["encryption"]
    try:
        key = bucket_key(a.target.account, read.fact.region, read.name, errors,
                         read.encryption if read.detailed else UNKNOWN)
    except UNIT_ERRORS as e:
        errors[read.name] = ReadError.of("s3:GetBucketEncryption", e)
        key = UNKNOWN
    return key, errors.get(read.name)


def _buckets(scanner: ScanContext, live: list[AccountScan], run: KmsRun) -> None:
    scanned = {a.id for a in live}
    units = [(scanner, a, read) for a in live
             for read in a.data.get("buckets", {}).values()
             if read.fact.scope_reasons and read.fact.region in scanner.regions
             and "location" not in read.errors]
    for (_, a, read), (key, err) in zip(units, scanner.map("bucket encryption", _bucket_unit,
                                                            units), strict=True):
        if key is UNKNOWN:
            _hide(run, a.id, read.fact.region, f"backup bucket {read.name}", [err])
        elif key:
            _note_use(run, key, read.fact.ref, f"backup bucket {read.name!r}", a.id,
                      read.fact.region)
        # the key its replication encrypts the replicas with (a copy destination's), when it
        # is a key of a scanned account: one of an account the scan does not cover is that
        # account's to judge (scan it too), and its policy need not let this one describe it
        for rule in read.fact.replication if isinstance(read.fact.replication, list) else ():
            key = rule.get("replicaKey") if isinstance(rule, dict) else None
            if isinstance(key, str) and (arn_account(key) or a.id) in scanned:
                _note_use(run, key, read.fact.ref,
                          f"replicas of backup bucket {read.name!r}", a.id, read.fact.region)


def _describe_unit(scanner: ScanContext, run: KmsRun, arn: str,
                   account: Account) -> tuple[Any, ReadError | None]:
    errors: dict[str, ReadError] = {}
    kms = account.client("kms", arn_region(arn))
    try:
        resp = guarded(errors, "key", "kms:DescribeKey", lambda: kms.describe_key(KeyId=arn),
                       absent={"NotFoundException": {"KeyMetadata": {
                           "Arn": arn, "KeyState": "NotFound"}}})
    except UNIT_ERRORS as e:
        return UNKNOWN, ReadError.of("kms:DescribeKey", e)
    if resp is UNKNOWN:
        return UNKNOWN, errors.get("key")
    return resp.get("KeyMetadata") or {}, None


def _phase(scanner: ScanContext, live: list[AccountScan]) -> None:
    run = KmsRun()
    scanner.shared["kms"] = run
    if ctl.KEY_USABLE not in scanner.settings.enabled:
        return
    _gather(scanner, live, run)
    _buckets(scanner, live, run)
    sessions = {a.id: a.target.account for a in live if a.target.account is not None}
    # Each key once per run, through its owner's session when that account is scanned, else
    # through the account that uses it (a key policy may grant it DescribeKey).
    todo = []
    for arn, uses in sorted(run.uses.items()):
        owner = arn_account(arn)
        session = sessions.get(owner or "") or sessions.get(uses[0].account)
        if session is not None:
            todo.append((scanner, run, arn, session))
    run.describe_calls = len(todo)
    log.info("kms: %d key(s) encrypt recovery data; describing each once", len(todo))
    for (_, _, arn, _), (meta, err) in zip(todo, scanner.map("KMS keys", _describe_unit, todo),
                                           strict=True):
        run.answers[arn] = meta
        if err is not None:
            run.errors[arn] = err
    if run.ignored:
        scanner.notes.append(f"{ctl.KEY_USABLE}: {len(run.ignored)} key reference(s) that "
                             f"are not KMS key ids were ignored (first: {run.ignored[0]})")


# ---- live binding ----------------------------------------------------------------------------

def _evaluate(scanner: ScanContext) -> None:
    run: KmsRun | None = scanner.shared.get("kms")
    if run is None:
        return
    for (account, region, what), errs in sorted(run.hidden.items(),
                                                key=lambda x: (x[0][0], x[0][1] or "", x[0][2])):
        if not scanner.owns(account):
            continue
        ops = ", ".join(dict.fromkeys(e.operation for e in errs)) or "a read"
        scanner.error(ctl.KEY_USABLE, f"arn:aws:kms:{region or ''}:{account}:key/*",
                      f"KMS keys of {what}", account, region,
                      f"Which KMS keys encrypt {what} is unknown ({ops} failed), so whether "
                      "they are usable cannot be checked.", errs)
    # One finding per key, whatever alias or account it was found through.
    keys: dict[str, Key] = {}
    errs_of: dict[str, ReadError | None] = {}
    for arn, uses in sorted(run.uses.items()):
        meta = run.answers.get(arn, UNKNOWN)
        real = meta.get("Arn", arn) if meta is not UNKNOWN else arn
        k = keys.get(real)
        if k is None:
            key_id = meta.get("KeyId") if meta is not UNKNOWN else None
            k = keys[real] = Key(
                ref=real, name=key_id or real.rsplit("/", 1)[-1], type="AWS::KMS::Key",
                account=arn_account(real) or uses[0].account, region=arn_region(real),
                key_state=UNKNOWN if meta is UNKNOWN else meta.get("KeyState"),
                deletion_date=_iso(meta.get("DeletionDate")) if meta is not UNKNOWN else None,
                evidence={"keyManager": meta.get("KeyManager") if meta is not UNKNOWN else None,
                          "encryptsArns": [], "foundIn": []})
            if arn not in run.answers:
                errs_of[real] = ReadError("kms:DescribeKey", "NotAsked",
                                          "no scanned account could describe it")
            else:
                errs_of[real] = run.errors.get(arn)
        for u in uses:
            if u.ref not in k.evidence["encryptsArns"]:
                k.encrypts.append(u.label)
                k.evidence["encryptsArns"].append(u.ref)
            if u.account not in k.evidence["foundIn"]:
                k.evidence["foundIn"].append(u.account)
    for real, k in keys.items():
        if not any(scanner.owns(a) for a in k.evidence["foundIn"]):
            continue
        scanner.add(ctl.KEY_USABLE, k, ctl.key_usable(k), [errs_of.get(real)])


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


SERVICE = LiveService(
    calls=("kms:DescribeKey", "s3:GetBucketEncryption"),
    phase=Phase(45, _phase),  # after bucket scope (S3, PHASE 20): backup buckets are known
    # Once per run over every scanned account: a key shared by several accounts is one finding.
    live=(Live((ctl.KEY_USABLE,), _evaluate, per_account=False),),
)
