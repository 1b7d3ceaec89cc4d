"""Two wraps around pulumi-policy's analyzer servicer (pinned SDK version, see requirements).

- Configure: reject a bad config with INVALID_ARGUMENT and a one-line reason, as the CLI's
  schema check would; the SDK itself accepts anything, so a typo'd parameter would silently
  fall back to its default.
- AnalyzeStack: the SDK converts every resource (properties, options, provider, dependencies)
  once per stack policy, so a stack's cost grows with the number of stack policies (4 s for
  10,000 resources and a handful of policies). `analyze_stack` below does what the SDK's
  AnalyzeStack does (same diagnostics, same not-applicable and preview handling; pinned by
  tests/test_pack_engine_hooks.py) but converts each resource once and lets our policies share
  one StackModel per call.

- Analyze and AnalyzeStack never raise: a policy that fails on a resource it cannot read
  reports a violation naming the error (fail closed: the resource is not shown compliant)
  instead of the whole call answering UNKNOWN; the other policies still run.

Only the pack's entry point installs these; importing this module changes nothing.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable
from typing import Any

from drguard.errors import ConfigError

from . import wire
from .config import check_pack_config

# The registry (drguard.params, drguard.registry) is imported by the hooks when they first
# run, not while the pack starts serving.

log = logging.getLogger(__name__)

_call = threading.local()
# The wire's EnforcementLevel values (pulumi analyzer.proto).
_LEVELS = {0: "advisory", 1: "mandatory", 2: "disabled", 3: "remediate"}


def _settings_policy() -> str:
    from drguard.registry import SETTINGS_POLICY

    return SETTINGS_POLICY


def _secrets() -> set[str]:
    """Plaintexts of the secret values decoded in this call (redacted from every message)."""
    found = getattr(_call, "secrets", None)
    if found is None:
        found = _call.secrets = set()
    return found


def _redacted(response: Any) -> Any:
    """The response with every secret decoded in this call removed from its messages (the
    pack's one redaction step: rules, the SDK's preview notes and our own all pass here)."""
    secrets = _secrets()
    if secrets:
        from drguard.redact import Redactor

        r = Redactor(secrets)
        for d in response.diagnostics:
            d.message = r.text(d.message)
        for n in getattr(response, "not_applicable", ()):
            n.reason = r.text(n.reason)
    return response


def current_call() -> dict[Any, Any] | None:
    """Per-AnalyzeStack scratch space (None outside a hooked call)."""
    return getattr(_call, "memo", None)


def _stack_resources(servicer: Any, request: Any, sdk: Any) -> list[Any]:
    """The SDK's conversion of AnalyzeStackRequest.resources into PolicyResources, done once."""
    intermediates = []
    by_urn: dict[str, Any] = {}
    for r in request.resources:
        seen = wire.Decoded()
        props = sdk.unknown_checking_proxy(wire.properties(r.properties, seen))
        _secrets().update(seen.secrets)
        if seen.malformed:
            log.warning("%s: unreadable envelope(s) at %s read as unknown", r.urn,
                        ", ".join(seen.malformed[:5]))
        resource = sdk.PolicyResource(r.type, props, r.urn, r.name,
                                      servicer._get_resource_options(r),
                                      servicer._get_provider_resource(r), None, [], {})
        deps = {k: list(v.urns) for k, v in r.propertyDependencies.items()}
        intermediates.append((resource, r.parent, list(r.dependencies), deps))
        by_urn[resource.urn] = resource
    for resource, parent, dependencies, property_dependencies in intermediates:
        if parent is not None and parent in by_urn:
            resource.parent = by_urn[parent]
        resource.dependencies.extend(by_urn[d] for d in dependencies if d in by_urn)
        for k, urns in property_dependencies.items():
            resource.property_dependencies[k] = [by_urn[d] for d in urns if d in by_urn]
    return [i[0] for i in intermediates]


