"""The README's decorator example is examples/decorators.py, and it works."""

from pathlib import Path

import pyarrow.parquet as pq
from dagster import AssetKey, materialize

from examples import decorators
from scout_dagster import ScoutParquetIOManager, ScoutResource
from scout_dagster.emulator import EmulatorServer
from tests.conftest import TEST_KEY

ROOT = Path(__file__).resolve().parents[2]


def test_the_readme_shows_the_example_as_it_is() -> None:
    source = (ROOT / "examples" / "decorators.py").read_text()
    code = source[source.index("from collections.abc") :]
    assert f"```python\n{code}```" in (ROOT / "README.md").read_text()


def test_the_readme_shows_the_example_defs_yaml_as_it_is() -> None:
    defs_yaml = ROOT / "examples/dg_project/scout_dg_example/defs/ai_funding/defs.yaml"
    assert f"```yaml\n{defs_yaml.read_text()}```" in (ROOT / "README.md").read_text()


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
