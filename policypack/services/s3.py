"""S3 backup buckets at deploy time: bucket types, split configuration resources (versioning,
Object Lock, public access block, replication, notifications), the EventBridge rules and
CloudTrail selectors that alert on deletions, backup scope, and the bucket controls' bindings.

Split resources are folded into the bucket they configure, linked by the property dependency
of `bucket` on the bucket's URN or, failing that, by bucket name/ARN; one that cannot be linked
(its target unknown in preview) makes a missing setting "unknown", not a false failure.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from drguard import alerts, eventpattern
from drguard.controls import s3 as ctl
from drguard.controls.cloudtrail import Trail
from drguard.controls.s3 import Bucket
from drguard.facts import UNKNOWN, retention_days
from drguard.records import record
from drguard.scope import Scope

from ..adapters import Res, base, each, has_unknown, items, maps, or_default, strings
from ..binding import Judged, StackCheck, unlinked_guard
from ..fixers import Fixer, Target, backup_bucket, show_value, true, untouchable
from ..service import DeployService, Link
from ..wire import boolean, get, num, val

if TYPE_CHECKING:
    from ..stack import StackModel

_BY_NAME = "s3:buckets-by-name"


BUCKET_TYPES = frozenset({"aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2",
                          "aws-native:s3:Bucket"})


VERSIONING_TYPES = frozenset({"aws:s3/bucketVersioning:BucketVersioning",
                              "aws:s3/bucketVersioningV2:BucketVersioningV2"})


LOCK_TYPES = frozenset({"aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",
                        "aws:s3/bucketObjectLockConfigurationV2:BucketObjectLockConfigurationV2"})


PAB_TYPES = frozenset({"aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"})


SSE_TYPES = frozenset({
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2"})


REPLICATION_TYPES = frozenset({"aws:s3/bucketReplicationConfig:BucketReplicationConfig"})


NOTIFICATION_TYPES = frozenset({"aws:s3/bucketNotification:BucketNotification"})


EVENT_RULE_TYPES = frozenset({"aws:cloudwatch/eventRule:EventRule", "aws-native:events:Rule"})


EVENT_TARGET_TYPES = frozenset({"aws:cloudwatch/eventTarget:EventTarget"})


def retention(rule: Any) -> tuple[Any, Any]:
    """(mode, days) of a defaultRetention block; years count as 365 days."""
    if rule is UNKNOWN:
        return UNKNOWN, UNKNOWN
    if not isinstance(rule, Mapping):
        return None, None
    mode = val(rule.get("mode"))
    days, years = num(val(rule.get("days"))), num(val(rule.get("years")))
    if days is UNKNOWN or years is UNKNOWN:
        return mode, UNKNOWN
    return mode, retention_days(days, years)


def bucket(r: Res) -> Bucket | None:
    t = r.type
    if t not in BUCKET_TYPES:
        return None
    native = t.startswith("aws-native")
    b = Bucket(**base(r, r.get("bucketName" if native else "bucket")))
    b.evidence["name_known"] = (r.get("bucketName" if native else "bucket")) not in (None, UNKNOWN)
    if native:
        b.versioning = r.get("versioningConfiguration", "status")
        b.object_lock_enabled = boolean(r.get("objectLockEnabled"))
        if r.get("objectLockConfiguration", "objectLockEnabled") == "Enabled":
            b.object_lock_enabled = True
        b.lock_mode, b.lock_days = retention(
            r.get("objectLockConfiguration", "rule", "defaultRetention"))
        b.props.update(versioning="versioningConfiguration.status",
                       lock_rule="objectLockConfiguration.rule.defaultRetention")
        pab = r.get("publicAccessBlockConfiguration")
        if pab is not None:
            b.public_access_block = public_access_block(pab)
        b.sse = sse_algorithm(r.get("bucketEncryption"))
        return b
    # pulumi-aws: objectLockEnabled (v6 BucketV2, v7 Bucket) or the deprecated inline blocks.
    b.force_destroy = boolean(r.get("forceDestroy"))
    b.object_lock_enabled = boolean(r.get("objectLockEnabled"))
    lock = r.get("objectLockConfiguration")
    if lock is UNKNOWN:
        b.lock_mode = b.lock_days = UNKNOWN
    elif isinstance(lock, Mapping):
        if get(lock, "objectLockEnabled") == "Enabled":
            b.object_lock_enabled = True
        rule = get(lock, "rule", "defaultRetention")
        if rule is None:  # BucketV2 shape: rules[0].defaultRetentions[0]
            rule = get(lock, "rules", 0, "defaultRetentions", 0)
        b.lock_mode, b.lock_days = retention(rule)
    b.sse = sse_algorithm(r.get("serverSideEncryptionConfigurations" if t == V6_BUCKET
                                else "serverSideEncryptionConfiguration"))
    versioning = r.get("versioning")
    if versioning is None:
        versioning = r.get("versionings", 0)
    enabled = boolean(get(versioning, "enabled")) if versioning is not None else None
    if enabled is UNKNOWN or versioning is UNKNOWN:
        b.versioning = UNKNOWN
    elif enabled is True:
        b.versioning = "Enabled"
    return b


def sse_algorithm(config: Any, depth: int = 0) -> Any:
    """The default encryption algorithm in a raw encryption configuration, whatever its shape
    (inline blocks of Bucket and BucketV2, the split resource's rules, aws-native's
    bucketEncryption): an SSE-KMS one when any rule names one, else the first found, None when
    none is, UNKNOWN when one is unknown. The key and the bucket-key flag say nothing about the
    algorithm: a key this stack creates (unknown in a preview) leaves it known."""
    config = val(config)
    if config is UNKNOWN:
        return UNKNOWN
    found: list[Any] = []
    if isinstance(config, Mapping) and depth < 8:
        for k, v in config.items():
            if k == "sseAlgorithm":
                found.append(val(v))
            elif k not in _NOT_ALGORITHM:
                found.append(sse_algorithm(v, depth + 1))
    elif isinstance(config, list) and depth < 8:
        found = [sse_algorithm(v, depth + 1) for v in config]
    names = [a for a in found if isinstance(a, str)]
    kms = next((a for a in names if a.startswith("aws:kms")), None)
    if kms is None and any(a is UNKNOWN for a in found):
        return UNKNOWN
    return kms or (names[0] if names else None)


# Siblings of the algorithm in every shape (pulumi-aws, aws-native) that never hold one.
_NOT_ALGORITHM = frozenset({"kmsMasterKeyId", "bucketKeyEnabled"})


def public_access_block(props: Any) -> dict[str, Any]:
    flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    if props is UNKNOWN:
        return {f: UNKNOWN for f in flags}
    return {f: boolean(get(props, f)) for f in flags}


def kms_objects(rule: Any, token: str) -> Any:
    """"Enabled" when a replication rule opts in to replicating SSE-KMS objects, else what it
    says (None when absent). BucketReplicationConfig and aws-native write a status; the
    inline rules of a Bucket (one block) and a BucketV2 (lists of blocks) an `enabled` flag."""
    if token == "aws:s3/bucketV2:BucketV2":
        enabled = get(rule, "sourceSelectionCriterias", 0, "sseKmsEncryptedObjects", 0,
                      "enabled")
    elif token == "aws:s3/bucket:Bucket":
        enabled = get(rule, "sourceSelectionCriteria", "sseKmsEncryptedObjects", "enabled")
    else:
        return get(rule, "sourceSelectionCriteria", "sseKmsEncryptedObjects", "status")
    return enabled if enabled is UNKNOWN else "Enabled" if enabled is True else None


def replication_rules(rules: Any, token: str) -> Any:
    """[{"id", "status", "dest", "kmsObjects"}] of a replication rule list of a resource of
    type `token` (dest: destination bucket ARN or name as written, possibly UNKNOWN);
    UNKNOWN when the list is unknown."""
    rules = items(rules)
    if rules is UNKNOWN:
        return UNKNOWN
    out: list[dict[str, Any]] = []
    for rule in rules:
        if rule is UNKNOWN:
            out.append({"id": None, "status": UNKNOWN, "dest": UNKNOWN, "kmsObjects": UNKNOWN})
            continue
        if not isinstance(rule, Mapping):
            continue
        dest = get(rule, "destination", "bucket")
        if dest is None:  # BucketV2 inline shape: destinations[0].bucket
            dest = get(rule, "destinations", 0, "bucket")
        status = get(rule, "status")
        out.append({"id": get(rule, "id"), "status": "Enabled" if status is None else status,
                    "dest": dest, "kmsObjects": kms_objects(rule, token)})
    return out


def inline_replication(r: Res) -> tuple[Any, str | None]:
    """(raw rules, property holding them) of a bucket's inline replication, or (None, None)."""
    if r.type == "aws:s3/bucketV2:BucketV2":
        cfg = r.get("replicationConfigurations")
        if cfg is UNKNOWN:
            return UNKNOWN, "replicationConfigurations"
        rules = get(cfg, 0, "rules")
        if rules is None:
            return None, None
        return replication_rules(rules, r.type), "replicationConfigurations"
    cfg = r.get("replicationConfiguration")
    if cfg is None:
        return None, None
    if cfg is UNKNOWN:
        return UNKNOWN, "replicationConfiguration"
    return replication_rules(get(cfg, "rules"), r.type), "replicationConfiguration"


