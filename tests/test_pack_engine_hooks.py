"""The pack's AnalyzeStack shortcut must answer exactly what the SDK's own AnalyzeStack does."""

from __future__ import annotations

from google.protobuf import json_format
from pulumi.runtime.proto import analyzer_pb2 as pb
from pulumi_policy import EnforcementLevel
from pulumi_policy import policy as sdk

from policypack import engine_hooks
from policypack.policies import build
from tests import pack_programs
from tests.harness.analyzer import stack_resource

DB_SECRET = {"config": {"dbPassword": "pw-123456"}, "secrets": ["dbPassword"]}


def _answer(method, request) -> list[dict]:  # noqa: ANN001
    servicer = sdk._PolicyAnalyzerServicer("dr-guard", "0.1.0", build(),
                                           EnforcementLevel.ADVISORY)
    response = method(servicer, request, None)
    diags = [json_format.MessageToDict(d) for d in response.diagnostics]
    return sorted(diags, key=lambda d: (d.get("policyName", ""), d.get("urn", ""),
                                        d.get("message", "")))


def test_hooked_analyze_stack_matches_the_sdk(capture) -> None:  # noqa: ANN001
    engine_hooks.install()
    originals = sdk._PolicyAnalyzerServicer._dr_guard_originals
    programs = [("examples/drifting-stack", True), ("examples/drifting-stack", False),
                ("examples/dr-ready-stack", True), (pack_programs.unknown_retention, True),
                (pack_programs.v6_tokens, True)]
    seen_unknown = False
    for program, preview in programs:
        kw = DB_SECRET if isinstance(program, str) else {}
        cap = capture(program, preview=preview, **kw)
        request = pb.AnalyzeStackRequest(resources=[stack_resource(r) for r in cap.resources])
        ours = _answer(sdk._PolicyAnalyzerServicer.AnalyzeStack, request)
        theirs = _answer(originals["AnalyzeStack"], request)
        assert ours == theirs, program
        seen_unknown |= any("preview" in d["message"] for d in ours)
        if program == "examples/drifting-stack":
            assert ours, "expected violations to compare"
