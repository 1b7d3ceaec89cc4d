"""`dr-audit drill s3`: restore earlier versions of objects into a scratch prefix and verify them.

The objects restored are the ones a real recovery would need: `--key K` (its previous version:
the newest version under a delete marker, or the one before the current version), or, without
`--key`, a sample (`--sample N`, default 3) of the most recently deleted or overwritten objects
of the bucket. Each earlier version is copied (server side, `CopyObject` with its VersionId) to
`drguard-drill-<run id>/<key>`, tagged `dr:drill=<run id>`, in the same bucket or in
`--scratch-bucket`. Verification compares the copy's size with the version's, and the SHA-256
of both bodies. Each copy is deleted by version id (no delete marker is left behind).

A bucket with a default Object Lock retention would lock the copies, and one whose replication
rules take new objects under the scratch prefix would copy them to its replica, out of the
drill's reach: the copies then go to a scratch bucket the drill creates and deletes (or to
`--scratch-bucket`, refused when it would keep them too). Objects over 5 GiB (the CopyObject
limit) are skipped. The achieved RTO is the time from the first copy until every copy is
verified.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any
from urllib.parse import urlencode

from botocore.exceptions import ClientError

from drguard.records import record
from drguard.verdict import plural, plural_days

from .guard import TAG_KEY, scratch_prefix
from .plan import CannotRun, Context, Plan, VerificationFailed, error_code

log = logging.getLogger(__name__)

MAX_COPY_BYTES = 5 * 1024**3
MAX_VERSIONS_SCANNED = 100_000
MAX_KEY = 1024
CHUNK = 1024 * 1024


# ---- shared with the state drill ------------------------------------------------------------

def bucket_region(s3: Any, bucket: str) -> str:
    """The bucket's region (CannotRun when the bucket is missing or unreadable)."""
    try:
        loc = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint")
    except ClientError as e:
        code = error_code(e)
        if code in ("NoSuchBucket", "404"):
            raise CannotRun(f"bucket {bucket} does not exist") from None
        raise
    return {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(loc, loc)


def default_lock(s3: Any, bucket: str) -> dict[str, Any] | None:
    """The bucket's default Object Lock retention, or None."""
    try:
        conf = s3.get_object_lock_configuration(Bucket=bucket).get(
            "ObjectLockConfiguration") or {}
    except ClientError as e:
        if error_code(e) in ("ObjectLockConfigurationNotFoundError",
                             "ObjectLockConfigurationNotFound"):
            return None
        raise
    return (conf.get("Rule") or {}).get("DefaultRetention") or None


def _rule_takes(rule: dict[str, Any], prefix: str, tags: dict[str, str]) -> bool:
    """Whether an enabled replication rule can replicate a new object whose key starts with
    `prefix` and whose tags are exactly `tags`. What cannot be read is taken as a match."""
    if not isinstance(rule, dict):
        return True
    if rule.get("Status") != "Enabled":
        return False
    flt = rule.get("Filter")
    if flt is None:  # the first version of the configuration: a prefix on the rule itself
        flt = {"Prefix": rule.get("Prefix") or ""}
    if not isinstance(flt, dict):
        return True
    both: dict[str, Any] = flt["And"] if isinstance(flt.get("And"), dict) else flt
    wanted = both.get("Tags") or ([both["Tag"]] if isinstance(both.get("Tag"), dict) else [])
    rule_prefix = both.get("Prefix") or ""
    if not isinstance(rule_prefix, str) or not isinstance(wanted, list):
        return True
    if not (prefix.startswith(rule_prefix) or rule_prefix.startswith(prefix)):
        return False
    return all(isinstance(t, dict) and tags.get(str(t.get("Key"))) == t.get("Value")
               for t in wanted)


def replicated_by(s3: Any, bucket: str, prefix: str, tags: dict[str, str]) -> list[str]:
    """The ids of the bucket's replication rules that would copy a new object under `prefix`
    tagged `tags` to another bucket (a rule that cannot be read counts as one that does);
    ClientError when the configuration cannot be read."""
    try:
        conf = s3.get_bucket_replication(Bucket=bucket).get("ReplicationConfiguration") or {}
    except ClientError as e:
        if error_code(e) == "ReplicationConfigurationNotFoundError":
            return []
        raise
    rules = conf.get("Rules") or []
    rules = rules if isinstance(rules, list) else [rules]
    return [str(r.get("ID") or f"#{i + 1}") if isinstance(r, dict) else f"#{i + 1}"
            for i, r in enumerate(rules) if _rule_takes(r, prefix, tags)]


def keeps_copies(s3: Any, bucket: str, run_id: str) -> str | None:
    """Why a scratch copy in `bucket` would outlive the drill, or None: the bucket locks new
    objects (the copy could not be deleted), or replicates them (the replica, often locked
    and in another account, keeps a copy the drill cannot delete)."""
    try:
        lock = default_lock(s3, bucket)
    except ClientError as e:  # what cannot be read may lock them
        return f"may lock new objects (its Object Lock configuration: {error_code(e)})"
    if lock:
        span = plural_days(lock["Days"]) if lock.get("Days") else \
            plural(int(lock.get("Years") or 0), "year")
        return f"locks new objects by default ({lock.get('Mode')}, {span})"
    try:
        rules = replicated_by(s3, bucket, scratch_prefix(run_id) + "/", {TAG_KEY: run_id})
    except ClientError as e:
        return f"may replicate new objects (its replication configuration: {error_code(e)})"
    if rules:
        return f"replicates new objects (rule {', '.join(rules)})"
    return None


def own_bucket(run_id: str) -> str:
    """The scratch bucket a drill creates for its copies (a scratch name of the run)."""
    return f"{scratch_prefix(run_id)}-copies"


def choose_scratch(s3: Any, plan: Plan, bucket: str, given: str | None, region: str,
                   run_id: str) -> tuple[str, bool]:
    """(where the copies go, whether the drill creates that bucket). `given`
    (--scratch-bucket) must be in `region` and let the copies be deleted; without it, the
    bucket restored from, unless it would keep them: then a scratch bucket of the run."""
    if given is not None:
        if given != bucket and bucket_region(s3, given) != region:
            raise CannotRun(f"--scratch-bucket {given} is not in {region}")
        why = keeps_copies(s3, given, run_id)
        if why:
            raise CannotRun(f"--scratch-bucket {given} {why}: a scratch copy there would "
                            "outlive the drill; give a bucket that neither locks nor "
                            "replicates new objects, or leave --scratch-bucket out (the drill "
                            "then makes a scratch bucket of its own)")
        return given, False
    why = keeps_copies(s3, bucket, run_id)
    if why is None:
        return bucket, False
    name = own_bucket(run_id)
    plan.notes.append(f"bucket {bucket} {why}: a copy there would outlive the drill, so the "
                      f"copies go to a scratch bucket the drill creates and deletes, {name}")
    create: dict[str, Any] = {"Bucket": name}
    if region != "us-east-1":
        create["CreateBucketConfiguration"] = {"LocationConstraint": region}
    plan.call("s3", region, "CreateBucket", "a scratch bucket for the copies", **create)
    plan.call("s3", region, "PutBucketTagging", "tag the scratch bucket", Bucket=name,
              Tagging={"TagSet": [{"Key": TAG_KEY, "Value": run_id}]})
    return name, True


def delete_bucket(s3: Any, name: str) -> None:
    """Delete the drill's own scratch bucket; one that was never made (or is gone) is done."""
    try:
        s3.delete_bucket(Bucket=name)
    except ClientError as e:
        if error_code(e) not in ("NoSuchBucket", "404"):
            raise


def make_bucket(ctx: Context, s3: Any) -> None:
    """Create the scratch bucket the plan asks for (its deletion is the last cleanup)."""
    create = next((c for c in ctx.plan.calls if c.operation == "CreateBucket"), None)
    if create is None:
        return
    name = str(create.params["Bucket"])
    with ctx.step(f"create scratch bucket {name}"):
        # on the cleanup stack before the call: a lost answer or a signal right after the
        # bucket is made must not leave it behind
        refused: list[str] = []  # S3 refused the create: no bucket of ours to delete
        ctx.cleanup.add(f"delete bucket {name}",
                        lambda: None if refused else delete_bucket(s3, name))
        try:
            s3.create_bucket(**create.params)
        except ClientError as e:
            # a 4xx answer is S3 refusing (access denied, the name another account's), unless
            # it says an earlier attempt whose answer was lost made the bucket after all
            status = int(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            if 400 <= status < 500 and error_code(e) != "BucketAlreadyOwnedByYou":
                refused.append(error_code(e))
            raise
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": TAG_KEY,
                                                                "Value": ctx.run_id}]})