def _filter_rules(prefix: Any, suffix: Any) -> list[dict[str, Any]]:
    return [{"Name": n, "Value": v} for n, v in (("prefix", prefix), ("suffix", suffix))
            if v not in (None, "")]


def notification_config(r: Res) -> Any:
    """S3 event notifications in the API's NotificationConfiguration shape (aws
    BucketNotification, or aws-native Bucket.notificationConfiguration)."""
    if r.type in NOTIFICATION_TYPES:
        out: dict[str, Any] = {}
        for prop, key, arn_key in (("topics", "TopicConfigurations", "topicArn"),
                                   ("queues", "QueueConfigurations", "queueArn"),
                                   ("lambdaFunctions", "LambdaFunctionConfigurations",
                                    "lambdaFunctionArn")):
            entries = items(r.get(prop))
            if entries is UNKNOWN:
                return UNKNOWN
            api_arn = {"topicArn": "TopicArn", "queueArn": "QueueArn",
                       "lambdaFunctionArn": "LambdaFunctionArn"}[arn_key]
            out[key] = [{api_arn: get(e, arn_key), "Events": _events(get(e, "events")),
                         "Filter": {"Key": {"FilterRules": _filter_rules(
                             get(e, "filterPrefix"), get(e, "filterSuffix"))}}}
                        for e in entries if isinstance(e, Mapping)]
        eb = boolean(r.get("eventbridge"))
        if eb is UNKNOWN:
            out["EventBridgeConfiguration"] = UNKNOWN
        elif eb is True:
            out["EventBridgeConfiguration"] = {}
        return out
    cfg = r.get("notificationConfiguration")
    if cfg is None or cfg is UNKNOWN:
        return cfg
    out = {}
    for prop, key, arn_key, api_arn in (
            ("topicConfigurations", "TopicConfigurations", "topic", "TopicArn"),
            ("queueConfigurations", "QueueConfigurations", "queue", "QueueArn"),
            ("lambdaConfigurations", "LambdaFunctionConfigurations", "function",
             "LambdaFunctionArn")):
        entries = items(get(cfg, prop))
        if entries is UNKNOWN:
            return UNKNOWN
        out[key] = [{api_arn: get(e, arn_key), "Events": [get(e, "event")],
                     "Filter": _native_filter(get(e, "filter", "s3Key", "rules"))}
                    for e in entries if isinstance(e, Mapping)]
    eb = boolean(get(cfg, "eventBridgeConfiguration", "eventBridgeEnabled"))
    if eb is UNKNOWN:
        out["EventBridgeConfiguration"] = UNKNOWN
    elif eb is True or (get(cfg, "eventBridgeConfiguration") is not None and eb is None):
        out["EventBridgeConfiguration"] = {}  # CloudFormation default: enabled when present
    return out


