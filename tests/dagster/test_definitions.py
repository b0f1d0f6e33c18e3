"""definitions.py: loads without a network call or a started emulator, and picks the
real API or the emulator from the environment."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_PROBE = """
import json
import definitions
scout = definitions.defs.resources["scout"]
repo = definitions.defs.get_repository_def()
print(json.dumps({
    "base_url": scout.base_url,
    "local_emulator": scout.local_emulator,
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


def test_without_a_key_it_uses_the_emulator_says_so_and_starts_nothing() -> None:
    port = _free_port()
    facts, log = _load({"SCOUT_EMULATOR_PORT": str(port)})
    assert facts["base_url"] == f"http://127.0.0.1:{port}"
    assert facts["local_emulator"] is True
    assert "LOCAL EMULATOR" in log
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0, "importing started an emulator"
    assert facts["jobs"] == ["scout_daily", "scout_research"]
    assert facts["schedules"] == ["scout_daily_6am", "scout_research_weekly"]


def test_with_a_key_it_uses_the_real_api() -> None:
    facts, log = _load({"SCOUT_API_KEY": "sk-live-abc"})
    assert facts == facts | {"base_url": "https://core.usescout.sh", "local_emulator": False}
    assert "LOCAL EMULATOR" not in log
    assert "sk-live-abc" not in log

    facts, _ = _load({"SCOUT_API_KEY": "sk-live-abc", "SCOUT_BASE_URL": "https://eu.scout.test/v1"})
    assert facts["base_url"] == "https://eu.scout.test"


def test_a_base_url_without_a_key_is_an_error_not_the_emulator() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import definitions"],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if not k.startswith("SCOUT_")}
        | {"SCOUT_BASE_URL": "https://eu.scout.test"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert (
        "SCOUT_BASE_URL is set (https://eu.scout.test) but SCOUT_API_KEY is not: set the key "
        "for that service (for an emulator you run yourself, its key, 'scout-emulator-key' by "
        "default), or unset SCOUT_BASE_URL to use the local emulator"
    ) in done.stderr
