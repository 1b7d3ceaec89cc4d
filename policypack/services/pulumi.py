"""Pulumi itself at deploy time: stateful-resource-protect over every stateful fact (the kinds
services list in `STATEFUL`: databases, backup buckets, tables, vaults, ...)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from drguard.controls import pulumi as ctl

from .. import services
from ..binding import Judged, StackCheck

if TYPE_CHECKING:
    from ..stack import StackModel


def _protect(model: StackModel, _params: dict) -> Iterable[Judged]:
    for kind in services.stateful_kinds():
        for fact in getattr(model, kind):
            yield fact, ctl.protect(fact)


CHECKS = (StackCheck("stateful-resource-protect", _protect),)
