"""The Pulumi state bucket: where it is, and its facts as read live."""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import urlparse

from drguard.facts import StateBackend

from .s3 import BucketRead


def location(configured: str | None,
             env: Mapping[str, str] | None = None) -> tuple[str, str, str] | None:
    """(bucket, key prefix, where it came from) of the state backend, or None.

    `configured` is the `stateBucket` setting (a name or an s3:// URL); otherwise
    PULUMI_BACKEND_URL when it is an s3:// URL."""
    env = os.environ if env is None else env
    url = env.get("PULUMI_BACKEND_URL", "")
    if configured:
        if configured.startswith("s3://"):
            p = urlparse(configured)
            return p.netloc, p.path.strip("/"), "stateBucket setting"
        env_p = urlparse(url) if url.startswith("s3://") else None
        prefix = env_p.path.strip("/") if env_p and env_p.netloc == configured else ""
        return configured, prefix, "stateBucket setting"
    if url.startswith("s3://"):
        p = urlparse(url)
        if p.netloc:
            return p.netloc, p.path.strip("/"), "PULUMI_BACKEND_URL"
    return None


def fact(read: BucketRead) -> StateBackend:
    b = read.fact
    return StateBackend(ref=b.ref, name=b.name, type="AWS::S3::Bucket", account=b.account,
                        region=b.region, tags=b.tags, versioning=b.versioning,
                        public_access_block=b.public_access_block,
                        policy_public=read.policy_public, checkpoints=read.checkpoints,
                        evidence=dict(b.evidence))
