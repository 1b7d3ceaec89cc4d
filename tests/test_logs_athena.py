"""`logs --athena`: the SQL generated from the detections means what the streaming reader does.

The same generated events are written as CloudTrail files (read by the streaming path) and
loaded into a DuckDB table shaped like the standard Athena CloudTrail table; the generated
Trino query, transpiled to DuckDB by sqlglot, runs there, its rows go through the Athena path,
and both must give the identical set of hits. The API flow (start, wait, page through results)
runs against the moto server, with the result rows seeded through moto's API.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import duckdb
import pytest
import sqlglot
from hypothesis import given
from hypothesis import strategies as st

from auditor.logs import athena, detect, samples
from auditor.logs.detect import Detector
from auditor.logs.pipeline import collect
from auditor.logs.window import Window
from drguard.errors import ConfigError
from drguard.settings import Settings
from tests.fuzzing import fuzz

START = dt.datetime(2026, 11, 28, 22, 30, tzinfo=dt.UTC)
ACCOUNTS = ("111122223333", "444455556666")
REGIONS = ("us-east-1", "eu-west-1")

IDENTITY_TYPE = ("STRUCT(type VARCHAR, principalid VARCHAR, arn VARCHAR, accountid VARCHAR, "
                 "invokedby VARCHAR, accesskeyid VARCHAR, username VARCHAR)")
# The standard CloudTrail table's columns that the query reads, and the partition columns.
# "$path": Athena's hidden column naming the file a row was read from.
COLUMNS = {**{c: "VARCHAR" for c in (*athena.SCALARS, *athena.DOCUMENTS)},
           "useridentity": IDENTITY_TYPE, "account": "VARCHAR", "region": "VARCHAR",
           "timestamp": "VARCHAR", "$path": "VARCHAR"}


def _events() -> list[tuple[dt.datetime, dict[str, Any]]]:
    """(delivery time, record): violations among noise over three days, both accounts and
    regions, plus AWS-service events, failed attempts and events outside the window."""
    rng = random.Random(7)
    out = []
    for i, (account, region) in enumerate((a, r) for a in ACCOUNTS for r in REGIONS):
        recs = samples.mixed_records(rng, 800, START + dt.timedelta(hours=7 * i), account,
                                     region, violation_rate=0.06)
        recs += [samples.violation(rng, START + dt.timedelta(days=d, minutes=i), account, region)
                 for d in (-5, 1, 2, 9) for _ in range(3)]
        svc = samples.record("DeleteObject", "s3.amazonaws.com",
                             {"bucketName": "nightly-backups", "key": "x"},
                             time=START + dt.timedelta(hours=1), account=account,
                             region=region, rng=rng, data_event=True,
                             user={"type": "AWSService", "invokedBy": "s3.amazonaws.com"})
        recs.append(svc)
        for rec in recs:
            t = dt.datetime.strptime(rec["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(
                tzinfo=dt.UTC)
            out.append((t + dt.timedelta(minutes=7), rec))
    return out


def _file_key(delivered: dt.datetime, rec: dict[str, Any]) -> str:
    """The file a record is delivered in: one per account, region and quarter of an hour."""
    return samples.key(delivered.replace(minute=delivered.minute // 15 * 15),
                       rec["recipientAccountId"], rec["awsRegion"])


def _write_files(root: Path, events: list[tuple[dt.datetime, dict[str, Any]]]) -> None:
    files: dict[str, list[dict[str, Any]]] = {}
    for delivered, rec in events:
        files.setdefault(_file_key(delivered, rec), []).append(rec)
    for k, recs in files.items():
        path = root / k
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(samples.log_file(recs))


def _row(delivered: dt.datetime, rec: dict[str, Any]) -> dict[str, Any]:
    ui = rec.get("userIdentity") or {}
    doc = {k: (json.dumps(rec[v]) if v in rec else None) for k, v in athena.DOCUMENTS.items()}
    return {**{k: rec.get(v) for k, v in athena.SCALARS.items()}, **doc,
            "useridentity": {k: ui.get(v) for k, v in athena.IDENTITY.items()},
            "account": rec["recipientAccountId"], "region": rec["awsRegion"],
            "timestamp": f"{delivered:%Y/%m/%d}",
            "$path": f"s3://trail/{_file_key(delivered, rec)}"}


def _duckdb_rows(events: list[tuple[dt.datetime, dict[str, Any]]], sql: str,
                 tmp: Path) -> list[dict]:
    con = duckdb.connect()
    con.execute("CREATE SCHEMA db")
    con.execute("CREATE TABLE db.cloudtrail ("
                + ", ".join(f'"{c}" {t}' for c, t in COLUMNS.items()) + ")")
    ndjson = tmp / "table.ndjson"
    ndjson.write_text("\n".join(json.dumps(_row(d, r)) for d, r in events))
    types = "{" + ", ".join(f"'{c}': '{t}'" for c, t in COLUMNS.items()) + "}"
    con.execute(f"INSERT INTO db.cloudtrail BY NAME SELECT * FROM read_json(?, "
                f"columns = {types}, format = 'newline_delimited')", [str(ndjson)])
    query = sqlglot.transpile(sql, read="trino", write="duckdb")[0]
    cur = con.execute(query)
    names = [d[0].lower() for d in cur.description]
    return [dict(zip(names, values, strict=True)) for values in cur.fetchall()]


def _key(h: Any) -> tuple[str, str, str, str]:
    return (h.control, h.resource, h.status, h.event["eventId"])


@pytest.mark.parametrize("since,until", [(None, None), ("2026-11-29", "2026-11-30"),
                                         ("2026-11-28T23:00:00Z", None)])
def test_generated_sql_selects_the_same_hits_as_the_streaming_reader(tmp_path, since, until):
    events = _events()
    _write_files(tmp_path, events)
    window = Window.parse(since, until)
    settings = Settings()
    streamed, meta = collect([str(tmp_path)], window, settings, workers=1)
    assert not meta["skipped"]["files"] and not meta["skipped"]["records"]

    sql = athena.build_query(Detector(settings), athena.Table("db", "cloudtrail"), window)
    rows = _duckdb_rows(events, sql, tmp_path)
    run = {"records_decoded": 0, "skipped": {"records": 0}, "skipped_detail": []}
    via_sql = athena.hits_of(rows, Detector(settings), window, run)

    assert run["skipped"]["records"] == 0
    assert {_key(h) for h in via_sql} == {_key(h) for h in streamed}
    # not a vacuous equality: many hits of several controls, attempts included, and the query
    # pushed the filtering down (it returned a small part of the table)
    assert len(streamed) >= 20
    assert len({h.control for h in streamed}) >= 5
    assert any(h.status == "attempt" for h in streamed)
    assert len(rows) < len(events) / 5


def test_query_is_generated_from_the_enabled_detections():
    window = Window.parse("2026-11-01", "2026-11-30")
    everything = athena.build_query(Detector(Settings()), athena.Table("db", "t"), window)
    assert "'DeleteDBInstance'" in everything and "'StopLogging'" in everything
    assert "\"timestamp\" >= '2026/11/01'" in everything
    assert "\"timestamp\" <= '2026/12/01'" in everything  # the delivery slack past midnight
    only_trail = Settings()
    only_trail.enabled = {"cloudtrail-enabled"}
    sql = athena.build_query(Detector(only_trail), athena.Table("db", "t"), window)
    assert "'StopLogging'" in sql and "'DeleteDBInstance'" not in sql
    # names are quoted as SQL strings: a hostile value cannot end the literal
    sql = athena.build_query(Detector(Settings()), athena.Table("db", "t"), window,
                             accounts=["1' OR '1'='1"])
    assert "'1'' OR ''1''=''1'" in sql


def _seed_results(url: str, rows: list[dict[str, Any]], columns: list[str]) -> None:
    header = {"Data": [{"VarCharValue": c} for c in columns]}
    body = {"results": [{"rows": [header] + [
        {"Data": [({"VarCharValue": str(r[c])} if r.get(c) is not None else {})
                  for c in columns]} for r in rows],
        "column_info": [{"Name": c, "Type": "varchar"} for c in columns]}]}
    req = urllib.request.Request(f"{url}/moto-api/static/athena/query-results",
                                 data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as resp:  # noqa: S310 - the loopback emulator
        assert resp.status == 201


def _glue_table(aws: Any, bucket: str) -> None:
    """The CloudTrail table's catalog entry: where the path finds the trail bucket."""
    glue = aws.client("glue")
    glue.create_database(DatabaseInput={"Name": "db"})
    glue.create_table(DatabaseName="db", TableInput={
        "Name": "cloudtrail",
        "StorageDescriptor": {"Location": f"s3://{bucket}/AWSLogs/", "Columns": []}})


