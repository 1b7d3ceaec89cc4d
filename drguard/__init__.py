"""DR Guard core: the control registry, normalised facts and the rule logic shared by the
policy pack (deploy side) and the auditor (live, state and logs sides)."""

__version__ = "0.1.0"
