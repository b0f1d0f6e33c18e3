"""Fixtures of the Dagster-layer tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from dagster import DagsterInstance


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[DagsterInstance]:
    """A real instance on disk (SQLite storage in a temporary DAGSTER_HOME), as
    re-executions and run-tag lookups need; telemetry off, and no compute-log
    capture: it redirects the process's stdout and stderr through ``tail -F``
    processes, and a run in a background thread of a loaded test worker
    stalled on them (no test reads compute logs)."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        "telemetry:\n  enabled: false\n"
        "compute_logs:\n"
        "  module: dagster._core.storage.noop_compute_log_manager\n"
        "  class: NoOpComputeLogManager\n"
    )
    with DagsterInstance.from_config(str(home)) as instance:
        yield instance


def write_dagster_home(home: Path, run_coordinator: str, coordinator_config: str = "") -> Path:
    """A DAGSTER_HOME whose dagster.yaml names the run coordinator (a class of
    ``dagster._core.run_coordinator``) and Dagster's default run launcher,
    which has the code server start each run in a process of its own."""
    home.mkdir(parents=True, exist_ok=True)
    config = f"  config:\n{coordinator_config}" if coordinator_config else ""
    (home / "dagster.yaml").write_text(
        "telemetry:\n"
        "  enabled: false\n"
        "run_coordinator:\n"
        "  module: dagster._core.run_coordinator\n"
        f"  class: {run_coordinator}\n"
        f"{config}"
        "run_launcher:\n"
        "  module: dagster\n"
        "  class: DefaultRunLauncher\n"
    )
    return home


def write_workspace(path: Path, location: ModuleType, name: str) -> Path:
    """A workspace.yaml loading ``location`` (a module file) as code location ``name``."""
    path.write_text(
        "load_from:\n"
        "  - python_file:\n"
        f"      relative_path: {Path(str(location.__file__)).resolve()}\n"
        f"      location_name: {name}\n"
        f"      working_directory: {Path(__file__).resolve().parents[2]}\n"
    )
    return path
