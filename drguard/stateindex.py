"""Which Pulumi stack manages a resource: an index from ARNs and physical ids to stack and URN.

Fed one checkpoint resource at a time (a dict as Pulumi writes it: `urn`, `type`, `id`,
`custom`, `external`, `delete`, `provider`, `outputs`, and a provider's `inputs`), so a
reader can stream a large checkpoint and keep only the few strings each resource is known by.
No I/O here.

A live resource is found by its ARN, else by its service and physical name. A name is not
unique across accounts and regions (staging and production often name their tables alike),
so a name match counts only where the checkpoint does not place the resource elsewhere: its
own ARN, its `region` output, and its provider's region and account (the account read from
the ARNs of the provider's other resources) must agree with the live ARN where they are known.
A DynamoDB table's replicas are live tables of its name in their own regions.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from dataclasses import field
from typing import Any

from .arns import partition_of
from .records import record

# Output properties that hold a resource's physical name (bucket, table, DB identifier, ...).
NAME_OUTPUTS: tuple[str, ...] = ("bucket", "name", "identifier", "clusterIdentifier",
                                 "tableName", "replicationGroupId", "clusterId",
                                 "fileSystemId", "backupVaultName")
ARN_OUTPUTS: tuple[str, ...] = ("arn", "dbInstanceArn", "dbClusterArn")
# Other outputs the index reads: where the resource (or, for a provider, its resources) live.
PLACE_OUTPUTS: tuple[str, ...] = ("region",)
# A DynamoDB global table's replicas: one resource, a live table of its name in each region.
REPLICA_OUTPUTS: tuple[str, ...] = ("replicas",)
_REPLICAS_MAX = 64

# Pulumi module (`aws:<module>/...`) -> the service part of the ARNs AWS gives its resources.
_ARN_SERVICE = {"efs": "elasticfilesystem", "docdb": "rds", "neptune": "rds"}
_PROVIDER_TYPE = "pulumi:providers:aws"


class _Provider:
    """The account and region of one provider's resources, as far as the checkpoint tells
    (the account is learnt from the ARNs of resources added later)."""

    __slots__ = ("account", "region")

    def __init__(self) -> None:
        self.account: str | None = None
        self.region: str | None = None


_NOWHERE = _Provider()  # a resource without a provider the checkpoint names


@record(frozen=True, slots=True)
class Managed:
    """Where a resource is managed: `project/stack` and its URN; and, not compared, where the
    checkpoint places it (its own account and region, else its provider's; None: not known)."""

    stack: str
    urn: str
    account: str | None = field(default=None, compare=False, repr=False)
    region: str | None = field(default=None, compare=False, repr=False)
    provider: _Provider = field(default=_NOWHERE, compare=False, repr=False)
    partition: str | None = field(default=None, compare=False, repr=False)  # its ARN's

    def place(self) -> tuple[str | None, str | None, str | None]:
        """(account, region, partition) of the resource, as far as its checkpoint tells (a
        bucket's ARN names no account nor region, but its partition)."""
        region = self.region or self.provider.region
        return (self.account or self.provider.account, region,
                self.partition or (partition_of(region) if region else None))


def _all(found: Managed | list[Managed]) -> list[Managed]:
    return found if isinstance(found, list) else [found]


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


def _text(v: Any) -> str | None:
    return sys.intern(v) if isinstance(v, str) and v and len(v) <= 64 else None


class StateIndex:
    """ARN / `service:physical-id` -> Managed, over every checkpoint read."""

    def __init__(self) -> None:
        self._by_arn: dict[str, Managed] = {}
        self._by_name: dict[str, Managed | list[Managed]] = {}
        self._providers: dict[str, _Provider] = {}  # the stack being read: reference -> it
        self.stacks: list[str] = []
        self.resources = 0

    def __len__(self) -> int:
        return self.resources

    def add_stack(self, stack: str, resources: Iterable[Mapping[str, Any]]) -> int:
        """Index one stack's current checkpoint; the number of managed resources indexed."""
        self._providers = {}  # provider references are the stack's own
        n = 0
        for r in resources:
            if self.add(stack, r):
                n += 1
        self.stacks.append(stack)
        return n

    def _provider(self, ref: Any) -> _Provider:
        if not isinstance(ref, str) or not ref:
            return _NOWHERE
        p = self._providers.get(ref)
        if p is None:
            p = self._providers[ref] = _Provider()
        return p

    def add(self, stack: str, r: Mapping[str, Any]) -> bool:
        """Index one checkpoint resource; False when it is not one Pulumi manages (a
        component, a provider, a `.get()` read, an old copy awaiting deletion)."""
        # hot (once per resource of every checkpoint): exact types checked first
        if type(r) is not dict and not isinstance(r, Mapping):
            return False
        get = r.get
        urn, token = get("urn"), get("type")
        if token == _PROVIDER_TYPE:  # where its resources live, unless they say otherwise
            self._add_provider(r)
            return False
        if get("custom") is False or get("external") or get("delete"):
            return False
        if not isinstance(urn, str) or not isinstance(token, str) \
                or token.startswith("pulumi:"):
            return False
        service = _SERVICES.get(token)
        if service is None:
            service = _service_of_type(token)
            if len(_SERVICES) < _SERVICES_MAX:
                _SERVICES[token] = service
        outputs = get("outputs")
        if type(outputs) is not dict and not isinstance(outputs, Mapping):
            outputs = {}
        arns = [v for k in ARN_OUTPUTS
                if isinstance(v := outputs.get(k), str) and v.startswith("arn:")]
        account = region = partition = None
        names: list[str] = []
        for arn in arns:
            parts = arn.split(":", 5)
            if len(parts) == 6:
                account = account or _text(parts[4])
                region = region or _text(parts[3])
                partition = partition or _text(parts[1])
                name = parts[5].replace(":", "/").rsplit("/", 1)[-1]
                if name:
                    names.append(f"{parts[2]}:{name}")
        provider = self._provider(get("provider"))
        if account is not None and provider.account is None and provider is not _NOWHERE:
            provider.account = account
        where = Managed(stack, urn, account, region or _text(outputs.get("region")), provider,
                        partition)
        for arn in arns:
            self._by_arn.setdefault(arn, where)
        if service:
            for v in (get("id"), *(outputs.get(k) for k in NAME_OUTPUTS)):
                if isinstance(v, str) and v:
                    names.append(f"{service}:{v}")
        self._add_names(names, where)
        if service == "dynamodb" or token.startswith("aws-native:dynamodb:"):
            self._add_replicas(stack, urn, names, account, provider, outputs.get("replicas"))
        self.resources += 1
        return True

    def _add_names(self, names: Iterable[str], where: Managed) -> None:
        by_name = self._by_name
        for key in names:
            old = by_name.get(key)
            if old is None:  # one resource a name (nearly every name): no list of one
                by_name[key] = where
            elif isinstance(old, list):
                if old[-1] is not where:
                    old.append(where)
            elif old is not where:  # (a resource's id, name and ARN often spell one key)
                by_name[key] = [old, where]

    def _add_replicas(self, stack: str, urn: str, names: list[str], account: str | None,
                      provider: _Provider, replicas: Any) -> None:
        """A global table's replicas (pulumi-aws `replicas[].regionName`/`arn`, aws-native
        `replicas[].region`) are live tables of its name in other regions, managed by it."""
        if not isinstance(replicas, list):
            return
        for rep in replicas[:_REPLICAS_MAX]:
            if not isinstance(rep, Mapping):
                continue
            arn = rep.get("arn")
            parts = arn.split(":", 5) if isinstance(arn, str) and arn.startswith("arn:") \
                else []
            region = _text(rep.get("regionName")) or _text(rep.get("region")) \
                or (_text(parts[3]) if len(parts) == 6 else None)
            if region is None:
                continue
            where = Managed(stack, urn, (_text(parts[4]) if len(parts) == 6 else None)
                            or account, region, provider,
                            _text(parts[1]) if len(parts) == 6 else None)
            if parts and isinstance(arn, str):
                self._by_arn.setdefault(arn, where)
            self._add_names(names, where)

    def _add_provider(self, r: Mapping[str, Any]) -> None:
        urn, rid = r.get("urn"), r.get("id")
        if not isinstance(urn, str) or not isinstance(rid, str):
            return
        provider = self._provider(f"{urn}::{rid}")
        for props in (r.get("outputs"), r.get("inputs")):
            if isinstance(props, Mapping) and provider.region is None:
                provider.region = _text(props.get("region"))

    def lookup(self, arn: str) -> Managed | None:
        """The stack managing the live resource `arn`, or None."""
        hit = self._by_arn.get(arn)
        if hit is not None:
            return hit
        keys = arn_keys(arn)
        found = self._by_name.get(keys[1]) if len(keys) > 1 else None
        if found is None:
            return None
        parts = arn.split(":", 5)
        live = (parts[4] or None, parts[3] or None, parts[1] or None) if len(parts) == 6 \
            else (None, None, None)
        best: Managed | None = None
        best_score = -1
        for where in _all(found):
            score = 0
            for seen, known in zip(live, where.place(), strict=True):
                if seen is not None and known is not None:
                    if seen != known:
                        break
                    score += 1
            else:
                if score > best_score:  # the first read wins a tie
                    best, best_score = where, score
        return best

    def entries(self) -> list[tuple[Any, ...]]:
        """Every key with what it resolves to (for a name: where the checkpoint places it),
        sorted: two indexes of the same checkpoints compare equal."""
        out: list[tuple[Any, ...]] = [(k, m.stack, m.urn) for k, m in self._by_arn.items()]
        for k, found in self._by_name.items():
            out.extend((k, m.stack, m.urn, *m.place()) for m in _all(found))
        return sorted(out, key=repr)
