"""A throwaway policy pack for the harness tests and the policy-latency benchmark.

Environment:

- ``NOOP_POLICIES`` (default 20): number of resource policies ``noop-<i>``;
- ``NOOP_STACK_POLICIES`` (default 1): number of stack policies ``noop-stack-<i>``;
- ``NOOP_REPORT=1``: the policies report instead of doing nothing (diagnostic round trip):
  ``noop-0`` (mandatory, high) reports every custom resource as ``"<type> <name> protect=<p>"``;
  ``noop-1`` (advisory, low) reports once per resource and echoes its config ``threshold``;
  ``noop-2`` reads the ``bucket`` property of S3 split resources (unknown in preview -> the SDK's
  "can't run policy ... during preview" advisory); every other resource policy reads all
  properties; ``noop-stack-0`` reports the number of resources with a URN (the first one) and
  once without a URN, plus the URNs behind ``bucket`` property dependencies.
"""

from __future__ import annotations

import os

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyPack,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

N = int(os.environ.get("NOOP_POLICIES", "20"))
N_STACK = int(os.environ.get("NOOP_STACK_POLICIES", "1"))
REPORT = os.environ.get("NOOP_REPORT") == "1"
SPLIT_TYPES = ("aws:s3/bucketVersioning:BucketVersioning",
               "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")


def _resource_validator(i: int):
    def validate(args: ResourceValidationArgs, report_violation) -> None:
        if not REPORT:
            return
        if i == 0:
            if not args.resource_type.startswith("pulumi:"):
                protect = args.opts.protect if args.opts else None
                report_violation(f"{args.resource_type} {args.name} protect={protect}")
        elif i == 1:
            threshold = (args.get_config() or {}).get("threshold")
            report_violation(f"threshold={threshold}", None)
        elif i == 2:
            if args.resource_type in SPLIT_TYPES:
                _ = args.props["bucket"]  # raises UnknownValueError when unknown
        else:
            _ = dict(args.props)
    return validate


def _stack_validator(i: int):
    def validate(args: StackValidationArgs, report_violation) -> None:
        if not REPORT or i != 0 or not args.resources:
            return
        report_violation(f"{len(args.resources)} resources", args.resources[0].urn)
        deps = sorted(d.urn for r in args.resources
                      for d in r.property_dependencies.get("bucket", []))
        report_violation(f"bucket deps: {deps}")
    return validate


policies = []
for i in range(N):
    policies.append(ResourceValidationPolicy(
        name=f"noop-{i}",
        description=f"No-op resource policy {i}.",
        validate=_resource_validator(i),
        enforcement_level=EnforcementLevel.MANDATORY if i == 0 else None,
        severity=Severity.HIGH if i == 0 else Severity.LOW,
        config_schema=PolicyConfigSchema(
            {"threshold": {"type": "integer", "minimum": 1, "default": 7}}) if i == 1 else None,
    ))
for i in range(N_STACK):
    policies.append(StackValidationPolicy(
        name=f"noop-stack-{i}",
        description=f"No-op stack policy {i}.",
        validate=_stack_validator(i),
        severity=Severity.CRITICAL,
    ))

PolicyPack(name="drguard-noop", policies=policies, enforcement_level=EnforcementLevel.ADVISORY)