def analyze_stack(servicer: Any, request: Any, sdk: Any) -> Any:
    """pulumi_policy's AnalyzeStack with the resource conversion hoisted out of the loop."""
    import asyncio
    from inspect import isawaitable

    proto = sdk.proto
    level_of = servicer._get_enforcement_level
    pack_name = servicer._PolicyAnalyzerServicer__policy_pack_name
    pack_version = servicer._PolicyAnalyzerServicer__policy_pack_version
    stack_tags = servicer._PolicyAnalyzerServicer__stack_tags
    servicer._configure_runtime_settings()
    response = proto.AnalyzeResponse()
    policies = [p for p in servicer._PolicyAnalyzerServicer__policies
                if isinstance(p, sdk.StackValidationPolicy)
                and level_of(p) != sdk.EnforcementLevel.DISABLED]
    if not policies:
        return response
    resources = _stack_resources(servicer, request, sdk)
    _call.memo = {}
    try:
        for policy in policies:
            level = level_of(policy)
            if level == sdk.EnforcementLevel.REMEDIATE:
                level = sdk.EnforcementLevel.MANDATORY
            report = servicer._create_report_violation(response, policy.name,
                                                       policy.description, level,
                                                       policy.severity)
            args = sdk.StackValidationArgs(list(resources),
                                           servicer._get_policy_config(policy.name), stack_tags)
            try:
                result = policy.validate(args, report)
                if isawaitable(result):
                    loop = asyncio.new_event_loop()
                    loop.run_until_complete(asyncio.ensure_future(result, loop=loop))
                    loop.close()
            except sdk.UnknownValueError as e:
                response.diagnostics.append(proto.AnalyzeDiagnostic(
                    policyName=policy.name, policyPackName=pack_name,
                    policyPackVersion=pack_version,
                    message=(f"can't run policy '{policy.name}' from policy pack "
                             f"'{pack_name}@v{pack_version}' during preview: {e.message}"),
                    urn="", description=policy.description,
                    enforcementLevel=servicer._map_enforcement_level(
                        sdk.EnforcementLevel.ADVISORY)))
            except sdk._NotApplicableError as e:
                response.not_applicable.append(proto.PolicyNotApplicable(
                    policy_name=policy.name, reason=e.reason or ""))
    finally:
        _call.memo = None
    return response


def _unreadable(policy_name: str, e: BaseException, resource: str | None = None) -> str:
    """The one-line violation a policy reports when it fails on the input."""
    on = f" on {resource!r}" if resource else ""
    return (f"DR Guard could not evaluate {policy_name}{on}: a property has a value of an "
            f"unexpected type or shape ({type(e).__name__}), so the resource cannot be shown "
            "compliant; check the resource's properties.")


def _culprits(fails: Any, resources: list[Any]) -> list[Any]:
    """The resources that make `fails(subset)` true on their own (bisection: about
    2 k log n runs for k culprits; empty when only a combination fails)."""
    if len(resources) <= 1:
        return list(resources) if resources and fails(resources) else []
    mid = len(resources) // 2
    out = []
    for half in (resources[:mid], resources[mid:]):
        if fails(half):
            out += _culprits(fails, half)
    return out


def _needed_for_failure(fails: Any, resources: list[Any], budget: int = 64) -> list[Any]:
    """When no resource fails alone: resources whose removal ends the failure, found one at
    a time by binary search over removed prefixes (log n runs each)."""
    keep = list(resources)
    out: list[Any] = []
    while keep and budget > 0 and fails(keep):
        lo, hi = 1, len(keep)  # smallest k with not fails(keep[k:]); fails(keep[0:]) holds
        while lo < hi and budget > 0:
            mid = (lo + hi) // 2
            budget -= 1
            if fails(keep[mid:]):
                lo = mid + 1
            else:
                hi = mid
        out.append(keep.pop(lo - 1))
    return out