def scratch_key(run_id: str, key: str) -> str:
    out = f"{scratch_prefix(run_id)}/{key}"
    # A `..` segment could climb out of the prefix behind a normalising proxy: the guard
    # refuses such keys, so they are named by their hash, as over-long ones are.
    if len(out.encode()) > MAX_KEY or ".." in key.split("/"):
        out = f"{scratch_prefix(run_id)}/{hashlib.sha256(key.encode()).hexdigest()}"
    return out


def tagging(run_id: str) -> str:
    return urlencode({TAG_KEY: run_id})


def copy_params(run_id: str, bucket: str, key: str, version: str, scratch_bucket: str,
                dest: str) -> dict[str, Any]:
    return {"Bucket": scratch_bucket, "Key": dest,
            "CopySource": {"Bucket": bucket, "Key": key, "VersionId": version},
            "TaggingDirective": "REPLACE", "Tagging": tagging(run_id),
            "MetadataDirective": "COPY"}


def sha256_of(s3: Any, bucket: str, key: str, version: str | None = None) -> tuple[str, int]:
    """(hex SHA-256, bytes) of an object's body, streamed."""
    kw: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if version:
        kw["VersionId"] = version
    body = s3.get_object(**kw)["Body"]
    h = hashlib.sha256()
    n = 0
    try:
        for chunk in iter(lambda: body.read(CHUNK), b""):
            h.update(chunk)
            n += len(chunk)
    finally:
        body.close()
    return h.hexdigest(), n


