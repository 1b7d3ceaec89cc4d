"""The pack starts serving without importing its checks: policies are built from
policypack.deploy_index, and each control's check (and the config validation pass) is imported
on its first use."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from policypack import deploy_index, policies
from policypack.binding import ResourceCheck
from policypack.checks import CHECKS

ROOT = Path(__file__).resolve().parents[1]
STALE = ("policypack/deploy_index.json is stale: run `python docs/gen_controls.py` "
         "(or `python -m policypack.policies`)")


def test_deploy_index_matches_the_declarations() -> None:
    want = [(c.control, "resource" if isinstance(c, ResourceCheck) else "stack",
             c.types if isinstance(c, ResourceCheck) else frozenset()) for c in CHECKS]
    assert list(deploy_index.CHECKS) == want, STALE
    table = json.loads(deploy_index.TABLE.read_text(encoding="utf-8"))
    assert table == json.loads(json.dumps(policies.index_table())), STALE


def test_policies_from_the_table_equal_those_from_the_registry() -> None:
    from drguard.registry import BY_ID

    for control_id, _kind, _types in deploy_index.CHECKS:
        from_table = policies._plain_metadata(policies._metadata_of(control_id))
        declared = policies._plain_metadata(policies._metadata(BY_ID[control_id]))
        assert from_table == declared, control_id
    settings = policies.settings_policy()
    assert settings.name == policies._settings_schema()["name"]
    assert settings.config_schema.properties == policies._settings_schema()["config_schema"]


def test_building_the_pack_imports_no_check_until_one_runs() -> None:
    code = """
import json, sys
from policypack.policies import build
import policypack.serve  # what the entry point imports
policies = build()
loaded = sorted(m for m in sys.modules if m.startswith(("policypack.services",
                                                        "policypack.checks",
                                                        "policypack.stack",
                                                        "drguard.settings",
                                                        "drguard.waivers",
                                                        "drguard.registry",
                                                        "drguard.controls")))
names = [p.name for p in policies]
print(json.dumps({"loaded": loaded, "names": names}))
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    got = json.loads(out.stdout)
    assert got["loaded"] == []
    assert got["names"][1:] == [c.control for c in CHECKS]  # after the settings carrier


def test_a_policy_runs_its_check_on_first_use() -> None:
    from pulumi_policy import ResourceValidationPolicy

    policy = next(p for p in policies.build() if p.name == "rds-backup-retention")
    assert isinstance(policy, ResourceValidationPolicy)
    seen: list[str] = []

    class Args:
        resource_type = "aws:rds/instance:Instance"
        urn = "urn:pulumi:dev::p::aws:rds/instance:Instance::db"
        name = "db"
        props = {"identifier": "db", "backupRetentionPeriod": 1}
        opts = None
        provider = None
        property_dependencies: dict[str, list[str]] = {}

        def get_config(self) -> dict[str, object]:
            return {}

    policy.validate(Args(), lambda msg, urn=None: seen.append(msg))
    assert seen and "retention" in seen[0].lower(), seen
