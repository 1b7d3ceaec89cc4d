"""pulumi-state-backend: the Pulumi state bucket can be recovered."""

from __future__ import annotations

from ..facts import UNKNOWN, StateBackend
from . import Verdict, show
from .s3 import FLAGS


def state_backend(s: StateBackend) -> Verdict:
    """Versioned, not public, and more than one version of every stack checkpoint."""
    ev = {"bucket": s.name, "versioning": s.versioning, "publicAccessBlock": s.public_access_block,
          "policyIsPublic": s.policy_public, "checkpointVersions": s.checkpoints}
    problems: list[str] = []
    unknown: list[str] = []
    if s.versioning is UNKNOWN:
        unknown.append("versioning")
    elif s.versioning != "Enabled":
        problems.append(f"versioning is {show(s.versioning)} (a bad update or a deleted "
                        "checkpoint cannot be rolled back; fix: enable versioning)")
    pab = s.public_access_block
    if pab is UNKNOWN:
        unknown.append("public access block")
    else:
        off = [f for f in FLAGS if not pab or pab.get(f) is not True]
        if off:
            problems.append(f"public access block leaves {', '.join(off)} off (fix: turn all "
                            "four flags on)")
    if s.policy_public is UNKNOWN:
        unknown.append("bucket policy status")
    elif s.policy_public is True:
        problems.append("its bucket policy makes it public (fix: remove the public grant)")
    if s.checkpoints is UNKNOWN:
        unknown.append("checkpoint versions")
    elif not s.checkpoints:
        problems.append("no stack checkpoint was found under .pulumi/stacks/ (is this the "
                        "state bucket and prefix of PULUMI_BACKEND_URL?)")
    else:
        single = sorted(k for k, n in s.checkpoints.items() if n < 2)
        if single:
            problems.append(f"only one version of {', '.join(single)} exists, so that stack "
                            "cannot be rolled back (versioning must stay on across updates)")
    if problems:
        return Verdict.fail(f"Pulumi state bucket {s.name!r} is not recoverable: "
                            + "; ".join(problems) + ".", **ev)
    if unknown:
        return Verdict.unknown(f"The {', '.join(unknown)} of state bucket {s.name!r}", **ev)
    return Verdict.ok(f"Pulumi state bucket {s.name!r} is versioned, private and keeps "
                      f"several versions of its {len(s.checkpoints)} stack checkpoint(s).", **ev)
