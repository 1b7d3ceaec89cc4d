"""Notification targets and owner routes: their forms, checked without reading anything.

A target is what `--notify` takes: `slack:<webhook URL>`, `slack:env:NAME` (the URL is in
environment variable NAME) or `sns:<topic ARN>`. The auditor's config routes findings by their
`owner`:

    notify:
      routes:
        - {owner: team-payments, target: "slack:env:PAYMENTS_WEBHOOK"}
        - {owner: team-payments, target: "sns:arn:aws:sns:us-east-1:111122223333:payments-dr"}
        - {owner: team-data, target: "slack:env:DATA_WEBHOOK"}

A webhook URL is a secret: no message, repr or label here ever contains one (a target given
inline is shown as `slack:<webhook>`). Reading the environment is the auditor's part.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import Loc, type_name
from .records import record

KINDS = ("slack", "sns")
FORMS = "slack:<webhook URL>, slack:env:NAME or sns:<topic ARN>"
MAX_ROUTES = 1000
MAX_OWNER = 256
SNS_ARN = re.compile(r"^arn:aws[\w-]*:sns:[a-z0-9-]+:\d{12}:[\w-]{1,256}$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
HTTP_URL = re.compile(r"^https?://\S+$")
_URL = re.compile(r"https?://[^\s'\"<>]+")


def redact(text: str, *secrets: str) -> str:
    """`text` without any of `secrets` and without any URL (webhooks are URLs)."""
    for s in secrets:
        if s:
            text = text.replace(s, "<webhook>")
    return _URL.sub("<url>", text)


def label(value: str) -> str:
    """How a target may be printed: `slack:env:NAME`, `slack:<webhook>` or `sns:<ARN>`."""
    kind, _, rest = value.partition(":")
    if kind == "slack" and not rest.startswith("env:"):
        return "slack:<webhook>"
    return redact(value)[:300]


def target_problem(value: str) -> str | None:
    """What is wrong with the form of a target (None when nothing): never the secret."""
    kind, sep, rest = value.partition(":")
    if not sep or kind not in KINDS:
        return f"{redact(value)[:80]!r}: expected {FORMS}"
    if kind == "sns":
        return None if SNS_ARN.match(rest) else f"sns:{redact(rest)[:120]}: not an SNS topic ARN"
    if rest.startswith("env:"):
        name = rest[4:]
        return None if ENV_NAME.match(name) else \
            f"slack:env:{redact(name)[:80]}: not an environment variable name"
    return None if HTTP_URL.match(rest) else "slack:<webhook>: the webhook is not an http(s) URL"


@record(frozen=True)
class Route:
    """Findings whose `owner` is `owner` go to `target` (a target string, maybe a secret)."""

    owner: str
    target: str

    def __repr__(self) -> str:  # never an inline webhook
        return f"Route({self.owner!r} -> {label(self.target)})"

    __str__ = __repr__


def parse(value: Any, loc: Loc) -> tuple[Route, ...]:
    """The config's `notify` block (`{routes: [{owner, target}, ...]}`); a ConfigError naming
    the bad entry otherwise."""
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise loc.error(f"expected a mapping with a 'routes' list, found {type_name(value)}")
    unknown = sorted(k for k in value if k != "routes")
    if unknown:
        raise loc.error(f"unknown key(s) {', '.join(unknown)[:200]} (expected routes)")
    routes = value.get("routes")
    rloc = loc / "routes"
    if routes is None:
        return ()
    if not isinstance(routes, list):
        raise rloc.error(f"expected a list of {{owner, target}} entries, found "
                         f"{type_name(routes)}")
    if len(routes) > MAX_ROUTES:
        raise rloc.error(f"more than {MAX_ROUTES} routes")
    out: list[Route] = []
    seen: set[tuple[str, str]] = set()
    for i, entry in enumerate(routes):
        eloc = rloc / i
        if not isinstance(entry, dict):
            raise eloc.error(f"expected a mapping with owner and target, found "
                             f"{type_name(entry)}")
        extra = sorted(k for k in entry if k not in ("owner", "target"))
        if extra:
            raise eloc.error(f"unknown key(s) {', '.join(extra)[:200]} (expected owner, "
                             "target)")
        owner, target = entry.get("owner"), entry.get("target")
        if not isinstance(owner, str) or not owner.strip():
            raise (eloc / "owner").error(
                "expected the owner's name (a non-empty string, as in the findings' owner "
                f"field), found {type_name(owner) if not isinstance(owner, str) else 'empty'}")
        if len(owner) > MAX_OWNER:
            raise (eloc / "owner").error(f"longer than {MAX_OWNER} characters")
        if not isinstance(target, str):
            raise (eloc / "target").error(f"expected {FORMS}, found {type_name(target)}")
        problem = target_problem(target)
        if problem:
            raise (eloc / "target").error(problem)
        if (owner, target) in seen:
            raise eloc.error(f"the route {owner!r} -> {label(target)} is given twice")
        seen.add((owner, target))
        out.append(Route(owner, target))
    return tuple(out)
