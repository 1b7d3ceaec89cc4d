"""Writes the nasty CloudTrail log corpus beside this script, and `expected.txt`: for each
file, the event ids that must be detected, whether the whole file is skipped and how many
records at least are skipped. Run it again after changing it:

    python tests/data/nasty-logs/generate.py
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from auditor.logs import samples  # noqa: E402

T = dt.datetime(2024, 5, 2, 12, tzinfo=dt.UTC)


def suspend(event_id: str, **kw: Any) -> dict[str, Any]:
    return samples.record("PutBucketVersioning", "s3.amazonaws.com",
                          {"bucketName": "nightly-backups",
                           "VersioningConfiguration": {"Status": "Suspended"}},
                          time=T, event_id=event_id, **kw)


def enc(rec: dict[str, Any]) -> bytes:
    return json.dumps(rec, separators=(",", ":")).encode()


def files() -> dict[str, tuple[bytes, dict[str, Any]]]:
    out: dict[str, tuple[bytes, dict[str, Any]]] = {}

    def beside(name: str, bad: list[bytes], skipped: int, also: tuple[str, ...] = ()) -> None:
        """Bad records between two valid ones, which must both be detected."""
        a, b = suspend(f"{name}-before"), suspend(f"{name}-after")
        out[f"{name}.json.gz"] = (samples.log_text([enc(a), *bad, enc(b)]),
                                  {"detect": sorted([a["eventID"], b["eventID"], *also]),
                                   "file_skipped": False, "records_skipped": skipped})

    base = suspend("bad")
    beside("event-time-overflow", [samples.inject(base, ("eventTime",),
                                                  '"9999-12-31T23:59:59-23:59"')], 1)
    beside("event-time-year-10000", [samples.inject(base, ("eventTime",),
                                                    '"10000-01-01T00:00:00Z"')], 1)
    beside("number-1e400", [samples.inject(base, ("requestParameters", "MFA"), "1e400")], 1)
    beside("nan", [samples.inject(base, ("additionalEventData",), "NaN")], 1)
    beside("int-5000-digits", [samples.inject(base, ("requestParameters", "n"), "9" * 5000)], 1)
    beside("bucket-name-is-a-list", [samples.inject(base, ("requestParameters", "bucketName"),
                                                    '["nightly-backups"]')], 0)
    beside("event-source-is-an-object", [samples.inject(base, ("eventSource",), '{"a":1}')], 1)
    beside("user-identity-is-a-string", [samples.inject(base, ("userIdentity",), '"root"')], 1)
    beside("nested-5000-deep", [samples.inject(base, ("requestParameters", "x"),
                                               "[" * 5000 + "]" * 5000)], 1)
    beside("invalid-json-token", [samples.inject(base, ("requestParameters", "x"), "tru")], 1)
    beside("invalid-utf8", [samples.inject(base, ("userAgent",), b'"caf\xe9 \xff\xfe"')], 0,
           also=("bad",))  # read with U+FFFD in place of the bad bytes
    beside("record-is-a-string", [b'"not a record"', b"[1,2]", b"null"], 0)
    selector = samples.record(
        "PutEventSelectors", "cloudtrail.amazonaws.com",
        {"trailName": "main", "advancedEventSelectors": [
            {"fieldSelectors": [{"field": ["eventCategory"], "equals": {"x": 1}},
                                {"field": "resources.type", "equals": 5}]}]},
        time=T, event_id="odd-selectors")
    # judged (the helpers take any type): selectors that log no data event at all
    beside("selector-fields-wrong-types", [enc(selector)], 0, also=("odd-selectors",))
    big = suspend("too-big")
    big["requestParameters"]["padding"] = "x" * (9 << 20)
    beside("record-over-8-mib", [enc(big)], 1)

    a, b = suspend("truncated-kept"), suspend("truncated-lost")
    whole = samples.log_text([enc(a), enc(b)])
    raw = gzip.decompress(whole)
    cut = gzip.compress(raw, mtime=0)
    out["truncated.json.gz"] = (cut[: len(cut) - 40],
                                {"detect": [], "file_skipped": False, "records_skipped": 1})
    out["bom-and-pretty.json"] = (
        "\ufeff".encode() + json.dumps({"Records": [suspend("bom")]}, indent=3).encode(),
        {"detect": ["bom"], "file_skipped": False, "records_skipped": 0})
    out["records-not-first.json"] = (
        json.dumps({"version": 1, "Records": [suspend("not-first")]}).encode(),
        {"detect": ["not-first"], "file_skipped": False, "records_skipped": 0})
    members = gzip.compress(b'{"Records":[' + enc(suspend("member-1")), mtime=0) + \
        gzip.compress(b"," + enc(suspend("member-2")) + b"]}", mtime=0)
    out["two-gzip-members.json.gz"] = (members, {"detect": ["member-1", "member-2"],
                                                 "file_skipped": False, "records_skipped": 0})
    pad = b" " * (20 << 20)
    out["twenty-mib-of-blanks.json.gz"] = (
        gzip.compress(b'{"Records":[' + pad + enc(suspend("after-blanks")) + pad + b"]}",
                      mtime=0),
        {"detect": ["after-blanks"], "file_skipped": False, "records_skipped": 0})
    name = samples.key(T, suffix="minute99").rsplit("/", 1)[-1].replace("T1200Z", "T1299Z")
    out[name] = (samples.log_file([suspend("minute-99")]),
                 {"detect": ["minute-99"], "file_skipped": False, "records_skipped": 0})
    out["not-cloudtrail.json"] = (b'{"Version": "2012-10-17", "Statement": []}',
                                  {"detect": [], "file_skipped": True, "records_skipped": 0})
    out["not-gzip.json.gz"] = (b"PK\x03\x04 a zip file",
                               {"detect": [], "file_skipped": True, "records_skipped": 0})
    out["empty.json"] = (b"", {"detect": [], "file_skipped": True, "records_skipped": 0})
    return out


def main() -> None:
    expected = {}
    for name, (data, exp) in sorted(files().items()):
        (HERE / name).write_bytes(data)
        expected[name] = exp
    (HERE / "expected.txt").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