@pytest.mark.slow
def test_athena_api_flow_against_the_emulator(aws, tmp_path):
    events = _events()[:400]
    window = Window()
    flat = []
    for d, rec in events:
        row = _row(d, rec)
        ui = row.pop("useridentity")
        flat.append({**row, **{f"useridentity_{k}": v for k, v in ui.items()}})
    columns = [*athena.SCALARS, *athena.DOCUMENTS] + [f"useridentity_{k}"
                                                      for k in athena.IDENTITY]
    bad = dict(flat[0], eventtime="not a time", eventid="bad-row")
    _seed_results(aws.url, flat + [bad], columns)
    aws.client("s3").create_bucket(Bucket="athena-results")
    _glue_table(aws, "acme-trail-logs")
    opts = athena.AthenaOptions(database="db", table="cloudtrail",
                                output="s3://athena-results/q/", poll_seconds=0.05)
    session = boto3.session.Session(region_name="us-east-1")
    hits, meta = athena.collect(opts, window, Settings(), session, endpoint_url=aws.url)

    expected = athena.hits_of([{**r} for r in flat],
                              Detector(Settings(), {"acme-trail-logs": "trail"}), window,
                              {"records_decoded": 0, "skipped": {"records": 0},
                               "skipped_detail": []})
    assert hits and {_key(h) for h in hits} == {_key(h) for h in expected}
    assert meta["athena"]["query_execution_id"]
    assert "eventname IN" in meta["athena"]["query"]
    assert meta["skipped"]["records"] == 1  # the bad row, counted; the others all read
    assert meta["skipped"]["sources"] == 0


