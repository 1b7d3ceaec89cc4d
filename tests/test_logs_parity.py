"""`dr-audit logs s3://trail` and `dr-audit logs --athena` over the same records give the same
report: the same findings, the same skipped counts, the same exit code.

The records (violations among noise over three days, two accounts and two regions, plus
malformed records, a change to the trail bucket itself, same-second events and deliveries up
to and past the slack) are written as CloudTrail files into a trail bucket of the moto server
and read by the file path through the CLI. The same records are loaded into a DuckDB table
shaped like the standard Athena CloudTrail table (partitions and "$path" from the file each
record is in; DuckDB turns JSON values into text as the table's SerDe does); the query the CLI
generates runs there, its rows are served by moto's Athena and read by the Athena path
through the CLI, with the table's Glue entry pointing at the same trail bucket.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from itertools import product
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlglot
from hypothesis import given
from hypothesis import strategies as st

from auditor.cli import main
from auditor.logs import athena, samples
from auditor.logs.detect import TRAIL_BUCKET, Detector
from auditor.logs.window import Window
from drguard.settings import Settings
from tests.fuzzing import fuzz
from tests.test_logs_athena import COLUMNS, _glue_table, _seed_results

BUCKET = "org-audit-trail"
ACCOUNTS = ("111122223333", "444455556666")
REGIONS = ("us-east-1", "eu-west-1")
SINCE, UNTIL = "2026-11-29", "2026-11-29"  # the whole day of the 29th
Event = tuple[dt.datetime, str, str, dict[str, Any]]  # delivered, account, region, record


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=dt.UTC)


def _stamp(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _rds_delete(db: str, t: dt.datetime, event_id: str) -> dict[str, Any]:
    return samples.record("DeleteDBInstance", "rds.amazonaws.com",
                          {"dBInstanceIdentifier": db, "skipFinalSnapshot": True},
                          time=t, account=ACCOUNTS[0], event_id=event_id)


def _suspend(bucket: str, t: dt.datetime, event_id: str, user: str = "ops") -> dict[str, Any]:
    return samples.record("PutBucketVersioning", "s3.amazonaws.com",
                          {"bucketName": bucket,
                           "VersioningConfiguration": {"Status": "Suspended"}},
                          time=t, account=ACCOUNTS[0], event_id=event_id,
                          user={"type": "IAMUser", "principalId": f"AIDA{user.upper()}",
                                "arn": f"arn:aws:iam::{ACCOUNTS[0]}:user/{user}",
                                "accountId": ACCOUNTS[0], "userName": user})


def _noise(violation_rate: float = 0.1) -> list[Event]:
    """Violations among noise, before, in and after the window, delivered 5-20 min later."""
    rng = random.Random(11)
    out: list[Event] = []
    for account, region in product(ACCOUNTS, REGIONS):
        for start in (at(28, 21), at(29, 3), at(29, 16), at(30, 2)):
            for rec in samples.mixed_records(rng, 120, start, account, region,
                                             violation_rate=violation_rate):
                t = dt.datetime.strptime(rec["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(
                    tzinfo=dt.UTC)
                out.append((t + dt.timedelta(minutes=rng.randrange(5, 20)), account, region,
                            rec))
    return out


def _special() -> list[Event]:
    """The cases the two paths used to answer differently."""
    a, r = ACCOUNTS[0], REGIONS[0]
    late = dt.timedelta(hours=3, minutes=30)
    out: list[Event] = [
        # in the window, delivered 3 h 30 min after it: reported by both
        (at(29, 23, 40) + late, a, r, _rds_delete("late-db", at(29, 23, 40), "late-in")),
        # after the window, delivered late as well: reported by neither
        (at(30, 0, 20) + late, a, r, _rds_delete("after-db", at(30, 0, 20), "late-out")),
        # in the window but delivered past the slack (until + 12 h): read by neither
        (at(30, 13, 5), a, r, _rds_delete("lost-db", at(29, 22), "past-slack")),
        # the trail bucket itself is a backup bucket, on both paths
        (at(29, 9, 10), a, r, _suspend(BUCKET, at(29, 9), "suspend-trail")),
    ]
    # same-second changes of one bucket by different people: the finding names the last by
    # eventID, whatever order the rows or files come in
    for eid, who in (("same-b", "bob"), ("same-c", "carol"), ("same-a", "alice")):
        out.append((at(29, 14, 5), a, r, _suspend("ledger-backups", at(29, 14), eid, who)))
    return out


def _malformed() -> list[Event]:
    """Records the detections cannot judge, in the window (skipped and counted by both), one
    before it and one by an AWS service (neither counts them)."""
    a, r = ACCOUNTS[0], REGIONS[1]
    t = at(29, 11)

    def bad(event_id: str) -> dict[str, Any]:
        return _rds_delete(f"bad-{event_id}", t, event_id)

    no_identity = bad("no-identity")
    no_identity.pop("userIdentity")
    no_account = bad("no-account")
    no_account.pop("recipientAccountId")
    no_account["userIdentity"].pop("accountId")
    params_list = bad("params-list")
    params_list["requestParameters"] = ["dBInstanceIdentifier", "x"]
    params_text = bad("params-text")
    params_text["requestParameters"] = "skipFinalSnapshot"
    no_id = bad("no-id")
    no_id.pop("eventID")
    bad_time = bad("bad-time")
    bad_time["eventTime"] = "yesterday at noon"
    no_source = bad("no-source")
    no_source.pop("eventSource")
    before = bad("before-window")
    before.pop("userIdentity")
    before["eventTime"] = _stamp(at(28, 23, 58))
    service = bad("by-a-service")
    service["userIdentity"] = {"type": "AWSService", "invokedBy": "backup.amazonaws.com"}
    service.pop("recipientAccountId")
    delivered = t + dt.timedelta(minutes=10)
    return [(delivered, a, r, rec) for rec in (no_identity, no_account, params_list,
                                               params_text, no_id, bad_time, no_source,
                                               service)] + [(at(29, 0, 5), a, r, before)]


MALFORMED_IN_WINDOW = 7


def _key(delivered: dt.datetime, account: str, region: str) -> str:
    return samples.key(delivered.replace(minute=delivered.minute // 15 * 15), account, region)


def _files(events: list[Event]) -> dict[str, list[dict[str, Any]]]:
    files: dict[str, list[dict[str, Any]]] = {}
    for delivered, account, region, rec in events:
        files.setdefault(_key(delivered, account, region), []).append(rec)
    return files


def _table_rows(events: list[Event]) -> list[dict[str, Any]]:
    """The Athena table's rows: the record's own values (DuckDB types them, as the SerDe
    does) and the partition and "$path" of the file it is in."""
    rows = []
    for delivered, account, region, rec in events:
        ui = rec.get("userIdentity")
        rows.append({
            **{col: rec.get(key) for col, key in athena.SCALARS.items()},
            **{col: rec.get(key) for col, key in athena.DOCUMENTS.items()},
            "useridentity": ({col: ui.get(key) for col, key in athena.IDENTITY.items()}
                             if isinstance(ui, dict) else None),
            "account": account, "region": region, "timestamp": f"{delivered:%Y/%m/%d}",
            "$path": f"s3://{BUCKET}/{_key(delivered, account, region)}"})
    return rows


def _query(events: list[Event], sql: str, tmp: Path) -> tuple[list[str], list[dict[str, Any]]]:
    """Run the generated Trino query in DuckDB: (column names, rows as the API returns
    them: text or None)."""
    con = duckdb.connect()
    con.execute("CREATE SCHEMA db")
    con.execute("CREATE TABLE db.cloudtrail ("
                + ", ".join(f'"{c}" {t}' for c, t in COLUMNS.items()) + ")")
    ndjson = tmp / "table.ndjson"
    ndjson.write_text("\n".join(json.dumps(r) for r in _table_rows(events)))
    types = "{" + ", ".join(f"'{c}': '{t}'" for c, t in COLUMNS.items()) + "}"
    con.execute(f"INSERT INTO db.cloudtrail BY NAME SELECT * FROM read_json(?, "
                f"columns = {types}, format = 'newline_delimited')", [str(ndjson)])
    cur = con.execute(sqlglot.transpile(sql, read="trino", write="duckdb")[0])
    names = [d[0].lower() for d in cur.description]
    rows = [dict(zip(names, values, strict=True)) for values in cur.fetchall()]
    assert all(v is None or isinstance(v, str) for r in rows for v in r.values())
    return names, rows


def _report(out: Path) -> dict[str, Any]:
    return json.loads((out / "report.json").read_text())


COMMON = ["--since", SINCE, "--until", UNTIL, "--format", "json"]


def _files_run(aws: Any, tmp: Path, events: list[Event]) -> tuple[int, dict[str, Any]]:
    """The records as files in the trail bucket, read by `dr-audit logs s3://...`."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    for key, recs in _files(events).items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=samples.log_file(recs))
    code = main(["logs", f"s3://{BUCKET}", *COMMON, "--endpoint-url", aws.url,
                 "--output-dir", str(tmp / "files")])
    return code, _report(tmp / "files")


