"""Which deploy check each control has, without importing them: the pack starts serving from
this table and imports a control's check (`policypack.services`) on its first use.

GENERATED from `policypack.checks.CHECKS` by `python -m policypack.deploy_index`; do not edit.
tests/test_pack_start.py fails when it no longer matches the services' declarations.
"""

from __future__ import annotations

# (control id, "resource" or "stack", the Pulumi types a resource check judges), in CHECKS order
CHECKS: tuple[tuple[str, str, frozenset[str]], ...] = (
    # BEGIN GENERATED
    ("cloudtrail-enabled", "resource", frozenset({
        "aws-native:cloudtrail:Trail",
        "aws:cloudtrail/trail:Trail",
    })),
    ("elasticache-snapshot-retention", "resource", frozenset({
        "aws:elasticache/cluster:Cluster",
        "aws:elasticache/replicationGroup:ReplicationGroup",
    })),
    ("backup-kms-key-usable", "stack", frozenset()),
    ("stateful-resource-protect", "stack", frozenset()),
    ("rds-backup-retention", "resource", frozenset({
        "aws-native:neptune:DbCluster",
        "aws-native:rds:DbCluster",
        "aws-native:rds:DbInstance",
        "aws:docdb/cluster:Cluster",
        "aws:docdb/clusterInstance:ClusterInstance",
        "aws:neptune/cluster:Cluster",
        "aws:neptune/clusterInstance:ClusterInstance",
        "aws:rds/cluster:Cluster",
        "aws:rds/clusterInstance:ClusterInstance",
        "aws:rds/instance:Instance",
    })),
    ("rds-deletion-protection", "resource", frozenset({
        "aws-native:neptune:DbCluster",
        "aws-native:rds:DbCluster",
        "aws-native:rds:DbInstance",
        "aws:docdb/cluster:Cluster",
        "aws:docdb/clusterInstance:ClusterInstance",
        "aws:neptune/cluster:Cluster",
        "aws:neptune/clusterInstance:ClusterInstance",
        "aws:rds/cluster:Cluster",
        "aws:rds/clusterInstance:ClusterInstance",
        "aws:rds/instance:Instance",
    })),
    ("rds-final-snapshot", "resource", frozenset({
        "aws-native:neptune:DbCluster",
        "aws-native:rds:DbCluster",
        "aws-native:rds:DbInstance",
        "aws:docdb/cluster:Cluster",
        "aws:docdb/clusterInstance:ClusterInstance",
        "aws:neptune/cluster:Cluster",
        "aws:neptune/clusterInstance:ClusterInstance",
        "aws:rds/cluster:Cluster",
        "aws:rds/clusterInstance:ClusterInstance",
        "aws:rds/instance:Instance",
    })),
    ("redshift-snapshot-retention", "resource", frozenset({
        "aws-native:redshift:Cluster",
        "aws:redshift/cluster:Cluster",
    })),
    ("backup-bucket-versioning", "stack", frozenset()),
    ("backup-bucket-object-lock", "stack", frozenset()),
    ("snapshot-not-public", "stack", frozenset()),
    ("cloudtrail-bucket-protected", "stack", frozenset()),
    ("iam-access-key-rotation", "resource", frozenset({
        "aws:iam/accessKey:AccessKey",
    })),
    ("scp-deny-backup-deletion", "stack", frozenset()),
    ("rds-cross-region-backup", "stack", frozenset()),
    ("backup-cross-account-copy", "stack", frozenset()),
    ("backup-vault-deny-delete", "stack", frozenset()),
    ("backup-plan-frequency-retention", "stack", frozenset()),
    ("backup-bucket-replication", "stack", frozenset()),
    ("backup-bucket-deletion-alerts", "stack", frozenset()),
    ("backup-bucket-public-access-block", "stack", frozenset()),
    ("mongodb-atlas-backup", "resource", frozenset({
        "mongodbatlas:index/advancedCluster:AdvancedCluster",
        "mongodbatlas:index/cluster:Cluster",
    })),
    ("backup-vault-lock", "stack", frozenset()),
    ("dynamodb-recovery", "resource", frozenset({
        "aws-native:dynamodb:GlobalTable",
        "aws-native:dynamodb:Table",
        "aws:dynamodb/table:Table",
    })),
    ("ebs-snapshot-coverage", "stack", frozenset()),
    ("efs-backup-enabled", "stack", frozenset()),
    ("backup-air-gapped", "stack", frozenset()),
    # END GENERATED
)


def generate() -> str:
    """This module's text, its table read from the services."""
    import json

    from .checks import CHECKS as REAL
    from .checks import ResourceCheck

    rows = []
    for c in REAL:
        if isinstance(c, ResourceCheck):
            rows.append(f"    ({json.dumps(c.control)}, \"resource\", frozenset({{")
            rows += [f"        {json.dumps(t)}," for t in sorted(c.types)]
            rows.append("    })),")
        else:
            rows.append(f"    ({json.dumps(c.control)}, \"stack\", frozenset()),")
    text = open(__file__, encoding="utf-8").read()
    head, rest = text.split("    # BEGIN GENERATED\n", 1)
    _, tail = rest.split("    # END GENERATED\n", 1)
    return head + "    # BEGIN GENERATED\n" + "\n".join(rows) + "\n    # END GENERATED\n" + tail


if __name__ == "__main__":
    import pathlib

    pathlib.Path(__file__).write_text(generate(), encoding="utf-8")