def event_rule(r: Res) -> dict[str, Any]:
    """{"name", "pattern", "enabled", "bus", "targets" (inline, aws-native) or None}."""
    native = r.type.startswith("aws-native")
    name = r.get("name")
    state = r.get("state")
    enabled: Any = True  # both providers default to ENABLED
    if state is UNKNOWN:
        enabled = UNKNOWN
    elif isinstance(state, str):
        enabled = state.startswith("ENABLED")
    elif not native and boolean(r.get("isEnabled")) is False:
        enabled = False
    elif not native and r.get("isEnabled") is UNKNOWN:
        enabled = UNKNOWN
    targets = None
    if native:
        targets = items(r.get("targets"))
    pattern = r.get("eventPattern")
    if has_unknown(pattern):  # e.g. a bucket name not known yet inside an aws-native pattern
        pattern = UNKNOWN
    return {"name": name if isinstance(name, str) else r.name, "pattern": pattern,
            "enabled": enabled, "bus": r.get("eventBusName"), "targets": targets}


def default_bus(bus: Any) -> Any:
    """Whether rules on `bus` see AWS service events (only the default bus does)."""
    if bus is UNKNOWN:
        return UNKNOWN
    return bus in (None, "", "default") or (isinstance(bus, str)
                                             and bus.endswith(":event-bus/default"))


