"""``dg`` in the project's environment: listing, scaffolding and checking Scout components.

Each command is a subprocess of the ``dg`` this environment installed, with
a DAGSTER_HOME of its own and no Scout settings of the developer's (no
network: the projects are written by hand, nothing is installed).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from scout_dagster.emulator import EmulatorServer
from tests.components.conftest import EXAMPLE, FINDALL, SEARCH, dg


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result


def test_dg_list_components_shows_the_scout_components(tmp_path: Path) -> None:
    result = ok(dg("list", "components", "--json", cwd=tmp_path, home=tmp_path / "home"))
    items = {item["key"]: item["summary"] for item in json.loads(result.stdout)["items"]}
    assert "A Scout FindAll run" in items[FINDALL]
    assert "A Scout deep-search run" in items[SEARCH]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A fresh dg project, as `create-dagster project` lays it out, written by hand."""
    root = tmp_path / "research"
    package = root / "research"
    (package / "defs").mkdir(parents=True)
    (root / "pyproject.toml").write_text(
        textwrap.dedent("""
            [project]
            name = "research"
            version = "0.1.0"
            requires-python = ">=3.11"
            dependencies = ["scout-dagster[dg]"]

            [tool.dg]
            directory_type = "project"

            [tool.dg.project]
            root_module = "research"

            [tool.dg.cli.telemetry]
            enabled = false
        """)
    )
    (package / "__init__.py").write_text("")
    (package / "defs" / "__init__.py").write_text("")
    (package / "definitions.py").write_text(
        textwrap.dedent("""
            from pathlib import Path

            import dagster as dg


            @dg.definitions
            def defs() -> dg.Definitions:
                return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
        """)
    )
    return root


def test_scaffolded_defs_pass_dg_check_defs(project: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    ok(dg("scaffold", "defs", FINDALL, "ai_infra", cwd=project, home=home))
    ok(dg("scaffold", "defs", SEARCH, "ev-market", cwd=project, home=home))
    findall = project / "research" / "defs" / "ai_infra" / "defs.yaml"
    written = findall.read_text()
    assert f"type: {FINDALL}\n" in written and "  name: ai_infra\n" in written
    # The key's variable is named, and the run fails closed without it.
    assert "    api_key_env: SCOUT_API_KEY\n" in written
    assert "    emulator_without_key: false\n" in written
    search = (project / "research" / "defs" / "ev-market" / "defs.yaml").read_text()
    assert f"type: {SEARCH}\n" in search and "  name: ev_market\n" in search

    result = ok(dg("check", "defs", cwd=project, home=home))
    assert "All component YAML validated successfully" in result.stdout
    assert "All definitions loaded successfully" in result.stdout
    listed = ok(dg("list", "defs", "--json", cwd=project, home=home))
    keys = {asset["asset_key"] for asset in json.loads(listed.stdout)["assets"]}
    assert keys == {
        "ai_infra_entities",
        "ai_infra_citations",
        "ev_market_results",
        "ev_market_sources",
        "ev_market_findings",
        "ev_market_report",
    }

    # dg check defs names a misspelt request field from the request's own schema.
    findall.write_text(findall.read_text().replace("limit: 10", "limt: 10"))
    bad = dg("check", "defs", cwd=project, home=home)
    assert bad.returncode != 0
    assert "attributes.request.limt" in bad.stdout + bad.stderr
    assert "'limt' was unexpected" in bad.stdout + bad.stderr


def test_the_example_project_checks_and_lists_its_assets(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = ok(dg("check", "defs", cwd=EXAMPLE, home=home))
    assert "All definitions loaded successfully" in result.stdout
    listed = ok(dg("list", "defs", "--json", cwd=EXAMPLE, home=home))
    defs = json.loads(listed.stdout)
    assets = {asset["asset_key"]: asset for asset in defs["assets"]}
    assert set(assets) == {
        "ai_funding_entities",
        "ai_funding_citations",
        "ev_market_results",
        "ev_market_sources",
        "ev_market_findings",
        "ev_market_report",
    }
    funding = assets["ai_funding_entities"]
    assert funding["group_name"] == "scout_daily"
    assert funding["automation_condition"]["label"].startswith("on_cron(0 6 * * *")
    assert {"key": "team", "value": "research"} in funding["tags"]
    assert assets["ev_market_results"].get("automation_condition") is None
    assert {resource["name"] for resource in defs["resources"]} == {"scout", "scout_io_manager"}
    assert not (EXAMPLE / "data").exists(), "checking and listing write no table"


def test_the_example_project_materializes_a_partition_on_the_opt_in_emulator(
    shared_emulator: EmulatorServer, tmp_path: Path
) -> None:
    """Dagster's own CLI, in a copy of the example (its tables go below the project)."""
    project = tmp_path / "dg_project"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("data", "__pycache__"))
    args = ["asset", "materialize", "-m", "scout_dg_example.definitions"]
    args += ["--select", "ai_funding_entities,ai_funding_citations", "--partition", "2026-01-05"]
    env = {"SCOUT_EMULATOR_PORT": str(shared_emulator.port)}
    ok(dg(*args, cwd=project, home=tmp_path / "home", env=env, tool="dagster"))
    (snapshot,) = shared_emulator.ledger.runs()
    query = "AI infrastructure companies that announced a funding round on January 05, 2026"
    assert snapshot.query == query
    entities = pd.read_parquet(project / "data" / "scout" / "ai_funding_entities")
    assert len(entities) == 10 and set(entities["partition_key"]) == {"2026-01-05"}
