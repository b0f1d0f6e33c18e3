"""Fixtures of the Dagster-layer tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterInstance


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[DagsterInstance]:
    """A real instance on disk (SQLite storage in a temporary DAGSTER_HOME), as
    re-executions and run-tag lookups need; telemetry off."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with DagsterInstance.from_config(str(home)) as instance:
        yield instance
