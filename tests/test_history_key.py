"""Signed drill history (`--history-key env:NAME`): whoever can write the history store cannot
make a drill that never ran count as restore evidence.

End to end against the moto server: a real `dr-audit drill rds` keeps a signed entry, `scan`
takes it as evidence; an entry written by hand (a forgery) or altered is skipped, named in
the log and counted, and the database it names stays "never restored"."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from auditor import history_key
from auditor.cli import main
from drguard.errors import ConfigError
from tests.test_restore_objective import FAST, scan_rto, seed_dbs

KEY = "k3y-for-the-drill-history-0123456789"


def test_signature_round_trip_and_what_breaks_it() -> None:
    key = KEY.encode()
    entry = {"schema": "x", "run_id": "r1", "rto_seconds": 600, "target": "db:orders"}
    signed = history_key.sign(entry, key)
    assert signed["signature"].startswith("hmac-sha256:") and history_key.verified(signed, key)
    assert not history_key.verified(entry, key)  # unsigned
    assert not history_key.verified({**signed, "rto_seconds": 60}, key)  # altered
    assert not history_key.verified({**signed, "extra": 1}, key)  # a field added
    assert not history_key.verified(signed, b"another-key-0123456789")
    assert not history_key.verified({**signed, "signature": "hmac-sha256:" + "0" * 64}, key)
    assert not history_key.verified(["not", "an", "entry"], key)
    assert not history_key.verified({**signed, "rto_seconds": float("nan")}, key)


@pytest.mark.parametrize("signature", ["hmac-sha256:" + "é" * 64, "hmac-sha256:\udcff",
                                       "hmac-sha256:" + "0" * 10_000])
def test_a_signature_of_any_text_is_refused_not_a_crash(signature: str) -> None:
    """Whoever writes the history chooses the signature: a non-ASCII one (which
    hmac.compare_digest refuses to compare as text) must be a forgery, not a traceback."""
    key = KEY.encode()
    signed = history_key.sign({"schema": "x", "run_id": "r1"}, key)
    assert not history_key.verified({**signed, "signature": signature}, key)


@pytest.mark.parametrize("value, env, why", [
    ("s3cr3t-value-in-the-argv", {}, "give env:NAME"),
    ("env:", {}, "give env:NAME"),
    ("env:DR_KEY", {}, "DR_KEY is not set or empty"),
    ("env:DR_KEY", {"DR_KEY": "short"}, "shorter than 16 characters"),
])
def test_the_key_comes_from_the_environment_only(value: str, env: dict[str, str],
                                                 why: str) -> None:
    with pytest.raises(ConfigError) as e:
        history_key.from_arg(value, env)
    assert why in str(e.value) and "short" not in str(e.value).replace("shorter", "")
    assert history_key.from_arg("env:DR_KEY", {"DR_KEY": KEY}) == KEY.encode()


def test_usage_errors_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DR_KEY", KEY)
    out = tmp_path / "out"
    code = main(["scan", "--endpoint-url", "http://127.0.0.1:9", "--history-key", "env:DR_KEY",
                 "--output-dir", str(out)])
    assert code == 2 and "give --history too" in capsys.readouterr().err
    monkeypatch.delenv("DR_KEY")
    code = main(["scan", "--endpoint-url", "http://127.0.0.1:9", "--history", str(tmp_path),
                 "--history-key", "env:DR_KEY", "--output-dir", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "environment variable DR_KEY is not set or empty" in err
    assert not out.exists()


def test_only_signed_drills_are_evidence(aws: Any, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch,
                                         caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("DR_KEY", KEY)
    seed_dbs(aws)
    history = tmp_path / "history"
    signing = ["--history", str(history), "--history-key", "env:DR_KEY"]
    code = main(["drill", "rds", "--db", "orders-db", "--endpoint-url", aws.url,
                 "--output-dir", str(tmp_path / "d"), *signing, *FAST])
    assert code == 0
    (kept,) = history.glob("drill-*.json")
    real = json.loads(kept.read_text())
    assert real["signature"].startswith("hmac-sha256:")
    # a forgery: the real entry copied onto the other database (its signature kept), and one
    # written from scratch without a signature
    forged = {**real, "run_id": "forged-1", "target": real["target"].replace("orders-db",
                                                                             "legacy")}
    (history / "drill-forged-1.json").write_text(json.dumps(forged))
    (history / "drill-forged-2.json").write_text(json.dumps(
        {k: v for k, v in forged.items() if k != "signature"} | {"run_id": "forged-2"}))
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        out = scan_rto(aws.url, tmp_path / "s", *signing)
    assert out["orders-db"]["status"] == "pass", out["orders-db"]["message"]
    assert out["legacy"]["status"] == "fail" and "never restored" in out["legacy"]["message"]
    # the altered one is tampering: skipped, named and counted (the run is incomplete); the
    # unsigned one is no evidence, named in the notes (entries kept before the key was used
    # must not make every later run incomplete)
    assert out["_run"]["skipped"]["drillHistoryFiles"] == 1
    assert "drill-forged-1.json: its signature does not verify" in caplog.text
    notes = out["_run"]["skipped"]["notes"]
    assert any("drill-forged-1.json: signature does not verify" in n for n in notes), notes
    assert any("1 entry without a signature" in n and "drill-forged-2.json" in n
               for n in notes), notes
    assert KEY not in caplog.text
    # without the key every entry counts, the forgeries too (why the key), and the run says
    # that the history holds signed entries nobody checked
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        out = scan_rto(aws.url, tmp_path / "s2", "--history", str(history))
    assert out["legacy"]["status"] == "pass"
    assert "holds signed drill entries, but no --history-key was given" in caplog.text
    assert any("signed, but no --history-key was given" in n
               for n in out["_run"]["skipped"]["notes"])


def test_turning_the_key_on_keeps_older_entries_out_without_an_incomplete_run(
        aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A history kept before --history-key was used: its entries are no evidence once the key
    is given, but they are not damage either: the run is not incomplete for them."""
    monkeypatch.setenv("DR_KEY", KEY)
    seed_dbs(aws)
    history = tmp_path / "history"
    code = main(["drill", "rds", "--db", "orders-db", "--endpoint-url", aws.url,
                 "--output-dir", str(tmp_path / "d"), "--history", str(history), *FAST])
    assert code == 0
    out = scan_rto(aws.url, tmp_path / "s", "--history", str(history),
                   "--history-key", "env:DR_KEY")
    assert "drillHistoryFiles" not in out["_run"]["skipped"]
    assert out["orders-db"]["status"] == "fail"  # the unsigned drill is not evidence
    assert any("without a signature" in n for n in out["_run"]["skipped"]["notes"])
