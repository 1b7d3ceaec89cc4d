"""report.json (schema dr-audit/1): build it, and read a previous one back for --baseline."""

from __future__ import annotations

import functools
import json
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from drguard import inputs
from drguard.errors import ConfigError
from drguard.findings import Finding

from ._common import SCHEMA_ID, dumps

if TYPE_CHECKING:
    import jsonschema

SCHEMA_RESOURCE = "report.schema.json"
# A report of 100k findings is ~100 MB; evidence nests a few levels
REPORT_LIMITS = inputs.Limits(max_bytes=512 << 20, max_depth=64)


@functools.cache
def report_schema() -> dict[str, Any]:
    """The JSON Schema of report.json (auditor/schemas/report.schema.json)."""
    text = resources.files("auditor").joinpath("schemas", SCHEMA_RESOURCE).read_text("utf-8")
    return json.loads(text)


@functools.cache
def _validator() -> jsonschema.protocols.Validator:
    import jsonschema  # only when a report is validated, not at every start

    schema = report_schema()
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


def build(doc_run: dict[str, Any], summary: dict[str, Any],
          findings: list[Finding]) -> dict[str, Any]:
    """The report document; `findings` must already be sorted."""
    return {"schema": SCHEMA_ID, "run": doc_run, "summary": summary,
            "findings": [f.to_dict() for f in findings]}


def render(doc: dict[str, Any]) -> str:
    """report.json: compact, one line (machines read it; `jq .` shows it indented)."""
    return dumps(doc, indent=None) + "\n"


def _where(error: jsonschema.ValidationError) -> str:
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    return path.lstrip(".") or "(top level)"


def validation_errors(doc: Any) -> list[str]:
    """Schema errors of a report document, as 'where: what' lines (empty when valid)."""
    errors = sorted(_validator().iter_errors(doc), key=lambda e: list(map(str, e.path)))
    return [f"{_where(e)}: {_short(e.message)}" for e in errors]


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "\u2026"


def load_report(path: Path) -> tuple[dict[str, Any], list[Finding]]:
    """(run metadata, findings) of a previous report.json; ConfigError naming the path if bad."""
    doc = load_report_doc(path)
    return doc["run"], findings_of(Path(path), doc)


def findings_of(path: Path, doc: dict[str, Any]) -> list[Finding]:
    try:
        return [Finding.from_dict(d) for d in doc["findings"]]
    except (KeyError, TypeError, ValueError) as e:  # defensive: the schema should catch these
        raise ConfigError(f"{path}: invalid finding in report: {e}") from None


def load_report_doc(path: Path) -> dict[str, Any]:
    """A previous report.json, read by the hardened reader and checked against the schema;
    ConfigError naming the path if bad."""
    p = Path(path)
    doc = inputs.parse_json(inputs.read_text(p, "report", REPORT_LIMITS), str(p), "report",
                            REPORT_LIMITS)
    if not isinstance(doc, dict) or "schema" not in doc:
        raise ConfigError(f"{p}: not a dr-audit report (no 'schema' key; expected "
                          f"{SCHEMA_ID!r})")
    if doc["schema"] != SCHEMA_ID:
        raise ConfigError(f"{p}: unsupported report schema {doc['schema']!r} (expected "
                          f"{SCHEMA_ID!r})")
    errors = validation_errors(doc)
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ConfigError(f"{p}: invalid dr-audit report: {errors[0]}{more}".replace("\n", " "))
    return doc
