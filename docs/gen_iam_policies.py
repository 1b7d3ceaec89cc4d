"""Generate the IAM policies of examples/iam/ from the calls the auditor declares.

    .venv/bin/python docs/gen_iam_policies.py          # rewrite the files
    .venv/bin/python docs/gen_iam_policies.py --check  # exit 1 when one is stale

scan-policy.json (the scan's metadata reads), logs-policy.json (the trail bucket's log
files), logs-athena-policy.json (the same through Athena), backend-policy.json (a Pulumi state
bucket's checkpoints) and org-policy.json (what `scan --org` needs in the account it runs
from), as `dr-audit iam-policy` prints them, with the demo's bucket names.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from auditor import iam_policy  # noqa: E402

OUT = ROOT / "examples" / "iam"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 when a file is stale")
    args = ap.parse_args(argv)
    stale = []
    for name, doc in iam_policy.examples().items():
        path, text = OUT / name, iam_policy.dumps(doc)
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current == text:
            continue
        stale.append(name)
        if not args.check:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    if args.check and stale:
        print(f"stale in examples/iam: {', '.join(stale)}: run python docs/gen_iam_policies.py")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
