"""Errors that name the bad input in one line."""


class ConfigError(ValueError):
    """A policy config, auditor config or waiver file is malformed (exit code 2)."""


class InputError(ValueError):
    """A data input (CloudTrail file, stack export) is malformed; the run skips it."""
