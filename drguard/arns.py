"""ARN partitions: the part of an ARN after `arn:` (`aws`, `aws-cn`, `aws-us-gov`, ...)."""

from __future__ import annotations

# Region prefixes of the partitions other than `aws`.
_PARTITIONS = (("cn-", "aws-cn"), ("us-gov-", "aws-us-gov"), ("us-isob-", "aws-iso-b"),
               ("us-iso-", "aws-iso"), ("eu-isoe-", "aws-iso-e"), ("us-isof-", "aws-iso-f"))


def partition_of(region: str | None) -> str:
    """The ARN partition of a region (`aws` when not known)."""
    for prefix, partition in _PARTITIONS:
        if region and region.startswith(prefix):
            return partition
    return "aws"
