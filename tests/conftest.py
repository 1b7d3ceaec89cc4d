"""Shared fixtures: a moto server per test session (per xdist worker), reset per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from auditor.emulator import CREDENTIALS, MotoServer
from drguard import redact

pytest_plugins = ["tests.harness.fixtures"]


@pytest.fixture(autouse=True)
def no_secrets_from_earlier_tests() -> Iterator[None]:
    """Secrets a reader remembers live for the process (each CLI run starts by forgetting
    them); a test that reads an export without the CLI must not redact the next test's
    reports."""
    redact.forget()
    yield
    redact.forget()


@dataclass
class AwsEndpoint:
    url: str

    def client(self, service: str, region: str = "us-east-1", **kw: Any) -> Any:
        return boto3.client(service, endpoint_url=self.url, region_name=region,
                            aws_access_key_id="testing", aws_secret_access_key="testing",
                            aws_session_token="testing", **kw)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


def use_emulator_credentials(mp: pytest.MonkeyPatch, unset: tuple[str, ...] = ()) -> None:
    """The emulator's dummy credentials in the environment, and no profile, config or
    credentials file of the machine's (nor the variables in `unset`)."""
    for k, v in CREDENTIALS.items():
        mp.setenv(k, v)
    for k in ("AWS_PROFILE", *unset):
        mp.delenv(k, raising=False)
    mp.setenv("AWS_CONFIG_FILE", os.devnull)
    mp.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)


@pytest.fixture
def aws(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsEndpoint]:
    """A clean emulated AWS for one test, with dummy credentials in the environment."""
    moto_server.reset()
    use_emulator_credentials(monkeypatch)
    yield AwsEndpoint(moto_server.url)
