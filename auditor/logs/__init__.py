"""The logs side: CloudTrail files -> the events that broke a DR control.

    run_logs(sources, since, until, settings, endpoint_url=None) -> (findings, run_meta)
    collect(sources, window, settings, endpoint_url=None) -> (hits, run_meta)
    explain(findings, hits)   # link live `fail` findings to the event behind them
"""

from .detect import Detector, Hit
from .explain import explain
from .pipeline import collect, run_logs
from .window import Window

__all__ = ["Detector", "Hit", "Window", "collect", "explain", "run_logs"]