def _athena_rows(aws: Any, tmp: Path,
                 events: list[Event]) -> tuple[str, list[str], list[dict[str, Any]]]:
    """The Glue entry of the table (at the trail bucket) and the rows of the query the CLI
    will send, run in DuckDB: (query, column names, rows)."""
    aws.client("s3").create_bucket(Bucket="athena-results")
    _glue_table(aws, BUCKET)
    sql = athena.build_query(Detector(Settings(), {BUCKET: TRAIL_BUCKET}),
                             athena.Table("db", "cloudtrail"), Window.parse(SINCE, UNTIL))
    names, rows = _query(events, sql, tmp)
    return sql, names, rows


def _athena_run(aws: Any, out: Path, sql: str, names: list[str],
                rows: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
    """`dr-audit logs --athena`, Athena answering with `rows`."""
    _seed_results(aws.url, rows, names)
    code = main(["logs", "--athena", "--database", "db", "--table", "cloudtrail",
                 "--athena-output", "s3://athena-results/q/", *COMMON,
                 "--endpoint-url", aws.url, "--output-dir", str(out)])
    doc = _report(out)
    assert doc["run"]["athena"]["query"] == sql  # the query run in DuckDB is the one sent
    return code, doc


def _both(aws: Any, tmp: Path,
          events: list[Event]) -> tuple[tuple[int, dict], tuple[int, dict]]:
    """(exit code, report) of the file path and of the Athena path over `events`."""
    files = _files_run(aws, tmp, events)
    return files, _athena_run(aws, tmp / "athena", *_athena_rows(aws, tmp, events))


@pytest.mark.slow
@pytest.mark.parametrize("malformed", [True, False])
def test_files_and_athena_give_the_same_report(aws, tmp_path, malformed):
    events = _noise() + _special() + (_malformed() if malformed else [])
    (files_code, files), (athena_code, via_athena) = _both(aws, tmp_path, events)

    assert via_athena["findings"] == files["findings"]
    assert via_athena["run"]["skipped"] == files["run"]["skipped"]
    assert via_athena["summary"] == files["summary"]
    assert athena_code == files_code == files["summary"]["exit_code"] == 1  # gaps found

    # what they agree on is the right answer
    skipped = files["run"]["skipped"]
    assert skipped == {"sources": 0, "files": 0,
                       "records": MALFORMED_IN_WINDOW if malformed else 0}
    assert files["summary"]["incomplete"] is malformed  # a record not read: never complete
    if malformed:
        reasons = " ".join(d["reason"] for d in via_athena["run"]["skipped_detail"])
        for why in ("missing userIdentity", "recipientAccountId", "requestParameters is not",
                    "eventID", "bad eventTime", "eventSource"):
            assert why in reasons
    findings = files["findings"]
    ids = {f["event"]["eventId"] for f in findings} | {
        e["eventId"] for f in findings for e in f["evidence"].get("earlierEvents", [])}
    assert "late-in" in ids and not {"late-out", "past-slack"} & ids
    assert not any(i.startswith(("bad", "no-", "params", "before", "by-a")) for i in ids)
    (trail,) = [f for f in findings if f["control"] == "backup-bucket-versioning"
                and BUCKET in f["resource"]]
    assert trail["status"] == "fail" and TRAIL_BUCKET in json.dumps(trail["evidence"])
    (same,) = [f for f in findings if f["control"] == "backup-bucket-versioning"
               and f["resource"].endswith(":ledger-backups")]
    assert same["event"]["eventId"] == "same-c" and same["event"]["principal"].endswith("carol")
    assert [e["eventId"] for e in same["evidence"]["earlierEvents"]][:2] == ["same-b", "same-a"]
    assert len(findings) >= 20 and len({f["control"] for f in findings}) >= 5


@pytest.fixture
def both_ways(aws: Any, tmp_path: Path) -> dict[str, Any]:
    """The file path's report and the Athena rows, made once for every example of a test."""
    events = _noise() + _special() + _malformed()
    code, doc = _files_run(aws, tmp_path, events)
    sql, names, rows = _athena_rows(aws, tmp_path, events)
    return {"aws": aws, "tmp": tmp_path, "files": (code, doc), "query": (sql, names, rows)}


@pytest.mark.slow
@fuzz(6)
@given(seed=st.integers(0, 2**32 - 1))
def test_the_order_of_the_athena_rows_never_changes_the_report(both_ways, seed):
    """The engine may return rows in any order: the report is the file path's all the same."""
    sql, names, rows = both_ways["query"]
    shuffled = list(rows)
    random.Random(seed).shuffle(shuffled)
    out = both_ways["tmp"] / f"athena-{seed}"
    code, doc = _athena_run(both_ways["aws"], out, sql, names, shuffled)
    files_code, files = both_ways["files"]
    assert doc["findings"] == files["findings"]
    assert doc["run"]["skipped"] == files["run"]["skipped"]
    assert code == files_code == 1


@pytest.mark.slow
def test_only_malformed_records_are_incomplete_on_both_paths(aws, tmp_path):
    """No gap, but records that could not be read: exit code 3 (incomplete) both ways."""
    events = _noise(violation_rate=0) + _malformed()
    (files_code, files), (athena_code, via_athena) = _both(aws, tmp_path, events)
    assert files["findings"] == via_athena["findings"] == []
    assert via_athena["run"]["skipped"] == files["run"]["skipped"] == {
        "sources": 0, "files": 0, "records": MALFORMED_IN_WINDOW}
    assert athena_code == files_code == 3


# ---- which files: the file path's choice and the query's are one rule ------------------------

FILE_TIMES = st.tuples(st.integers(26, 30), st.integers(0, 29), st.integers(0, 99),
                       st.booleans())


def _file_key(day: int, hour: int, minute: int, stamped: bool) -> tuple[str, str]:
    """(the S3 key of a file delivered on November `day`, its name); the time in the name may
    be no real time (hour 25, minute 99), or missing."""
    name = (f"{ACCOUNTS[0]}_CloudTrail_{REGIONS[0]}"
            + (f"_202611{day:02d}T{hour:02d}{minute:02d}Z" if stamped else "")
            + f"_{hour}x{minute}.json.gz")
    return f"AWSLogs/{ACCOUNTS[0]}/CloudTrail/{REGIONS[0]}/2026/11/{day:02d}/{name}", name


@pytest.mark.parametrize("since,until,slack", [
    ("2026-11-29", "2026-11-29", None), ("2026-11-29T10:30:00Z", "2026-11-30T02:00:00Z", 1),
    ("2026-11-28T23:59:30Z", None, None), (None, "2026-11-27", 30), (None, None, None),
    ("2026-11-30", "2026-11-30", 0)])
@fuzz(25)
@given(files=st.lists(FILE_TIMES, min_size=1, max_size=40, unique=True))
def test_the_query_reads_the_files_the_file_path_reads(since, until, slack, files):
    """Day folders (partitions), then the delivery stamp in the file's name: the file path's
    choice (`Window.wants_day`, `Window.wants_file`) and the query's rows are the same files."""
    window = Window.parse(since, until, slack)
    sql = athena.build_query(Detector(Settings()), athena.Table("db", "cloudtrail"), window)
    con = duckdb.connect()
    con.execute("CREATE SCHEMA db")
    con.execute("CREATE TABLE db.cloudtrail ("
                + ", ".join(f'"{c}" {t}' for c, t in COLUMNS.items()) + ")")
    wanted = set()
    for day, hour, minute, stamped in files:
        key, name = _file_key(day, hour, minute, stamped)
        if window.wants_day(dt.date(2026, 11, day)) and window.wants_file(name):
            wanted.add(key)
        con.execute('INSERT INTO db.cloudtrail (eventname, eventid, "timestamp", "$path") '
                    "VALUES ('DeleteDBInstance', ?, ?, ?)",
                    [key, f"2026/11/{day:02d}", f"s3://{BUCKET}/{key}"])
    query = sqlglot.transpile(sql, read="trino", write="duckdb")[0]
    assert {r[0] for r in con.execute(f"SELECT eventid FROM ({query})").fetchall()} == wanted


# ---- hostile names ---------------------------------------------------------------------------

@pytest.mark.parametrize("database,table", [
    ("db", 'ct" WHERE 1=1 --'), ('db"."other', "ct"), ('x"; DROP TABLE keep; --', "ct"),
    ("db", 'ct" UNION SELECT * FROM "keep'), ("d\u00e9j\u00e0 vu", "ct \"\" --")])
def test_a_hostile_name_is_one_identifier_to_the_engine(database, table):
    """Run in DuckDB under the hostile names themselves: the query reads that table, with
    every condition still applied, and nothing else happens."""
    window = Window.parse(SINCE, UNTIL)
    sql = athena.build_query(Detector(Settings()), athena.Table(database, table), window)
    con = duckdb.connect()
    con.execute("CREATE TABLE keep (x INTEGER)")
    con.execute(f"CREATE SCHEMA {athena.identifier(database, 'database')}")
    target = athena.Table(database, table).ref()
    con.execute(f"CREATE TABLE {target} ("
                + ", ".join(f'"{c}" {t}' for c, t in COLUMNS.items()) + ")")
    path = f"s3://{BUCKET}/{_file_key(29, 12, 0, True)[0]}"
    for name in ("DeleteDBInstance", "ListBuckets"):  # watched, and not
        con.execute(f'INSERT INTO {target} (eventname, eventid, "timestamp", "$path") '
                    "VALUES (?, ?, '2026/11/29', ?)", [name, name, path])
    rows = con.execute(sqlglot.transpile(sql, read="trino", write="duckdb")[0]).fetchall()
    eventname = list(athena.SCALARS).index("eventname")
    assert [r[eventname] for r in rows] == ["DeleteDBInstance"]
    assert con.execute("SELECT count(*) FROM keep").fetchone() == (0,)
    # one statement, one table, whatever the names hold
    (parsed,) = sqlglot.parse(sql, read="trino")
    assert [(t.db, t.name) for t in parsed.find_all(sqlglot.exp.Table)] == [(database, table)]
