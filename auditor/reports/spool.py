"""report.json from findings spooled as they are produced: a run that writes only JSON keeps
no finding alive. Each finding is redacted, completed (remediation), encoded and appended to
an unnamed temporary file in the output folder as it arrives; what the report needs besides
its text is kept small: the summary's counts and, per finding, its order key (which also
names its gap, and its critical-gap line) and place in the file, and the part `applications`
reads where it names an application. `write` merges what was seen twice (one finding per
id: gaps, failed attempts), then writes report.json in pieces: the head (schema, run,
summary), the findings copied from the spool in report order, then applications and
frameworks. The parsed document equals the one the whole-text writer makes of the same
findings (tests/test_report_streamed.py).
"""

from __future__ import annotations

import json
import os
import tempfile
from array import array
from pathlib import Path
from typing import Any, BinaryIO

import msgspec

from drguard.findings import Finding, finding_id, merge
from drguard.redact import Redactor, known, redact_with
from drguard.registry import BY_ID, SEVERITY_ORDER

from . import applications as applications_mod
from ._common import (
    SCHEMA_ID,
    Tally,
    dumps,
    is_plain_json,
    jsonable,
    name_accounts,
    redacted_run,
    remedy_of,
    sort_key,
)
from .words import NamedGaps

_WRITE_BYTES = 1 << 20  # bytes gathered before each write
_THREE = {"summary", "pulumi", "cli"}
_CRITICAL = -SEVERITY_ORDER["critical"]  # the first field of a critical finding's order key
_GAP_STATUS = frozenset(("pass", "fail", "error"))  # what add_plain writes
_GAP_KEY = 7  # fields of the order key of a finding that is not a failed attempt


class _Remedy(msgspec.Struct):
    """A finding's remediation as the report writes it (Spool._doc's common form); why and
    console are the control's, encoded once."""

    summary: Any
    pulumi: Any
    cli: Any
    why: msgspec.Raw
    console: msgspec.Raw


class _Doc(msgspec.Struct):
    """A finding's JSON as Finding.to_dict writes it when it has no sources beyond its own,
    no event(s), no waiver, no stack/urn/application: the same keys in the same order.
    Control and severity are encoded once per control."""

    id: Any
    control: msgspec.Raw
    severity: msgspec.Raw
    status: Any
    source: Any
    account: Any
    region: Any
    resource: Any
    message: Any
    evidence: Any
    remediation: Any
    application: None
    stack: None
    urn: None
    owner: Any
    tier: Any


def _order(f: Finding) -> tuple[Any, ...]:
    """The finding's place in the report, as _common.sort_key orders it, without the message
    where it cannot matter: merged findings differ in control, resource, account or region
    (their id), except failed attempts (one per refused call), which keep it."""
    key = sort_key(f)
    return key if f.status == "attempt" else key[:-1]


