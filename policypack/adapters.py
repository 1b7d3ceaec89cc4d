"""What every deploy-side adapter shares: `Res` (one resource as the engine describes it) and
helpers over raw wire values. The adapters themselves live in `policypack.services.<service>`.

Every adapter reads the raw wire properties (camelCase, unknown sentinels) through
`policypack.wire` and resolves provider defaults, so rules see the effective value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from typing import Any

from drguard.facts import UNKNOWN
from drguard.records import record

from .wire import PLAIN, SENTINELS, get, raw, tags, val


@record(slots=True)  # one per resource of a stack: no __dict__ each (memory)
class Res:
    """One resource as the engine describes it to the analyzer."""

    type: str
    urn: str
    name: str
    props: Any  # raw wire dict
    protect: bool | None = None
    provider_props: Any = None
    # property name -> URNs it depends on (AnalyzeStack only)
    property_deps: Mapping[str, list[str]] = field(default_factory=dict)

    def get(self, key: str | int, *path: str | int) -> Any:
        props = self.props
        if not path and type(props) is dict and type(key) is str:  # most reads
            v = props.get(key)
            kind = type(v)
            if kind is str:
                return UNKNOWN if v in SENTINELS else v
            if kind in PLAIN or v is None:
                return v
        return get(props, key, *path)

    @property
    def region(self) -> Any:
        r = self.get("region")
        if r is None and self.provider_props is not None:
            r = get(self.provider_props, "region")
        return r if r is None or r is UNKNOWN or isinstance(r, str) else None

    @classmethod
    def from_args(cls, args: Any) -> Res:
        """From ResourceValidationArgs or a PolicyResource."""
        opts = getattr(args, "opts", None)
        provider = getattr(args, "provider", None)
        deps = getattr(args, "property_dependencies", None) or {}
        return cls(type=args.resource_type, urn=args.urn, name=args.name, props=raw(args.props),
                   protect=bool(opts.protect) if opts is not None else None,
                   provider_props=raw(provider.props) if provider is not None else None,
                   property_deps={k: [d.urn for d in v] for k, v in deps.items()})


def base(r: Res, name: Any, tags_key: str | None = "tags") -> dict[str, Any]:
    """The fields every fact has. `tags_key`: the property holding the type's tags (aws-native
    names some after the type, e.g. backupVaultTags); None: the caller fills them."""
    if name is None or name is UNKNOWN:
        name = r.name
    region = r.region
    return {"ref": r.urn, "name": str(name), "type": r.type,
            "region": region if isinstance(region, str) else None,
            "tags": tags(r.props, tags_key) if tags_key is not None else {},
            "protect": r.protect}


def items(v: Any) -> Any:
    """A list property as a list of raw items (UNKNOWN when the list itself is unknown)."""
    v = val(v)
    if v is UNKNOWN:
        return UNKNOWN
    return [val(x) for x in v] if isinstance(v, list) else []


def maps(v: Any) -> Any:
    """The mapping items of a list property: UNKNOWN when the list is unknown, [] when unset;
    an unknown item makes the whole list UNKNOWN (what it would hold is not known)."""
    out = items(v)
    if out is UNKNOWN or UNKNOWN in out:
        return UNKNOWN
    return [x for x in out if isinstance(x, Mapping)]


def strings(v: Any) -> Any:
    """A list of strings (UNKNOWN items kept as UNKNOWN); UNKNOWN for an unknown list."""
    out = items(v)
    if out is UNKNOWN:
        return UNKNOWN
    return [x for x in out if isinstance(x, str) or x is UNKNOWN]


def has_unknown(v: Any) -> bool:
    """Whether an unknown sentinel hides anywhere inside a (raw) value."""
    v = val(v)
    if v is UNKNOWN:
        return True
    if isinstance(v, Mapping):
        return any(has_unknown(x) for x in v.values())
    if isinstance(v, list):
        return any(has_unknown(x) for x in v)
    return False


def arn_region(arn: Any) -> Any:
    """The region field of an ARN; UNKNOWN for an unknown ARN, None when it has none."""
    if arn is UNKNOWN:
        return UNKNOWN
    if not isinstance(arn, str) or not arn.startswith("arn:"):
        return None
    parts = arn.split(":", 5)
    return parts[3] or None if len(parts) > 3 else None


def arn_account(arn: Any) -> str | None:
    if not isinstance(arn, str) or not arn.startswith("arn:"):
        return None
    parts = arn.split(":", 5)
    return parts[4] if len(parts) > 4 and parts[4].isdigit() and len(parts[4]) == 12 else None


def or_default(v: Any, default: Any) -> Any:
    """`v`, or `default` when unset (UNKNOWN stays UNKNOWN)."""
    return default if v is None else v


def each(v: Any, fn: Any) -> Any:
    """fn over the mapping items of a list property; UNKNOWN when the list is unknown."""
    xs = maps(v)
    return UNKNOWN if xs is UNKNOWN else [fn(x) for x in xs]
