"""The secret-hygiene tests' fixtures: an emulator that accepts the key, a
``DAGSTER_HOME`` of their own, every log record captured, and the resource
with the key given literally and through ``EnvVar``."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from scout_dagster import ScoutResource
from scout_dagster.emulator import EmulatorConfig, EmulatorServer
from tests.secrets.support import KEY, LOGGERS, make_scout


@pytest.fixture(scope="module")
def secret_server() -> Iterator[EmulatorServer]:
    with EmulatorServer(config=EmulatorConfig(speed=200.0), api_key=KEY) as server:
        yield server


@pytest.fixture
def emulator(secret_server: EmulatorServer) -> EmulatorServer:
    secret_server.state.reset()
    return secret_server


@pytest.fixture
def dagster_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


@pytest.fixture
def caplog_everything(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


@pytest.fixture(
    params=[pytest.param("literal", id="literal-key"), pytest.param("env", id="EnvVar-key")]
)
def scout(
    request: pytest.FixtureRequest, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> ScoutResource:
    return make_scout(request.param, emulator, monkeypatch)