class Spool:
    """Findings of one report, kept as encoded JSON in a temporary file (see module doc).

    `plain`: every finding added holds plain JSON data only (str keys; str, finite float,
    int, bool, None, list, dict), so msgspec encodes it; otherwise (and for what msgspec
    cannot write as UTF-8: a lone surrogate) the stdlib encoder does, as the whole-text
    writer would. `dir`: where the temporary file goes (the output folder: its disk)."""

    def __init__(self, plain: bool = False, dir: Path | None = None) -> None:
        self.plain = plain
        encoder = msgspec.json.Encoder()
        self._encode = encoder.encode if plain else None
        self._encode_into = encoder.encode_into
        self._secrets = known()  # what the one redaction step before output removes
        self._redactor = Redactor(self._secrets) if self._secrets else None
        if dir is not None:
            Path(dir).mkdir(parents=True, exist_ok=True)
        self._file: BinaryIO = tempfile.TemporaryFile(dir=dir, prefix=".report-findings-")
        self._buf = bytearray()  # records not yet written to the file, each after its comma
        # control id -> (why, console steps) of its remediation (Control.remedy)
        self._fixed: dict[str, tuple[str | None, list[str]]] = {}
        for c in BY_ID.values():
            general = c.remedy()
            self._fixed[c.id] = (general["why"], general["console"])
        # control id -> what add_plain writes of it (see _constants)
        self._constants: dict[str, tuple[Any, ...]] = {}
        self._attempts: dict[str, int] = {}  # a failed attempt's id -> its first record
        self._keys: list[tuple[Any, ...]] = []
        self.reset()

    def reset(self) -> None:
        """Forget every finding added (the caller judges again)."""
        self._buf.clear()
        self._file.seek(0)
        self._file.truncate()
        self._size = 0
        self.tally = Tally()
        # by record (one per finding id): its order in the report, and where its JSON is
        # in the spool (offset, length: arrays, 16 bytes a record)
        self._keys = []
        self._offsets = array("Q")
        self._lengths = array("Q")
        # what applications reads of a finding: by record, where it names one
        self._apps: dict[int, dict[str, Any]] = {}
        self._attempts = {}
        self._groups: dict[str, list[int]] = {}  # records of attempts added more than once
        self._gap_records = 0  # records of gaps (not failed attempts) added

    def close(self) -> None:
        self._file.close()

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, f: Finding) -> None:
        """One finding, as produced (redacted here as write_reports redacts). Findings seen
        twice are merged when the report is written: gaps by their order key (which names
        their id), failed attempts (whose id names the refused call) by the records noted
        here."""
        if self._redactor is not None:
            redact_with((f,), self._redactor)
        at = len(self._keys)
        if f.status == "attempt":
            fid = f.id
            first = self._attempts.setdefault(fid, at)
            if first != at:
                self._groups.setdefault(fid, [first]).append(at)
        self._keys.append(())
        self._offsets.append(0)
        self._lengths.append(0)
        self._spool(f, at)
        if len(self._keys[at]) == _GAP_KEY:
            self._gap_records += 1
        self.tally.add(f)

    def add_plain(self, control: str, status: str, source: str, resource: str, message: str,
                  account: str | None, region: str | None, evidence: dict[str, Any],
                  remedy: tuple[Any, Any, Any] | None, owner: str | None = None,
                  tier: str | None = None) -> bool:
        """add() of the finding these fields make (`Finding(control, status, source,
        resource, message, account, region, evidence, remediation={summary, pulumi, cli} of
        `remedy`, owner, tier)`, nothing else set), without the Finding: the same record,
        order key and counts. False, with nothing added, where add() is needed: a spool that
        redacts or is not plain, a status that is not a gap's (pass, fail, error), a control
        not declared, or a field msgspec cannot write (the stdlib encoder's)."""
        if self._redactor is not None or self._encode is None or status not in _GAP_STATUS:
            return False
        const = self._constants.get(control)
        if const is None:
            if control not in BY_ID:
                return False
            const = self._constants[control] = self._constants_of(control)
        rank, severity, control_raw, severity_raw, why, console = const
        summary, pulumi, cli = remedy if remedy is not None else (None, None, None)
        doc = _Doc(finding_id(control, resource, account, region), control_raw, severity_raw,
                   status, source, account, region, resource, message, evidence,
                   None if remedy is None else _Remedy(str(summary or ""), pulumi or None,
                                                       cli, why, console),
                   None, None, None, owner, tier)
        buf = self._buf
        start = len(buf)
        buf += b","
        try:
            self._encode_into(doc, buf, -1)
        except (UnicodeEncodeError, TypeError, OverflowError):
            del buf[start:]
            return False
        account, region = account or "", region or ""
        self._keys.append((rank, control, resource, source, status, account, region))
        self._gap_records += 1
        size = len(buf) - start
        self._offsets.append(self._size)
        self._lengths.append(size)
        self._size += size
        if len(buf) >= _WRITE_BYTES:
            self._flush()
        counts = self.tally.counts
        key = (status, severity, control, account or "-", source, False)
        counts[key] = counts.get(key, 0) + 1
        return True

    def _constants_of(self, control: str) -> tuple[Any, ...]:
        """(order rank, severity, and as JSON: control, severity, remediation why and console)
        of a declared control."""
        encode = msgspec.json.Encoder().encode
        severity = BY_ID[control].severity
        why, console = self._fixed[control]
        return (-SEVERITY_ORDER.get(severity, -1), severity, msgspec.Raw(encode(control)),
                msgspec.Raw(encode(severity)), msgspec.Raw(encode(why)),
                msgspec.Raw(encode(console)))

    def _merge_attempts(self, keys: list[tuple[Any, ...] | None]) -> None:
        """One record per failed attempt seen more than once (its id), as _merge_gaps."""
        for run in self._groups.values():
            self._merge(keys, run)
        self._groups = {}

    def _merge_gaps(self, keys: list[tuple[Any, ...] | None]) -> None:
        """One record per gap (control, resource, account, region: its id): the copies of a
        gap seen twice are merged (_merge)."""
        # no gap seen twice (the common case): nothing to do. (The ids are gathered here, when
        # the export is freed, not as records come: they would add to the run's peak memory.)
        if len({(k[1], k[2], k[5], k[6]) for k in keys
                if k is not None and len(k) == _GAP_KEY}) == self._gap_records:
            return
        gaps = sorted((i for i, k in enumerate(keys) if k is not None and len(k) == _GAP_KEY),
                      key=lambda i: _gap(keys[i]))
        run: list[int] = []
        for i in [*gaps, -1]:
            if run and (i < 0 or _gap(keys[i]) != _gap(keys[run[0]])):
                if len(run) > 1:
                    run.sort()
                    self._merge(keys, run)
                run = []
            run.append(i)

    def _merge(self, keys: list[tuple[Any, ...] | None], run: list[int]) -> None:
        """The records `run` (ascending) of one id, read back from the spool and merged as
        drguard.findings.merge merges a group (first seen first), take the first's place;
        the others' are emptied."""
        copies = [self._read(j) for j in run]
        merged = merge(copies)[0]
        for c in copies:
            self.tally.add(c, -1)
        self.tally.add(merged)
        self._spool(merged, run[0])  # (keys is self._keys)
        for j in run[1:]:
            keys[j] = None
            self._apps.pop(j, None)

    def _doc(self, f: Finding) -> dict[str, Any]:
        d = f.to_dict()
        r = f.remediation
        if r:
            fixed = self._fixed.get(f.control)
            if fixed is None or type(r) is not dict or len(r) != 3 or not r.keys() == _THREE:
                d["remediation"] = remedy_of(f)
            else:  # remedy_of of the common (summary, pulumi, cli) form, the control's why
                why, console = fixed  # and console steps looked up once (hot)
                d["remediation"] = {"summary": str(r["summary"] or ""),
                                    "pulumi": r["pulumi"] or None, "cli": r["cli"],
                                    "why": why, "console": console}
        return d

    def _spool(self, f: Finding, at: int) -> None:
        d = self._doc(f)
        piece: bytes | None = None
        if self._encode is not None:
            try:
                piece = self._encode(d)
            except (UnicodeEncodeError, TypeError, OverflowError):
                piece = None
        if piece is None:
            if not is_plain_json(d):
                d = jsonable(d)
            piece = dumps(d, indent=None).encode("utf-8")
        offset = self._size
        size = len(piece) + 1
        self._buf += b","
        self._buf += piece
        self._size += size
        if len(self._buf) >= _WRITE_BYTES:
            self._flush()
        self._apps.pop(at, None)
        if d.get("application"):
            self._apps[at] = applications_mod.app_row(d)
        self._keys[at] = _order(f)
        self._offsets[at] = offset
        self._lengths[at] = size

    def _flush(self) -> None:
        if self._buf:
            self._file.write(self._buf)
            self._buf.clear()

    def _read(self, at: int) -> Finding:
        self._flush()
        self._file.flush()
        data = os.pread(self._file.fileno(), self._lengths[at] - 1, self._offsets[at] + 1)
        return Finding.from_dict(json.loads(data))  # what either encoder wrote (NaN...)

    def write(self, path: Path, run: dict[str, Any],
              account_names: dict[str, str] | None = None
              ) -> tuple[dict[str, Any], dict[str, Any], NamedGaps]:
        """Write report.json at `path`; returns (run metadata, summary, critical gaps) as the
        report holds them. The spool is closed."""
        keys: list[tuple[Any, ...] | None] = self._keys  # type: ignore[assignment]
        self._merge_attempts(keys)
        self._merge_gaps(keys)
        self._keys = []
        secrets = self._secrets
        run_meta = redacted_run(run, secrets)
        name_accounts(run_meta, account_names)
        summary = self.tally.summary(None, fail_on=run_meta.get("fail_on"),
                                     run=run)  # (not read: counted from `run`: redacted_run)
        head = jsonable({"schema": SCHEMA_ID, "run": run_meta, "summary": summary})
        objectives: dict[str, Any] = head["run"]["objectives"] \
            if isinstance(head["run"].get("objectives"), dict) else {}
        live = {i: k for i, k in enumerate(keys) if k is not None}
        del keys
        order = sorted(live, key=live.__getitem__)
        # the critical gaps, as words.critical_gaps names them, from their order keys:
        # (-rank, control, resource, source, status, account, region)
        critical = NamedGaps(sorted((k[1], k[5], k[6], k[2]) for k in live.values()
                                    if k[0] == _CRITICAL and k[4] == "fail"))
        del live
        offsets, lengths = self._offsets, self._lengths
        self._flush()
        self._file.flush()
        fd = self._file.fileno()
        app_rows: list[dict[str, Any]] = []
        # the pieces go to a file of their own beside report.json, which takes its name once
        # whole: a write stopped part-way (Ctrl-C, a full disk, an error) leaves no partial
        # report, and the folder as it was
        path = Path(path)
        part = path.with_name(f".{path.name}.{os.getpid()}-{os.urandom(4).hex()}.part")
        try:
            with part.open("wb") as out:
                text = dumps(head, indent=None)
                out.write(text[:-1].encode("utf-8") + b',"findings":[')
                # each record is stored after its comma: records next to each other in the
                # spool and in the report (findings made in report order) are copied in one
                # read, up to _WRITE_BYTES; the first record's comma is left out
                start = end = -1
                skip = 1
                apps = self._apps
                for i in order:
                    offset = offsets[i]
                    if offset != end or end - start >= _WRITE_BYTES:
                        if end > start:
                            out.write(os.pread(fd, end - start - skip, start + skip))
                            skip = 0
                        start = end = offset
                    end += lengths[i]
                    if i in apps:
                        app_rows.append(apps[i])
                if end > start:
                    out.write(os.pread(fd, end - start - skip, start + skip))
                out.write(b"]")
                del order
                tail = {"applications": applications_mod.applications(
                            app_rows, objectives.get("tiers"), objectives.get("applications")),
                        "frameworks": applications_mod.framework_counts(self.tally.counts)}
                out.write(b"," + dumps(tail, indent=None)[1:].encode("utf-8") + b"\n")
            os.replace(part, path)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        finally:
            self.close()
        return head["run"], head["summary"], critical


def _gap(key: tuple[Any, ...] | None) -> tuple[Any, ...]:
    """(control, resource, account, region) of an order key: what a gap's id is made of."""
    assert key is not None
    return (key[1], key[2], key[5], key[6])
