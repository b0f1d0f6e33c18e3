"""One remote run, all its tables, through the paths a user takes: the UI's
Materialize (its GraphQL query for the tables that must come along) and the
``dagster asset materialize`` CLI."""

import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
from dagster import DagsterInstance
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import PythonFileTarget
from dagster_graphql.test.utils import execute_dagster_graphql

from scout_dagster.emulator import EmulatorServer
from tests.conftest import TEST_KEY
from tests.dagster import one_run_location as location

ROOT = Path(__file__).resolve().parents[2]
#: What the UI's Materialize dialog asks before it launches (dagster PR 19345).
REQUIRED_KEYS = """
query Required($assetKeys: [AssetKeyInput!]!) {
  assetNodeAdditionalRequiredKeys(assetKeys: $assetKeys) { path }
}
"""


def test_the_ui_adds_the_runs_other_tables_to_a_one_table_materialize(
    instance: DagsterInstance,
) -> None:
    target = PythonFileTarget(
        python_file=location.__file__,
        attribute=None,
        working_directory=str(ROOT),
        location_name="one_run",
    )
    with WorkspaceProcessContext(instance, target) as process_context:
        context = process_context.create_request_context()
        assert not context.code_location_errors()
        for clicked, expected in (
            ("ai_citations", {"ai_entities"}),
            ("ev_report", {"ev_results", "ev_sources", "ev_findings"}),
        ):
            result = execute_dagster_graphql(
                context, REQUIRED_KEYS, variables={"assetKeys": [{"path": [clicked]}]}
            )
            added = {"/".join(k["path"]) for k in result.data["assetNodeAdditionalRequiredKeys"]}
            assert added == expected


def _materialize(select: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    dagster = Path(sys.executable).with_name("dagster")
    return subprocess.run(
        [str(dagster), "asset", "materialize", "-f", location.__file__, "--select", select],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_cli_materializes_a_whole_run_and_refuses_one_table_alone(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCOUT_")} | {
        "DAGSTER_HOME": str(home),
        "SCOUT_API_KEY": TEST_KEY,
        location.ENV_URL: emulator.url,
        location.ENV_DATA: str(data),
    }

    alone = _materialize("ai_citations", env)
    assert alone.returncode != 0
    assert "required_multi_asset_neighbors" in alone.stderr + alone.stdout
    assert emulator.ledger.creates() == 0 and not data.exists()

    whole = _materialize("ai_entities,ai_citations", env)
    assert whole.returncode == 0, whole.stderr[-2000:]
    (snapshot,) = emulator.ledger.runs()
    for table in ("ai_entities", "ai_citations"):
        written = pq.read_table(data / table / "data.parquet")
        assert set(written.column("run_id").to_pylist()) == {snapshot.run_id}
