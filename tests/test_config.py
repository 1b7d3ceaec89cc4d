"""One validation pass for every config input: the auditor's --config file, waiver files and
the pack's Configure. Each class of bad input is refused before any work with one line naming
the file or policy, the path to the bad value and what was expected (exit 2 /
INVALID_ARGUMENT); nothing reaches a traceback."""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path

import pytest
import yaml

from auditor.cli import main
from drguard import patterns
from drguard.errors import ConfigError
from drguard.settings import MAX_DEPTH, from_mapping, load_file

WAIVER = {"control": "rds-deletion-protection", "resource": "*scratch-*", "reason": "rebuilt",
          "owner": "platform", "expires": "2027-03-31"}
EMPTY_EXPORT = {"version": 3, "deployment": {"manifest": {}, "resources": []}}


def _cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], config: Path) -> tuple[int, str]:
    export = tmp_path / "export.json"
    export.write_text(json.dumps(EMPTY_EXPORT))
    out = tmp_path / "out"
    code = main(["state", "--file", str(export), "--config", str(config),
                 "--output-dir", str(out)])
    err = capsys.readouterr().err
    return code, err


def _write(tmp_path: Path, name: str, content: str | bytes | object) -> Path:
    p = tmp_path / name
    if isinstance(content, bytes):
        p.write_bytes(content)
    elif isinstance(content, str):
        p.write_text(content)
    else:
        p.write_text(json.dumps(content) if name.endswith(".json") else yaml.safe_dump(content))
    return p


