"""Signed drill history: `--history-key env:NAME`.

A drill's history entry is restore evidence: `scan` passes `restore-time-objective` on it. Who
can write the history store (an admin of the account that holds the bucket) could otherwise
write a drill that never ran. With a key, `dr-audit drill` signs each entry it keeps
(HMAC-SHA256 over the entry's canonical JSON, in its `signature` field), and `scan`, `drill
next` and the drill report take as evidence only entries whose signature is valid: an altered
entry (or one signed with another key) is skipped, named in the log and counted; an unsigned
one is left out of the evidence and named in the run's notes. Keep the key where the
drills and the nightly scan run (a CI secret), not in the accounts they judge.

The key is read from an environment variable (`env:NAME`), never from the command line,
and is never printed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from typing import Any

from drguard.errors import ConfigError

PREFIX = "hmac-sha256:"
FIELD = "signature"
MIN_LENGTH = 16  # characters of the key: a guessable one would sign forgeries too


def from_arg(value: str | None, env: dict[str, str] | None = None) -> bytes | None:
    """The key `--history-key env:NAME` names (None without the option)."""
    if value is None:
        return None
    if not value.startswith("env:") or not value[4:]:
        raise ConfigError("--history-key: give env:NAME, the environment variable holding the "
                          "key (never the key itself: command lines are visible to others)")
    name = value[4:]
    key = (os.environ if env is None else env).get(name, "")
    if len(key) < MIN_LENGTH:
        raise ConfigError(f"--history-key env:{name}: environment variable {name} is "
                          + ("not set or empty" if not key else
                             f"shorter than {MIN_LENGTH} characters"))
    return key.encode("utf-8", "surrogatepass")


def _canonical(entry: dict[str, Any]) -> bytes:
    body = {k: v for k, v in entry.items() if k != FIELD}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False).encode()


def sign(entry: dict[str, Any], key: bytes) -> dict[str, Any]:
    """The entry with its signature."""
    mac = hmac.new(key, _canonical(entry), hashlib.sha256).hexdigest()
    return {**entry, FIELD: PREFIX + mac}


def verified(entry: Any, key: bytes) -> bool:
    """Whether `entry` carries a valid signature by `key`."""
    if not isinstance(entry, dict):
        return False
    sig = entry.get(FIELD)
    if not isinstance(sig, str) or not sig.startswith(PREFIX):
        return False
    try:
        want = hmac.new(key, _canonical(entry), hashlib.sha256).hexdigest()
    except (TypeError, ValueError, RecursionError):  # not JSON as the drill wrote it
        return False
    # as bytes: compare_digest refuses non-ASCII text, and the writer of the store chose it
    return hmac.compare_digest(sig[len(PREFIX):].encode("utf-8", "surrogatepass"),
                               want.encode())
