"""pulumi-config-secrets: no plaintext secret in a Pulumi stack's config.

What fails, for a config value (at any depth of structured config) that is not `secure:`:

- its **key looks secret-like**: the last part of the key (after `project:`), split into
  words (camelCase, `_`, `-`, `.`), contains password / passwd / pwd / passphrase / secret /
  token / api key / private key / access key / secret key / credential(s) / client secret /
  signing, encryption or ssh key / connection string / dsn, *and* no qualifier follows the
  last such word that makes the value a reference to a secret rather than the secret itself
  (`secretName`, `secretArn`, `passwordLength`, `tokenTtl`, `accessKeyId`, `...Path`, ...
  see QUALIFIERS). Only non-empty strings count (a boolean or a number is not a secret), and
  an ARN or a `${...}` / `{{...}}` reference is not a secret;
- or its **value has a credential shape**, whatever its key: an AWS access key id
  (`AKIA`/`ASIA` + 16), a PEM private key block, a URL with a password in it
  (`scheme://user:pass@host`), a well-known token prefix (GitHub, Pulumi, Slack, Stripe,
  Google API), or a high-entropy token (see `high_entropy`).

High-entropy token: a run of at least `minTokenLength` (default 20) characters of the base64 /
base64url alphabet (plus `.` for JWT-like tokens), containing an upper-case letter, a
lower-case letter and a digit, with a Shannon entropy of at least `minTokenEntropy` bits per
character (default 3.7: 95% of random 20-character base64 strings reach it), *and* not made of
words: less than 40% of it in runs of 4+ lower-case letters, which is what separates
`ProdDatabaseCluster2024` from `wJalrXUtnFEMI/K7MDENG`. Never judged by entropy: ARNs, URLs
without credentials, paths, UUIDs and pure hex strings (digests, commit ids, resource ids), so
those known shapes do not raise false alarms; a hex secret is still caught by its key.

The stack also needs a secrets provider (`secretsprovider`, with its `encryptedkey` for a
cloud KMS) or a passphrase salt (`encryptionsalt`) when it holds `secure:` values, unless its
project's backend is Pulumi Cloud (the default), whose service provider needs neither.

Findings name the file, the line and the key, never the value: nothing here copies a value into
a message or into evidence.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import re2

from drguard.records import record
from drguard.redact import REDACTED, remember
from drguard.verdict import Remediation, Verdict

from .files import line_of

# Word sequences that make a key secret-like (compared on the lower-cased words of the key).
SECRET_TERMS: tuple[tuple[str, ...], ...] = (
    ("password",), ("passwd",), ("pwd",), ("passphrase",), ("secret",), ("secrets",),
    ("token",), ("tokens",), ("apikey",), ("api", "key"), ("privatekey",), ("private", "key"),
    ("accesskey",), ("access", "key"), ("secretkey",), ("secret", "key"), ("credential",),
    ("credentials",), ("creds",), ("signing", "key"), ("encryption", "key"), ("ssh", "key"),
    ("connection", "string"), ("connectionstring",), ("dsn",),
)
# A word after the secret term that makes the value a reference or a setting, not a secret.
QUALIFIERS = frozenset({
    "name", "names", "arn", "arns", "id", "ids", "length", "len", "ttl", "expiry",
    "expiration", "expires", "rotation", "rotate", "version", "path", "file", "param",
    "parameter", "ref", "reference", "enabled", "enable", "required", "policy", "type", "kms",
    "url", "uri", "endpoint", "location", "prefix", "header", "field", "env", "var", "mode",
    "count", "days", "hours", "minutes", "seconds", "age", "size", "min", "max", "hint",
    "description", "format", "template", "provider", "manager", "store", "backend",
    "secretsmanager", "ssm", "vault", "engine", "label",
})

# Credential shapes run in RE2 (linear time: a 1 MB scalar is read in milliseconds; the
# backtracking engine took minutes on `_URL_PASSWORD` over one long run of letters).
_AWS_KEY_ID = re2.compile(r"(?:^|[^A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?:[^A-Z0-9]|$)")
_PRIVATE_KEY = re2.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")
_URL_PASSWORD = re2.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@")
_KNOWN_TOKENS: tuple[tuple[str, Any], ...] = (
    ("a GitHub token", re2.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_\w{22,})")),
    ("a Pulumi access token", re2.compile(r"\bpul-[0-9a-f]{40}\b")),
    ("a Slack token", re2.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}")),
    ("a Stripe live key", re2.compile(r"\b[rs]k_live_[A-Za-z0-9]{16,}")),
    ("a Google API key", re2.compile(r"\bAIza[0-9A-Za-z_-]{35}")),
)
_TOKEN_RUN = re.compile(r"[A-Za-z0-9+/=_.\-]+")
_HEX = re.compile(r"^(?:0x)?[0-9a-fA-F]+$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_LOWER_WORD = re.compile(r"[a-z]{4,}")
_REFERENCE = re.compile(r"^\s*(?:\$\{.*\}|\{\{.*\}\})\s*$", re.S)
_WORD_SPLIT = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")

DEFAULT_MIN_TOKEN_LENGTH = 20
DEFAULT_MIN_TOKEN_ENTROPY = 3.7
MAX_WORD_SHARE = 0.4

# `secretsprovider` values that need no `encryptedkey` in the stack file.
_PROVIDERS_WITHOUT_KEY = frozenset({"passphrase", "service", "default"})


def key_words(key: str) -> list[str]:
    """The lower-cased words of the last part of a config key (`proj:dbPassword` ->
    ['db', 'password'])."""
    last = key.rsplit(":", 1)[-1]
    return [w.lower() for w in _WORD_SPLIT.findall(last)]


def secret_like_key(key: str) -> bool:
    words = key_words(key)
    last_end = -1
    for i in range(len(words)):
        for term in SECRET_TERMS:
            if tuple(words[i:i + len(term)]) == term:
                last_end = max(last_end, i + len(term))
    if last_end < 0:
        return False
    return not any(w in QUALIFIERS for w in words[last_end:])


def shannon_entropy(s: str) -> float:
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in Counter(s).values()) if n else 0.0


def high_entropy(token: str, min_length: int = DEFAULT_MIN_TOKEN_LENGTH,
                 min_entropy: float = DEFAULT_MIN_TOKEN_ENTROPY) -> bool:
    """Whether one whitespace-free token looks like a random credential (module docstring)."""
    if len(token) < min_length or not _TOKEN_RUN.fullmatch(token):
        return False
    if _HEX.match(token) or _UUID.match(token):
        return False
    if not (any(c.isupper() for c in token) and any(c.islower() for c in token)
            and any(c.isdigit() for c in token)):
        return False
    if shannon_entropy(token) < min_entropy:
        return False
    worded = sum(len(m.group()) for m in _LOWER_WORD.finditer(token))
    return worded / len(token) < MAX_WORD_SHARE


def credential_shape(value: str, min_length: int = DEFAULT_MIN_TOKEN_LENGTH,
                     min_entropy: float = DEFAULT_MIN_TOKEN_ENTROPY) -> str | None:
    """What credential `value` looks like (a phrase), or None."""
    if _PRIVATE_KEY.search(value):
        return "a private key block"
    if _AWS_KEY_ID.search(value):
        return "an AWS access key id"
    if _URL_PASSWORD.search(value):
        return "a URL with a password in it"
    for what, pattern in _KNOWN_TOKENS:
        if pattern.search(value):
            return what
    stripped = value.strip()
    if stripped.startswith("arn:") or "://" in stripped:
        return None
    for token in stripped.split():
        if token.startswith("/") or token.startswith("./"):
            continue
        if high_entropy(token, min_length, min_entropy):
            return "a high-entropy token"
    return None


def is_secure(value: Any) -> bool:
    """A Pulumi secure value: a mapping whose only key is `secure` with a string."""
    return isinstance(value, dict) and list(value) == ["secure"] and \
        isinstance(value["secure"], str)


@record(frozen=True)
class Plaintext:
    """A stack config value that looks like a secret kept in plaintext (never the value)."""

    key: str       # full key path, e.g. "payments:db.password" or "payments:hosts[0]"
    line: int
    reason: str    # why it counts as a secret (never the value)


@record
class StackConfig:
    """What the check needs from one Pulumi.<stack>.yaml (or Pulumi.yaml project config)."""

    rel: str
    stack: str | None                 # None for the project file
    values: int = 0
    secure: int = 0
    plaintext: tuple[Plaintext, ...] = ()
    secrets_provider: str | None = None
    encrypted_key: bool = False
    encryption_salt: bool = False


def _leaves(value: Any, key: str, line: int) -> Iterator[tuple[str, Any, int]]:
    """(key path, leaf value, line) of a config value; secure values are leaves."""
    if is_secure(value):
        yield key, value, line
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, f"{key}.{k}", line_of(value, k, line))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _leaves(v, f"{key}[{i}]", line_of(value, i, line))
    else:
        yield key, value, line


_KEY_PARTS = re.compile(r"([.:\[\]])")


def shown_key(path: str) -> str:
    """A key path as findings show it: a part with the shape of a credential is `[secret]`."""
    parts = _KEY_PARTS.split(path)
    return "".join(REDACTED if p and not _KEY_PARTS.fullmatch(p) and credential_shape(p)
                   else p for p in parts)


def _judge(path: str, value: Any, min_length: int, min_entropy: float) -> str | None:
    """Why this plaintext leaf is a secret, or None."""
    if not isinstance(value, str) or not value.strip():
        return None
    shape = credential_shape(value, min_length, min_entropy)
    if shape:
        return f"its value has the shape of {shape}"
    if secret_like_key(path) and not value.strip().startswith("arn:") \
            and not _REFERENCE.match(value):
        return "its key names a secret and the value is plaintext"
    return None


_PROJECT_CONFIG_FIELDS = frozenset({"type", "description", "default", "value", "secret",
                                    "items"})


def read_config(rel: str, doc: Any, stack: str | None, min_length: int,
                min_entropy: float) -> StackConfig:
    """The config of a stack file (stack set) or of a project file (stack None)."""
    sc = StackConfig(rel=rel, stack=stack)
    if not isinstance(doc, dict):
        return sc
    if stack is not None:
        sp = doc.get("secretsprovider")
        sc.secrets_provider = sp if isinstance(sp, str) and sp.strip() else None
        sc.encrypted_key = bool(doc.get("encryptedkey"))
        sc.encryption_salt = bool(doc.get("encryptionsalt"))
    config = doc.get("config")
    if not isinstance(config, dict):
        return sc
    found: list[Plaintext] = []
    # a key written twice: the earlier value is still committed, and judged like the later one
    pairs = [(k, v, None) for k, v in config.items()] + \
        [(k, v, at) for k, v, at in getattr(config, "duplicates", ())]
    for key, value, shadowed in pairs:
        key_s = str(key)
        line = shadowed or line_of(config, key, getattr(config, "line", 0))
        if stack is None and isinstance(value, dict) and not is_secure(value) \
                and value and set(value) <= _PROJECT_CONFIG_FIELDS:
            # project config declaration: only its default/value are values
            value = {k: value[k] for k in ("default", "value") if k in value}
            leaves = [(key_s, v, line_of(config, key, line)) for v in value.values()]
        else:
            leaves = list(_leaves(value, key_s, line))
        for path, leaf, leaf_line in leaves:
            sc.values += 1
            if is_secure(leaf):
                sc.secure += 1
                continue
            shown = shown_key(path)
            why = _judge(path, leaf, min_length, min_entropy)
            if why is None and shown != path:
                why = "a key has the shape of a credential (the key is not shown)"
            if why:
                if shadowed:
                    why += " (an earlier value of a key written twice, still in the file)"
                found.append(Plaintext(shown, leaf_line, why))
                if isinstance(leaf, str):
                    remember(leaf)
    sc.plaintext = tuple(found)
    return sc


def diy_backend(url: str | None) -> bool:
    """Whether a backend URL is a self-managed (DIY) backend: s3://, file://, gs://, ..."""
    if not url or url.startswith(("https://", "http://")):  # Pulumi Cloud (or self-hosted)
        return False
    return "://" in url


