"""definitions.py: loads without a network call or a started emulator, opts in to
the emulator for runs without a key (and says so), and reads the service from the
environment."""

from __future__ import annotations

import ast
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_PROBE = """
import ast
import json
import definitions
scout = definitions.defs.resources["scout"]
repo = definitions.defs.get_repository_def()
print(json.dumps({
    "base_url": scout.base_url,
    "local_emulator": scout.local_emulator,
    "emulator_without_key": scout.emulator_without_key,
    "api_key": scout.api_key,
    "jobs": sorted(j.name for j in repo.get_all_jobs() if not j.name.startswith("__")),
    "schedules": sorted(s.name for s in repo.schedule_defs),
    "assets": len(repo.asset_graph.get_all_asset_keys()),
}))
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _load(env: dict[str, str]) -> tuple[dict[str, object], str]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if not k.startswith("SCOUT_")} | env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def test_without_a_key_it_opts_in_to_the_emulator_says_so_and_starts_nothing() -> None:
    port = _free_port()
    facts, log = _load({"SCOUT_EMULATOR_PORT": str(port)})
    # The choice is made where each run executes, from that process's SCOUT_API_KEY.
    assert facts == facts | {
        "base_url": "https://core.usescout.sh",
        "local_emulator": False,
        "emulator_without_key": True,
        "api_key": None,
    }
    assert "LOCAL EMULATOR" in log and "SYNTHETIC" in log
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0, "importing started an emulator"
    assert facts["jobs"] == ["scout_daily", "scout_history", "scout_research"]
    assert facts["schedules"] == ["scout_daily_6am", "scout_research_weekly"]


def test_with_a_key_it_uses_the_real_api_and_says_nothing_of_the_emulator() -> None:
    facts, log = _load({"SCOUT_API_KEY": "sk-live-abc"})
    assert facts == facts | {"base_url": "https://core.usescout.sh", "local_emulator": False}
    assert facts["api_key"] is None, "the key is read where runs execute, not kept in config"
    assert "LOCAL EMULATOR" not in log
    assert "sk-live-abc" not in log

    facts, _ = _load({"SCOUT_API_KEY": "sk-live-abc", "SCOUT_BASE_URL": "https://eu.scout.test/v1"})
    assert facts["base_url"] == "https://eu.scout.test"


def test_a_base_url_given_where_the_key_is_not_loads() -> None:
    # The code server may hold no secrets; the run workers that execute runs do.
    facts, _ = _load({"SCOUT_BASE_URL": "https://eu.scout.test"})
    assert facts["base_url"] == "https://eu.scout.test"


#: What loading definitions must not import: the HTTP client, and the data
#: libraries (pyarrow and numpy cost ~0.3 s a process, pandas ~0.4 s more).
HEAVY_MODULES = ("httpx", "httpx_sse", "numpy", "pandas", "pyarrow")


def _heavy_modules_after(code: str) -> list[str]:
    code += f"\nimport sys\nprint(sorted(n for n in {HEAVY_MODULES!r} if n in sys.modules))\n"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return list(ast.literal_eval(out.stdout.strip().splitlines()[-1]))


def test_defining_scout_assets_imports_no_http_client_and_no_data_library() -> None:
    """Loading a code location (a code server, ``dg check defs``) needs neither:
    they load when a run first uses them."""
    code = (
        "from dagster import Definitions\n"
        "from scout_dagster import (ScoutParquetIOManager, ScoutResource, build_findall_assets,\n"
        "    build_search_assets, build_scout_monitor_assets, build_scout_monitor_sensor,\n"
        "    build_current_entities, build_scout_runs_ledger, build_findall_enrich_assets,\n"
        "    build_findall_extend_assets)\n"
        "a = build_findall_assets('ai', 'AI companies', limit=3)\n"
        "s = build_search_assets('ev', ['ev trends'])\n"
        "m = build_scout_monitor_assets('chips', 'mon_1')\n"
        "e = build_findall_enrich_assets(a, name='ai_more', fields=['ceo'])\n"
        "x = build_findall_extend_assets(a, name='ai_wider', additional_limit=5)\n"
        "Definitions(assets=[a, s, m, e, x, build_current_entities(a),\n"
        "    build_scout_runs_ledger(a, s)], sensors=[build_scout_monitor_sensor(m)],\n"
        "    resources={'scout': ScoutResource.from_env(emulator_without_key=True),\n"
        "               'scout_io_manager': ScoutParquetIOManager()})\n"
    )
    assert _heavy_modules_after(code) == []


def test_the_example_code_location_imports_no_http_client_and_no_data_library() -> None:
    assert _heavy_modules_after("import definitions") == []
