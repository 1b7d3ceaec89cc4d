"""Realistic CloudTrail records and log files, for tests, benchmarks and demos.

Records carry what real ones carry (nested userIdentity with sessionContext, tlsDetails,
additionalEventData, resources, responseElements...), so that reader speed and correctness
are measured on the real shape, not on toy dicts.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import random
import uuid
import zlib
from typing import Any

ACCOUNT = "111122223333"
AGENTS = ("aws-cli/2.15.30 Python/3.11.8 Linux/6.1.0 exe/x86_64.amzn.2 prompt/off "
          "command/s3api.put-bucket-versioning",
          "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#6.1.0 md/arch#x86_64 "
          "lang/python#3.11.8 md/pyimpl#CPython cfg/retry-mode#standard Botocore/1.34.69",
          "pulumi-resource-aws/v6.31.0 (+https://www.pulumi.com) APN/1.0 HashiCorp/1.0 "
          "Terraform/1.5.7 aws-sdk-go-v2/1.26.1 os/linux lang/go#1.22.2 md/GOOS#linux",
          "AWS Internal", "console.amazonaws.com")


def _ts(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def identity(account: str = ACCOUNT, kind: str = "AssumedRole", role: str = "ops-admin",
             session: str = "alice@example.com", rng: random.Random | None = None
             ) -> dict[str, Any]:
    """A userIdentity block; kind AssumedRole, IAMUser, Root or AWSService."""
    rng = rng or random.Random(0)
    key = "ASIA" + "".join(rng.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", k=16))
    if kind == "Root":
        return {"type": "Root", "principalId": account, "arn": f"arn:aws:iam::{account}:root",
                "accountId": account, "accessKeyId": key,
                "sessionContext": {"attributes": {"creationDate": "2024-05-01T08:00:00Z",
                                                  "mfaAuthenticated": "true"}}}
    if kind == "IAMUser":
        return {"type": "IAMUser", "principalId": "AIDA" + key[4:], "accountId": account,
                "arn": f"arn:aws:iam::{account}:user/{session}", "accessKeyId": "AKIA" + key[4:],
                "userName": session}
    if kind == "AWSService":
        return {"type": "AWSService", "invokedBy": "backup.amazonaws.com"}
    pid = "AROA" + key[4:]
    return {"type": "AssumedRole", "principalId": f"{pid}:{session}",
            "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{session}",
            "accountId": account, "accessKeyId": key,
            "sessionContext": {
                "sessionIssuer": {"type": "Role", "principalId": pid,
                                  "arn": f"arn:aws:iam::{account}:role/{role}",
                                  "accountId": account, "userName": role},
                "webIdFederationData": {},
                "attributes": {"creationDate": "2024-05-01T08:00:00Z",
                               "mfaAuthenticated": "false"}}}


def record(event_name: str, event_source: str, request_parameters: dict[str, Any] | None = None,
           *, time: dt.datetime | None = None, account: str = ACCOUNT,
           region: str = "us-east-1", user: dict[str, Any] | None = None,
           error_code: str | None = None, response: Any = None, read_only: bool = False,
           data_event: bool = False, rng: random.Random | None = None,
           event_id: str | None = None) -> dict[str, Any]:
    """One CloudTrail record, shaped like the real thing."""
    rng = rng or random.Random(zlib.crc32(f"{event_name}|{event_source}|{time}".encode()))
    t = time or dt.datetime(2024, 5, 2, 12, 0, tzinfo=dt.UTC)
    host = f"{event_source.split('.')[0]}.{region}.amazonaws.com"
    rec: dict[str, Any] = {
        "eventVersion": "1.09" if data_event else "1.08",
        "userIdentity": user if user is not None else identity(account, rng=rng),
        "eventTime": _ts(t),
        "eventSource": event_source,
        "eventName": event_name,
        "awsRegion": region,
        "sourceIPAddress": f"203.0.113.{rng.randrange(1, 255)}",
        "userAgent": rng.choice(AGENTS),
        "requestParameters": request_parameters,
        "responseElements": response,
        "requestID": "".join(rng.choices("0123456789ABCDEF", k=16)),
        "eventID": event_id or str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "readOnly": read_only,
        "eventType": "AwsApiCall",
        "managementEvent": not data_event,
        "recipientAccountId": account,
        "eventCategory": "Data" if data_event else "Management",
        "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                       "clientProvidedHostHeader": host},
    }
    if error_code:
        rec["errorCode"] = error_code
        rec["errorMessage"] = f"{error_code}: the request was refused"
    if event_source == "s3.amazonaws.com":
        bucket = (request_parameters or {}).get("bucketName")
        rec["additionalEventData"] = {
            "SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256",
            "bytesTransferredIn": 0, "AuthenticationMethod": "AuthHeader",
            "x-amz-id-2": "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789+/", k=76)),
            "bytesTransferredOut": 0}
        if bucket:
            res = [{"type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}",
                    "accountId": account}]
            if data_event and request_parameters and "key" in request_parameters:
                res.insert(0, {"type": "AWS::S3::Object",
                               "ARN": f"arn:aws:s3:::{bucket}/{request_parameters['key']}"})
            rec["resources"] = res
    return rec


def log_file(records: list[dict[str, Any]], compress: bool = True) -> bytes:
    """A CloudTrail log file: `{"Records":[...]}`, compact JSON, gzipped."""
    body = json.dumps({"Records": records}, separators=(",", ":")).encode()
    return gzip.compress(body, compresslevel=6, mtime=0) if compress else body


def key(t: dt.datetime, account: str = ACCOUNT, region: str = "us-east-1",
        org: str | None = None, prefix: str = "", suffix: str = "a1b2c3d4e5f6") -> str:
    """The S3 key CloudTrail would use for a file delivered at `t`."""
    path = f"{prefix.strip('/') + '/' if prefix.strip('/') else ''}AWSLogs/"
    path += f"{org}/" if org else ""
    return (f"{path}{account}/CloudTrail/{region}/{t:%Y/%m/%d}/"
            f"{account}_CloudTrail_{region}_{t:%Y%m%dT%H%M}Z_{suffix}.json.gz")


# ---- a realistic event mix (benchmarks, demo) ----------------------------------------------

def _noise(rng: random.Random, t: dt.datetime, account: str, region: str) -> dict[str, Any]:
    """A common event that no detection looks at (or a near miss of one)."""
    r = rng.random()
    bucket = rng.choice(("app-assets", "web-logs-eu", "data-lake-raw", "ml-artifacts"))
    kw: dict[str, Any] = {"time": t, "account": account, "region": region, "rng": rng}
    if r < 0.30:
        k = f"data/{rng.randrange(10**6):06d}.parquet"
        return record(rng.choice(("GetObject", "PutObject", "HeadObject")), "s3.amazonaws.com",
                      {"bucketName": bucket, "Host": f"{bucket}.s3.amazonaws.com", "key": k},
                      data_event=True, read_only=True, **kw)
    if r < 0.45:
        return record("AssumeRole", "sts.amazonaws.com",
                      {"roleArn": f"arn:aws:iam::{account}:role/ci-deploy",
                       "roleSessionName": f"gh-{rng.randrange(10**9)}", "durationSeconds": 3600},
                      response={"credentials": {"accessKeyId": "ASIAEXAMPLE",
                                                "expiration": "May 2, 2024, 1:00:00 PM",
                                                "sessionToken": "IQoJb3JpZ2luX2VjE" * 8},
                                "assumedRoleUser": {"assumedRoleId": "AROAEXAMPLE:gh",
                                                    "arn": f"arn:aws:sts::{account}:x"}},
                      read_only=True, **kw)
    if r < 0.60:
        return record(rng.choice(("Decrypt", "GenerateDataKey", "Encrypt")), "kms.amazonaws.com",
                      {"encryptionContext": {"aws:s3:arn": f"arn:aws:s3:::{bucket}"},
                       "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
                       "keyId": f"arn:aws:kms:{region}:{account}:key/1234abcd-12ab-34cd"},
                      read_only=True, **kw)
    if r < 0.75:
        return record(rng.choice(("DescribeInstances", "DescribeDBInstances", "ListBuckets",
                                  "DescribeTrails", "GetBucketVersioning", "ListRules",
                                  "DescribeBackupVault", "GetCallerIdentity")),
                      rng.choice(("ec2.amazonaws.com", "rds.amazonaws.com", "s3.amazonaws.com",
                                  "cloudtrail.amazonaws.com", "events.amazonaws.com")),
                      {"maxResults": 100, "filterSet": {}}, read_only=True, **kw)
    if r < 0.90:
        return record(rng.choice(("CreateLogStream", "PutMetricData", "UpdateInstanceInformation",
                                  "SendCommand", "RunInstances", "CreateTags")),
                      rng.choice(("logs.amazonaws.com", "monitoring.amazonaws.com",
                                  "ssm.amazonaws.com", "ec2.amazonaws.com")),
                      {"logGroupName": "/aws/lambda/handler", "logStreamName":
                       f"2024/05/02/[$LATEST]{rng.getrandbits(64):016x}",
                       "tagSet": {"items": [{"key": "env", "value": "prod"}]}}, **kw)
    if r < 0.997:
        return record("ConsoleLogin" if r < 0.95 else "CreateGrant", "signin.amazonaws.com",
                      None, response={"ConsoleLogin": "Success"}, **kw)
    # ~0.3%: watched event names that must NOT be reported (near misses)
    near = rng.randrange(5)
    if near == 0:
        return record("PutBucketVersioning", "s3.amazonaws.com",
                      {"bucketName": "nightly-backups", "VersioningConfiguration":
                       {"Status": "Enabled", "xmlns": "http://s3.amazonaws.com/doc/2006-03-01/"},
                       "versioning": "", "Host": "nightly-backups.s3.amazonaws.com"}, **kw)
    if near == 1:
        return record("DeleteObject", "s3.amazonaws.com",
                      {"bucketName": bucket, "key": "tmp/x", "Host": f"{bucket}.s3.amazonaws.com"},
                      data_event=True, **kw)
    if near == 2:
        return record("ModifyDBInstance", "rds.amazonaws.com",
                      {"dBInstanceIdentifier": "orders", "backupRetentionPeriod": 14,
                       "applyImmediately": True}, **kw)
    if near == 3:
        return record("DeletePolicy", "iam.amazonaws.com",
                      {"policyArn": f"arn:aws:iam::{account}:policy/old"}, **kw)
    return record("CreateAccessKey", "iam.amazonaws.com", {"userName": "ci-bot"},
                  user=identity(account, "IAMUser", session="admin", rng=rng), **kw)


def noise(rng: random.Random, t: dt.datetime, account: str = ACCOUNT,
          region: str = "us-east-1") -> dict[str, Any]:
    """One background event at `t`: common API traffic (and rare near misses) that no
    detection reports."""
    return _noise(rng, t, account, region)


def digest_key(t: dt.datetime, trail: str, account: str = ACCOUNT, region: str = "us-east-1",
               home_region: str = "us-east-1") -> str:
    """The S3 key of the digest file CloudTrail delivers at `t` (never a log file)."""
    return (f"AWSLogs/{account}/CloudTrail-Digest/{region}/{t:%Y/%m/%d}/{account}_CloudTrail-"
            f"Digest_{region}_{trail}_{home_region}_{t:%Y%m%dT%H%M%S}Z.json.gz")


def digest_file(t_start: dt.datetime, t_end: dt.datetime, trail_bucket: str, key_: str,
                files: list[tuple[str, bytes]], account: str = ACCOUNT) -> bytes:
    """A gzipped digest file listing `files` ((key, content)) by their SHA-256 hash."""
    import hashlib

    body = {"awsAccountId": account, "digestStartTime": _ts(t_start),
            "digestEndTime": _ts(t_end), "digestS3Bucket": trail_bucket,
            "digestS3Object": key_, "digestPublicKeyFingerprint":
                hashlib.md5(account.encode(), usedforsecurity=False).hexdigest(),
            "digestSignatureAlgorithm": "SHA256withRSA", "previousDigestS3Bucket": None,
            "previousDigestS3Object": None, "previousDigestHashValue": None,
            "previousDigestHashAlgorithm": None, "previousDigestSignature": None,
            "logFiles": [{"s3Bucket": trail_bucket, "s3Object": k,
                          "hashValue": hashlib.sha256(raw).hexdigest(),
                          "hashAlgorithm": "SHA-256"} for k, raw in files]}
    return gzip.compress(json.dumps(body, separators=(",", ":")).encode(), mtime=0)


def violation(rng: random.Random, t: dt.datetime, account: str, region: str) -> dict[str, Any]:
    """An event that breaks a control (one of several kinds)."""
    kw: dict[str, Any] = {"time": t, "account": account, "region": region, "rng": rng}
    kind = rng.randrange(8)
    if kind == 0:
        return record("PutBucketVersioning", "s3.amazonaws.com",
                      {"bucketName": "nightly-backups", "VersioningConfiguration":
                       {"Status": "Suspended"}, "versioning": ""}, **kw)
    if kind == 1:
        return record("DeleteDBInstance", "rds.amazonaws.com",
                      {"dBInstanceIdentifier": f"db-{rng.randrange(50)}",
                       "skipFinalSnapshot": True}, **kw)
    if kind == 2:
        return record("ModifyDBInstance", "rds.amazonaws.com",
                      {"dBInstanceIdentifier": "orders", "backupRetentionPeriod": 1}, **kw)
    if kind == 3:
        return record("StopLogging", "cloudtrail.amazonaws.com",
                      {"name": f"arn:aws:cloudtrail:{region}:{account}:trail/main"}, **kw)
    if kind == 4:
        return record("DeleteObject", "s3.amazonaws.com",
                      {"bucketName": "db-backup-archive", "key": f"pg/{rng.randrange(999)}.dump",
                       "x-amz-bypass-governance-retention": "true"}, data_event=True, **kw)
    if kind == 5:
        return record("DeleteRecoveryPoint", "backup.amazonaws.com",
                      {"backupVaultName": "prod-vault", "recoveryPointArn":
                       f"arn:aws:backup:{region}:{account}:recovery-point:{rng.getrandbits(64):x}"},
                      **kw)
    if kind == 6:
        return record("PutBucketPublicAccessBlock", "s3.amazonaws.com",
                      {"bucketName": "nightly-backups", "PublicAccessBlockConfiguration":
                       {"BlockPublicAcls": True, "IgnorePublicAcls": True,
                        "BlockPublicPolicy": False, "RestrictPublicBuckets": True}},
                      error_code="AccessDenied" if rng.random() < 0.5 else None, **kw)
    return record("CreateAccessKey", "iam.amazonaws.com", None,
                  user=identity(account, "Root", rng=rng),
                  response={"accessKey": {"accessKeyId": "AKIAEXAMPLE", "status": "Active",
                                          "userName": account}}, **kw)


def mixed_records(rng: random.Random, n: int, start: dt.datetime, account: str = ACCOUNT,
                  region: str = "us-east-1", violation_rate: float = 0.001
                  ) -> list[dict[str, Any]]:
    """`n` records a few seconds apart: mostly noise, `violation_rate` of violations."""
    out = []
    for i in range(n):
        t = start + dt.timedelta(seconds=i * 0.2)
        make = violation if rng.random() < violation_rate else _noise
        out.append(make(rng, t, account, region))
    return out


# ---- hostile input (fuzz tests, the soak, the nasty corpus) --------------------------------

# (class, raw JSON text) put where a record's value was: every class the reader must survive
HOSTILE: tuple[tuple[str, str], ...] = (
    ("overflow", "1e400"), ("overflow", "-1e999"), ("overflow", "NaN"),
    ("overflow", "Infinity"), ("overflow", "-Infinity"), ("huge-int", "9" * 5000),
    ("huge-int", "-" + "7" * 4400), ("deep", "[" * 3000 + "]" * 3000),
    ("deep", '{"a":' * 1500 + "1" + "}" * 1500), ("deep", "[" * 80 + "1" + "]" * 80),
    ("wrong-type", '["DeleteBucket"]'), ("wrong-type", '{"x":{"y":[1,2]}}'),
    ("wrong-type", "null"), ("wrong-type", "true"), ("wrong-type", "12"), ("wrong-type", '""'),
    ("wrong-type", "-0.0"), ("wrong-type", '[{"field":["a"],"equals":{"x":1}}]'),
    ("time", '"9999-12-31T23:59:59-23:59"'), ("time", '"10000-01-01T00:00:00Z"'),
    ("time", '"0001-01-01T00:00:00+23:59"'), ("time", '"2024-02-30T00:00:00Z"'),
    ("time", '"yesterday"'), ("time", '"2024-05-02T12:00:00.123456789+99:99"'),
    ("string", '"' + "x" * 200_000 + '"'), ("string", '"\\u0000\\ud800\\udfff"'),
    ("string", '"arn:aws:s3:::' + "a" * 5000 + '"'),
)
# tokens that are not JSON: a record holding one does not decode (brackets stay balanced)
INVALID_TOKENS = ("tru", "01", "1.", "-", ".5", "+1", "'x'", "undefined", '"a\tb"', "1e",
                  '"\\x"', "0x10", "nul")
_MARK = "\u0001drguard-hostile\u0001"


def paths(value: Any, depth: int = 4, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path into `value` (dict keys, list indexes) up to `depth` levels."""
    out: list[tuple[Any, ...]] = []
    if depth == 0:
        return out
    items = (value.items() if isinstance(value, dict)
             else enumerate(value) if isinstance(value, list) else ())
    for k, v in items:
        out.append((*prefix, k))
        out += paths(v, depth - 1, (*prefix, k))
    return out


def inject(rec: dict[str, Any], path: tuple[Any, ...], raw: str | bytes) -> bytes:
    """`rec` as JSON with the value at `path` replaced by the raw text (or bytes, e.g.
    invalid UTF-8) given."""
    doc = json.loads(json.dumps(rec))
    target = doc
    for k in path[:-1]:
        target = target[k]
    target[path[-1]] = _MARK
    text = json.dumps(doc, separators=(",", ":")).encode()
    mark = json.dumps(_MARK).encode()
    return text.replace(mark, raw if isinstance(raw, bytes) else raw.encode())


def log_text(parts: list[bytes], compress: bool = True) -> bytes:
    """A log file from records already as JSON bytes."""
    body = b'{"Records":[' + b",".join(parts) + b"]}"
    return gzip.compress(body, compresslevel=6, mtime=0) if compress else body
