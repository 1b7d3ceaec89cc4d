"""The logs fast path and JSON escapes: a record whose keys or watched values are written
with backslash escapes (`"Stop\\u004cogging"` is `StopLogging`) yields the same findings as its
plain twin, whichever path reads it."""

from __future__ import annotations

import datetime as dt
import json
import random
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from auditor.logs import samples
from auditor.logs.pipeline import collect
from auditor.logs.window import Window
from drguard.settings import Settings
from tests.fuzzing import fuzz
from tests.logs_scanners import both_scanners  # noqa: F401 - every test with each scanner

T = dt.datetime(2024, 5, 2, 12, tzinfo=dt.UTC)
BASES = [samples.violation(random.Random(i), T, samples.ACCOUNT, "us-east-1")
         for i in range(24)]
_SHORT = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b",
          "\f": "\\f", "/": "\\/"}


def _string(s: str, rng: random.Random, rate: float) -> str:
    out = []
    for ch in s:
        if ch in _SHORT and ch != "/":
            out.append(_SHORT[ch])
        elif ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04x}")
        elif rng.random() < rate:
            if ch == "/":
                out.append("\\/")
            elif ord(ch) > 0xFFFF:  # a surrogate pair
                v = ord(ch) - 0x10000
                out.append(f"\\u{0xD800 + (v >> 10):04x}\\u{0xDC00 + (v & 0x3FF):04X}")
            else:
                out.append(f"\\u{ord(ch):04{'x' if rng.random() < .5 else 'X'}}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def encode(value: Any, rng: random.Random, rate: float) -> str:
    """JSON text of `value` with characters of strings and keys escaped at random."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{_string(str(k), rng, rate)}:{encode(v, rng, rate)}"
                              for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(encode(v, rng, rate) for v in value) + "]"
    if isinstance(value, str):
        return _string(value, rng, rate)
    return json.dumps(value)


def findings(files: dict[str, str]) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    with tempfile.TemporaryDirectory() as d:
        for name, text in files.items():
            (Path(d) / name).write_text(text, encoding="utf-8")
        hits, meta = collect([d], Window(), Settings(), workers=1)
    return sorted((h.event["eventId"], h.control) for h in hits), meta


@fuzz(60)
@given(picks=st.lists(st.integers(0, len(BASES) - 1), min_size=1, max_size=6),
       noise=st.integers(0, 20), seed=st.integers(0, 2 ** 32), rate=st.sampled_from(
           [0.0, 0.02, 0.2, 1.0]), only_names=st.booleans())
def test_escaped_records_give_the_findings_of_their_plain_twins(
        picks: list[int], noise: int, seed: int, rate: float, only_names: bool) -> None:
    rng = random.Random(seed)
    records = [dict(BASES[i], eventID=f"ev-{n}") for n, i in enumerate(picks)]
    records += [samples.noise(rng, T) for _ in range(noise)]
    rng.shuffle(records)
    plain = '{"Records":[' + ",".join(_plain(r) for r in records) + "]}"
    if only_names:  # escape only the eventName key or value, the rest plain
        parts = []
        for r in records:
            text = _plain(r)
            name = _string(r["eventName"], rng, max(rate, 0.3))
            key = _string("eventName", rng, max(rate, 0.3))
            parts.append(text.replace(f'"eventName":"{r["eventName"]}"', f"{key}:{name}", 1))
        escaped = '{"Records":[' + ",".join(parts) + "]}"
    else:
        escaped = '{"Records":[' + ",".join(encode(r, rng, rate) for r in records) + "]}"
    want, _ = findings({"plain.json": plain})
    got, meta = findings({"escaped.json": escaped})
    assert want, "the plain twins are violations"
    assert got == want
    assert not meta.get("skipped_detail")


def _plain(r: dict[str, Any]) -> str:
    return json.dumps(r, separators=(",", ":"))


def test_stop_logging_spelt_with_an_escape_is_found() -> None:
    rec = samples.record("StopLogging", "cloudtrail.amazonaws.com", {"name": "org-trail"},
                         time=T, event_id="escaped")
    text = _plain(rec).replace('"StopLogging"', '"Stop\\u004cogging"')
    assert ('"Stop\\u004cogging"') in text
    got, _ = findings({"f.json": '{"Records":[' + text + "]}"})
    assert got and all(e == "escaped" for e, _ in got)
    key = _plain(rec).replace('"eventName"', '"event\\u004eame"')
    got, _ = findings({"f.json": '{"Records":[' + key + "]}"})
    assert got and all(e == "escaped" for e, _ in got)
