"""Fixtures of the component tests: defs folders in a sandbox, a disk instance,
an emulator where the machine's shared one would be, and ``dg`` in a clean
environment."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest
from dagster import DagsterInstance, Definitions
from dagster.components.testing import create_defs_folder_sandbox

from scout_dagster._local_emulator import EMULATOR_API_KEY
from scout_dagster.emulator import EmulatorConfig, EmulatorServer

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "dg_project"
#: The `dg` of the environment the tests run in (the project's environment).
DG = Path(sys.executable).parent / "dg"
FINDALL = "scout_dagster.components.ScoutFindAllComponent"
SEARCH = "scout_dagster.components.ScoutSearchComponent"


@contextmanager
def defs_from_yaml(components: Mapping[str, str]) -> Iterator[Definitions]:
    """The definitions of a defs folder holding one ``<folder>/defs.yaml`` per
    entry, loaded as ``dg`` loads a project (Dagster's component sandbox)."""
    with create_defs_folder_sandbox() as sandbox:
        for folder, text in components.items():
            path = sandbox.defs_folder_path / folder
            path.mkdir(parents=True)
            (path / "defs.yaml").write_text(textwrap.dedent(text))
        with sandbox.build_all_defs() as defs:
            yield defs


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[DagsterInstance]:
    """A real instance on disk (SQLite storage in a temporary DAGSTER_HOME)."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with DagsterInstance.from_config(str(home)) as instance:
        yield instance


@pytest.fixture(scope="module")
def shared_emulator_server() -> Iterator[EmulatorServer]:
    config = EmulatorConfig(speed=200.0, keepalive_s=0.2, stream_tick_s=0.005)
    with EmulatorServer(config=config, api_key=EMULATOR_API_KEY) as server:
        yield server


@pytest.fixture
def shared_emulator(
    shared_emulator_server: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> EmulatorServer:
    """An emulator where the machine's shared one would be (SCOUT_EMULATOR_PORT),
    with the shared emulator's key: what the YAML opt-in reaches lands here."""
    shared_emulator_server.state.reset()
    monkeypatch.setenv("SCOUT_EMULATOR_PORT", str(shared_emulator_server.port))
    return shared_emulator_server


def dg(
    *args: str, cwd: Path, home: Path, env: Mapping[str, str] | None = None, tool: str = "dg"
) -> subprocess.CompletedProcess[str]:
    """``dg`` (or another command of this environment, ``tool``) as a user runs
    it in the project's environment: no Scout settings of the developer's, a
    DAGSTER_HOME of its own without telemetry."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("SCOUT_", "DAGSTER_"))}
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    environ.update(
        DAGSTER_HOME=str(home),
        COLUMNS="200",
        **(env or {}),
    )
    return subprocess.run(
        [str(DG.parent / tool), *args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )
