"""`pulumi preview --json` documents: read, validate, judge before merge.

The document is the CLI's `PreviewDigest` (pkg/display/json.go; written by
pkg/backend/display/json.go `ShowPreviewDigest`)::

    {"config": {key: value}, "steps": [PreviewStep], "diagnostics": [{"urn", "prefix",
     "message", "severity"}], "duration": <nanoseconds>, "changeSummary": {op: count},
     "maybeCorrupt": bool}

    PreviewStep = {"op", "urn", "provider", "oldState": ResourceV3, "newState": ResourceV3,
                   "diffReasons": [key], "replaceReasons": [key],
                   "detailedDiff": {path: {"kind": "add|add-replace|delete|delete-replace|
                                                    update|update-replace",
                                           "inputDiff": bool}} | null}

`op` is one of the engine's step ops (pkg/resource/deploy/step.go): same, create, update,
delete, replace, create-replacement, delete-replaced, read, read-replacement, refresh, discard,
discard-replaced, remove-pending-replace, import, import-replacement, diff,
extend-parameterize. By default the CLI shows a replacement as one logical `replace` step;
`--show-replacement-steps` adds `create-replacement` / `delete-replaced`, and `--show-sames`
adds the unchanged resources (`same`), which stack-level checks need as context. `discard`,
`discard-replaced` and `remove-pending-replace` only change the state (a resource read with
`.get()` is forgotten; one already deleted is dropped): no data goes, so they are not reported.
`retainOnDelete` keeps the cloud resource when Pulumi deletes it; the finding says so.

States are `apitype.ResourceV3` serialized by `stack.SerializeResource`: secrets are blinded
to the string "[secret]" (`MassageSecrets`), unknown values (preview) are the engine's
computed placeholder "04da6b54-80e4-46f7-96ec-b56ff0331ba9". A new state carries the checked
inputs only (no outputs during preview). Secrets are never read: to the checks they are
unknown, and reports show "[secret]".

`judge` reports the control `plan-destroys-data` for every step that deletes or replaces a
stateful resource (the set of `stateful-resource-protect`), with the operation, the properties
forcing the replacement and what would save the data; and it runs the deploy-side controls on
the planned state, saying when an update turns a passing control into a failing one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import field
from pathlib import Path
from typing import Any

from drguard import inputs, registry
from drguard.controls.plan import DESTROYS_DATA
from drguard.controls.pulumi import PROTECT
from drguard.errors import ConfigError
from drguard.evaluate import apply_waiver, finding
from drguard.facts import UNKNOWN, Resource
from drguard.findings import Finding
from drguard.records import record
from drguard.redact import remember
from drguard.settings import Settings
from drguard.verdict import Verdict
from policypack.wire import SPECIAL_SECRET_SIG, SPECIAL_SIG_KEY, UNKNOWN_STRING_VALUE

from .keys import key_findings

log = logging.getLogger(__name__)

CONTROL = DESTROYS_DATA  # declared in drguard.controls.plan
SEVERITY = registry.get(CONTROL).severity
PROTECT_CONTROL = PROTECT  # declared with the control (drguard.controls.pulumi)
SECRET = "[secret]"  # what the CLI writes for a secret value
# the engine's wire constants, declared once in the pack's decoder
UNKNOWN_VALUE = UNKNOWN_STRING_VALUE
SIG_KEY = SPECIAL_SIG_KEY
SECRET_SIG = SPECIAL_SECRET_SIG
MAX_DETAIL = 50

KNOWN_OPS = frozenset({
    "same", "create", "update", "delete", "replace", "create-replacement", "delete-replaced",
    "read", "read-replacement", "refresh", "discard", "discard-replaced",
    "remove-pending-replace", "import", "import-replacement", "diff", "extend-parameterize"})
# Ops that take the old resource (and its data) away, and what we call them.
DESTROYING = {"delete": "delete", "replace": "replace", "create-replacement": "replace",
              "delete-replaced": "replace", "import-replacement": "replace"}
# Ops after which the resource no longer exists in the planned stack.
GONE = frozenset({"delete", "delete-replaced", "discard", "discard-replaced",
                  "remove-pending-replace"})
# Ops that change nothing in the cloud (context only).
PASSIVE = frozenset({"same", "read", "read-replacement", "refresh", "discard",
                     "discard-replaced", "remove-pending-replace", "diff",
                     "extend-parameterize"})
DIGEST_KEYS = frozenset({"config", "steps", "diagnostics", "duration", "changeSummary",
                         "maybeCorrupt"})


# previews of large stacks run to tens of MB; property values nest (policies, tags, maps)
PREVIEW_LIMITS = inputs.Limits(max_bytes=512 << 20, max_depth=200)


class PlanError(ConfigError):
    """The document cannot be read: one line naming the file and what is wrong (exit 2)."""


@record
class State:
    """One `oldState` / `newState` (ResourceV3), values ready for the checks."""

    urn: str
    type: str
    props: dict[str, Any]  # outputs over inputs; secrets -> the unknown placeholder
    raw_inputs: dict[str, Any]  # as written (for messages: "[secret]" stays "[secret]")
    raw_outputs: dict[str, Any]
    protect: bool = False
    retain_on_delete: bool = False
    provider: str = ""
    property_deps: dict[str, list[str]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]

    def raw(self, key: str) -> Any:
        if key in self.raw_outputs:
            return self.raw_outputs[key]
        return self.raw_inputs.get(key)


@record
class Step:
    """One step of a `pulumi preview --json`: the operation and the resource's states."""

    index: int
    op: str
    urn: str
    old: State | None
    new: State | None
    diff_reasons: list[str] = field(default_factory=list)
    replace_reasons: list[str] = field(default_factory=list)
    detailed_diff: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def type(self) -> str:
        s = self.new or self.old
        if s is not None:
            return s.type
        return _urn_type(self.urn)


@record
class Preview:
    """A `pulumi preview --json` as read: its steps and what went wrong in it."""

    path: str
    steps: list[Step]
    change_summary: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)  # error diagnostics of the preview
    maybe_corrupt: bool = False
    skipped: list[dict[str, str]] = field(default_factory=list)  # unreadable steps

    def project_stack(self) -> tuple[str | None, str | None]:
        for s in self.steps:
            parts = s.urn.split("::")
            if len(parts) >= 4:
                return parts[1], parts[0].removeprefix("urn:pulumi:")
        return None, None

    @property
    def sames_missing(self) -> int:
        """Unchanged resources the summary counts but the document leaves out
        (`pulumi preview --json` without `--show-sames`)."""
        listed = sum(1 for s in self.steps if s.op == "same")
        counted = self.change_summary.get("same", 0)
        return max(0, counted - listed)


# ---- reading ----------------------------------------------------------------------------

def _urn_type(urn: str) -> str:
    parts = urn.split("::")
    return parts[2].rsplit("$", 1)[-1] if len(parts) >= 4 else ""


def judged_value(value: Any) -> Any:
    """A property value as the checks see it: secrets (blinded "[secret]" or a secret
    envelope, whatever it holds) become the unknown placeholder; never their plaintext."""
    if isinstance(value, str):
        return UNKNOWN_VALUE if value == SECRET else value
    if isinstance(value, dict):
        if value.get(SIG_KEY) == SECRET_SIG:
            return UNKNOWN_VALUE
        return {k: judged_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [judged_value(v) for v in value]
    return value


def shown_value(value: Any) -> Any:
    """A property value as reports show it (secrets "[secret]", unknowns "unknown")."""
    if isinstance(value, str):
        return "unknown" if value == UNKNOWN_VALUE else value
    if isinstance(value, dict):
        if value.get(SIG_KEY) == SECRET_SIG:
            return SECRET
        return {str(k): shown_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shown_value(v) for v in value]
    return value


class _Bad(ValueError):
    """One step is unusable (skipped and counted)."""


def _state(raw: Any, label: str) -> State | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise _Bad(f"{label} is not an object")
    urn, type_ = raw.get("urn"), raw.get("type")
    if not isinstance(urn, str) or not urn.startswith("urn:pulumi:") or len(urn.split("::")) < 4:
        raise _Bad(f"{label} has no valid 'urn'")
    if not isinstance(type_, str) or not type_:
        raise _Bad(f"{label} has no 'type'")
    for key in ("inputs", "outputs", "propertyDependencies"):
        if raw.get(key) is not None and not isinstance(raw[key], dict):
            raise _Bad(f"{label}: '{key}' must be an object")
    for key in ("protect", "retainOnDelete", "delete", "external", "custom"):
        if raw.get(key) is not None and not isinstance(raw[key], bool):
            raise _Bad(f"{label}: '{key}' must be true or false")
    if raw.get("provider") is not None and not isinstance(raw["provider"], str):
        raise _Bad(f"{label}: 'provider' must be a string")
    deps = raw.get("propertyDependencies") or {}
    for key, urns in deps.items():
        if not isinstance(urns, list) or not all(isinstance(u, str) for u in urns):
            raise _Bad(f"{label}: propertyDependencies.{key} must be a list of URNs")
    inputs, outputs = raw.get("inputs") or {}, raw.get("outputs") or {}
    return State(urn=urn, type=type_,
                 props={**judged_value(inputs), **judged_value(outputs)},
                 raw_inputs=inputs, raw_outputs=outputs, protect=bool(raw.get("protect")),
                 retain_on_delete=bool(raw.get("retainOnDelete")),
                 provider=raw.get("provider") or "",
                 property_deps={k: list(v) for k, v in deps.items()})


def _keys(raw: Any, label: str) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(k, str) for k in raw):
        raise _Bad(f"'{label}' must be a list of property names")
    return list(raw)


def _step(i: int, raw: Any) -> Step:
    if not isinstance(raw, dict):
        raise _Bad("not an object")
    op, urn = raw.get("op"), raw.get("urn")
    if not isinstance(op, str) or not op:
        raise _Bad("no 'op'")
    if op not in KNOWN_OPS:
        raise _Bad(f"unknown op {op!r}")
    if not isinstance(urn, str) or not urn.startswith("urn:pulumi:") or len(urn.split("::")) < 4:
        raise _Bad("no valid 'urn'")
    old = _state(raw.get("oldState"), "oldState")
    new = _state(raw.get("newState"), "newState")
    detailed = raw.get("detailedDiff") or {}
    if not isinstance(detailed, dict) or not all(
            isinstance(v, dict) and isinstance(v.get("kind", ""), str)
            for v in detailed.values()):
        raise _Bad("'detailedDiff' must map property paths to {kind, inputDiff}")
    if op in DESTROYING and op != "create-replacement" and old is None and op != "replace":
        raise _Bad(f"a {op} step without 'oldState'")
    return Step(index=i, op=op, urn=urn, old=old, new=new,
                diff_reasons=_keys(raw.get("diffReasons"), "diffReasons"),
                replace_reasons=_keys(raw.get("replaceReasons"), "replaceReasons"),
                detailed_diff={str(k): dict(v) for k, v in detailed.items()})


def _fail(where: str, what: str) -> PlanError:
    return PlanError(f"{where}: not a usable `pulumi preview --json` document: {what}")


def parse(doc: Any, where: str) -> Preview:
    """Validate a decoded preview document (PlanError when the document as a whole is
    unusable; a single unusable step is skipped and counted)."""
    if isinstance(doc, list):
        raise _fail(where, "found a JSON list; expected the object `pulumi preview --json` "
                           "writes")
    if not isinstance(doc, dict):
        raise _fail(where, f"expected a JSON object at the top, found {type(doc).__name__}")
    if "deployment" in doc or "checkpoint" in doc:
        raise _fail(where, "this is a stack export (use `dr-audit state --file`)")
    if not DIGEST_KEYS & set(doc):
        raise _fail(where, "none of steps, changeSummary, diagnostics, config found")
    raw_steps = doc.get("steps")
    if raw_steps is None:
        raw_steps = []  # a preview with nothing to show omits the list
    if not isinstance(raw_steps, list):
        raise _fail(where, "'steps' must be a list")
    summary = doc.get("changeSummary") or {}
    if not isinstance(summary, dict) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in summary.values()):
        raise _fail(where, "'changeSummary' must map operations to counts")
    diags = doc.get("diagnostics") or []
    if not isinstance(diags, list):
        raise _fail(where, "'diagnostics' must be a list")
    steps: list[Step] = []
    skipped: list[dict[str, str]] = []
    for i, raw in enumerate(raw_steps):
        try:
            steps.append(_step(i, raw))
        except _Bad as e:
            urn = raw.get("urn") if isinstance(raw, dict) else None
            skipped.append({"path": f"{where}#steps[{i}]",
                            "reason": f"{e}" + (f" ({urn})" if isinstance(urn, str) else "")})
    if raw_steps and not steps:
        raise _fail(where, f"none of its {len(raw_steps)} steps is readable "
                           f"(first: {skipped[0]['reason']})")
    skipped += _duplicates(steps, where)
    _remember_secrets(doc)
    errors = [str(d.get("message", "")).strip()[:300] for d in diags
              if isinstance(d, dict) and d.get("severity") == "error"]
    return Preview(path=where, steps=steps, change_summary=dict(summary), errors=errors,
                   maybe_corrupt=bool(doc.get("maybeCorrupt")), skipped=skipped)


# The steps one resource may have in one preview: a replacement's, or one step of any op.
_REPLACEMENT_OPS = frozenset({"replace", "create-replacement", "delete-replaced",
                              "import-replacement", "read-replacement", "discard-replaced",
                              "remove-pending-replace"})


def _duplicates(steps: list[Step], where: str) -> list[dict[str, str]]:
    """A URN in several steps other than one replacement's: the preview is not one plan
    (every step is still judged; the run is incomplete)."""
    ops: dict[str, list[Step]] = {}
    for s in steps:
        ops.setdefault(s.urn, []).append(s)
    out = []
    for urn, same in ops.items():
        names = [s.op for s in same]
        if len(same) > 1 and (len(set(names)) < len(names)
                              or not set(names) <= _REPLACEMENT_OPS):
            out.append({"path": f"{where}#steps[{same[1].index}]",
                        "reason": f"the urn {urn[:200]!r} appears in {len(same)} steps "
                                  f"({', '.join(names[:6])}); a preview lists each resource "
                                  "once"})
    return out


def _remember_secrets(doc: Any) -> None:
    """Every plaintext inside a secret envelope of the preview, for the redaction step."""
    todo = [(doc, False)]
    while todo:
        value, secret = todo.pop()
        if isinstance(value, dict):
            if value.get(SIG_KEY) == SECRET_SIG:  # the envelope: its keys are ours
                todo.extend((v, True) for k, v in value.items() if k != SIG_KEY)
                continue
            if secret:  # the keys of a secret map are part of the secret
                remember(*(k for k in value if len(k) >= 3))
            todo.extend((v, secret) for v in value.values())
        elif isinstance(value, list):
            todo.extend((v, secret) for v in value)
        elif secret:
            remember(value)


def load(path: str | Path) -> Preview:
    """Read and validate a `pulumi preview --json` file."""
    p = Path(path)
    try:
        text = inputs.read_text(p, "preview file", PREVIEW_LIMITS)
    except inputs.FileRefused as e:
        raise PlanError(str(e)) from None
    if not text.strip():
        raise _fail(str(p), "the file is empty (did `pulumi preview --json` fail before "
                            "writing?)")
    first = text.lstrip().splitlines()[0] if text.strip() else ""
    try:
        doc = inputs.parse_json(text, str(p), "preview file", PREVIEW_LIMITS)
    except inputs.FileRefused as e:
        if "Extra data" in str(e) and first.startswith("{") and '"sequence"' in first:
            raise _fail(str(p), "this is the streaming event form "
                                "(ENABLE_STREAMING_JSON_PREVIEW); run `pulumi preview --json` "
                                "without it") from None
        raise PlanError(str(e)) from None
    return parse(doc, str(p))


# ---- judging ----------------------------------------------------------------------------

@record
class _Pack:
    """The deploy-side pieces the plan reuses (policy pack adapters, stack model, checks)."""

    res: Any
    model: Any
    evaluate: Any


def _pack() -> _Pack:
    from policypack import checks
    from policypack.adapters import Res

    return _Pack(res=Res, model=checks.build_model, evaluate=checks.evaluate)


def _resources(pack: _Pack, states: Mapping[str, State]) -> list[Any]:
    out = []
    for s in states.values():
        prov = states.get(s.provider.rsplit("::", 1)[0]) if s.provider else None
        out.append(pack.res(type=s.type, urn=s.urn, name=s.name, props=s.props,
                            protect=s.protect,
                            provider_props=prov.props if prov is not None else None,
                            property_deps=s.property_deps))
    return out


def _sides(preview: Preview) -> tuple[dict[str, State], dict[str, State]]:
    """(URN -> state before the update, URN -> state after it)."""
    old: dict[str, State] = {}
    new: dict[str, State] = {}
    # a destroying step's old state first: another step reusing the URN (hostile input, with
    # a state of another type) must not stand in for what is being deleted
    ordered = sorted(preview.steps, key=lambda s: s.op not in DESTROYING)
    for s in ordered:
        if s.old is not None and s.op not in ("create", "import"):
            old.setdefault(s.urn, s.old)
        if s.op in ("replace", "delete-replaced") and s.old is None and s.new is not None:
            old.setdefault(s.urn, s.new)  # hostile/partial input: judge what we have
    gone = {s.urn for s in preview.steps if s.op in GONE}
    created = {s.urn for s in preview.steps
               if s.op not in GONE and s.new is not None}
    for s in preview.steps:
        if s.new is not None and s.op not in GONE:
            new[s.urn] = s.new  # the last word (create-replacement after replace) wins
    for urn in gone - created:
        new.pop(urn, None)
    return old, new


def _evaluate(pack: _Pack, resources: list[Any],
              settings: Settings) -> dict[tuple[str, str], tuple[Resource, Any]]:
    model = pack.model(resources, settings.scope)
    wanted = dataclasses.replace(settings, enabled=set(settings.enabled) | {PROTECT_CONTROL})
    out: dict[tuple[str, str], tuple[Resource, Any]] = {}
    for control, fact, verdict in pack.evaluate(resources, wanted, model=model):
        out[(control, fact.ref)] = (fact, verdict)
    return out


def _judge_all(pack: _Pack, states: Mapping[str, State], settings: Settings,
               skipped: list[dict[str, str]], side: str,
               ) -> dict[tuple[str, str], tuple[Resource, Any]]:
    """Every check on one side of the plan. A resource the checks fail on (a value of a shape
    no check expects) is left out and recorded in `skipped`; the others are judged."""
    resources = _resources(pack, states)
    try:
        return _evaluate(pack, resources, settings)
    except Exception as e:  # noqa: BLE001 - isolate the resource(s) the checks fail on
        log.warning("plan: a check failed on the %s state (%s); isolating the resource",
                    side, type(e).__name__)
    bad: dict[int, BaseException] = {}
    for r in resources:
        try:
            _evaluate(pack, [r], settings)
        except Exception as err:  # noqa: BLE001
            bad[id(r)] = err
    keep = [r for r in resources if id(r) not in bad]
    try:
        out = _evaluate(pack, keep, settings)
    except Exception as err:  # noqa: BLE001 - a failure only the whole stack shows
        bad.update({id(r): err for r in keep})
        out = {}
    for r in resources:
        if id(r) in bad:
            skipped.append({"path": r.urn, "reason": f"{side} state not judged: a check failed "
                                                     "on one of its properties "
                                                     f"({type(bad[id(r)]).__name__})"})
    return out


def _show(v: Any) -> str:
    if v is UNKNOWN:
        return "unknown"
    if v is None:
        return "unset"
    if isinstance(v, bool):
        return "true" if v else "false"
    return repr(v) if isinstance(v, str) else str(v)


def _plain(v: Any, limit: int = 60) -> str:
    v = shown_value(v)
    if v is None:
        return "unset"
    text = json.dumps(v, sort_keys=True, default=str) if not isinstance(v, str) else repr(v)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _lookup(state: State | None, path: str) -> Any:
    """The raw value at a detailedDiff path (`a.b[0].c`, top-level keys as written)."""
    if state is None:
        return None
    cur: Any = {**state.raw_inputs, **state.raw_outputs}
    token = ""
    parts: list[str | int] = []
    i = 0
    while i < len(path):
        c = path[i]
        if c == "." and token:
            parts.append(token)
            token = ""
        elif c == "[":
            if token:
                parts.append(token)
                token = ""
            end = path.find("]", i)
            inner = path[i + 1:end if end > 0 else len(path)].strip('"')
            parts.append(int(inner) if inner.isdigit() else inner)
            i = end if end > 0 else len(path)
        else:
            token += c
        i += 1
    if token:
        parts.append(token)
    for part in parts:
        if isinstance(part, int):
            cur = cur[part] if isinstance(cur, list) and part < len(cur) else None
        else:
            cur = cur.get(part) if isinstance(cur, dict) else None
        if cur is None:
            return None
    return cur


def _replace_reasons(steps: list[Step]) -> list[str]:
    """The properties forcing the replacement: replaceReasons, else the detailedDiff paths
    whose kind is a *-replace, else the diff reasons."""
    out: list[str] = []
    for s in steps:
        out += [k for k in s.replace_reasons if k not in out]
    if not out:
        for s in steps:
            out += [k for k, d in s.detailed_diff.items()
                    if str(d.get("kind", "")).endswith("-replace") and k not in out]
    if not out:
        for s in steps:
            out += [k for k in s.diff_reasons if k not in out]
    return out


def _kind_label(fact: Resource) -> str:
    return fact.on_delete(False).noun


def _safeguards(fact: Resource, state: State, op: str) -> tuple[list[str], list[str],
                                                                  list[str], dict[str, Any]]:
    """(what would save the data, what would not, the copies that outlive it, evidence) for
    the resource going away: Pulumi's own options here, the rest as the resource's service
    declares it (`Resource.on_delete`)."""
    saves: list[str] = []
    lost: list[str] = []
    ev: dict[str, Any] = {"protect": state.protect, "retainOnDelete": state.retain_on_delete}
    if state.protect:
        saves.append("`protect` is set: the engine refuses to delete it, so `pulumi up` stops "
                     "before the delete (removing protect lets it through)")
    else:
        lost.append("it is not protected (`protect`)")
    if state.retain_on_delete:
        saves.append("`retainOnDelete` is set: Pulumi forgets the resource but leaves it and "
                      "its data in the account")
    declared = fact.on_delete(op == "replace")
    ev.update(declared.evidence)
    return saves + declared.saves, lost + declared.lost, list(declared.kept), ev


def _destroy_finding(fact: Resource, steps: list[Step], state: State, settings: Settings,
                     renamed_to: list[str], today: dt.date | None) -> Finding:
    ops = [s.op for s in steps]
    op = "replace" if any(DESTROYING.get(o) == "replace" for o in ops) else "delete"
    label = f"{_kind_label(fact)} {fact.name!r}"
    ev: dict[str, Any] = {"operation": op, "steps": ops, "type": fact.type, "name": fact.name}
    arn = state.props.get("arn")
    if isinstance(arn, str) and arn.startswith("arn:"):
        ev["arn"] = arn
    if op == "replace":
        reasons = _replace_reasons(steps)
        old_s = next((s.old for s in steps if s.old is not None), state)
        new_s = next((s.new for s in reversed(steps) if s.new is not None), None)
        changes = []
        for key in reasons[:8]:
            before, after = _lookup(old_s, key), _lookup(new_s, key)
            changes.append(f"{key} {_plain(before)} -> {_plain(after)}"
                           if new_s is not None else key)
        ev["replaceReasons"] = reasons
        ev["changes"] = {k: {"old": shown_value(_lookup(old_s, k)),
                             "new": shown_value(_lookup(new_s, k))} for k in reasons[:20]}
        if "create-replacement" in ops and "delete-replaced" in ops:
            ev["deleteBeforeReplace"] = ops.index("delete-replaced") < ops.index(
                "create-replacement")
        why = f"because {'; '.join(changes)}" if changes else "(the preview names no reason)"
        head = (f"This plan replaces {label} {why}: Pulumi creates a new, empty resource and "
                "deletes the old one with its data")
        if ev.get("deleteBeforeReplace"):
            head += " (delete-before-replace: the old one goes first)"
    else:
        head = f"This plan deletes {label}, and its data with it"
        if renamed_to:
            head += (f" (the plan also creates {', '.join(repr(n) for n in renamed_to)} of "
                     "the same type: if that is this resource renamed, add "
                     "`aliases=[pulumi.Alias(name=...)]` so Pulumi keeps it)")
            ev["createdSameType"] = renamed_to
    saves, lost, kept, sev = _safeguards(fact, state, op)
    ev.update(sev)
    ev["wouldSaveData"] = saves
    ev["keptAfterDelete"] = kept
    if kept:
        head += f"; what outlives it: {', '.join(kept)}"
    parts = [head + "."]
    if saves:
        parts.append("What would save the data: " + "; ".join(saves) + ".")
    if lost:
        parts.append("Not in place: " + "; ".join(lost) + ".")
    f = Finding(control=CONTROL, status="fail", source="deploy", resource=fact.ref,
                message=" ".join(parts), account=fact.account, region=fact.region,
                evidence=ev, severity=SEVERITY)
    f.remediation = {
        "summary": (f"Keep the data of {fact.name!r}: revert the change that forces the "
                    f"{op}, or migrate the data first and record a waiver with an owner and an "
                    "expiry."),
        "pulumi": "opts=pulumi.ResourceOptions(protect=True)  # the engine then refuses "
                  "deletes and replacements" + ("\n# renamed? keep it with: opts=pulumi."
                                                "ResourceOptions(aliases=[pulumi.Alias(name="
                                                f"{fact.ref.rsplit('::', 1)[-1]!r})])"
                                                if renamed_to else ""),
        "cli": None}
    apply_waiver(f, settings, refs=[fact.ref, fact.name], tags=fact.tags, today=today)
    return f


_PREVIEW = ("cannot be checked during preview (the value is not known yet); it will be checked "
            "on update.")
_HERE = ("cannot be checked from this preview: the value is known only after the update, or "
         "it is a secret.")


def _humanize(key: str) -> str:
    out = "".join(f" {c.lower()}" if c.isupper() else c for c in key)
    return out.strip()


def _regression(old_ev: Mapping[str, Any], new_ev: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """What changed between the passing and the failing evidence, in words."""
    words: list[str] = []
    changed: dict[str, Any] = {}
    for key in sorted(set(old_ev) | set(new_ev)):
        a, b = old_ev.get(key), new_ev.get(key)
        if a == b or isinstance(a, (dict, list)) or isinstance(b, (dict, list)):
            continue
        if a is UNKNOWN or b is UNKNOWN:
            continue
        changed[key] = {"old": a, "new": b}
        if a is True and b is not True:
            words.append(f"turns off {_humanize(key)} ({key}: {_show(a)} -> {_show(b)})")
        elif isinstance(a, (int, float)) and isinstance(b, (int, float)) and b < a \
                and not isinstance(a, bool):
            words.append(f"lowers {key} from {a} to {b}")
        else:
            words.append(f"changes {key} from {_show(a)} to {_show(b)}")
    return "; ".join(words), changed


def judge(preview: Preview, settings: Settings,
          today: dt.date | None = None) -> list[Finding]:
    """Every finding of the plan: `plan-destroys-data` per stateful resource that the plan
    touches, and the deploy-side controls on the planned state of what it changes."""
    pack = _pack()
    by_urn: dict[str, list[Step]] = {}
    for s in preview.steps:
        by_urn.setdefault(s.urn, []).append(s)
    old_states, new_states = _sides(preview)
    old_v = _judge_all(pack, old_states, settings, preview.skipped, "old")
    new_v = _judge_all(pack, new_states, settings, preview.skipped, "new")
    out: list[Finding] = []

    # plan-destroys-data
    created_by_type: dict[str, list[str]] = {}
    for urn, steps in by_urn.items():
        if any(s.op in ("create", "import") for s in steps):
            created_by_type.setdefault(steps[0].type, []).append(urn.rsplit("::", 1)[-1])
    if CONTROL in settings.enabled:
        for urn, steps in by_urn.items():
            active = [s for s in steps if s.op not in PASSIVE]
            if not active:
                continue
            destroying = [s for s in active if s.op in DESTROYING]
            judged = old_v.get((PROTECT_CONTROL, urn)) if destroying else \
                new_v.get((PROTECT_CONTROL, urn)) or old_v.get((PROTECT_CONTROL, urn))
            if judged is None:
                continue  # not a stateful resource
            fact = judged[0]
            if destroying:
                state = old_states.get(urn) or next(s.old or s.new for s in destroying)
                assert state is not None  # a destroying step carries the state it destroys
                renamed = created_by_type.get(steps[0].type, []) \
                    if all(DESTROYING.get(s.op) == "delete" for s in destroying) else []
                out.append(_destroy_finding(fact, steps, state, settings, renamed, today))
            else:
                ops = ", ".join(dict.fromkeys(s.op for s in active))
                out.append(Finding(
                    control=CONTROL, status="pass", source="deploy", resource=urn,
                    message=f"This plan keeps {_kind_label(fact)} {fact.name!r} ({ops}); "
                            "its data stays.",
                    account=fact.account, region=fact.region,
                    evidence={"operation": ops, "type": fact.type}, severity=SEVERITY))
        out += _key_deletions(preview, by_urn, old_states, pack, settings, today)

    # deploy-side controls on the planned state
    changed = {urn for urn, steps in by_urn.items()
               if any(s.op not in PASSIVE and s.op not in GONE for s in steps)}
    deploy_ids = {c.id for c in registry.for_source("deploy")}
    partial = preview.sames_missing
    for (control, urn), (fact, verdict) in new_v.items():
        if control not in settings.enabled or control not in deploy_ids or verdict is None:
            continue
        before = old_v.get((control, urn))
        regression = (before is not None and before[1] is not None
                      and before[1].status == "pass" and verdict.status == "fail")
        if urn not in changed and not regression:
            continue
        status, message = verdict.status, verdict.message
        evidence = {**fact.evidence, **verdict.evidence}
        if status == "unknown":
            message = message.replace(_PREVIEW, _HERE).replace(
                "cannot be checked during preview.", "cannot be checked from this preview.")
        if regression and before is not None:
            words, diff = _regression(before[1].evidence, verdict.evidence)
            message = (f"Regression: this change {words or 'makes it fail'}; the control "
                       f"passes today. {message}")
            evidence["regression"] = {"before": "pass", "changed": diff}
        elif status == "fail" and partial and _stack_level(control):
            status = "unknown"
            message = (f"{message} (Not judged: the preview leaves out {partial} unchanged "
                       "resource(s) that may configure it; run `pulumi preview --json "
                       "--show-sames`.)")
        v = dataclasses.replace(verdict, status=status, message=message, evidence=evidence) \
            if isinstance(verdict, Verdict) else verdict
        f = finding(control, fact, v, "deploy", settings, today)
        f.evidence = _clean(f.evidence)
        out.append(f)
    for f in out:
        f.evidence = _clean(f.evidence)
        if f.account is None:
            for side in (new_states, old_states):
                state = side.get(f.resource)
                f.account = f.account or (_account(state.props.get("arn"))
                                          if state is not None else None)
    return out


def _key_deletions(preview: Preview, by_urn: dict[str, list[Step]],
                   old_states: dict[str, State], pack: _Pack, settings: Settings,
                   today: dt.date | None) -> list[Finding]:
    """plan-destroys-data for KMS keys that encrypt recovery data (auditor.plan.keys)."""
    why = []
    if preview.sames_missing:
        why.append(f"the preview leaves out {preview.sames_missing} unchanged resource(s); "
                   "run `pulumi preview --json --show-sames`")
    if preview.skipped:
        why.append(f"{len(preview.skipped)} step(s) could not be read")
    return key_findings(
        by_urn, old_states,
        lambda: pack.model(_resources(pack, old_states), settings.scope),
        why, DESTROYING, SEVERITY, settings, today)


def _account(arn: Any) -> str | None:
    if not isinstance(arn, str) or not arn.startswith("arn:"):
        return None
    parts = arn.split(":", 5)
    return parts[4] if len(parts) > 4 and parts[4].isdigit() and len(parts[4]) == 12 else None


def _stack_level(control: str) -> bool:
    from policypack import checks

    for c in checks.CHECKS:
        if c.control == control:
            return isinstance(c, checks.StackCheck)
    return False


def _clean(value: Any) -> Any:
    if value is UNKNOWN:
        return "unknown"
    if isinstance(value, str):
        return "unknown" if value == UNKNOWN_VALUE else value
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_clean(v) for v in value]
    if value is None or isinstance(value, (int, float, bool)):
        return value
    return str(value)


