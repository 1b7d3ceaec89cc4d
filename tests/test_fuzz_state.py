"""Fuzz: the state loader and judge (`dr-audit state`) on generated hostile exports.

Each input is the drifting-stack export (tests/data/nasty-state) with hostile values put at
random places: JSON of any shape, deep nesting, integers of thousands of digits, NaN and
infinities, secret objects (ciphertext, or plaintext of anything), broken signatures. Every
input ends in findings (with unreadable values counted) or one StateError line; never
another exception. Violations on resources the mutation did not touch are never lost, and no
plaintext secret reaches a finding."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditor import state
from drguard.settings import Settings
from tests.fuzzing import fuzz
from tests.test_fuzz_config import TRICKY_TEXT, nest

DATA = Path(__file__).parent / "data" / "nasty-state"
BASE = json.loads((DATA / "drifting-show-secrets.json").read_text())
SIG = state.SIG_KEY
MARKER = "__dr_guard_fuzz_literal__"
# Raw JSON the encoder cannot write: put into the text in place of MARKER.
LITERALS = ["9" * 5000, "-" + "1" * 4400, "NaN", "Infinity", "-Infinity", "1e400",
            "[" * 3000 + "]" * 3000, "{\"a\": " * 1200 + "1" + "}" * 1200]
# Detections that depend on one resource only: (resource, control).
KEPT = [("orders-db", "rds-deletion-protection"), ("ledger", "rds-deletion-protection"),
        ("org-audit", "cloudtrail-enabled")]

scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2 ** 70), 2 ** 70),
                    st.floats(allow_nan=False), st.text(max_size=12),
                    st.sampled_from(TRICKY_TEXT))
hostile = st.recursive(
    scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                     st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8)


def _secret_like(inner: Any) -> dict[str, Any]:
    return {SIG: state.SECRET_SIG, "plaintext": json.dumps(inner)}


values = st.one_of(
    hostile, st.integers(60, 700).map(nest), st.just(MARKER),
    hostile.map(_secret_like),
    st.just({SIG: state.SECRET_SIG, "ciphertext": "v1:AA:v1:BB"}),
    st.sampled_from([{SIG: state.SECRET_SIG}, {SIG: state.SECRET_SIG, "plaintext": "{not json"},
                     {SIG: state.RESOURCE_SIG, "urn": 5, "id": []},
                     {SIG: state.INTEGER_SIG, "value": "9" * 5000},
                     {SIG: state.INTEGER_SIG, "value": [1]},
                     {SIG: "unknown-signature", "x": 1}]))

FUZZ = fuzz(120)  # fixed seed; `make fuzz` runs more, at random
RESOURCES = BASE["deployment"]["resources"]
NAMES = [r["urn"].rsplit("::", 1)[-1] for r in RESOURCES]


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, set[str]]:
    """(export text, names of the resources touched)."""
    doc = copy.deepcopy(BASE)
    touched: set[str] = set()
    literal = draw(st.sampled_from(LITERALS))
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(RESOURCES) - 1))
        r = doc["deployment"]["resources"][i]
        touched.add(NAMES[i])
        where = draw(st.sampled_from(["outputs", "inputs", "outputs-whole", "tags",
                                      "additionalSecretOutputs"]))
        value = copy.deepcopy(draw(values))  # st.just values are shared objects
        if where == "outputs-whole":
            r["outputs"] = value if isinstance(value, dict) else {"v": value}
        elif where == "tags":
            r.setdefault("outputs", {})["tags"] = value
        elif where == "additionalSecretOutputs":
            r["additionalSecretOutputs"] = draw(st.one_of(
                st.lists(st.sampled_from(sorted(r.get("outputs") or {"id": 1})), max_size=3),
                hostile))
        else:
            side = r.setdefault(where, {})
            keys = sorted(side) + ["x", "tags", "bucket"]
            side[draw(st.sampled_from(keys))] = value
    text = json.dumps(doc).replace(json.dumps(MARKER), literal)
    return text, touched


def _secrets_in(doc: Any) -> set[str]:
    """Plaintext strings under the secret signature in the original export."""
    out: set[str] = set()
    if isinstance(doc, dict):
        if doc.get(SIG) == state.SECRET_SIG and isinstance(doc.get("plaintext"), str):
            inner = json.loads(doc["plaintext"])
            if isinstance(inner, str) and len(inner) >= 3:
                out.add(inner)
        for v in doc.values():
            out |= _secrets_in(v)
    elif isinstance(doc, list):
        for v in doc:
            out |= _secrets_in(v)
    return out


BASE_SECRETS = _secrets_in(BASE)


def judge(text: str) -> list[Any] | None:
    """Findings, or None for an export refused with one StateError line."""
    try:
        export = state.parse(state.loads(text), "fuzz.json")
    except state.StateError as e:
        assert "\n" not in str(e) and str(e).startswith("fuzz.json: ")
        return None
    return state.evaluate(export, Settings())


@FUZZ
@given(case=mutated())
def test_mutated_exports_are_judged_or_refused_in_one_line(case) -> None:  # noqa: ANN001
    text, touched = case
    findings = judge(text)
    if findings is None:
        return
    seen = {(f.resource.rsplit("::", 1)[-1], f.control): f.status for f in findings}
    for name, control in KEPT:
        if name not in touched:
            assert seen.get((name, control)) == "fail", (name, control, touched)
    dumped = json.dumps([f.to_dict() for f in findings], default=str)
    for secret in BASE_SECRETS:
        assert secret not in dumped


def test_base_export_detections() -> None:
    findings = judge(json.dumps(BASE))
    assert findings is not None
    seen = {(f.resource.rsplit("::", 1)[-1], f.control): f.status for f in findings}
    for key in KEPT:
        assert seen.get(key) == "fail", key
    assert BASE_SECRETS == {"pw-Zq81-secret"}


@pytest.mark.parametrize("literal", LITERALS, ids=lambda s: s[:12])
def test_raw_literals_anywhere(literal: str) -> None:
    for name in ("orders-db", "db-backups", "org-audit"):
        doc = copy.deepcopy(BASE)
        (r,) = [r for r in doc["deployment"]["resources"] if r["urn"].endswith(f"::{name}")]
        r["outputs"]["tags"] = MARKER
        findings = judge(json.dumps(doc).replace(json.dumps(MARKER), literal))
        assert findings
