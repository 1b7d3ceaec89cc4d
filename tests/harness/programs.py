"""Small Pulumi programs for harness tests, importable by name: ``capture(programs.nested)``.

Each function is a whole program body (run inside the stack, like a ``__main__.py``).
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pulumi_mongodbatlas as atlas


class Outer(pulumi.ComponentResource):
    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("drguard:test:Outer", name, None, opts)
        self.inner = Inner(f"{name}-inner", pulumi.ResourceOptions(parent=self))
        self.register_outputs({"bucket": self.inner.bucket.bucket})


class Inner(pulumi.ComponentResource):
    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("drguard:test:Inner", name, None, opts)
        self.bucket = aws.s3.Bucket(f"{name}-bucket", bucket="nested-backups",
                                    opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({})


def nested() -> None:
    """Components two deep (URN type chains, parents, protect inherited from a parent),
    options on the wire, and a MongoDB Atlas cluster on its own default provider."""
    outer = Outer("platform", pulumi.ResourceOptions(protect=True))
    aws.s3.Bucket(
        "tuned",
        opts=pulumi.ResourceOptions(
            ignore_changes=["tags"], delete_before_replace=True,
            custom_timeouts=pulumi.CustomTimeouts(create="5m", delete="1h30m"),
            additional_secret_outputs=["bucketDomainName"],
        ),
    )
    atlas.Cluster("atlas", project_id="p-1", provider_name="AWS",
                  provider_instance_size_name="M10", provider_region_name="US_EAST_1",
                  cloud_backup=True)
    pulumi.export("nestedBucket", outer.inner.bucket.bucket)
