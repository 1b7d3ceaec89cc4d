"""Fuzz: text shown on a terminal (auditor.terminal.shown) and backend URLs
(auditor.backends.check_url), both of which may be an attacker's."""

from __future__ import annotations

import ipaddress
import urllib.parse

from hypothesis import given
from hypothesis import strategies as st

from auditor import backends
from auditor.terminal import shown, shown_lines
from drguard.errors import ConfigError
from tests.fuzzing import fuzz

FUZZ = fuzz(300)  # fixed seed; `make fuzz` runs more, at random


@FUZZ
@given(text=st.text(alphabet=st.characters(codec=None), max_size=200))
def test_shown_text_is_printable_and_shown_once(text: str) -> None:
    out = shown(text)
    assert out.isprintable() and shown(out) == out
    assert all(line.isprintable() for line in shown_lines(text).split("\n"))
    assert shown_lines(text).count("\n") == text.count("\n")


HOSTS = st.sampled_from(["127.0.0.1", "localhost", "[::1]", "pulumi.example.com", "10.0.0.5",
                         "127.0.0.1.evil", "user:pw@evil", "evil@127.0.0.1", "0.0.0.0", ""])


@FUZZ
@given(scheme=st.sampled_from(["http", "https", "HTTP", "s3", "file", "ftp", ""]), host=HOSTS,
       tail=st.text(max_size=30))
def test_a_backend_url_is_taken_or_refused_never_crashes(scheme: str, host: str,
                                                          tail: str) -> None:
    url = f"{scheme}://{host}{tail}" if scheme else host + tail
    try:
        got = backends.check_url(url)
    except ConfigError as e:
        assert "pw@" not in str(e)  # a password before the host is never printed
        return
    assert got == url
    p = urllib.parse.urlparse(url)
    if p.scheme == "http":  # plain http: a loopback address only
        assert p.hostname == "localhost" or ipaddress.ip_address(p.hostname or "").is_loopback
