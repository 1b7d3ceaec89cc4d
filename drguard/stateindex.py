"""Which Pulumi stack manages a resource: an index from ARNs and physical ids to stack and URN.

Fed one checkpoint resource at a time (a dict as Pulumi writes it: `urn`, `type`, `id`,
`custom`, `external`, `delete`, `outputs`), so a reader can stream a large checkpoint and keep
only the few strings each resource is known by. No I/O here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .records import record

# Output properties that hold a resource's physical name (bucket, table, DB identifier, ...).
NAME_OUTPUTS: tuple[str, ...] = ("bucket", "name", "identifier", "clusterIdentifier",
                                 "tableName", "replicationGroupId", "clusterId",
                                 "fileSystemId", "backupVaultName")
ARN_OUTPUTS: tuple[str, ...] = ("arn", "dbInstanceArn", "dbClusterArn")

# Pulumi module (`aws:<module>/...`) -> the service part of the ARNs AWS gives its resources.
_ARN_SERVICE = {"efs": "elasticfilesystem", "docdb": "rds", "neptune": "rds"}


@record(frozen=True, slots=True)
class Managed:
    """Where a resource is managed: `project/stack` and its URN."""

    stack: str
    urn: str


# type token -> ARN service, memoised (a stack has a few dozen types; a hostile one many)
_SERVICES: dict[str, str] = {}
_SERVICES_MAX = 4096


def _service_of_type(token: str) -> str:
    parts = token.split(":")
    if len(parts) != 3 or parts[0] != "aws":
        return ""
    module = parts[1].split("/")[0]
    return _ARN_SERVICE.get(module, module)


def arn_keys(arn: str) -> tuple[str, ...]:
    """The keys a live ARN is looked up by: itself and `service:physical-name`."""
    parts = arn.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        return (arn,)
    service, rest = parts[2], parts[5]
    name = rest.replace(":", "/").rsplit("/", 1)[-1]
    return (arn, f"{service}:{name}") if name else (arn,)


class StateIndex:
    """ARN / `service:physical-id` -> Managed, over every checkpoint read."""

    def __init__(self) -> None:
        self._by_key: dict[str, Managed] = {}
        self.stacks: list[str] = []
        self.resources = 0

    def __len__(self) -> int:
        return self.resources

    def add_stack(self, stack: str, resources: Iterable[Mapping[str, Any]]) -> int:
        """Index one stack's current checkpoint; the number of managed resources indexed."""
        n = 0
        for r in resources:
            if self.add(stack, r):
                n += 1
        self.stacks.append(stack)
        return n

    def add(self, stack: str, r: Mapping[str, Any]) -> bool:
        """Index one checkpoint resource; False when it is not one Pulumi manages (a
        component, a provider, a `.get()` read, an old copy awaiting deletion)."""
        # hot (once per resource of every checkpoint): exact types checked first
        if type(r) is not dict and not isinstance(r, Mapping):
            return False
        get = r.get
        if get("custom") is False or get("external") or get("delete"):
            return False
        urn, token = get("urn"), get("type")
        if not isinstance(urn, str) or not isinstance(token, str) \
                or token.startswith("pulumi:"):
            return False
        where = Managed(stack, urn)
        service = _SERVICES.get(token)
        if service is None:
            service = _service_of_type(token)
            if len(_SERVICES) < _SERVICES_MAX:
                _SERVICES[token] = service
        outputs = get("outputs")
        if type(outputs) is not dict and not isinstance(outputs, Mapping):
            outputs = {}
        by_key = self._by_key
        for k in ARN_OUTPUTS:
            v = outputs.get(k)
            if isinstance(v, str) and v.startswith("arn:"):
                for key in arn_keys(v):
                    by_key.setdefault(key, where)
        if service:
            v = get("id")
            if isinstance(v, str) and v:
                by_key.setdefault(f"{service}:{v}", where)
            for k in NAME_OUTPUTS:
                v = outputs.get(k)
                if isinstance(v, str) and v:
                    by_key.setdefault(f"{service}:{v}", where)
        self.resources += 1
        return True

    def lookup(self, arn: str) -> Managed | None:
        """The stack managing the live resource `arn`, or None."""
        for key in arn_keys(arn):
            hit = self._by_key.get(key)
            if hit is not None:
                return hit
        return None
