"""DynamoDB: point-in-time recovery and deletion protection of tables (dynamodb-recovery)."""

from __future__ import annotations

from typing import Any

from drguard.arns import partition_of
from drguard.controls import dynamodb as ctl
from drguard.controls.dynamodb import Table
from drguard.facts import UNKNOWN

from ..aws import Account, paginate
from ..collectors import Errors, guarded, tag_dict
from ..live import AccountScan, DriftKind, Live, LiveService, RegionScan, ScanContext, Step


def collect(account: Account, region: str) -> tuple[list[Table], dict[str, Errors]]:
    """Tables of the region (raises on a listing error) and per-table read errors."""
    ddb = account.client("dynamodb", region)
    tables, errors = [], {}
    for name in paginate(ddb, "list_tables", "TableNames"):
        errs: Errors = {}
        desc = guarded(errs, "table", "dynamodb:DescribeTable",
                       lambda n=name: ddb.describe_table(TableName=n)["Table"])
        arn = desc["TableArn"] if desc is not UNKNOWN else \
            f"arn:aws:dynamodb:{region}:{account.id}:table/{name}"
        cb = guarded(errs, "pitr", "dynamodb:DescribeContinuousBackups",
                     lambda n=name: ddb.describe_continuous_backups(TableName=n))
        pitr = UNKNOWN if cb is UNKNOWN else (
            (cb.get("ContinuousBackupsDescription") or {})
            .get("PointInTimeRecoveryDescription") or {}).get("PointInTimeRecoveryStatus")
        tags = guarded(errs, "tags", "dynamodb:ListTagsOfResource",
                       lambda a=arn: list(paginate(ddb, "list_tags_of_resource", "Tags",
                                                   ResourceArn=a)))
        t = Table(ref=arn, name=name, type="AWS::DynamoDB::Table", account=account.id,
                  region=region, tags=tag_dict(tags) if tags is not UNKNOWN else {},
                  pitr=UNKNOWN if pitr is UNKNOWN else pitr == "ENABLED",
                  deletion_protection=UNKNOWN if desc is UNKNOWN
                  else desc.get("DeletionProtectionEnabled") is True,
                  evidence={"pointInTimeRecoveryStatus": pitr if pitr is not UNKNOWN else None,
                            "kmsKeyId": None if desc is UNKNOWN else
                            (desc.get("SSEDescription") or {}).get("KMSMasterKeyArn")})
        tables.append(t)
        if errs:
            errors[arn] = errs
    return tables, errors


# ---- live binding ----------------------------------------------------------------------------

RECOVERY = "dynamodb-recovery"


def _collect(scanner: ScanContext, acct: Account, rs: RegionScan) -> Any:
    return collect(acct, rs.region)


def _evaluate(scanner: ScanContext, a: AccountScan) -> None:
    for region, rs in sorted(a.regions.items()):
        if "dynamodb" in rs.errors:
            err = rs.errors["dynamodb"]
            scanner.error(RECOVERY, f"arn:aws:dynamodb:{region}:{a.id}:table/*",
                          f"DynamoDB tables in {region}", a.id, region,
                          f"The DynamoDB tables of {region} could not be listed: {err}.",
                          [err])
        tables, table_errors = rs.data.get("dynamodb", ([], {}))
        for t in tables:
            errs = table_errors.get(t.ref, {})
            if errs:
                t.evidence["readErrors"] = [e.to_dict() for e in errs.values()]
            scanner.add(RECOVERY, t, ctl.dynamodb(t), [errs.get("table"), errs.get("pitr")])


_KIND: dict[str, Any] = dict(
    label="DynamoDB table", service="dynamodb", operation="dynamodb:DescribeTable",
    call=lambda c, n: c.describe_table(TableName=n),
    gone=frozenset({"ResourceNotFoundException"}),
    arn=lambda r, a, n: f"arn:{partition_of(r)}:dynamodb:{r}:{a}:table/{n}",
    delete_event="DeleteTable")


SERVICE = LiveService(
    calls=("dynamodb:ListTables", "dynamodb:DescribeTable",
           "dynamodb:DescribeContinuousBackups", "dynamodb:ListTagsOfResource"),
    regional_steps=(Step("dynamodb", "dynamodb:ListTables", _collect),),
    live=(Live((RECOVERY,), _evaluate),),
    drift={
        "aws:dynamodb/table:Table": DriftKind(names=("name",), use_id=True, **_KIND),
        "aws-native:dynamodb:Table": DriftKind(names=("tableName",), use_id=True, **_KIND),
    },
)
