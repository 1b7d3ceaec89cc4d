"""Organization guardrail: an SCP that denies destroying backups, attached to the root.

Deploy it from the management account (SCPs never restrict that account itself). It passes
DR Guard's `scp-deny-backup-deletion` on the deploy side: the policy content denies every
action of `requiredDenyActions` on every resource, and it is attached. A break-glass role may
still act (a negated condition on the caller's ARN), which the control allows because a second
statement keeps that role out of a member account admin's reach: nobody else may create it,
rewrite its trust policy or change its policies (`breakGlassGuardActions`). Without that
statement an admin of any member account could create a role of that name and act as it.
Create the break-glass role in the member accounts with a service-managed CloudFormation
StackSet (its service-linked role is not restricted by SCPs), before or after this policy.

Config: `pulumi config set rootId r-xxxx` (aws organizations list-roots); optional
`breakGlassRoleName` (default `dr-break-glass`).
"""

import json

import pulumi
import pulumi_aws as aws

config = pulumi.Config()
root_id = config.require("rootId")
break_glass = config.get("breakGlassRoleName") or "dr-break-glass"
# an exact name: a wildcard would let a member admin make a matching role of their own
break_glass_arn = f"arn:aws:iam::*:role/{break_glass}"
not_break_glass = {"ArnNotLike": {"aws:PrincipalArn": break_glass_arn}}

DENIED = [
    "s3:DeleteBucket",
    "s3:PutBucketVersioning",
    "s3:PutBucketObjectLockConfiguration",
    "s3:BypassGovernanceRetention",
    "s3:DeleteObjectVersion",
    "rds:DeleteDBSnapshot",
    "rds:DeleteDBClusterSnapshot",
    "backup:DeleteRecoveryPoint",
    "backup:DeleteBackupVault",
    "cloudtrail:StopLogging",
    "cloudtrail:DeleteTrail",
]

scp = aws.organizations.Policy(
    "deny-backup-destruction",
    description="Nobody but the break-glass role may destroy backups or the audit trail",
    type="SERVICE_CONTROL_POLICY",
    content=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "DenyBackupDestruction",
            "Effect": "Deny",
            "Action": DENIED,
            "Resource": "*",
            "Condition": not_break_glass,
        }, {
            # who may become the break-glass role, and what it may do, stays with its owner
            "Sid": "ProtectBreakGlass",
            "Effect": "Deny",
            "Action": ["iam:CreateRole", "iam:UpdateAssumeRolePolicy", "iam:AttachRolePolicy",
                       "iam:PutRolePolicy"],
            "Resource": break_glass_arn,
            "Condition": not_break_glass,
        }],
    }),
    opts=pulumi.ResourceOptions(protect=True),
)

aws.organizations.PolicyAttachment("deny-backup-destruction-root", policy_id=scp.id,
                                   target_id=root_id)

pulumi.export("scpId", scp.id)
