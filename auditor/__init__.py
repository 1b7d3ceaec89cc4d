"""dr-audit: scan live AWS accounts, CloudTrail logs and Pulumi state against the DR controls."""

from drguard import __version__

__all__ = ["__version__"]