# CloudTrail field-selector operators: API name -> (aws-native, pulumi-aws) property names.
_FIELD_OPS = {op: (op[0].lower() + op[1:], op[0].lower() + op[1:] + ("s" if "With" in op else ""))
              for op in ("Equals", "StartsWith", "EndsWith", "NotEquals", "NotStartsWith",
                         "NotEndsWith")}


def trail_selectors(r: Res) -> tuple[Any, Any]:
    """(EventSelectors, AdvancedEventSelectors) in the CloudTrail API shape; UNKNOWN parts
    stay UNKNOWN (a whole list, or single values inside it)."""
    basic = items(r.get("eventSelectors"))
    advanced = items(r.get("advancedEventSelectors"))
    if basic is not UNKNOWN:
        basic = [{"ReadWriteType": or_default(get(s, "readWriteType"), "All"),
                  "IncludeManagementEvents": get(s, "includeManagementEvents"),
                  "DataResources": each(get(s, "dataResources"), lambda d: {
                      "Type": get(d, "type"), "Values": strings(get(d, "values"))})}
                 for s in basic if isinstance(s, Mapping)]
    if advanced is not UNKNOWN:
        advanced = [{"Name": get(s, "name"), "FieldSelectors": each(
            get(s, "fieldSelectors"), lambda f: {
                "Field": get(f, "field"),
                **{op: strings(get(f, name)) for op, names in _FIELD_OPS.items()
                   for name in names if get(f, name) is not None}})}
            for s in advanced if isinstance(s, Mapping)]
    return basic, advanced


def _events(v: Any) -> list[Any]:
    """Notification events; an unknown list reads as [UNKNOWN] (judged "unknown")."""
    xs = strings(v)
    return [UNKNOWN] if xs is UNKNOWN else list(xs)


def _native_filter(rules: Any) -> Any:
    xs = maps(rules)
    if xs is UNKNOWN:
        return UNKNOWN
    return {"Key": {"FilterRules": [{"Name": get(f, "name"), "Value": get(f, "value")}
                                    for f in xs]}}


@record
class _Repl:
    """One replication rule of a bucket, resolved to its destination."""

    source: Bucket
    dest: Bucket | None
    entry: dict[str, Any]


def _bucket_name(ref: str) -> str:
    """A bucket name from a name or an S3 ARN (any partition): arn:aws:s3:::name."""
    return ref.split(":::", 1)[1] if ref.startswith("arn:") and ":::" in ref else ref


def _substitute(value: Any, candidates: list[str]) -> tuple[Any, bool]:
    """`value` with every UNKNOWN string in a list replaced by `candidates`; (value, whether
    something stays unknown)."""
    if value is UNKNOWN:
        return None, True
    if isinstance(value, list):
        out: list[Any] = []
        unknown = False
        for item in value:
            if item is UNKNOWN:
                if not candidates:
                    unknown = True
                out.extend(candidates)
                continue
            sub, u = _substitute(item, candidates)
            unknown |= u
            out.append(sub)
        return out, unknown
    if isinstance(value, dict):
        res: dict[str, Any] = {}
        unknown = False
        for k, item in value.items():
            res[k], u = _substitute(item, candidates)
            unknown |= u
        return res, unknown
    return value, False