@pytest.mark.slow
def test_logs_cli_with_athena(aws, tmp_path):
    from auditor.cli import main

    flat = []
    for d, rec in _events()[:300]:
        row = _row(d, rec)
        ui = row.pop("useridentity")
        flat.append({**row, **{f"useridentity_{k}": v for k, v in ui.items()}})
    columns = [*athena.SCALARS, *athena.DOCUMENTS] + [f"useridentity_{k}"
                                                      for k in athena.IDENTITY]
    _seed_results(aws.url, flat, columns)
    aws.client("s3").create_bucket(Bucket="athena-results")
    out = tmp_path / "out"
    code = main(["logs", "--athena", "--database", "db", "--table", "cloudtrail",
                 "--athena-output", "s3://athena-results/q/", "--endpoint-url", aws.url,
                 "--since", "2026-11-01", "--output-dir", str(out), "--format", "json"])
    doc = json.loads((out / "report.json").read_text())
    assert code == 1
    assert doc["findings"] and all(f["source"] == "logs" or "logs" in (f.get("sources") or [])
                                   for f in doc["findings"])
    assert doc["run"]["athena"]["query_execution_id"]


@pytest.mark.parametrize("argv", [
    ["logs"],                                                   # nothing to read
    ["logs", "some/dir", "--athena", "--database", "d", "--table", "t"],   # both
    ["logs", "--athena", "--database", "d"],                    # no table
    ["logs", "some/dir", "--table", "t"],                       # Athena option without it
    ["logs", "some/dir", "--accounts", "111122223333"],         # a partition filter too
])
def test_logs_athena_usage_errors(argv, tmp_path, capsys):
    from auditor.cli import main

    assert main([*argv, "--output-dir", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("dr-audit: error:")


def test_readme_ddl_is_the_generated_one():
    readme = (Path(__file__).resolve().parents[1] / "docs" / "scale.md").read_text()
    block = readme.split("```sql\n", 1)[1].split("```", 1)[0].rstrip()
    expected = athena.ddl(athena.Table("security", "cloudtrail"), "acme-org-trail",
                          accounts=["111122223333", "444455556666"],
                          regions=["us-east-1", "us-west-2"], org_id="o-a1b2c3d4e5")
    assert block == expected
    # and it declares every column the query reads, and the partition columns it filters on
    for col in [*athena.SCALARS, *athena.DOCUMENTS, "useridentity"]:
        assert f"  {col} " in block or f" {col} STRING" in block or f"{col} STRUCT" in block
    assert "PARTITIONED BY (account STRING, region STRING, `timestamp` STRING)" in block


def test_a_hostile_table_or_database_name_cannot_change_the_query():
    window = Window.parse("2026-11-01", "2026-11-02")
    sql = athena.build_query(Detector(Settings()), athena.Table("db", 'ct" WHERE 1=1 --'), window)
    assert 'FROM "db"."ct"" WHERE 1=1 --"\nWHERE' in sql
    # the whole name is one identifier to the SQL engine: the table it names, nothing else
    parsed = sqlglot.parse_one(sql, read="trino")
    (table,) = list(parsed.find_all(sqlglot.exp.Table))
    assert table.name == 'ct" WHERE 1=1 --' and table.db == "db"
    for bad in ("", "a\nb", "x\x00"):
        with pytest.raises(ConfigError, match="control character"):
            athena.Table("db", bad).ref()


def _late_and_malformed(events: list[tuple[dt.datetime, dict[str, Any]]]
                        ) -> list[tuple[dt.datetime, dict[str, Any]]]:
    """Events plus: one inside the window delivered 3 h 30 min after it ends, one outside it
    delivered late too, and two malformed records (no userIdentity; no account)."""
    t_in = dt.datetime(2026, 11, 29, 23, 40, tzinfo=dt.UTC)
    t_out = dt.datetime(2026, 11, 30, 0, 20, tzinfo=dt.UTC)
    late_in = samples.record("DeleteDBInstance", "rds.amazonaws.com",
                             {"dBInstanceIdentifier": "late-db", "skipFinalSnapshot": True},
                             time=t_in, event_id="late-in")
    late_out = samples.record("DeleteDBInstance", "rds.amazonaws.com",
                              {"dBInstanceIdentifier": "after-db", "skipFinalSnapshot": True},
                              time=t_out, event_id="late-out")
    bad = []
    # (a non-string identity type is not among them: the table's columns are typed STRING,
    # so Athena hands it over as text, and both paths then judge the same string)
    for i, spoil in enumerate(("userIdentity", "account")):
        r = samples.record("StopLogging", "cloudtrail.amazonaws.com", {"name": "main"},
                           time=t_in - dt.timedelta(hours=1), event_id=f"bad-{i}")
        if spoil == "userIdentity":
            r.pop("userIdentity")
        else:
            r["userIdentity"].pop("accountId", None)
            r["recipientAccountId"] = None
        bad.append(r)
    late = dt.timedelta(hours=3, minutes=30)
    return [*events, (t_in + late, late_in), (t_out + late, late_out),
            *((t_in, r) for r in bad)]


def test_late_deliveries_and_malformed_records_give_the_same_answer_both_ways(tmp_path):
    events = _late_and_malformed(_events())
    writable = [(d, r) for d, r in events if r.get("recipientAccountId")]
    _write_files(tmp_path, writable)
    unsigned = tmp_path / "AWSLogs" / "unsigned.json"  # the record without an account
    unsigned.write_bytes(samples.log_file([r for _, r in events
                                           if not r.get("recipientAccountId")]))
    window = Window.parse("2026-11-29", "2026-11-29")
    settings = Settings()
    streamed, meta = collect([str(tmp_path)], window, settings, workers=1)
    rows = [r for r in _duckdb_rows(writable, athena.build_query(
        Detector(settings), athena.Table("db", "cloudtrail"), window), tmp_path)]
    rows += [{**{k: r.get(v) for k, v in athena.SCALARS.items()}, "account": None}
             for _, r in events if not r.get("recipientAccountId")]
    run = {"records_decoded": 0, "skipped": {"records": 0}, "skipped_detail": []}
    via_sql = athena.hits_of(rows, Detector(settings), window, run)
    assert {_key(h) for h in via_sql} == {_key(h) for h in streamed}
    ids = {h.event["eventId"] for h in streamed}
    assert "late-in" in ids and "late-out" not in ids  # by eventTime, whenever delivered
    assert run["skipped"]["records"] == meta["skipped"]["records"] == 2


@fuzz(20)
@given(seed=st.integers(0, 2**32 - 1))
def test_the_order_of_rows_never_changes_a_report(tmp_path_factory, seed):
    events = _events()
    tmp = tmp_path_factory.mktemp("order")
    window = Window.parse("2026-11-28", "2026-11-30")
    settings = Settings()
    sql = athena.build_query(Detector(settings), athena.Table("db", "cloudtrail"), window)
    rows = _duckdb_rows(events, sql, tmp)
    # same-second events: the order among them must come from the events, not the rows
    for r in rows[::3]:
        r["eventtime"] = rows[0]["eventtime"]

    def report(order: list[dict[str, Any]]) -> list[dict[str, Any]]:
        run = {"records_decoded": 0, "skipped": {"records": 0}, "skipped_detail": []}
        hits = athena.hits_of(order, Detector(settings), window, run)
        return [f.to_dict() for f in detect.findings(hits, settings)]

    shuffled = list(rows)
    random.Random(seed).shuffle(shuffled)
    assert report(shuffled) == report(rows)


def test_athena_reads_the_last_day_by_default_and_says_how_much(aws, tmp_path, capsys):
    from auditor.cli import main

    code = main(["logs", "--athena", "--database", "db", "--table", "cloudtrail",
                 "--endpoint-url", aws.url, "--accounts", "111122223333",
                 "--output-dir", str(tmp_path / "out"), "--format", "json"])
    err = capsys.readouterr().err
    assert "reads the partitions of 2 days (" in err and "x 1 account(s) x every region" in err, err
    doc = json.loads((tmp_path / "out" / "report.json").read_text())
    query = doc["run"]["athena"]["query"]
    assert "\"timestamp\" >= '" in query and "\"account\" IN ('111122223333')" in query
    assert code in (0, 3)


def test_the_table_s_bucket_is_the_trail_bucket_in_scope_as_when_files_are_read(aws, tmp_path):
    """The Athena path finds the trail bucket from the table's location (glue:GetTable), so a
    versioning change on it is a gap as it is when its files are read; an unreadable location
    makes the run incomplete rather than silently smaller in scope."""
    from auditor.cli import main

    t = dt.datetime(2026, 11, 29, 12, tzinfo=dt.UTC)
    rec = samples.record("PutBucketVersioning", "s3.amazonaws.com",
                         {"bucketName": "org-audit-trail",
                          "VersioningConfiguration": {"Status": "Suspended"}},
                         time=t, event_id="suspend-trail")
    row = _row(t, rec)
    ui = row.pop("useridentity")
    flat = [{**row, **{f"useridentity_{k}": v for k, v in ui.items()}}]
    columns = [*athena.SCALARS, *athena.DOCUMENTS] + [f"useridentity_{k}"
                                                      for k in athena.IDENTITY]
    aws.client("s3").create_bucket(Bucket="athena-results")
    argv = ["logs", "--athena", "--database", "db", "--table", "cloudtrail",
            "--athena-output", "s3://athena-results/q/", "--endpoint-url", aws.url,
            "--since", "2026-11-29", "--until", "2026-11-29", "--format", "json"]

    _seed_results(aws.url, flat, columns)
    code = main([*argv, "--output-dir", str(tmp_path / "no-table")])
    doc = json.loads((tmp_path / "no-table" / "report.json").read_text())
    assert code == 3 and doc["summary"]["incomplete"]
    assert any("glue:GetTable" in d["reason"] for d in doc["run"]["skipped_detail"])

    _glue_table(aws, "org-audit-trail")
    _seed_results(aws.url, flat, columns)
    code = main([*argv, "--output-dir", str(tmp_path / "with-table")])
    doc = json.loads((tmp_path / "with-table" / "report.json").read_text())
    (f,) = [f for f in doc["findings"] if f["control"] == "backup-bucket-versioning"]
    assert f["status"] == "fail" and "org-audit-trail" in f["resource"]
    assert code == 1 and not doc["summary"]["incomplete"]


@fuzz(10)
@given(seed=st.integers(0, 2**32 - 1))
def test_how_records_are_spread_over_files_never_changes_a_report(tmp_path_factory, seed):
    """The file path too: the same records, spread over differently named files in a
    different order (same-second events included), give the same report."""
    events = _events()[:600]
    base_t = events[0][1]["eventTime"]
    for _, rec in events[::4]:
        rec["eventTime"] = base_t  # many events in the same second
    settings = Settings()

    def report(spread: list[tuple[dt.datetime, dict[str, Any]]]) -> list[dict[str, Any]]:
        root = tmp_path_factory.mktemp("spread")
        _write_files(root, spread)
        hits, _ = collect([str(root)], Window(), settings, workers=1)
        return [f.to_dict() for f in detect.findings(hits, settings)]

    rng = random.Random(seed)
    shuffled = [(d + dt.timedelta(minutes=rng.choice((0, 15, 30))), r) for d, r in events]
    rng.shuffle(shuffled)
    assert report(shuffled) == report(events)


def test_the_partition_estimate_counts_days_accounts_and_regions():
    now = dt.datetime(2026, 12, 5, 3, 0, tzinfo=dt.UTC)
    last_day = Window(since=now - dt.timedelta(days=1))  # the default of --athena
    assert athena.partitions(last_day, ["1", "2"], ["us-east-1"], now=now) == \
        "2 days (2026/12/04 to 2026/12/05) x 2 account(s) x 1 region(s) = 4 partition(s)"
    sql = athena.build_query(Detector(Settings()), athena.Table("db", "t"), last_day)
    assert "\"timestamp\" >= '2026/12/04'" in sql and "\"timestamp\" <=" not in sql
    week = Window.parse("2026-11-01", "2026-11-07", slack_hours=12)
    assert athena.partitions(week, [], ["eu-west-1", "eu-west-1"]) == \
        "8 days (2026/11/01 to 2026/11/08) x every account x 1 region(s)"
    no_slack = Window.parse("2026-11-01", "2026-11-01", slack_hours=0)
    assert athena.partitions(no_slack, ["1"], ["r"]).startswith("2 days")  # midnight itself
    assert athena.partitions(Window(), [], []) == "every day x every account x every region"


def test_ddl_quotes_hostile_table_names():
    """A backtick in a database or table name is doubled (Hive's rule), so the name cannot end
    the identifier and add DDL of its own; a control character is refused."""
    ddl = athena.ddl(athena.Table("sec`x", "t` STRING) LOCATION 's3://evil'--"), "trail-bucket")
    first = ddl.splitlines()[0]
    assert first == "CREATE EXTERNAL TABLE `sec``x`.`t`` STRING) LOCATION 's3://evil'--` ("
    with pytest.raises(ConfigError):
        athena.ddl(athena.Table("sec", "t\nDROP"), "trail-bucket")
