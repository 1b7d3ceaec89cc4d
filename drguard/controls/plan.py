"""Pre-merge: a `pulumi preview --json` plan that would destroy data (`dr-audit plan`).

The plan's steps are read by `auditor.plan`; the stateful set is the one of
`stateful-resource-protect` (drguard.controls.pulumi), so no resource type is listed here.
"""

from __future__ import annotations

from ..control import DESTROYABLE, Control
from ..verdict import Remediation

DESTROYS_DATA = "plan-destroys-data"

CONTROLS: tuple[Control, ...] = (
    Control(
        id=DESTROYS_DATA,
        gap=("Change deletes or replaces stateful data",),
        why=("A replacement looks harmless in review but creates a new, empty resource and deletes "
            "the old one with its data."),
        console=(
            "Revert the property change that forces the delete or replacement, or add "
            "aliases=[pulumi.Alias(name=...)] for a rename.",
            "For a planned migration: copy the data first, then waive the finding with an owner "
            "and an expiry.",
        ),
        title="A change does not delete or replace a stateful resource",
        severity="critical",
        exposure=DESTROYABLE,
        tier=2,
        description="Pre-merge only (`dr-audit plan` on `pulumi preview --json`): no step "
                    "deletes or replaces a database, DynamoDB table, backup bucket, file "
                    "system or backup vault (the resources of stateful-resource-protect). A "
                    "replacement looks harmless but creates a new, empty resource and deletes "
                    "the old one with its data.",
        remediation="Revert the change that forces the delete or replacement (or add an alias "
                    "for a rename); for a planned migration, move the data first and waive "
                    "the finding with an owner and an expiry.",
        sources=frozenset({"plan"}),
        fix=Remediation(
            summary="Keep the resource: revert the property change that forces the "
                    "replacement, alias a renamed resource, and protect stateful resources.",
            pulumi="opts=pulumi.ResourceOptions(protect=True,\n"
                   "                            aliases=[pulumi.Alias(name=\"old-name\")])",
            cli=None),
    ),
)