def run_meta(preview: Preview, findings: Iterable[Finding], started: dt.datetime,
             fail_on: str) -> dict[str, Any]:
    """Report metadata of a `dr-audit plan` run (skipped steps make it incomplete)."""
    from drguard import __version__

    findings = list(findings)
    project, stack = preview.project_stack()
    notes: list[str] = []
    if preview.errors:
        notes.append(f"the preview reported {len(preview.errors)} error(s), so its plan may be "
                     f"incomplete: {preview.errors[0]}")
    if preview.maybe_corrupt:
        notes.append("the preview says one or more resources may be corrupt")
    if preview.sames_missing:
        notes.append(f"{preview.sames_missing} unchanged resource(s) are not in the document "
                     "(`pulumi preview --json --show-sames` includes them for stack-level "
                     "checks)")
    ops: dict[str, int] = {}
    for s in preview.steps:
        ops[s.op] = ops.get(s.op, 0) + 1
    return {
        "command": "plan", "tool_version": __version__,
        "started": started.isoformat(), "finished": dt.datetime.now(dt.UTC).isoformat(),
        "sources": [preview.path], "stack": stack, "project": project,
        "steps": ops, "change_summary": preview.change_summary,
        "resources": len({s.urn for s in preview.steps}),
        "accounts": sorted({f.account for f in findings if f.account}),
        "regions": sorted({f.region for f in findings if f.region}),
        "fail_on": fail_on,
        "skipped": {"steps": len(preview.skipped),
                    "preview_errors": len(preview.errors), "notes": notes},
        "skipped_detail": preview.skipped[:MAX_DETAIL],
    }


def incomplete(preview: Preview) -> bool:
    """Something of the plan could not be read: never a green result."""
    return bool(preview.skipped or preview.errors)
