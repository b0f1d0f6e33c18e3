"""The Arrow memory pool of a process that runs steps: the resource's choice,
set as its steps' resources are, unless pyarrow's own variable chose one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from dagster import build_resources, materialize
from pydantic import ValidationError

from scout_dagster import FindAllRequest, ScoutParquetIOManager, ScoutResource, build_findall_assets
from scout_dagster._arrow_pool import ARROW_POOL_ENV, use_memory_pool
from scout_dagster.emulator import EmulatorServer
from tests.conftest import TEST_KEY


@pytest.fixture
def mimalloc_default(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """pyarrow's default pool, as a fresh process has it; put back afterwards."""
    before = pa.default_memory_pool()
    monkeypatch.delenv(ARROW_POOL_ENV, raising=False)
    pa.set_memory_pool(pa.mimalloc_memory_pool())
    yield
    pa.set_memory_pool(before)


def _materialize(server: EmulatorServer, base: Path, **resource: Any) -> None:
    assets = build_findall_assets(
        "pooled", request=FindAllRequest(query="AI infrastructure", limit=5)
    )
    result = materialize(
        [assets],
        resources={
            "scout": ScoutResource(api_key=TEST_KEY, base_url=server.url, **resource),
            "scout_io_manager": ScoutParquetIOManager(base_path=str(base)),
        },
    )
    assert result.success


@pytest.mark.usefixtures("mimalloc_default")
def test_a_step_runs_on_jemalloc_unless_told_otherwise(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    _materialize(emulator, tmp_path / "default")
    assert pa.default_memory_pool().backend_name == "jemalloc"


@pytest.mark.usefixtures("mimalloc_default")
def test_unchanged_leaves_pyarrows_pool(emulator: EmulatorServer, tmp_path: Path) -> None:
    _materialize(emulator, tmp_path / "unchanged", arrow_memory_pool="unchanged")
    assert pa.default_memory_pool().backend_name == "mimalloc"


@pytest.mark.usefixtures("mimalloc_default")
def test_resources_built_outside_a_run_leave_the_pool(emulator: EmulatorServer) -> None:
    # As a sensor's tick builds them, in the long-lived code server.
    with build_resources({"scout": ScoutResource(api_key=TEST_KEY, base_url=emulator.url)}):
        pass
    assert pa.default_memory_pool().backend_name == "mimalloc"


@pytest.mark.usefixtures("mimalloc_default")
def test_pyarrows_own_variable_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ARROW_POOL_ENV, "mimalloc")
    assert use_memory_pool("jemalloc") == "mimalloc"
    monkeypatch.delenv(ARROW_POOL_ENV)
    assert use_memory_pool("system") == "system"


def test_a_pool_that_is_none_fails_at_definition_time() -> None:
    with pytest.raises(ValidationError, match="arrow_memory_pool"):
        ScoutResource(api_key=TEST_KEY, arrow_memory_pool="tcmalloc")  # type: ignore[arg-type]