def bucket_for(m: StackModel, r: Res, prop: str) -> Bucket | None:
    """The stack's bucket that `r.<prop>` refers to, if any."""
    deps = m.deps(r, prop, Bucket)
    if deps:
        return deps[0]
    name = r.get(prop)
    if isinstance(name, str):
        return m.index[_BY_NAME].get(_bucket_name(name))
    return None


def _fold(b: Bucket, r: Res) -> None:
    linked = b.evidence.setdefault("configuredBy", [])
    linked.append(r.urn)
    if r.type in VERSIONING_TYPES:
        status = r.get("versioningConfiguration", "status")
        # "Suspended" wins over an inline "Enabled": it is what S3 ends up with.
        if b.versioning != "Suspended":
            b.versioning = status
        b.props["versioning"] = f"{r.type.split(':')[-1]} {r.name!r} " \
                                "versioningConfiguration.status"
    elif r.type in LOCK_TYPES:
        enabled = r.get("objectLockEnabled")
        # The v7 resource defaults objectLockEnabled to "Enabled"; S3 now lets it switch
        # Object Lock on for an existing versioned bucket.
        if enabled is UNKNOWN:
            if b.object_lock_enabled is not True:
                b.object_lock_enabled = UNKNOWN
        elif enabled in (None, "Enabled"):
            b.object_lock_enabled = True
        b.lock_mode, b.lock_days = retention(r.get("rule", "defaultRetention"))
        b.props["lock_rule"] = f"{r.type.split(':')[-1]} {r.name!r} rule.defaultRetention"
    elif r.type in PAB_TYPES:
        b.public_access_block = public_access_block(r.props)
    elif r.type in SSE_TYPES:
        b.sse = sse_algorithm(r.get("rules"))


def _replication(m: StackModel, configs: Iterable[Res]) -> list[_Repl]:
    """Fill `Bucket.replication` from inline blocks and BucketReplicationConfig resources;
    every rule's destination is looked up by ARN/name, or by the property dependency of
    the rules on the destination bucket (its ARN is unknown during preview)."""
    sources: list[tuple[Bucket, Any, Res, str]] = []
    for b in m.buckets:
        r = m.res_of[id(b)]
        rules, prop = inline_replication(r)
        if rules is not None and prop is not None:
            sources.append((b, rules, r, prop))
    for r in configs:
        b = bucket_for(m, r, "bucket")
        if b is None:
            m.unlinked_if_unknown(r, "replication", "bucket")
            continue
        sources.append((b, replication_rules(r.get("rules"), r.type), r, "rules"))
    out: list[_Repl] = []
    for b, rules, r, prop in sources:
        if rules is UNKNOWN or b.replication is UNKNOWN:
            b.replication = UNKNOWN
            continue
        b.replication = b.replication or []
        b.props["replication"] = f"{r.type.split(':')[-1]} {r.name!r} {prop}"
        deps = [d for d in m.deps(r, prop, Bucket) if d is not b]
        for rule in rules:
            dest, region, name = _destination(m, rule["dest"], deps)
            entry = {"id": rule["id"], "status": rule["status"], "bucket": name,
                     "region": region, "via": r.urn, "kmsObjects": rule["kmsObjects"]}
            b.replication.append(entry)
            out.append(_Repl(b, dest, entry))
    return out


def _destination(m: StackModel, dest: Any, deps: list[Bucket]) -> tuple[Bucket | None, Any, str]:
    """(destination bucket in the stack or None, its region, a name for messages)."""
    if isinstance(dest, str):
        name = _bucket_name(dest)
        found = m.index[_BY_NAME].get(name)
        if found is None:
            return None, None, name  # outside this stack: region not known
        return found, found.region, found.name
    if len(deps) == 1:
        return deps[0], deps[0].region, deps[0].name
    regions = {d.region for d in deps}
    if deps and len(regions) == 1:  # several candidates, one region: that is enough
        return None, deps[0].region, " or ".join(d.name for d in deps)
    return None, UNKNOWN, "(not known yet)"


