"""The infrastructure repository and its change process: no plaintext secret in stack config,
CI reaching AWS by OIDC, every stack update run in CI from a clean default branch.

Repository-only controls (source `repo`, `dr-audit repo PATH`): `auditor.repo` reads the files
(YAML under size, depth and alias bounds) and holds the checks, since they judge file text and
history records rather than facts; this module declares the controls once, with their
parameters and remediation, and `auditor.repo` takes ids, parameters and fixes from here.
"""

from __future__ import annotations

from typing import Any

from ..control import Control, Param, strings
from ..verdict import Remediation

REPO: frozenset[str] = frozenset({"repo"})

CONFIG_SECRETS = "pulumi-config-secrets"
CI_CREDENTIALS = "ci-cloud-credentials"
REVIEWED_DEPLOYS = "change-reviewed-deploys"

# change-reviewed-deploys: update kinds that change a stack (previews never do).
CHANGE_KINDS: list[str] = ["update", "destroy", "refresh", "import", "resource-import"]


def _number(name: str, default: Any, description: str, minimum: float,
            integer: bool = False) -> Param:
    return Param(name, default, {"type": "integer" if integer else "number",
                                 "minimum": minimum}, description)


CONTROLS: tuple[Control, ...] = (
    Control(
        id=CONFIG_SECRETS,
        gap=("Plaintext secret in stack config",),
        why=("A secret committed in plain text is readable by everyone with the repository, in "
            "every clone and in its history, for good."),
        console=(
            "Run `pulumi config set --secret <key>` with the new value.",
            "Rotate the exposed credential where it was issued.",
            "Purge the plain value from the repository history.",
        ),
        title="No plaintext secret in Pulumi stack config",
        severity="high",
        tier=2,
        description="No Pulumi.<stack>.yaml (or Pulumi.yaml config) holds a plaintext secret: "
                    "a value under a secret-like key (password, secret, token, private key, "
                    "access key...) that is not `secure:`, or a value shaped like a credential "
                    "(AWS access key id, private key block, URL with a password, known token "
                    "prefix, high-entropy token); a stack with secure values has a secrets "
                    "provider or an encryption salt. Values are never printed.",
        remediation="Set the value with `pulumi config set --secret`, rotate the exposed "
                    "credential and purge it from the repository history.",
        params=(
            _number("minTokenLength", 20, "Shortest string judged as a high-entropy token.",
                    8, integer=True),
            _number("minTokenEntropy", 3.7, "Shannon entropy (bits per character) from which "
                    "a token counts as random.", 1.0),
        ),
        sources=REPO,
        fix=Remediation(
            summary="Store the value as a Pulumi secret and rotate the credential.",
            pulumi='db_password = pulumi.Config().require_secret("dbPassword")',
        ),
    ),
    Control(
        id=CI_CREDENTIALS,
        gap=("CI reaches AWS with long-lived keys",),
        why=("Long-lived cloud keys stored as CI secrets leak with the CI system and cannot be "
            "scoped to one workflow run."),
        console=(
            "IAM console: Identity providers, add token.actions.githubusercontent.com (OpenID "
            "Connect).",
            "Create a role trusted by it for this repository and give the workflow `permissions: "
            "id-token: write`.",
            "Delete the access-key secrets and deactivate the keys.",
        ),
        title="CI reaches AWS by OIDC, not long-lived keys",
        severity="high",
        tier=2,
        description="GitHub Actions jobs that reach AWS (configure-aws-credentials, "
                    "pulumi/actions, AWS_* env) authenticate with role-to-assume and "
                    "`permissions: id-token: write`, never with aws-access-key-id / "
                    "AWS_SECRET_ACCESS_KEY secrets.",
        remediation="Grant id-token: write, assume a role through GitHub's OIDC provider, then "
                    "delete the access-key secrets and deactivate the keys.",
        sources=REPO,
        fix=Remediation(
            summary="Use aws-actions/configure-aws-credentials with role-to-assume and "
                    "permissions id-token: write.",
            pulumi='aws.iam.OpenIdConnectProvider("github", url="https://token.actions.'
                   'githubusercontent.com", client_id_lists=["sts.amazonaws.com"])',
            cli="aws iam update-access-key --access-key-id <KEY-ID> --status Inactive "
                "--user-name <CI-USER>",
        ),
    ),
    Control(
        id=REVIEWED_DEPLOYS,
        gap=("Stack updated outside a reviewed CI run",),
        why=("A deploy from a workstation bypasses review, so a destructive change reaches "
            "production unseen."),
        console=(
            "Deploy only from CI on the protected default branch.",
            "Remove workstation write access to the stacks (backend permissions).",
        ),
        title="Stack updates run in CI from a clean default branch",
        severity="medium",
        tier=2,
        description="Every update, destroy, refresh or import of a stack in the window "
                    "(`pulumi stack history --json`) ran in CI, from a clean git worktree, "
                    "from the default branch.",
        remediation="Deploy only from CI on the protected default branch; remove workstation "
                    "write access to the stacks.",
        params=(
            Param("defaultBranch", "main", {"type": "string", "minLength": 1},
                  "Branch every stack update must come from (--default-branch overrides)."),
            strings("checkedKinds", CHANGE_KINDS, "Update kinds judged (pulumi stack history "
                    "`kind`).", enum=[*CHANGE_KINDS, "rename"], min_items=1),
        ),
        sources=REPO,
        fix=Remediation(
            summary="Run `pulumi up` only from a workflow on pushes to the default branch.",
            pulumi="# .github/workflows/deploy.yml\n# on: {push: {branches: [main]}}\n"
                   "# - uses: pulumi/actions@v6\n#   with: {command: up, stack-name: prod}",
        ),
    ),
)