def _fix(fix: Remediation | None, summary: str,
         pulumi: str | None = None) -> Remediation | None:
    if fix is None:
        return None
    return replace(fix, summary=summary, pulumi=pulumi or fix.pulumi)


def value_verdict(sc: StackConfig, p: Plaintext, fix: Remediation | None = None) -> Verdict:
    where = f"{sc.rel}:{p.line}"
    v = Verdict.fail(f"Plaintext secret in {where}: config key {p.key!r} is not `secure:` "
                     f"and {p.reason} (the value is not shown).",
                     file=sc.rel, line=p.line, key=p.key, stack=sc.stack, reason=p.reason)
    path = "--path " if "." in p.key or "[" in p.key else ""
    stack = f"--stack {sc.stack} " if sc.stack else ""
    cmd = f"pulumi config set --secret {path}{stack}'{p.key}' <value>"
    v.remediation = _fix(fix, f"Rotate the credential, store it with `{cmd}`"
                              f"{' in each stack' if sc.stack is None else ''}, and purge the "
                              f"plaintext from the history of {sc.rel}.")
    return v


def provider_verdict(sc: StackConfig, backend: str | None,
                     fix: Remediation | None = None) -> Verdict | None:
    """The stack-level check: secure values need a secrets provider or salt (DIY backends)."""
    ev = {"file": sc.rel, "stack": sc.stack, "configValues": sc.values,
          "secureValues": sc.secure, "secretsProvider": sc.secrets_provider,
          "encryptionSalt": sc.encryption_salt, "encryptedKey": sc.encrypted_key,
          "backend": backend}
    problem = None
    if sc.secure:
        if sc.secrets_provider and sc.secrets_provider not in _PROVIDERS_WITHOUT_KEY \
                and not sc.encrypted_key:
            problem = (f"its secrets provider {sc.secrets_provider!r} has no encryptedkey, so "
                       f"its {sc.secure} secure value(s) cannot be decrypted")
        elif not sc.secrets_provider and not sc.encryption_salt and diy_backend(backend):
            problem = (f"it holds {sc.secure} secure value(s) but has neither secretsprovider "
                       f"nor encryptionsalt, and its backend {backend} does not provide one")
    if problem:
        v = Verdict.fail(f"Stack config {sc.rel}: {problem}.", line=1, **ev)
        v.remediation = _fix(
            fix, f"Give stack {sc.stack} a secrets provider (`pulumi stack "
                 f"change-secrets-provider --stack {sc.stack} awskms://alias/pulumi-secrets`, or "
                 "a passphrase, which writes encryptionsalt), then set its secure values again.",
            f"# {sc.rel}\nsecretsprovider: awskms://alias/pulumi-secrets?region=us-east-1\n"
            "encryptedkey: <written by pulumi stack change-secrets-provider>")
        return v
    if sc.plaintext:
        return None  # the file's findings are the plaintext values
    how = ("Pulumi Cloud's secrets service" if sc.secure and not (
        sc.secrets_provider or sc.encryption_salt) else
        f"secrets provider {sc.secrets_provider}" if sc.secrets_provider else
        "a passphrase (encryptionsalt)" if sc.encryption_salt else "no secure value")
    what = "project config" if sc.stack is None else "stack config"
    return Verdict.ok(f"No plaintext secret in the {what} {sc.rel} ({sc.values} value(s), "
                      f"{sc.secure} secure; {how}).", **ev)