def _scope(m: StackModel, scope: Scope, repl: list[_Repl]) -> None:
    auto: dict[int, list[str]] = {}
    for t in m.trails:
        target = bucket_for(m, m.res_of[id(t)], "s3BucketName")
        if target is not None:
            auto.setdefault(id(target), []).append(f"destination of CloudTrail trail "
                                                    f"{t.name!r}")
    for b in m.buckets:
        name = b.name if b.evidence.get("name_known") else None
        reasons = scope.reasons(name, b.tags, auto.get(id(b), ()))
        logical = b.ref.rsplit("::", 1)[-1]
        # The logical name states intent too, and is all we have while the bucket name is
        # still unknown during preview.
        if not any(r.startswith("name matches") for r in reasons) and logical != name:
            for p in scope.patterns:
                if p.search(logical):
                    reasons.append(f"logical name {logical!r} matches {p.pattern!r}")
                    break
        b.scope_reasons = reasons
        b.is_state_bucket = "Pulumi state bucket" in reasons
    # Destinations of replication from a backup bucket hold recovery data too (and are
    # that bucket's cross-region copy); follow chains with a worklist, once per link.
    by_source: dict[int, list[_Repl]] = {}
    for link in repl:
        if link.dest is not None and link.dest is not link.source:
            by_source.setdefault(id(link.source), []).append(link)
    todo = [b for b in m.buckets if b.scope_reasons and id(b) in by_source]
    while todo:
        src = todo.pop()
        for link in by_source.pop(id(src), ()):
            dest = link.dest
            assert dest is not None
            if link.entry["status"] == "Enabled":
                dest.replica_of.append({"bucket": src.name, "region": src.region})
            reason = f"replication destination of backup bucket {src.name}"
            if reason not in dest.scope_reasons:
                dest.scope_reasons.append(reason)
            if id(dest) in by_source:
                todo.append(dest)


def _deletion_alerts(m: StackModel, linked: dict[str, list[Res]]) -> None:
    scoped = [b for b in m.buckets if b.scope_reasons]
    if not scoped:
        return
    notifications: dict[int, list[Any]] = {}
    for b in scoped:
        cfg = notification_config(m.res_of[id(b)])
        if cfg is not None:
            notifications.setdefault(id(b), []).append(cfg)
    for r in linked.get("notification", ()):
        b = bucket_for(m, r, "bucket")
        if b is None:
            m.unlinked_if_unknown(r, "notification", "bucket")
        elif b.scope_reasons:
            notifications.setdefault(id(b), []).append(notification_config(r))
    rules = {region: alerts.RuleIndex(views, region, m.account) for region, views in
             _event_rules(m, linked.get("rule", ()), linked.get("target", ())).items()}
    trails = [_trail_view(m, t) for t in m.trails]
    for b in scoped:
        out = alerts.Alerts()
        s3_eventbridge: Any = False
        for cfg in notifications.get(id(b), ()):
            if cfg is UNKNOWN:
                out.unknown = True
                continue
            alerts.notification_alerts(cfg, out)
            eb = cfg.get("EventBridgeConfiguration")
            if eb is UNKNOWN and s3_eventbridge is not True:
                s3_eventbridge = UNKNOWN
            elif eb is not None and eb is not UNKNOWN:
                s3_eventbridge = True
        region = b.region
        if not b.evidence.get("name_known") or not isinstance(region, str):
            out.unknown = True  # patterns name buckets: cannot match an unknown name
        else:
            views = _TrailViews(trails, b, region)
            index = rules.get(region)
            alerts.eventbridge_alerts(b.name, region, m.account,
                                      index.for_bucket(b.name) if index else (), views,
                                      s3_eventbridge, out)
        b.deletion_alerts = out.value()
        if out.notes:
            b.evidence["alertNotes"] = out.notes


