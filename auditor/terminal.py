"""What reaches a terminal or a CI log: text that names things an attacker may have written
(stack names from a state bucket's keys, file and bucket names, values in a stack export), with
the characters that are not printable shown as escapes. A terminal escape could rewrite the
screen, and a new line could start a CI workflow command (`::add-mask::`, `::error::`)."""

from __future__ import annotations

import logging
import re
from typing import Any

# AWS credentials as the SDK's debug lines spell them (an STS response body, request headers,
# a signed request's credential scope and signature): never written to a log.
_CREDENTIALS = re.compile(
    r"(?P<k>(?:SecretAccessKey|SessionToken|AccessKeyId|[Ss]ecret_?[Aa]ccess_?[Kk]ey"
    r"|[Ss]ession_?[Tt]oken|[Xx]-[Aa]mz-[Ss]ecurity-[Tt]oken)['\"]?\s*[:=>]\s*b?['\"]?)"
    r"[^'\"<\s,}&]+"
    r"|(?P<s>(?:Credential|Signature)=)[^,\s'\"&]+")


def without_credentials(text: str) -> str:
    """`text` with what looks like an AWS credential replaced by `[secret]`."""
    if "ecret" not in text and "oken" not in text and "=" not in text and "Key" not in text:
        return text
    return _CREDENTIALS.sub(lambda m: (m.group("k") or m.group("s")) + "[secret]", text)


def shown(text: str) -> str:
    """`text` with each character that is not printable (escapes, new lines, bidirectional
    controls, lone surrogates) written as its Python escape."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class EscapingFormatter(logging.Formatter):
    """A log line's message as `shown` writes it. A logged traceback keeps its lines, each
    indented and shown: its last line is the exception's message, which may quote input
    (an AWS error, a key), new lines included."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        record.message = shown(without_credentials(record.message))
        return super().formatMessage(record)

    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging's name
        return "\n".join("  " + shown(without_credentials(line))
                         for line in super().formatException(ei).splitlines())


def shown_lines(text: str) -> str:
    """`shown` of each line of a text of several lines (its own new lines kept)."""
    return "\n".join(shown(line) for line in text.split("\n"))
