"""`dr-audit iam-policy`: print the least-privilege IAM policy a run needs, generated from the
AWS calls each part of the auditor declares (auditor.iam_policy)."""

from __future__ import annotations

import argparse
import sys

from drguard.errors import ConfigError

HELP = ("Print the least-privilege IAM policy (JSON) of a read-only run: the scan's metadata "
        "reads, plus the trail bucket (--logs), the Athena query (--athena-output), the "
        "Pulumi state bucket (--backend) and the organization (--org), generated from the "
        "calls the auditor makes. examples/iam/ holds each piece as a file.")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--logs", metavar="s3://BUCKET[/PREFIX]", nargs="?",
                   const="",
                   help="also read the CloudTrail log files under this bucket and prefix "
                        "(`scan --logs`, `dr-audit logs`)")
    p.add_argument("--athena-output", metavar="s3://BUCKET[/PREFIX]",
                   help="with --logs: query the trail through Athena (`logs --athena`), "
                        "results written here")
    p.add_argument("--workgroup", default="primary", help="Athena workgroup (default primary)")
    p.add_argument("--backend", metavar="s3://BUCKET[/PREFIX]", nargs="?",
                   const="",
                   help="also read the stack checkpoints of this Pulumi state bucket "
                        "(`scan --backend`, or the stateBucket setting)")
    p.add_argument("--history", metavar="s3://BUCKET/PREFIX", nargs="?", const="",
                   help="also keep run and drill summaries here (`scan`/`drill --history`): "
                        "list and read under the prefix, add one new object per run")
    p.add_argument("--org", action="store_true",
                   help="the policy of the account `scan --org` runs from: list the "
                        "organization and assume --role-name in every account (each of "
                        "those roles holds the scan policy)")
    p.add_argument("--role-name", default="dr-audit-scan",
                   help="with --org: the role assumed in each account (default dr-audit-scan)")
    p.add_argument("--trust", metavar="ACCOUNT-ID|ARN",
                   help="print instead the trust policy of the scan role: who may assume it "
                        "(the account or principal that runs dr-audit)")
    p.add_argument("--external-id", help="with --trust: require this external id")
    p.add_argument("--only", action="store_true",
                   help="only the statements --logs/--backend/--history/--org add, without "
                        "the scan's "
                        "reads (to attach beside the scan policy)")


def run(args: argparse.Namespace) -> int:
    from .. import iam_policy

    if args.trust:
        try:
            doc = iam_policy.trust(args.trust, args.external_id)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        sys.stdout.write(iam_policy.dumps(doc))
        return 0
    for flag, attr, example in (("--logs", "logs", iam_policy.EXAMPLE_TRAIL),
                                ("--backend", "backend", iam_policy.EXAMPLE_STATE),
                                ("--history", "history", iam_policy.EXAMPLE_HISTORY)):
        if getattr(args, attr) == "":
            print(f"dr-audit iam-policy: no bucket given to {flag}: the policy names the "
                  f"demo's {example}; give {flag} s3://YOUR-BUCKET/PREFIX", file=sys.stderr)
            setattr(args, attr, example)
    if args.athena_output and args.logs is None:
        raise ConfigError("--athena-output needs --logs s3://TRAIL-BUCKET")
    if args.only and args.logs is None and args.backend is None and not args.org \
            and args.history is None:
        raise ConfigError("--only needs --logs, --backend, --history or --org")
    try:
        doc = iam_policy.policy(scan_reads=not args.only, logs=args.logs,
                                athena_output=args.athena_output, workgroup=args.workgroup,
                                backend=args.backend,
                                org_role=args.role_name if args.org else None,
                                history=args.history)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    sys.stdout.write(iam_policy.dumps(doc))
    return 0
