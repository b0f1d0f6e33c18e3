"""The key named in YAML is never written anywhere at load or in a run.

``api_key_env`` names a variable; the key is read where each run executes. A
recognizable key set in the environment of the loading process (and of the
run: in process here) appears in no attribute of the component, in no part
of the repository snapshot the code location serves (asset nodes, resource
configs, job snapshots, the component tree), and in nothing the run leaves
in the instance's storage.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterInstance
from dagster._core.remote_representation.external_data import RepositorySnap
from dagster._serdes import serialize_value
from dagster.components.testing import create_defs_folder_sandbox

from scout_dagster.emulator import EmulatorConfig, EmulatorServer
from tests.components.conftest import FINDALL, SEARCH
from tests.secrets.support import KeyScan

KEY = "sk-live-COMPONENT-5e4d3c2b1a09"


@pytest.fixture
def keyed_emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatorServer]:
    """An emulator that takes KEY, which the environment holds: the real-service path."""
    with EmulatorServer(config=EmulatorConfig(speed=200.0), api_key=KEY) as server:
        monkeypatch.setenv("SCOUT_API_KEY", KEY)
        monkeypatch.setenv("ACME_SCOUT_KEY", KEY)
        monkeypatch.setenv("SCOUT_BASE_URL", server.url)
        yield server


def test_the_key_is_in_no_snapshot_and_no_storage(
    keyed_emulator: EmulatorServer, instance: DagsterInstance, tmp_path: Path
) -> None:
    base = tmp_path / "tables"
    findall = f"""
type: {FINDALL}
attributes:
  name: ai_infra
  request:
    query: "S-1 stage AI infrastructure companies"
    limit: 3
  resource:
    api_key_env: SCOUT_API_KEY
  io_manager:
    base_path: "{base}"
"""
    # Another variable, bound under a key of its own: an EnvVar, name only.
    search = f"""
type: {SEARCH}
attributes:
  name: ev_market
  request:
    queries: ["latest electric vehicle market trends"]
  resource:
    key: scout_acme
    api_key_env: ACME_SCOUT_KEY
  io_manager:
    base_path: "{base}"
"""
    scan = KeyScan(KEY)
    with create_defs_folder_sandbox() as sandbox:
        for folder, text in (("ai_infra", findall), ("ev_market", search)):
            (sandbox.defs_folder_path / folder).mkdir()
            (sandbox.defs_folder_path / folder / "defs.yaml").write_text(text)
            scan.text(f"{folder}/defs.yaml", text)
        with sandbox.build_component_tree() as tree:
            defs = tree.build_defs()
            for path in ("ai_infra", "ev_market"):
                component = tree.load_component(path)
                scan.text(f"{path} component", repr(component))
                scan.text(f"{path} component attributes", repr(vars(component)))
            repository = defs.get_repository_def()
            snapshot = RepositorySnap.from_def(repository)
            scan.text("repository snapshot", serialize_value(snapshot))
            for name, resource in repository.get_top_level_resources().items():
                scan.text(f"resource {name}", repr(resource))
            result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
                instance=instance
            )
    assert result.success
    assert len(keyed_emulator.ledger.runs()) == 2, "both runs reached the service with the key"
    scan.serialized("run events", result.all_events)
    scan.serialized("event log", instance.all_logs(result.run_id))
    scan.files(tmp_path / "dagster_home")
    scan.files(base)
    scan.assert_saw(
        "repository snapshot",
        "ai_infra component attributes",
        "dagster_home/history/runs.db",
        "tables/ai_infra_entities",
    )
    scan.assert_clean()