def _event_rules(m: StackModel, rule_res: Iterable[Res],
                 targets: Iterable[Res]) -> dict[str, list[alerts.Rule]]:
    """Enabled-or-not rules on the default bus, by region, with their targets linked."""
    views: dict[str, alerts.Rule] = {}  # rule URN -> view
    by_name: dict[tuple[Any, str], alerts.Rule] = {}
    by_region: dict[str, list[alerts.Rule]] = {}
    for r in rule_res:
        info = event_rule(r)
        if default_bus(info["bus"]) is False:
            continue  # a custom bus never receives S3 or CloudTrail events
        pattern = info["pattern"]
        if isinstance(pattern, str):  # parse once, not once per bucket
            try:
                pattern = json.loads(pattern)
            except ValueError:
                pass  # kept as text: the alert check notes the invalid pattern
        view = alerts.Rule(info["name"], pattern, info["enabled"],
                           info["targets"] if info["targets"] is not None else [])
        views[r.urn] = view
        if isinstance(info["name"], str):
            by_name[(r.region, info["name"])] = view
        if isinstance(r.region, str):
            by_region.setdefault(r.region, []).append(view)
    for t in targets:
        target_view: alerts.Rule | None = None
        for urn in t.property_deps.get("rule", ()):
            target_view = views.get(urn) or target_view
        if target_view is None and isinstance(t.get("rule"), str):
            target_view = by_name.get((t.region, t.get("rule")))
        if target_view is None:
            m.unlinked_if_unknown(t, "event-target", "rule")
            continue
        if isinstance(target_view.targets, list):
            arn = t.get("arn")
            target_view.targets.append(arn if arn is not None else t.urn)
    return by_region


class _TrailViews:
    """The trails' views for one bucket, computed on first use (most buckets never need
    them: see alerts.eventbridge_alerts)."""

    def __init__(self, trails: list[tuple[Trail, Any]], b: Bucket, region: str) -> None:
        self._args = (trails, b, region)
        self._views: list[alerts.Trail] | None = None

    def __iter__(self) -> Any:
        if self._views is None:
            trails, b, region = self._args
            self._views = [alerts.Trail(t.name, logs(b, region)) for t, logs in trails]
        return iter(self._views)


def _trail_view(m: StackModel, t: Trail) -> tuple[Trail, Any]:
    """(trail, function bucket, region -> True/False/UNKNOWN: does the trail log the
    bucket's S3 write data events)."""
    r = m.res_of[id(t)]
    basic, advanced = trail_selectors(r)
    candidates = [f"arn:aws:s3:::{b.name}/" for prop in ("eventSelectors",
                                                          "advancedEventSelectors")
                  for b in m.deps(r, prop, Bucket) if b.evidence.get("name_known")]
    # During preview a selector value built from a bucket's ARN is unknown; the property
    # dependency says which buckets it was built from.
    basic, basic_unknown = _substitute(basic, candidates)
    advanced, advanced_unknown = _substitute(advanced, candidates)
    unknown = basic_unknown or advanced_unknown

    def logs(b: Bucket, region: str) -> Any:
        if t.logging is UNKNOWN or t.multi_region is UNKNOWN:
            return UNKNOWN
        if t.logging is not True or not (t.multi_region is True or t.region == region):
            return False
        if unknown:
            return UNKNOWN
        if basic in (None, [], ()) and advanced in (None, [], ()):  # no data-event selectors
            return False
        return eventpattern.selectors_log_writes(basic, advanced, b.name)

    return t, logs


# ---- model ---------------------------------------------------------------------------------


def _link(m: StackModel, linked: dict[str, list[Res]], scope: Scope) -> None:
    """Split resources, replication, backup scope (needs trails), then deletion alerts."""
    m.index[_BY_NAME] = {b.name: b for b in m.buckets if b.evidence.get("name_known")}
    # a known name that is none of the stack's buckets is another bucket's setting, unless
    # a bucket of the stack has a name not known yet (it may be that one)
    names_unknown = any(not b.evidence.get("name_known") for b in m.buckets)
    for r in linked.get("split", ()):
        target = bucket_for(m, r, "bucket")
        if target is None:
            if names_unknown or not isinstance(r.get("bucket"), str):
                m.count_unlinked("versioning" if r.type in VERSIONING_TYPES else
                                 "lock" if r.type in LOCK_TYPES else
                                 "sse" if r.type in SSE_TYPES else "pab")
            continue
        _fold(target, r)
    repl = _replication(m, linked.get("replication", ()))
    _scope(m, scope, repl)
    _deletion_alerts(m, linked)


# ---- deploy bindings -----------------------------------------------------------------------

