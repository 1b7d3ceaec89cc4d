"""The typed read's per-resource text check in C (`auditor/_state_scan.c`) against its
definition in Python (`auditor.state._walk_free`): the same answer on every edge case the
typed-read tests spell and on random texts made of what the check looks for, and the typed
read makes the same export with either."""

from __future__ import annotations

import random
from pathlib import Path

import msgspec
import pytest

from auditor import state
from tests.test_state_typed_read import _fields, _typed_cases, _values

try:
    from auditor import _state_scan as native
except ImportError:  # test_the_extension_is_built says so
    native = None


def test_the_extension_is_built() -> None:
    """`pip install -e .` (make setup, make demo) compiles it; CI must notice when not."""
    assert native is not None, "auditor/_state_scan.c is not built: pip install -e ."
    assert state._plain_native is not None
    source = Path(state.__file__).with_name("_state_scan.c")
    built = Path(native.__file__)
    assert built.stat().st_mtime >= source.stat().st_mtime, \
        f"{built.name} is older than {source.name}: pip install -e . to rebuild it"


def _raw(text: bytes) -> msgspec.Raw:
    """`text` as the typed read holds it: msgspec's Raw of a property's value."""
    return msgspec.json.decode(b'{"p": ' + text + b"}", type=dict[str, msgspec.Raw])["p"]


def test_edge_cases_agree() -> None:
    assert native is not None
    for name, text in _values().items():
        data = text.encode()
        expected = state._walk_free(data)
        assert native.plain(data, state._SIG_BYTES, state.MAX_VALUE_DEPTH) is expected, name
        assert state._plain(_raw(data)) is expected, name


def test_random_texts_agree() -> None:
    """Texts built from the pieces the check reacts to, at every length around the limits."""
    assert native is not None
    rng = random.Random(7)
    sig = state._SIG_BYTES
    pieces = [b"{", b"[", b"}", b"]", b"\\", b"u", b"\\u", b"\\\\u", b'"', b"a", b" ",
              sig, sig[:-1], sig[1:], b"\\u0034" + sig[1:], b"\xc3\xa9", b"\x00"]
    seen = {True: 0, False: 0}
    for _ in range(4000):
        text = b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 90)))
        limit = rng.choice([1, 2, 5, state.MAX_VALUE_DEPTH])
        expected = sig not in text and b"\\u" not in text \
            and text.count(b"{") + text.count(b"[") < limit
        got = native.plain(text, sig, limit)
        assert got is expected, (text, limit)
        seen[got] += 1
    assert min(seen.values()) > 100  # both answers exercised
    for n in range(state.MAX_VALUE_DEPTH - 2, state.MAX_VALUE_DEPTH + 2):
        text = b"[" * n
        assert native.plain(text, sig, state.MAX_VALUE_DEPTH) is state._walk_free(text), n
    assert native.plain(b"", sig, 1) is True
    assert native.plain(b"ab\\", sig, 5) is True  # a backslash at the very end
    assert native.plain(sig, sig, 5) is False
    for text, key, limit in ((b"abc", sig, 0), (b"", sig, -5), (b"abc", b"", 64), (b"", b"", 1)):
        expected = key not in text and b"\\u" not in text \
            and text.count(b"{") + text.count(b"[") < limit
        assert expected is False and native.plain(text, key, limit) is False, (text, key, limit)


def test_bad_arguments_are_refused() -> None:
    assert native is not None
    with pytest.raises(TypeError):
        native.plain("text", state._SIG_BYTES, 5)  # str has no buffer
    with pytest.raises(TypeError):
        native.plain(b"x", state._SIG_BYTES)
    with pytest.raises(TypeError):
        native.plain(b"x", state._SIG_BYTES, "5")


@pytest.mark.parametrize("check", ["C", "Python"])
def test_the_typed_read_is_the_same_either_way(check: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    if check == "Python":  # as on a machine where the extension was not built
        monkeypatch.setattr(state, "_plain_native", None)
    elif native is None:
        pytest.fail("the C extension is not built")
    said: list[bool] = []
    check_text = state._plain

    def spy(text: msgspec.Raw) -> bool:
        said.append(check_text(text))
        return said[-1]

    monkeypatch.setattr(state, "_plain", spy)
    typed_used = 0
    for name, text in _typed_cases().items():
        typed = state._typed_parse(text, name)
        whole = state.parse(state.loads(text), name)
        if typed is not None:
            typed_used += 1
            assert _fields(typed) == _fields(whole), name
    # both answers were given and acted on: texts taken as decoded, and texts walked
    assert typed_used > 100 and said.count(True) > 50 and said.count(False) > 20