# Each case: (file name, content, fragments the one-line error must contain).
CASES = [
    # dates: real calendar days, ISO form only
    ("feb30.yaml", {"waivers": [{**WAIVER, "expires": "2027-02-30"}]},
     ["waivers: waiver #1", "'expires' must be a date", "'2027-02-30'"]),
    ("feb30-unquoted.yaml", "waivers:\n  - control: rds-deletion-protection\n"
     "    resource: '*'\n    reason: r\n    owner: o\n    expires: 2027-02-30\n",
     ["waiver #1", "'2027-02-30'"]),
    ("garbage.yaml", {"waivers": [{**WAIVER, "expires": "2027-03-31garbage"}]},
     ["'2027-03-31garbage'"]),
    ("us-date.yaml", {"waivers": [{**WAIVER, "expires": "03/31/2027"}]}, ["YYYY-MM-DD"]),
    ("int-date.yaml", {"waivers": [{**WAIVER, "expires": 20270331}]},
     ["'expires' must be a date", "an integer"]),
    # enforcement levels
    ("all.json", {"all": "bogus"}, ["all", "'bogus' is not an enforcement level"]),
    ("level.json", {"rds-backup-retention": "block"}, ["rds-backup-retention", "'block'"]),
    ("level-obj.json", {"rds-backup-retention": {"enforcementLevel": 3}},
     ["rds-backup-retention.enforcementLevel", "an integer is not an enforcement level"]),
    # patterns RE2 cannot compile
    ("repeat.yaml", {"scope": {"backupBucketPatterns": ["(?i)backup", "a{1001}"]}},
     ["scope.backupBucketPatterns[1]", "RE2", "invalid repetition size"]),
    ("lookbehind.yaml", {"scope": {"backupBucketPatterns": ["(?<=x)backup"]}},
     ["backupBucketPatterns[0]", "RE2"]),
    ("glob.yaml", {"waivers": [{**WAIVER, "resource": "x" * 5000}]},
     ["waiver #1: resource", "longer than"]),
    # wrong types anywhere
    ("scope5.yaml", {"scope": 5}, ["scope: expected a mapping", "found 5"]),
    ("settings-number.yaml", {"controls": {"rds-backup-retention": 5}},
     ["controls.rds-backup-retention", "found 5"]),
    ("pack-settings-number.json", {"rds-backup-retention": 14.5},
     ["rds-backup-retention: expected a mapping"]),
    ("waiversfile5.yaml", {"waiversFile": 5}, ["waiversFile: expected the path", "found 5"]),
    ("control-list.yaml", {"waivers": [{**WAIVER, "control": ["rds-deletion-protection"]}]},
     ["waiver #1: control: expected a control id", "a list"]),
    ("tags-obj.yaml", {"waivers": [{**WAIVER, "tags": {"env": {"a": 1}}}]},
     ["waiver #1: tags.env"]),
    ("controls-list.yaml", {"controls": ["rds-backup-retention"]},
     ["controls: expected a mapping"]),
    ("waivers-map.yaml", {"waivers": {"control": "x"}}, ["waivers: expected a list"]),
    ("param-type.yaml", {"controls": {"backup-bucket-object-lock":
                                      {"allowedLockModes": ["COMPLIANCE", 5]}}},
     ["allowedLockModes[1]", "not of type 'string'"]),
    ("enabled.yaml", {"controls": {"rds-backup-retention": {"enabled": "yes"}}},
     ["rds-backup-retention.enabled: expected true or false"]),
    ("top-list.yaml", ["controls"], ["expected a mapping at the top level"]),
    # a scalar key is read as its text, then judged like any other key
    ("key-int.yaml", "controls:\n  rds-backup-retention:\n    7: 1\n",
     ["unknown parameter '7'"]),
    ("key-dup.yaml", "controls:\n  rds-backup-retention:\n    minRetentionDays: 7\n"
                     "    minRetentionDays: 1\n", ["duplicate key 'minRetentionDays'"]),
    # RE2 would read a count that overflows its integer as literal text: refused instead
    ("huge-repeat.yaml", "scope:\n  backupBucketPatterns: ['z{5000000000}']\n",
     ["invalid repetition size {5000000000}", "RE2"]),
    ("nan.yaml", "controls:\n  rds-backup-retention:\n    minRetentionDays: .nan\n",
     ["NaN"]),
    ("nan.json", '{"controls": {"rds-backup-retention": {"minRetentionDays": NaN}}}',
     ["NaN"]),
    ("binary.yaml", "scope:\n  stateBucket: !!binary aGVsbG8=\n", ["unsupported value"]),
    ("pattern-int.yaml", {"scope": {"backupBucketPatterns": [5]}},
     ["backupBucketPatterns[0]", "not of type 'string'"]),
    # encoding, syntax, size, depth
    ("latin1.yaml", b"scope:\n  stateBucket: caf\xe9\n", ["not UTF-8", "line 2"]),
    ("bad.json", "{\"controls\": ", ["not valid JSON"]),
    ("bad.yaml", "controls: [\n", ["not valid YAML"]),
    ("bigint.json", '{"controls": {"rds-backup-retention": {"minRetentionDays": '
     + "9" * 5000 + "}}}", ["controls.rds-backup-retention.minRetentionDays", "too large"]),
    ("bigint.yaml", "controls:\n  rds-backup-retention:\n    minRetentionDays: "
     + "9" * 5000 + "\n", ["controls.rds-backup-retention.minRetentionDays", "too large"]),
    ("deep.json", '{"controls": ' + "[" * 5000 + "]" * 5000 + "}", ["nested"]),
    ("deep.yaml", "scope: " + "[" * 3000 + "]" * 3000 + "\n", ["nested"]),
    ("deep-ok-parse.json", {"scope": {"stateBucket": json.loads("[" * 40 + "]" * 40)}},
     [f"nested more than {MAX_DEPTH} levels deep"]),
    ("laughs.yaml", "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
     + "".join(f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
               for p, c in zip("abcdefg", "bcdefgh", strict=True))
     + "controls: {rds-backup-retention: {checkReadReplicas: *h}}\n",
     ["more than 100000 values"]),
    ("recursive.yaml", "controls: &c {rds-backup-retention: {x: *c}}\n", ["recursive"]),
    ("unknown-key.yaml", {"controls": {}, "waiver": []}, ["unknown top-level key(s) waiver"]),
    ("unknown-control.yaml", {"controls": {"rds-backup-retentoin": {}}},
     ["unknown control 'rds-backup-retentoin'", "did you mean 'rds-backup-retention'"]),
    ("missing-file.yaml", {"waiversFile": "nope/waivers.yaml"},
     ["waiversFile", "cannot read waiver file"]),
    ("waiver-control.yaml", {"waivers": [{"control": "rds-deletion-protecton", "resource": "x",
                                          "reason": "r", "owner": "o",
                                          "expires": "2999-01-01"}]},
     ["unknown control 'rds-deletion-protecton'", "did you mean 'rds-deletion-protection'"]),
    ("account-unquoted.yaml", "controls:\n  backup-cross-account-copy:\n"
     "    destinationAccounts: [011111111111]\n",
     ["destinationAccounts[0]", "1227133513 is not of type 'string'", "in quotes", "octal"]),
]


@pytest.mark.parametrize("name, content, fragments", CASES, ids=[c[0] for c in CASES])
def test_bad_config_is_one_line_and_exit_2(tmp_path, capsys, name, content, fragments) -> None:  # noqa: ANN001
    path = _write(tmp_path, name, content)
    code, err = _cli(tmp_path, capsys, path)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"dr-audit: error: {path}"), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert "Traceback" not in err
    assert not (tmp_path / "out" / "report.json").exists()


