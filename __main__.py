"""Policy pack entry point: `pulumi preview --policy-pack <this repo>` runs this file through
`python -u -m pulumi.policy <engine> <repo>`."""

import os
import sys

# The CLI runs this file by path; make the repo's packages importable without installing.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from policypack.serve import main  # noqa: E402

main()
