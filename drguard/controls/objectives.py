"""Application objectives: which controls speak for an application's isolation, restore
evidence and management by code (the applications rows of every report read these)."""

from __future__ import annotations

from ..control import Control

# Controls whose verdicts say an application's copies are isolated; declared by the modules
# of their services (absent ones are simply not judged).
CROSS_ACCOUNT = "backup-cross-account-copy"
AIR_GAPPED = "backup-air-gapped"
RESTORE = "restore-time-objective"

CONTROLS: tuple[Control, ...] = ()
