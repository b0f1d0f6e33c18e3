"""The README's quickstart and the examples the docs show, as written, and that they work.

The README's quickstart is executed from the README itself; the decorator
example in docs/assets.md is examples/decorators.py, and the YAML example
there is examples/dg_project's defs.yaml, both shown verbatim.
"""

import re
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from dagster import AssetKey, DagsterInstance, Definitions, materialize

from examples import decorators
from scout_dagster import ScoutParquetIOManager, ScoutResource
from scout_dagster._local_emulator import EMULATOR_API_KEY
from scout_dagster.emulator import EmulatorConfig, EmulatorServer
from tests.conftest import TEST_KEY

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
ASSETS_DOC = ROOT / "docs" / "assets.md"


def _section(path: Path, heading: str) -> str:
    """The text of ``path`` from ``heading`` (a whole line) to the next heading of its level."""
    text = path.read_text()
    level = heading.split(" ", 1)[0]
    start = text.index(f"\n{heading}\n") + len(heading) + 2
    following = re.search(rf"^{level} ", text[start:], flags=re.MULTILINE)
    return text[start:] if following is None else text[start : start + following.start()]


def _quickstart() -> str:
    blocks: list[str] = re.findall(r"```python\n(.*?)```", _section(README, "## Quickstart"), re.S)
    (code,) = blocks
    return code


def test_the_docs_show_the_decorator_example_as_it_is() -> None:
    source = (ROOT / "examples" / "decorators.py").read_text()
    code = source[source.index("from collections.abc") :]
    assert f"```python\n{code}```" in ASSETS_DOC.read_text()


def test_the_docs_show_the_example_defs_yaml_as_it_is() -> None:
    defs_yaml = ROOT / "examples/dg_project/scout_dg_example/defs/ai_funding/defs.yaml"
    assert f"```yaml\n{defs_yaml.read_text()}```" in ASSETS_DOC.read_text()


def test_the_readme_keeps_the_two_commands() -> None:
    """.ci/run runs the README's test command; the README names both commands."""
    commands = _section(README, "## The two commands")
    assert "bash scripts/main.sh   # the main job" in commands
    assert "bash scripts/test.sh   # the whole test suite" in commands
    assert "exec bash scripts/test.sh" in (ROOT / ".ci" / "run").read_text()


@pytest.fixture
def shared_emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatorServer]:
    """An emulator where the machine's shared one would be (SCOUT_EMULATOR_PORT),
    with its key: where the quickstart's opt-in lands, seen in its ledger."""
    config = EmulatorConfig(speed=200.0, keepalive_s=0.2, stream_tick_s=0.005)
    with EmulatorServer(config=config, api_key=EMULATOR_API_KEY) as server:
        monkeypatch.setenv("SCOUT_EMULATOR_PORT", str(server.port))
        yield server


def test_the_readme_quickstart_is_a_code_location_that_materializes(
    shared_emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The quickstart as the README shows it, its own resources and all: with
    no SCOUT_API_KEY its opt-in reaches the emulator, marks the data synthetic
    and writes both tables under data/scout/ of the working directory."""
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    exec(compile(_quickstart(), f"{README}:Quickstart", "exec"), namespace)
    defs = namespace["defs"]
    assert isinstance(defs, Definitions)
    keys = {AssetKey("ai_infra_entities"), AssetKey("ai_infra_citations")}
    assert defs.resolve_asset_graph().get_all_asset_keys() == keys
    assert "--select ai_infra_entities,ai_infra_citations" in _section(README, "## Quickstart")
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(instance=DagsterInstance.ephemeral())
    assert result.success
    (snapshot,) = shared_emulator.ledger.runs()
    assert snapshot.request_body["limit"] == 25
    for event in result.get_asset_materialization_events():
        metadata = event.step_materialization_data.materialization.metadata
        assert "SYNTHETIC" in str(metadata["scout/synthetic"].value)
    entities = pq.read_table(tmp_path / "data" / "scout" / "ai_infra_entities" / "data.parquet")
    citations = pq.read_table(tmp_path / "data" / "scout" / "ai_infra_citations" / "data.parquet")
    assert 0 < entities.num_rows <= 25
    assert {"name", "website", "headquarters"} <= set(entities.column_names)
    assert set(entities.column("run_id").to_pylist()) == {snapshot.run_id}
    assert set(citations.column("run_id").to_pylist()) == {snapshot.run_id}


def test_the_decorator_example_materializes_every_table(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    resources = {
        "scout": ScoutResource(api_key=TEST_KEY, base_url=emulator.url),
        "scout_io_manager": ScoutParquetIOManager(base_path=str(tmp_path)),
    }
    assets = decorators.ai_infra
    assert assets.keys == {
        AssetKey(["research", "ai_infra_entities"]),
        AssetKey(["research", "ai_infra_citations"]),
    }
    assert all(spec.automation_condition is not None for spec in assets.specs)
    assert all(spec.blocking for spec in assets.check_specs)
    result = materialize([assets], resources=resources)
    assert result.success
    (snapshot,) = emulator.ledger.runs()
    entities = pq.read_table(tmp_path / "research" / "ai_infra_entities" / "data.parquet")
    citations = pq.read_table(tmp_path / "research" / "ai_infra_citations" / "data.parquet")
    assert 0 < entities.num_rows <= 25
    assert set(entities.column("run_id").to_pylist()) == {snapshot.run_id}
    assert set(citations.column("run_id").to_pylist()) == {snapshot.run_id}
    search = decorators.ev_market
    assert materialize([search], resources=resources).success
    (_, searched) = emulator.ledger.runs()
    assert searched.request_body["freshness"] == "month"
    report = (tmp_path / "ev_market_report" / "report.md").read_text()
    assert report and "[1]" in report
    graph = decorators.defs.resolve_asset_graph()
    assert graph.get_all_asset_keys() == assets.keys | search.keys