def _versioning(model: StackModel, _params: dict[str, Any]) -> Iterable[Judged]:
    for b in model.buckets:
        yield b, unlinked_guard(model, "versioning", ctl.versioning(b))


def _object_lock(model: StackModel, params: dict[str, Any]) -> Iterable[Judged]:
    for b in model.buckets:
        yield b, unlinked_guard(model, "lock", ctl.object_lock(b, params))


def _replication_check(model: StackModel, _params: dict[str, Any]) -> Iterable[Judged]:
    for b in model.buckets:
        yield b, unlinked_guard(model, "replication", ctl.replication(b))


def _public_access_block_check(model: StackModel, _params: dict[str, Any]) -> Iterable[Judged]:
    for b in model.buckets:
        yield b, unlinked_guard(model, "pab", ctl.public_access_block(b))


def _deletion_alerts_check(model: StackModel, _params: dict[str, Any]) -> Iterable[Judged]:
    for b in model.buckets:
        yield b, unlinked_guard(model, ("notification", "event-target"),
                                ctl.deletion_alerts(b))


# ---- remediation (fixes built from policypack/fixers.py, served by policypack/remediate.py)


V6_BUCKET = "aws:s3/bucketV2:BucketV2"
BUCKET = "aws:s3/bucket:Bucket"
NATIVE_BUCKET = "aws-native:s3:Bucket"


def fix_versioning(t: Target, _params: Mapping[str, Any]) -> None:
    name_prop = "bucketName" if t.type == NATIVE_BUCKET else "bucket"
    if not backup_bucket(t, name_prop):
        return
    if t.type == NATIVE_BUCKET:
        cfg = t.value("versioningConfiguration")
        if untouchable(cfg):
            return
        if cfg is None:
            t.set("versioningConfiguration", {"status": "Enabled"}, "backup bucket")
            t.changes[-1] = "versioningConfiguration.status: unset -> Enabled (backup bucket)"
        elif isinstance(cfg, dict) and cfg.get("status") != "Enabled" and \
                not untouchable(cfg.get("status")):
            t.props["versioningConfiguration"] = {**cfg, "status": "Enabled"}
            t.changes.append(f"versioningConfiguration.status: {show_value(cfg.get('status'))} -> "
                             "Enabled (backup bucket)")
        return
    block = t.value("versioning")
    if isinstance(block, dict) and not untouchable(block.get("enabled")) \
            and not true(block.get("enabled")):
        t.props["versioning"] = {**block, "enabled": True}
        t.changes.append("versioning.enabled: "
                         f"{show_value(block.get('enabled'))} -> true (backup bucket)")
    blocks = t.value("versionings")
    if isinstance(blocks, list) and blocks and isinstance(blocks[0], dict) \
            and not untouchable(blocks[0].get("enabled")) and not true(blocks[0].get("enabled")):
        t.props["versionings"] = [{**blocks[0], "enabled": True}, *blocks[1:]]
        t.changes.append("versionings[0].enabled: "
                         f"{show_value(blocks[0].get('enabled'))} -> true (backup bucket)")


SERVICE = DeployService(
    facts={t: ("buckets", bucket) for t in BUCKET_TYPES},
    linked={**{t: "split" for t in VERSIONING_TYPES | LOCK_TYPES | PAB_TYPES | SSE_TYPES},
            **{t: "replication" for t in REPLICATION_TYPES},
            **{t: "notification" for t in NOTIFICATION_TYPES},
            **{t: "rule" for t in EVENT_RULE_TYPES},
            **{t: "target" for t in EVENT_TARGET_TYPES}},
    link=Link(10, _link),
    stateful=("buckets",),
    checks=(
        StackCheck("backup-bucket-versioning", _versioning),
        StackCheck("backup-bucket-object-lock", _object_lock),
        StackCheck("backup-bucket-replication", _replication_check),
        StackCheck("backup-bucket-deletion-alerts", _deletion_alerts_check),
        StackCheck("backup-bucket-public-access-block", _public_access_block_check),
    ),
    remediations=(Fixer("backup-bucket-versioning",
                        frozenset({BUCKET, V6_BUCKET, NATIVE_BUCKET}), fix_versioning),),
)