def delete_scratch(s3: Any, bucket: str, key: str, version: str | None) -> None:
    """Delete a scratch copy: its version, then any other version or marker under the key."""
    if version and version != "null":
        s3.delete_object(Bucket=bucket, Key=key, VersionId=version)
    leftovers = []
    try:
        pages = s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=key)
        for page in pages:
            for v in [*(page.get("Versions") or ()), *(page.get("DeleteMarkers") or ())]:
                if v.get("Key") == key:
                    leftovers.append(v.get("VersionId"))
    except ClientError as e:
        if error_code(e) != "NoSuchBucket":
            raise
    for vid in leftovers:
        if vid and vid != "null":
            s3.delete_object(Bucket=bucket, Key=key, VersionId=vid)
        else:
            s3.delete_object(Bucket=bucket, Key=key)
    if not leftovers and not version:
        s3.delete_object(Bucket=bucket, Key=key)  # unversioned bucket


def versions_of(s3: Any, bucket: str, prefix: str, exact: str | None = None,
                limit: int = MAX_VERSIONS_SCANNED) -> dict[str, list[dict[str, Any]]]:
    """{key: its versions and delete markers, newest first} under `prefix`."""
    out: dict[str, list[dict[str, Any]]] = {}
    seen = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        items = [{**v, "marker": False} for v in page.get("Versions") or ()]
        items += [{**m, "marker": True} for m in page.get("DeleteMarkers") or ()]
        for v in items:
            if exact is not None and v.get("Key") != exact:
                continue
            out.setdefault(v["Key"], []).append(v)
        seen += len(items)
        if seen >= limit:
            log.warning("stopped listing versions of %s after %d", bucket, seen)
            break
    for vs in out.values():
        vs.sort(key=lambda v: (not v.get("IsLatest"), -v["LastModified"].timestamp()))
    return out


def previous_version(versions: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, str]:
    """(the version a recovery restores, why): under a delete marker, the newest version;
    otherwise the one before the current version."""
    if not versions:
        return None, "no versions"
    real = [v for v in versions if not v["marker"]]
    if versions[0]["marker"]:
        return (real[0], "deleted") if real else (None, "only delete markers")
    if len(real) >= 2:
        return real[1], "overwritten"
    return None, "a single version: nothing earlier to restore"


# ---- the drill --------------------------------------------------------------------------------

