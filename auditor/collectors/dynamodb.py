"""DynamoDB: point-in-time recovery and deletion protection of tables."""

from __future__ import annotations

from drguard.facts import UNKNOWN, Table

from ..aws import Account, paginate
from . import Errors, guarded, tag_dict


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
                  evidence={"pointInTimeRecoveryStatus": pitr if pitr is not UNKNOWN else None})
        tables.append(t)
        if errs:
            errors[arn] = errs
    return tables, errors
