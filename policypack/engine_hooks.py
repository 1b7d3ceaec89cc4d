"""Two small wraps around pulumi-policy's analyzer servicer (pinned SDK version).

- Configure: reject a bad config with INVALID_ARGUMENT and a one-line reason, as the CLI's
  schema check would; the SDK itself accepts anything, so a typo'd parameter would silently
  fall back to its default.
- AnalyzeStack: the SDK converts every resource's properties once per stack policy
  (MessageToDict, deserialize, proxy). During one AnalyzeStack call on one thread we memoise
  those conversions by message identity, and our policies share one StackModel, so the cost
  of a stack no longer grows with the number of stack policies.

Only the pack's entry point installs these; importing this module changes nothing.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from drguard.errors import ConfigError

from .config import check_pack_config

log = logging.getLogger(__name__)

_call = threading.local()


def current_call() -> dict[str, Any] | None:
    """Per-AnalyzeStack scratch space (None outside a hooked call)."""
    return getattr(_call, "memo", None)


class _MemoJsonFormat:
    """Stands in for `json_format` inside pulumi_policy.policy."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def MessageToDict(self, message: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N802
        memo = current_call()
        if memo is None or args or kwargs:
            return self._real.MessageToDict(message, *args, **kwargs)
        key = ("m2d", id(message))
        hit = memo.get(key)
        if hit is None:
            hit = memo[key] = (message, self._real.MessageToDict(message))
        return hit[1]


def _memoised(fn: Any, tag: str) -> Any:
    def wrapper(value: Any, *args: Any) -> Any:
        memo = current_call()
        if memo is None or args:
            return fn(value, *args)
        key = (tag, id(value))
        hit = memo.get(key)
        if hit is None:
            hit = memo[key] = (value, fn(value))  # keep `value` alive so ids stay unique
        return hit[1]

    return wrapper


def install() -> None:
    import grpc
    from google.protobuf import json_format
    from pulumi_policy import policy as sdk

    servicer = sdk._PolicyAnalyzerServicer
    if getattr(servicer, "_dr_guard_hooks", False):
        return
    configure, analyze_stack = servicer.Configure, servicer.AnalyzeStack

    def hooked_configure(self: Any, request: Any, context: Any) -> Any:
        config = {k: json_format.MessageToDict(v.properties)
                  for k, v in request.policyConfig.items()}
        try:
            check_pack_config(config)
        except ConfigError as e:
            log.error("invalid policy pack config: %s", e)
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"invalid policy pack config: {e}")
        return configure(self, request, context)

    def hooked_analyze_stack(self: Any, request: Any, context: Any) -> Any:
        _call.memo = {}
        try:
            return analyze_stack(self, request, context)
        finally:
            _call.memo = None

    sdk.json_format = _MemoJsonFormat(json_format)
    sdk.deserialize_properties = _memoised(sdk.deserialize_properties, "deser")
    sdk.unknown_checking_proxy = _memoised(sdk.unknown_checking_proxy, "proxy")
    servicer.Configure = hooked_configure
    servicer.AnalyzeStack = hooked_analyze_stack
    servicer._dr_guard_hooks = True