@record
class S3Drill:
    """A restore drill of objects from a backup bucket into a scratch bucket."""

    bucket: str
    key: str | None = None
    sample: int = 3
    scratch_bucket: str | None = None
    run_id: str = ""
    kind: str = "s3"

    def prepare(self, account: Any) -> Plan:
        s3 = account.client("s3")
        region = bucket_region(s3, self.bucket)
        s3 = account.client("s3", region)
        target = f"s3://{self.bucket}" + (f"/{self.key}" if self.key else "")
        plan = Plan(self.kind, target, region)
        status = s3.get_bucket_versioning(Bucket=self.bucket).get("Status")
        plan.found["versioning"] = status or "never enabled"
        if not status:
            raise CannotRun(f"bucket {self.bucket} has never had versioning: no earlier "
                            "version of any object to restore")
        scratch_bucket, own = choose_scratch(s3, plan, self.bucket, self.scratch_bucket, region,
                                             self.run_id)
        if self.key is not None:
            versions = versions_of(s3, self.bucket, self.key, exact=self.key)
            chosen, why = previous_version(versions.get(self.key, []))
            if chosen is None:
                raise CannotRun(f"s3://{self.bucket}/{self.key}: {why}")
            picks = [(self.key, chosen, why)]
        else:
            picks = self._sample(s3)
        items = []
        for key, v, why in picks:
            if int(v.get("Size") or 0) > MAX_COPY_BYTES:
                plan.notes.append(f"{key}: {v.get('Size')} bytes is over the 5 GiB copy limit; "
                                  "skipped")
                continue
            dest = scratch_key(self.run_id, key)
            params = copy_params(self.run_id, self.bucket, key, v["VersionId"], scratch_bucket,
                                 dest)
            items.append({"key": key, "version": v["VersionId"], "why": why,
                          "size": v.get("Size"), "dest": dest, "params": params})
            plan.call("s3", region, "CopyObject", f"restore the {why} object {key}", **params)
        if not items:
            raise CannotRun("every candidate object is over the 5 GiB copy limit")
        for it in items:
            plan.call("s3", region, "DeleteObject", "cleanup, on every path",
                      Bucket=scratch_bucket, Key=it["dest"], VersionId="<version of the copy>")
        if own:
            plan.call("s3", region, "DeleteBucket", "cleanup, on every path",
                      Bucket=scratch_bucket)
        plan.found["objects"] = [{k: it[k] for k in ("key", "version", "why", "size")}
                                 for it in items]
        plan.data.update(region=region, items=items, scratch_bucket=scratch_bucket)
        return plan

    def _sample(self, s3: Any) -> list[tuple[str, dict[str, Any], str]]:
        picks = []
        for key, versions in versions_of(s3, self.bucket, "").items():
            if key.startswith(scratch_prefix("")):
                continue  # scratch copies of an earlier drill are not data
            chosen, why = previous_version(versions)
            if chosen is not None:
                picks.append((versions[0]["LastModified"], key, chosen, why))
        if not picks:
            raise CannotRun(f"no deleted or overwritten object in {self.bucket}: nothing to "
                            "restore (give --key to drill one object)")
        picks.sort(key=lambda p: (p[0], p[1]), reverse=True)
        return [(k, v, why) for _, k, v, why in picks[:max(1, self.sample)]]

    def execute(self, ctx: Context) -> None:
        data = ctx.plan.data
        s3 = ctx.account.client("s3", data["region"])
        sb = data["scratch_bucket"]
        copies: dict[str, str | None] = {}
        checks: list[dict[str, Any]] = []
        ctx.result["checks"] = checks
        make_bucket(ctx, s3)
        ctx.mark("start")
        for it in data["items"]:
            dest = it["dest"]
            with ctx.step(f"restore {it['key']}"):
                def delete(d: str = dest) -> None:  # the version id is known only later
                    delete_scratch(s3, sb, d, copies.get(d))

                ctx.cleanup.add(f"delete s3://{sb}/{dest}", delete)
                resp = s3.copy_object(**it["params"])
                copies[dest] = resp.get("VersionId")
        with ctx.step("verify size and checksum"):
            for it in data["items"]:
                head = s3.head_object(Bucket=sb, Key=it["dest"])
                want, n = sha256_of(s3, self.bucket, it["key"], it["version"])
                got, m = sha256_of(s3, sb, it["dest"])
                checks.append({"check": f"{it['key']}: size", "expected": it["size"],
                               "actual": head.get("ContentLength"),
                               "ok": head.get("ContentLength") == it["size"] == m})
                checks.append({"check": f"{it['key']}: sha256", "expected": want,
                               "actual": got, "ok": want == got and n == m})
            ctx.mark("verified")
            bad = [c for c in checks if not c["ok"]]
            if bad:
                raise VerificationFailed("; ".join(f"{c['check']} differs" for c in bad))

    def rto_seconds(self, ctx: Context) -> float | None:
        return ctx.marks["verified"] - ctx.marks["start"] if "verified" in ctx.marks else None