def _isolate(policy: Any, validate: Any, args: Any, report: Any, sdk: Any,
             error: BaseException) -> None:
    """A stack policy failed: judge the stack without the resource(s) it fails on, and report
    each of those as not evaluable, so one bad resource does not hide the others' results."""
    passthrough = (sdk.UnknownValueError, sdk._NotApplicableError)
    config, tags = args.get_config(), args.stack_tags

    def fails(subset: list[Any]) -> bool:
        try:
            validate(sdk.StackValidationArgs(list(subset), config, tags), lambda *_a: None)
        except passthrough:
            return False
        except Exception:  # noqa: BLE001
            return True
        return False

    memo = getattr(_call, "memo", None)
    _call.memo = None  # sub-runs build their own models (the memo holds the whole stack's)
    try:
        resources = list(args.resources)
        known = memo.get("culprits", []) if memo is not None else []
        known_ids = {id(r) for r in known}
        rest = [r for r in resources if id(r) not in known_ids]
        bad = [r for r in known if any(r is x for x in resources)]
        if not bad or fails(rest):  # culprits of an earlier policy are not all of them
            bad = _culprits(fails, resources) or _needed_for_failure(fails, resources)
            if memo is not None:
                memo["culprits"] = bad
        if not bad:
            report(_unreadable(policy.name, error), None)
            return
        bad_ids = {id(r) for r in bad}
        good = [r for r in args.resources if id(r) not in bad_ids]
        for r in bad:
            log.warning("policy %s cannot read %s", policy.name, r.urn)
            report(_unreadable(policy.name, error, getattr(r, "name", None)), r.urn)
        try:
            validate(sdk.StackValidationArgs(good, config, tags), report)
        except passthrough:
            raise
        except Exception as e:  # noqa: BLE001 - only the whole combination fails
            report(_unreadable(policy.name, e), None)
    finally:
        _call.memo = memo


def _guard(policy: Any, sdk: Any) -> None:
    """Wrap a policy's validate so an error becomes a violation (once per policy)."""
    if getattr(policy, "_dr_guard", False):
        return
    validate = policy.validate
    passthrough = (sdk.UnknownValueError, sdk._NotApplicableError)
    stack = isinstance(policy, sdk.StackValidationPolicy)

    def guarded(args: Any, report: Any) -> Any:
        try:
            return validate(args, report)
        except passthrough:
            raise
        except Exception as e:  # noqa: BLE001 - fail closed, never an UNKNOWN answer
            log.warning("policy %s failed on %s: %s", policy.name,
                        getattr(args, "urn", "the stack"), type(e).__name__)
            log.debug("policy %s failed", policy.name, exc_info=True)
            if stack and len(getattr(args, "resources", ())) > 1:
                _isolate(policy, validate, args, report, sdk, e)
            else:
                report(_unreadable(policy.name, e), None)
            return None

    policy.validate = guarded
    policy._dr_guard = True


def _guard_all(servicer: Any, sdk: Any) -> None:
    for policy in servicer._PolicyAnalyzerServicer__policies:
        _guard(policy, sdk)


def _failed_response(servicer: Any, sdk: Any, e: BaseException) -> Any:
    """What Analyze/AnalyzeStack answer when the request itself cannot be read: one
    mandatory diagnostic, never an exception (which the engine shows as UNKNOWN)."""
    log.warning("analysis failed: %s", type(e).__name__)
    log.debug("analysis failed", exc_info=True)
    response = sdk.proto.AnalyzeResponse()
    response.diagnostics.append(sdk.proto.AnalyzeDiagnostic(
        policyName=_settings_policy(),
        policyPackName=servicer._PolicyAnalyzerServicer__policy_pack_name,
        policyPackVersion=servicer._PolicyAnalyzerServicer__policy_pack_version,
        message=(f"DR Guard could not read the resources it was given ({type(e).__name__}); "
                 "nothing was evaluated, so nothing is shown compliant."),
        urn="", description="DR Guard settings: backup-bucket scope rules and waivers.",
        enforcementLevel=servicer._map_enforcement_level(sdk.EnforcementLevel.MANDATORY)))
    return response


def install(check_levels: Callable[[dict[str, str]], None] = lambda _levels: None) -> None:
    """Hook the SDK's servicer; `check_levels` refuses enforcement levels at Configure (the
    remediation layer passes its own, which sits above this module)."""
    import grpc
    from pulumi_policy import policy as sdk_module

    sdk: Any = sdk_module  # patched below: its servicer's calls and its property decoder

    servicer: Any = sdk._PolicyAnalyzerServicer
    if getattr(servicer, "_dr_guard_hooks", False):
        return
    configure = servicer.Configure

    analyze = servicer.Analyze

    def hooked_configure(self: Any, request: Any, context: Any) -> Any:
        error: str | None = None
        try:
            from drguard.params import policy_loc

            config = {k: wire.plain(v.properties, policy_loc(k))
                      for k, v in request.policyConfig.items()}
            check_pack_config(config)
            check_levels({k: _LEVELS.get(v.enforcementLevel, "")
                          for k, v in request.policyConfig.items()})
        except ConfigError as e:
            error = str(e)
        except RecursionError:
            error = "the config is nested too deeply"
        except Exception as e:  # noqa: BLE001 - any unreadable config is the caller's error
            log.debug("Configure failed", exc_info=True)
            error = f"the config cannot be read ({type(e).__name__})"
        if error is None:
            try:
                return configure(self, request, context)
            except Exception as e:  # noqa: BLE001 - the SDK could not take it: still ours
                log.debug("the SDK's Configure failed", exc_info=True)
                error = f"the config cannot be read ({type(e).__name__})"
        log.error("invalid policy pack config: %s", error)
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"invalid policy pack config: {error}")

    def hooked_analyze(self: Any, request: Any, context: Any) -> Any:
        _call.secrets = set()
        try:
            _guard_all(self, sdk)
            try:
                return _redacted(analyze(self, request, context))
            except ValueError:  # the SDK cannot convert a non-finite number: show it as text
                fixed = type(request)()
                fixed.CopyFrom(request)
                fixed.properties.Clear()
                fixed.properties.update(wire.plain(request.properties))
                return _redacted(analyze(self, fixed, context))
        except Exception as e:  # noqa: BLE001 - never answer UNKNOWN
            return _failed_response(self, sdk, e)

    def hooked_analyze_stack(self: Any, request: Any, _context: Any) -> Any:
        # Converting a large stack allocates millions of small objects; the cyclic GC would
        # rescan them over and over (half the time at 10,000 resources). Collect once after.
        was_enabled = gc.isenabled()
        gc.disable()
        _call.secrets = set()
        try:
            _guard_all(self, sdk)
            return _redacted(analyze_stack(self, request, sdk))
        except Exception as e:  # noqa: BLE001 - never answer UNKNOWN
            return _failed_response(self, sdk, e)
        finally:
            if was_enabled:
                gc.enable()

    servicer._dr_guard_originals = {"Configure": configure, "Analyze": analyze,
                                    "AnalyzeStack": servicer.AnalyzeStack,
                                    "deserialize_properties": sdk.deserialize_properties}
    # The SDK's own reads of properties (Analyze, provider resources) go through the same
    # decoder: a malformed envelope is one unknown property, not a failed call.
    sdk_deserialize = sdk.deserialize_properties

    def deserialize_properties(props: Any, proxy_secrets: bool = False) -> Any:
        if proxy_secrets:
            return sdk_deserialize(props, proxy_secrets)
        seen = wire.Decoded()
        out = wire.decode(props, seen)
        _secrets().update(seen.secrets)
        if seen.malformed:
            log.warning("unreadable envelope(s) at %s read as unknown",
                        ", ".join(seen.malformed[:5]))
        return out if isinstance(out, dict) else {}

    sdk.deserialize_properties = deserialize_properties
    servicer.Configure = hooked_configure
    servicer.Analyze = hooked_analyze
    servicer.AnalyzeStack = hooked_analyze_stack
    servicer._dr_guard_hooks = True
