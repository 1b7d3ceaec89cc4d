"""Fuzz: the config loader and the waiver loader on generated hostile input.

Every input ends in a loaded Settings or one ConfigError line naming the file; never another
exception, never a hang. Generated files are mutations of valid configs (a hostile value put
at any path, keys added, bytes flipped) plus the corpus in tests/data/nasty-config/."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from drguard.errors import ConfigError
from drguard.settings import load_file, load_waiver_file
from tests.fuzzing import fuzz

CORPUS = Path(__file__).parent / "data" / "nasty-config"
WAIVER = {"control": "rds-deletion-protection", "resource": "arn:aws:rds:*:*:db:scratch-*",
          "reason": "scratch databases are rebuilt nightly", "owner": "platform-team",
          "expires": "2027-03-31"}
AUDITOR = {"controls": {"rds-backup-retention": {"minRetentionDays": 14},
                        "backup-bucket-object-lock": {"allowedLockModes": ["COMPLIANCE"],
                                                      "minLockDays": 90},
                        "iam-access-key-rotation": {"enabled": False}},
           "scope": {"backupBucketPatterns": ["(?i)backup", "^prod-dr-"],
                     "stateBucket": "my-pulumi-state", "waivers": [WAIVER]},
           "waivers": [{**WAIVER, "resource": None, "tags": {"env": "dev"}}],
           "tiers": {"critical": {"targetRpoHours": 1, "targetRtoMinutes": 60,
                                  "crossRegion": True, "crossAccount": True}},
           "applications": {"shop/prod": {"tier": "critical", "owner": "team-payments"}},
           "ownerTagKeys": ["owner", "team"],
           "notify": {"routes": [{"owner": "team-payments",
                                  "target": "slack:env:PAYMENTS_WEBHOOK"},
                                 {"owner": "team-data",
                                  "target": "sns:arn:aws:sns:us-east-1:111122223333:data"}]}}
PACK = {"all": "mandatory", "rds-backup-retention": {"minRetentionDays": 14},
        "iam-access-key-rotation": "advisory",
        "dr-guard-settings": {"backupTagKey": "dr:backup",
                              "backupBucketPatterns": ["(?i)backup", "^prod-dr-"],
                              "waivers": [WAIVER]}}
VALID = [AUDITOR, PACK, {"waivers": [WAIVER]}]

TRICKY_TEXT = ["", "seven", "true", "advisory", "bogus", "2027-02-30", "2027-03-31garbage",
               "(a+)+$", "a{2000}", "(?<=x)y", "[", "*", "\x00", "\ud800", "é" * 3,
               "rds-backup-retention", "../../etc/passwd", "/proc/self/mem", "x" * 5000]
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2 ** 70), 2 ** 70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(TRICKY_TEXT))
hostile = st.recursive(
    scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                     st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8)


def nest(depth: int, leaf: Any = 1) -> Any:
    for i in range(depth):
        leaf = [leaf] if i % 2 else {"k": leaf}
    return leaf


values = st.one_of(hostile, st.integers(30, 400).map(nest))


def paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += paths(v, (*prefix, i))
    return out


def put(doc: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    parent = doc
    for p in path[:-1]:
        parent = parent[p]
    parent[path[-1]] = value
    return doc


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    doc = copy.deepcopy(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(1, 3))):
        target = draw(st.sampled_from(paths(doc)))
        if draw(st.booleans()) or not isinstance(doc, dict):
            doc = put(doc, target, draw(values))
        else:  # add a key next to the target
            parent = doc
            for p in target[:-1] if target else ():
                parent = parent[p]
            if isinstance(parent, dict):
                parent[draw(st.sampled_from(["x", "waivers", "scope", "all", "enabled",
                                             "waiversFile", "tags", "controls"]))] = \
                    draw(values)
    return doc


def _write(tmp: Path, doc: Any, fmt: str) -> Path | None:
    if fmt == "json":
        p = tmp / "cfg.json"
        try:
            p.write_text(json.dumps(doc), encoding="utf-8", errors="surrogatepass")
        except (ValueError, RecursionError):
            return None
        return p
    p = tmp / "cfg.yaml"
    try:
        p.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8",
                     errors="surrogatepass")
    except (yaml.YAMLError, RecursionError, ValueError):
        return None
    return p


def assert_loads_or_one_line(path: Path) -> None:
    try:
        load_file(path)
    except ConfigError as e:
        message = str(e)
        assert "\n" not in message and message.startswith(str(path)), message
        assert "Traceback" not in message


FUZZ = fuzz(100)  # fixed seed; `make fuzz` runs more, at random


@FUZZ
@given(doc=mutated(), fmt=st.sampled_from(["json", "yaml"]))
def test_mutated_configs_load_or_fail_in_one_line(tmp_path_factory, doc, fmt) -> None:  # noqa: ANN001
    tmp = tmp_path_factory.mktemp("cfg")
    path = _write(tmp, doc, fmt)
    if path is not None:
        assert_loads_or_one_line(path)


@FUZZ
@given(base=st.sampled_from(VALID), fmt=st.sampled_from(["json", "yaml"]),
       edits=st.lists(st.tuples(st.integers(0, 10 ** 6), st.binary(min_size=0, max_size=4)),
                      min_size=1, max_size=4))
def test_byte_mutations_load_or_fail_in_one_line(tmp_path_factory, base, fmt, edits) -> None:  # noqa: ANN001
    tmp = tmp_path_factory.mktemp("bytes")
    data = bytearray((json.dumps(base) if fmt == "json" else yaml.safe_dump(base)).encode())
    for pos, chunk in edits:
        at = pos % (len(data) + 1)
        data[at:at + len(chunk)] = chunk
    path = tmp / f"cfg.{fmt}"
    path.write_bytes(bytes(data))
    assert_loads_or_one_line(path)


@FUZZ
@given(entries=st.lists(st.one_of(
    values, st.builds(lambda k, v: {**WAIVER, k: v},
                      st.sampled_from(["control", "resource", "tags", "reason", "owner",
                                       "expires", "extra"]), values)), max_size=3))
def test_waiver_files_load_or_fail_in_one_line(tmp_path_factory, entries) -> None:  # noqa: ANN001
    tmp = tmp_path_factory.mktemp("waivers")
    path = tmp / "waivers.yaml"
    try:
        path.write_text(yaml.safe_dump({"waivers": entries}), encoding="utf-8",
                        errors="surrogatepass")
    except (yaml.YAMLError, RecursionError, ValueError):
        return
    try:
        loaded = load_waiver_file(path)
    except ConfigError as e:
        assert "\n" not in str(e) and str(e).startswith(str(path)), str(e)
        return
    for w in loaded:  # what loads is usable: matching never raises
        w.matches("rds-deletion-protection", ["arn:aws:rds:us-east-1:1:db:scratch-1", None],
                  {"env": "dev", "n": math.nan})


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*")), ids=lambda p: p.name)
def test_nasty_config_corpus(path: Path) -> None:
    if path.name == "README.md":
        return
    with pytest.raises(ConfigError) as e:
        load_file(path)
    assert "\n" not in str(e.value) and str(e.value).startswith(str(path))
