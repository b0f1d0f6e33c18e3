"""What the scaffolders write loads as written (in process; ``dg`` itself in test_dg_cli)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from dagster import DagsterInstance
from dagster.components.testing import create_defs_folder_sandbox

from scout_dagster import FindAllRequest, SearchRequest
from scout_dagster.components import ScoutFindAllComponent, ScoutSearchComponent
from scout_dagster.emulator import EmulatorServer


@pytest.mark.parametrize("scaffold_format", ["yaml", "python"])
@pytest.mark.parametrize("component_cls", [ScoutFindAllComponent, ScoutSearchComponent])
def test_a_scaffolded_component_loads_and_fails_closed(
    component_cls: type[ScoutFindAllComponent | ScoutSearchComponent], scaffold_format: str
) -> None:
    with create_defs_folder_sandbox() as sandbox:
        path = sandbox.scaffold_component(
            component_cls=component_cls,
            defs_path="research",
            scaffold_format=scaffold_format,  # type: ignore[arg-type]
        )
        written = (
            path / ("defs.yaml" if scaffold_format == "yaml" else "component.py")
        ).read_text()
        with sandbox.load_component_and_build_defs(defs_path=path) as (loaded, defs):
            component: Any = loaded if scaffold_format == "yaml" else _python_component(loaded)
            assert isinstance(component, component_cls)
            kind = FindAllRequest if component_cls is ScoutFindAllComponent else SearchRequest
            assert isinstance(component.request, kind)
            assert component.name == "research"
            scout = defs.resources["scout"]  # type: ignore[index]
            assert scout.emulator_without_key is False, "production-safe as written"
            base_path = component.io_manager.base_path
            assert base_path is not None and str(sandbox.project_root.resolve()) in base_path
    assert "SCOUT_API_KEY" in written and "emulator_without_key" in written
    if scaffold_format == "yaml":
        for field in kind.__dataclass_fields__.values():
            if field.init:
                assert field.name in written, "the comment lists every field of the request"


def _python_component(folder: Any) -> Any:
    """The component a component.py's ``load`` made: folder > python file > component."""
    (python_file,) = folder.children.values()
    (component,) = python_file.components.values()
    return component


def test_the_scaffolded_opt_in_materializes_on_the_local_emulator(
    shared_emulator: EmulatorServer, instance: DagsterInstance
) -> None:
    with create_defs_folder_sandbox() as sandbox:
        path = sandbox.scaffold_component(
            component_cls=ScoutFindAllComponent,
            defs_path="ai_infra",
            scaffold_params={"emulator_without_key": True},
        )
        assert "emulator_without_key: true" in (path / "defs.yaml").read_text()
        with sandbox.load_component_and_build_defs(defs_path=path) as (_, defs):
            job = defs.resolve_implicit_global_asset_job_def()
            result = job.execute_in_process(instance=instance)
            assert result.success
            entities = pd.read_parquet(
                sandbox.project_root / "data" / "scout" / "ai_infra_entities"
            )
    (snapshot,) = shared_emulator.ledger.runs()
    assert snapshot.query == "S-1 stage AI infrastructure companies"
    assert len(entities) == snapshot.request_body["limit"] == 10