# Broken YAML: the message says the problem and where it is (line, column), whatever the
# YAML library's context line (e.g. "while scanning a quoted scalar") would have said first.
BROKEN_YAML = [
    ("indent.yaml", "controls:\n  rds-backup-retention: 1\n    minRetentionDays: 7\n",
     "line 3, column 21: mapping values are not allowed"),
    ("quote.yaml", "scope:\n  stateBucket: 'state\n",
     "line 3, column 1: found unexpected end of stream (while scanning a quoted scalar that "
     "starts at line 2, column 16)"),
    ("dquote.yaml", 'scope:\n  stateBucket: "state\n', "found unexpected end of stream"),
    ("tab.yaml", "scope:\n\tstateBucket: x\n",
     "line 2, column 1: a tab character; YAML indents with spaces, not tabs"),
    ("flow.yaml", "scope:\n  backupBucketPatterns: [a, b\n",
     "(while parsing a flow sequence that starts at line 2, column 25)"),
    ("dedent.yaml", "controls:\n    rds-backup-retention: {}\n  - x\n",
     "line 3, column 3:"),
    ("colon.yaml", "controls:\n  rds-backup-retention\nscope: {}\nwaivers\n",
     "could not find expected ':'"),
    ("two-docs.yaml", "controls: {}\n---\nscope: {}\n",
     "line 2, column 1: found another document (expected a single document in the stream)"),
    ("dup.yaml", "scope: {}\nscope: {}\n", "duplicate key 'scope' at line 2 (first at line 1)"),
]


@pytest.mark.parametrize("name, text, fragment", BROKEN_YAML, ids=[c[0] for c in BROKEN_YAML])
def test_broken_yaml_says_the_problem_and_where(tmp_path, capsys, name, text,  # noqa: ANN001
                                                fragment) -> None:
    path = _write(tmp_path, name, text)
    code, err = _cli(tmp_path, capsys, path)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith(f"dr-audit: error: {path}: "), err
    assert fragment in err, err
    assert "while scanning for" not in err and not err.split(": ", 3)[-1].startswith("while")
    # the same file as a waiver file: named, with the same words
    waivers = _write(tmp_path, "waivers-" + name, text)
    cfg = _write(tmp_path, "dr.yaml", {"waiversFile": waivers.name})
    code, err = _cli(tmp_path, capsys, cfg)
    assert code == 2 and err.startswith(f"dr-audit: error: {waivers}: ") and fragment in err, err


def test_waiver_file_problems_name_the_waiver_file(tmp_path, capsys) -> None:  # noqa: ANN001
    waivers = _write(tmp_path, "waivers.yaml", {"waivers": [{**WAIVER, "expires": "2027-13-01"}]})
    cfg = _write(tmp_path, "dr.yaml", {"waiversFile": "waivers.yaml"})
    code, err = _cli(tmp_path, capsys, cfg)
    assert code == 2
    assert f"{waivers}: waivers: waiver #1: 'expires' must be a date" in err
    for content, fragment in ((b"waivers: [\xff]\n", "not UTF-8"),
                              ({"waiver": []}, "expected a mapping with a 'waivers' list"),
                              ({"waivers": [], "extra": 1}, "unknown top-level key(s) extra"),
                              ({"waivers": [{**WAIVER, "control": {}}]}, "waiver #1: control")):
        _write(tmp_path, "waivers.yaml", content)
        code, err = _cli(tmp_path, capsys, cfg)
        assert code == 2 and fragment in err and len(err.strip().splitlines()) == 1, err


def test_scope_waivers_and_top_level_waivers_are_merged(tmp_path) -> None:  # noqa: ANN001
    _write(tmp_path, "w1.yaml", {"waivers": [{**WAIVER, "resource": "*from-file-1*"}]})
    _write(tmp_path, "w2.yaml", {"waivers": [{**WAIVER, "resource": "*from-file-2*"}]})
    cfg = _write(tmp_path, "dr.yaml", {
        "scope": {"waivers": [{**WAIVER, "resource": "*scope*"}], "waiversFile": "w1.yaml"},
        "waivers": [{**WAIVER, "resource": "*top*"}], "waiversFile": "w2.yaml"})
    s = load_file(cfg)
    assert [w.resource for w in s.waivers] == ["*scope*", "*from-file-1*", "*top*",
                                               "*from-file-2*"]


def test_valid_configs_still_load(tmp_path) -> None:  # noqa: ANN001
    cfg = _write(tmp_path, "dr.yaml", "controls:\n  rds-backup-retention: {minRetentionDays: 14}\n"
                 "  iam-access-key-rotation: false\nscope:\n  backupBucketPatterns: "
                 "['(?i)BACKUP', '^prod-dr-']\nwaivers:\n  - control: '*'\n    tags: {env: dev}\n"
                 "    reason: r\n    owner: o\n    expires: 2027-03-31\n")
    s = load_file(cfg)
    assert s.of("rds-backup-retention")["minRetentionDays"] == 14
    assert "iam-access-key-rotation" not in s.enabled
    assert s.waivers[0].expires == dt.date(2027, 3, 31)
    assert s.scope.reasons("Prod-Backups-1", {}) == ["name matches '(?i)BACKUP'"]
    assert s.scope.reasons("prod-dr-logs", {}) == ["name matches '^prod-dr-'"]
    pack = from_mapping({"all": "disabled", "rds-backup-retention": "advisory"})
    assert pack.enabled == {"rds-backup-retention"}
    bom = _write(tmp_path, "bom.json", "\ufeff" + json.dumps({"controls": {}}))
    assert load_file(bom).enabled == from_mapping(None).enabled


def test_catastrophic_patterns_run_in_linear_time() -> None:
    """(a+)+$ against 'a'*40 + 'b' takes ~2^40 steps with backtracking; RE2 answers at once."""
    s = from_mapping({"scope": {"backupBucketPatterns": ["(a+)+$", "(x|x)*y"]},
                      "waivers": [{**WAIVER, "resource": "*a*a*a*a*a*a*a*a*a*a*a*a*b"}]})
    name = "a" * 40 + "!"
    done: list[object] = []

    def work() -> None:
        done.append(s.scope.reasons(name, {}))
        done.append(s.scope.reasons("b" + "a" * 40, {}))
        done.append(s.waivers[0].matches("rds-deletion-protection", ["a" * 5000], {}))
        done.append(s.scope.reasons("x" * 5000, {}))

    t = threading.Thread(target=work, daemon=True)
    t.start()
    t.join(timeout=20)
    assert done == [[], ["name matches '(a+)+$'"], False, []], "a user pattern did not finish"


@pytest.mark.parametrize("glob, text", [
    ("*scratch-*", "arn:aws:rds:us-east-1:1:db:scratch-1"), ("a?c", "abc"), ("[!a]b", "cb"),
    ("[a-c]x", "bx"), ("[z-a]", "m"), ("a[", "a["), ("*", ""), ("a*", "A"), ("[]]", "]"),
    ("(?i)x", "(?i)x"), ("a.b", "axb"), ("a\\b", "a\\b"),
])
def test_globs_match_as_fnmatchcase_does(glob, text) -> None:  # noqa: ANN001
    import fnmatch

    assert patterns.glob(glob).match(text) == fnmatch.fnmatchcase(text, glob)


def test_python_callers_get_config_errors_not_crashes() -> None:
    for bad in (5, "x", [1], {"controls": {"rds-backup-retention": {"minRetentionDays": True}}},
                {"scope": {"backupBucketPatterns": "(?i)backup"}},
                {"scope": {"stateBucket": 5}}, {"dr-guard-settings": [1]},
                {"dr-guard-settings": {"waivers": [None]}}, {"all": {"x": 1}}):
        with pytest.raises(ConfigError) as e:
            from_mapping(bad, where="cfg")
        assert str(e.value).startswith("cfg") and "\n" not in str(e.value)


def test_wildcards_from_policy_documents_and_stacks_are_linear() -> None:
    """IAM action wildcards and EventBridge wildcard patterns come from stacks and accounts:
    a hostile one cannot make matching backtrack."""
    from drguard.eventpattern import _wildcard
    from drguard.iampolicy import action_matches

    assert action_matches("s3:Delete*", "s3:DeleteBucket") and action_matches("S3:*", "s3:X")
    assert action_matches("s3:Get?", "s3:Gets") and not action_matches("s3:Get", "s3:GetX")
    assert _wildcard("arn:aws:s3:::b*/*", "arn:aws:s3:::bk/x") and _wildcard("a\\*b", "a*b")
    assert not _wildcard("a\\*b", "axb") and _wildcard("*", "")
    done: list[bool] = []

    def work() -> None:
        done.append(action_matches("*a" * 40 + "b", "a" * 60))
        done.append(_wildcard("*a" * 40 + "b", "a" * 5000))

    t = threading.Thread(target=work, daemon=True)
    t.start()
    t.join(timeout=20)
    assert done == [False, False]
