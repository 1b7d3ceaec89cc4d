"""CloudTrail through Athena, for trail buckets too large to stream from one machine.

The query is generated from the registry's detections, never written per control: the event
names every enabled detection watches become one WHERE clause (the file reader's candidates),
the `--since/--until` window, widened by the delivery slack, becomes predicates on the
`timestamp` partition (partition projection: Athena reads only those days), `--accounts` and
`--regions` on the `account` and `region` partitions, and events made by AWS services
themselves are left out as `records.admit` leaves them out. Rows come back in one total order
(eventTime, then eventID). Each row is turned back into a CloudTrail record and goes through
the same `records.examine` and `Detector` as a record read from a file: the same checks, the
same skip counts, the same window by eventTime, the same scope (the table's bucket is the trail
bucket). `tests/test_logs_athena.py` runs the generated query in DuckDB over the records the
file path reads and requires identical findings, skip counts and exit codes.

The SQL is the subset Trino (Athena engine 3) and DuckDB share: quoted identifiers, `IN`
lists, dotted access to struct fields, string comparison of partition values."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import field
from typing import Any

from drguard.errors import ConfigError
from drguard.records import record
from drguard.settings import Settings

from . import reader, records
from .detect import TRAIL_BUCKET, Detector, Hit, changes, refused_calls
from .records import DOCUMENTS, IDENTITY, SCALARS
from .window import FILE_STAMP, Window

log = logging.getLogger(__name__)

# What `logs --athena` sends: the table's location (Glue), then one query and its results.
# Athena itself then reads the table's bucket and writes the results with the caller's rights
# (auditor.iam_policy adds those).
CALLS = ("glue:GetTable", "athena:StartQueryExecution", "athena:GetQueryExecution",
         "athena:GetQueryResults")

POLL_SECONDS = 1.0
MAX_WAIT_SECONDS = 1800.0


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def identifier(name: str, what: str, quote: str = '"') -> str:
    """A SQL identifier in `quote` (Trino's double quote; Hive DDL's backtick), the quote
    character doubled inside, so no name can end the identifier and change the statement;
    control characters are refused."""
    if not name or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise ConfigError(f"--{what} {name!r}: empty, or holds a control character")
    return quote + name.replace(quote, quote * 2) + quote


def partitions(window: Window, accounts: Iterable[str], regions: Iterable[str],
               now: dt.datetime | None = None) -> str:
    """What the query reads, for people: days x accounts x regions (all, when not narrowed),
    and the number of partitions when all three are known."""
    acc, reg = len(set(accounts)), len(set(regions))
    if window.since is None:
        days, span = 0, "every day"
    else:
        # the last delivery day read: until + slack (the query's bound), else today
        end = window.until + window.slack if window.until else (now or dt.datetime.now(dt.UTC))
        days = max(1, (end.date() - window.since.date()).days + 1)
        first, last = _day(window.since), _day(end)
        span = f"{days} day{'s' if days != 1 else ''} ({first}" + (
            f" to {last})" if last != first else ")")
    text = (f"{span} x {f'{acc} account(s)' if acc else 'every account'} x "
            f"{f'{reg} region(s)' if reg else 'every region'}")
    if days and acc and reg:
        text += f" = {days * acc * reg} partition(s)"
    return text


def _day(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y/%m/%d")


@record(frozen=True)
class Table:
    """An Athena table of CloudTrail logs, by database and name."""

    database: str
    table: str

    def ref(self) -> str:
        return f"{identifier(self.database, 'database')}.{identifier(self.table, 'table')}"


def build_query(detector: Detector, table: Table, window: Window,
                accounts: Iterable[str] = (), regions: Iterable[str] = ()) -> str:
    """The Athena (Trino) query for the enabled detections over `table` in `window`."""
    if not detector.names:
        raise ConfigError("--athena: no enabled control has a CloudTrail detection")
    columns = [*SCALARS, *DOCUMENTS] + [f'"useridentity"."{f}" AS "useridentity_{f}"'
                                        for f in IDENTITY]
    # the watched event names, whatever the source: the rows the file reader decodes (its
    # candidates), so a record with a missing or strange eventSource is judged (and counted
    # when malformed) on both paths alike; the detector matches (source, name) pairs after
    where = [f"eventname IN ({', '.join(_quote(n) for n in sorted(detector.names))})",
             f"(useridentity.type IS NULL OR useridentity.type <> {_quote(records.AWS_SERVICE)})"]
    if window.since is not None:
        where.append(f'"timestamp" >= {_quote(_day(window.since))}')
    # files are foldered by delivery day, which can follow the event's by up to the slack
    last = window.until + window.slack if window.until else None
    if last is not None:
        where.append(f'"timestamp" <= {_quote(_day(last))}')
    # ... and within those days, the files the file path reads: by the delivery stamp in the
    # file's name, compared as text (no stamp: read). Athena bills the partitions either way;
    # this keeps the rows to exactly the records the file path sees.
    first_file, last_file = window.stamps()
    if first_file or last_file:
        found = f'regexp_extract("$path", {_quote(FILE_STAMP + "[^/]*$")}, 1)'
        bounds = ([f"{found} >= {_quote(first_file)}"] if first_file else []) + (
            [f"{found} <= {_quote(last_file)}"] if last_file else [])
        where.append(f"(COALESCE({found}, '') = '' OR ({' AND '.join(bounds)}))")
    accounts, regions = sorted(set(accounts)), sorted(set(regions))
    if accounts:
        where.append(f'"account" IN ({", ".join(_quote(a) for a in accounts)})')
    if regions:
        where.append(f'"region" IN ({", ".join(_quote(r) for r in regions)})')
    # one total order (the file path sorts the same way): same-second events never depend
    # on the engine's row order
    return (f"SELECT {', '.join(columns)}\nFROM {table.ref()}\nWHERE "
            + "\n  AND ".join(where) + "\nORDER BY eventtime, eventid")


def record_of(row: Mapping[str, Any]) -> dict[str, Any]:
    """A CloudTrail record rebuilt from one result row (column name -> string or None); its
    documents decoded as the file reader decodes them (`records.document`)."""
    rec: dict[str, Any] = {}
    for col, key in SCALARS.items():
        if row.get(col) is not None:
            rec[key] = row[col]
    for col, key in DOCUMENTS.items():
        text = row.get(col)
        if text is None or text == "":
            continue
        if not isinstance(text, str):
            rec[key] = text
            continue
        rec[key], overflow = records.document(text)
        if overflow is not None:
            rec.setdefault(reader.OVERFLOW_KEY, overflow)
    identity = {key: row[f"useridentity_{col}"] for col, key in IDENTITY.items()
                if row.get(f"useridentity_{col}") is not None}
    if identity:
        rec["userIdentity"] = identity
    return rec


def ddl(table: Table, bucket: str, prefix: str = "", accounts: Iterable[str] = (),
        regions: Iterable[str] = (), org_id: str | None = None) -> str:
    """CREATE TABLE for a trail bucket with partition projection on account, region and day
    (the standard CloudTrail table; docs/scale.md, "Logs beyond one machine: Athena")."""
    base = f"s3://{bucket}/{prefix.strip('/') + '/' if prefix.strip('/') else ''}AWSLogs/"
    base += f"{org_id}/" if org_id else ""
    # DDL is Hive's dialect: identifiers in backticks (queries use Trino's double quotes)
    name = f"{identifier(table.database, 'database', '`')}.{identifier(table.table, 'table', '`')}"
    return f"""CREATE EXTERNAL TABLE {name} (
  eventversion STRING,
  useridentity STRUCT<type: STRING, principalid: STRING, arn: STRING, accountid: STRING,
                      invokedby: STRING, accesskeyid: STRING, username: STRING,
                      sessioncontext: STRUCT<attributes: STRUCT<mfaauthenticated: STRING,
                                                                creationdate: STRING>,
                                             sessionissuer: STRUCT<type: STRING,
                                                                   principalid: STRING,
                                                                   arn: STRING,
                                                                   accountid: STRING,
                                                                   username: STRING>>>,
  eventtime STRING, eventsource STRING, eventname STRING, awsregion STRING,
  sourceipaddress STRING, useragent STRING, errorcode STRING, errormessage STRING,
  requestparameters STRING, responseelements STRING, additionaleventdata STRING,
  requestid STRING, eventid STRING, readonly STRING,
  resources ARRAY<STRUCT<arn: STRING, accountid: STRING, type: STRING>>,
  eventtype STRING, apiversion STRING, recipientaccountid STRING,
  serviceeventdetails STRING, sharedeventid STRING, vpcendpointid STRING
)
PARTITIONED BY (account STRING, region STRING, `timestamp` STRING)
ROW FORMAT SERDE 'org.apache.hive.hcatalog.data.JsonSerDe'
STORED AS INPUTFORMAT 'com.amazon.emr.cloudtrail.CloudTrailInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION '{base}'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.account.type' = 'enum',
  'projection.account.values' = '{",".join(accounts) or "<account ids>"}',
  'projection.region.type' = 'enum',
  'projection.region.values' = '{",".join(regions) or "<regions>"}',
  'projection.timestamp.type' = 'date',
  'projection.timestamp.format' = 'yyyy/MM/dd',
  'projection.timestamp.range' = '2020/01/01,NOW',
  'projection.timestamp.interval' = '1',
  'projection.timestamp.interval.unit' = 'DAYS',
  'storage.location.template' = '{base}${{account}}/CloudTrail/${{region}}/${{timestamp}}'
)"""


@record
class AthenaOptions:
    """Where and how `dr-audit logs --athena` queries the CloudTrail table."""

    database: str
    table: str
    workgroup: str = "primary"
    output: str | None = None  # s3://... for the query results (the workgroup's otherwise)
    accounts: list[str] = field(default_factory=list)
    regions: list[str] = field(default_factory=list)
    poll_seconds: float = POLL_SECONDS
    max_wait_seconds: float = MAX_WAIT_SECONDS


class QueryFailed(Exception):
    pass


def run_query(client: Any, sql: str,
              options: AthenaOptions) -> tuple[str, Iterator[dict[str, Any]]]:
    """Start the query, wait for it, and page through its rows as {column: value}."""
    kw: dict[str, Any] = {"QueryString": sql, "WorkGroup": options.workgroup,
                          "QueryExecutionContext": {"Database": options.database}}
    if options.output:
        kw["ResultConfiguration"] = {"OutputLocation": options.output}
    qid = client.start_query_execution(**kw)["QueryExecutionId"]
    waited, delay = 0.0, min(0.2, options.poll_seconds)
    while True:
        status = client.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["Status"]
        state = status.get("State")
        if state == "SUCCEEDED":
            break
        if state in ("FAILED", "CANCELLED"):
            raise QueryFailed(f"Athena query {qid} {state.lower()}: "
                              f"{status.get('StateChangeReason', 'no reason given')}")
        if waited >= options.max_wait_seconds:
            raise QueryFailed(f"Athena query {qid} still {state} after {waited:.0f} s")
        time.sleep(delay)
        waited += delay
        delay = min(delay * 2, options.poll_seconds)
    return qid, _rows(client, qid)


def _rows(client: Any, qid: str) -> Iterator[dict[str, Any]]:
    header: list[str] | None = None
    for page in client.get_paginator("get_query_results").paginate(QueryExecutionId=qid):
        rs = page["ResultSet"]
        if header is None:
            info = rs.get("ResultSetMetadata", {}).get("ColumnInfo") or []
            header = [c["Name"].lower() for c in info] or None
        for raw in rs.get("Rows", []):
            values = [d.get("VarCharValue") for d in raw.get("Data", [])]
            if header is None:  # no metadata: the first row is the header
                header = [str(v).lower() for v in values]
                continue
            if [str(v).lower() for v in values] == header:
                continue  # Athena repeats the header as the first row of the first page
            yield dict(zip(header, values, strict=False))


def table_bucket(glue: Any, table: Table) -> tuple[str | None, str | None]:
    """(the S3 bucket the table's location names, or None and why) via glue:GetTable."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        got = glue.get_table(DatabaseName=table.database, Name=table.table)
        location = got["Table"]["StorageDescriptor"]["Location"]
    except (ClientError, BotoCoreError, KeyError, TypeError) as e:
        return None, f"cannot read the table's location (glue:GetTable): {e}"
    if not isinstance(location, str) or not location.startswith("s3://"):
        return None, f"the table's location is not s3:// ({str(location)[:100]!r})"
    return location[len("s3://"):].split("/", 1)[0] or None, None


def hits_of(rows: Iterable[Mapping[str, Any]], detector: Detector, window: Window,
            meta: dict[str, Any]) -> list[Hit]:
    """Rows -> records -> the same detections as the streaming path; a row that cannot be
    understood is skipped and counted, never the rest."""
    hits: list[Hit] = []

    def skip(i: int, reason: str) -> None:
        meta["skipped"]["records"] += 1
        if len(meta["skipped_detail"]) < 50:
            meta["skipped_detail"].append({"path": f"athena row {i}", "reason": reason[:300]})

    for i, row in enumerate(rows):
        meta["records_decoded"] += 1
        try:
            rec = record_of(row)
            # what the detector sees: the same admission as a record read from a file
            matched, problem = records.examine(rec, window, detector)
            if problem:
                skip(i, problem)
                continue
            found = detector.build(rec, matched)
        except Exception as e:  # noqa: BLE001 - one bad row is skipped, never the run
            skip(i, f"cannot be judged: {type(e).__name__}: {str(e)[:200]}")
            continue
        hits.extend(found)
    # one total order, whatever order the engine returned the rows in
    hits.sort(key=lambda h: (h.time, str(h.event.get("eventId") or "")))
    return hits


def collect(options: AthenaOptions, window: Window, settings: Settings, session: Any,
            endpoint_url: str | None = None) -> tuple[list[Hit], dict[str, Any]]:
    """Every detection hit the Athena table holds in the window, and the run metadata."""
    from botocore.exceptions import BotoCoreError, ClientError

    from ..aws import AwsOptions

    client = session.client("athena", endpoint_url=endpoint_url,
                            config=AwsOptions().config())
    glue = session.client("glue", endpoint_url=endpoint_url, config=AwsOptions().config())
    table = Table(options.database, options.table)
    # the bucket the table reads is the trail bucket, a backup bucket for the detections as
    # when its files are read directly; unknown, the run is incomplete (its scope would shrink)
    bucket, why = table_bucket(glue, table)
    detector = Detector(settings, {bucket: TRAIL_BUCKET} if bucket else None)
    sql = build_query(detector, table, window, options.accounts, options.regions)
    meta: dict[str, Any] = {
        "command": "logs", "sources": [f"athena:{options.database}.{options.table}"],
        **window.describe(), "files": 0, "records_decoded": 0, "events": 0, "attempts": 0,
        "skipped": {"sources": 0, "files": 0, "records": 0}, "skipped_detail": [],
        "athena": {"workgroup": options.workgroup, "query": sql}}
    if why is not None:
        meta["skipped"]["sources"] += 1
        meta["skipped_detail"].append({"path": f"glue:{options.database}.{options.table}",
                                       "reason": why[:300]})
    hits: list[Hit] = []
    try:
        qid, rows = run_query(client, sql, options)
        meta["athena"]["query_execution_id"] = qid
        hits = hits_of(rows, detector, window, meta)
        meta["files"] = 1  # the query's result set: the one "file" this source reads
    except (QueryFailed, ClientError, BotoCoreError) as e:
        meta["skipped"]["sources"] += 1
        meta["skipped_detail"].append({"path": meta["sources"][0], "reason": str(e)[:300]})
        log.warning("athena: %s", e)
    meta["events"] = changes(hits)
    meta["attempts"] = refused_calls(hits)
    meta["accounts"] = sorted({h.account for h in hits})
    meta["regions"] = sorted({h.region for h in hits})
    return hits, meta
