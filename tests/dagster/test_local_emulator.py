"""The machine's shared emulator: started once, found by every later caller, outliving them."""

from __future__ import annotations

import concurrent.futures
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from scout_dagster._local_emulator import EMULATOR_API_KEY, emulator_url, ensure_local_emulator

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _emulator_pids(port: int) -> list[int]:
    found = subprocess.run(
        ["pgrep", "-f", f"scout_dagster.emulator --host 127.0.0.1 --port {port} "],
        capture_output=True,
        text=True,
    )
    return [int(pid) for pid in found.stdout.split()]


@pytest.fixture
def port() -> Iterator[int]:
    port = _free_port()
    yield port
    for pid in _emulator_pids(port):
        os.kill(pid, signal.SIGTERM)


def test_started_once_and_shared(port: int) -> None:
    url = emulator_url(port)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        assert set(pool.map(ensure_local_emulator, [url] * 4)) == {url}
    # Another process finds the same emulator instead of starting its own.
    subprocess.run(
        [
            sys.executable,
            "-c",
            f"from scout_dagster._local_emulator import ensure_local_emulator as e; e({url!r})",
        ],
        cwd=ROOT,
        check=True,
        timeout=60,
    )
    assert len(_emulator_pids(port)) == 1
    created = httpx.post(
        f"{url}/v1/findall/runs",
        json={"query": "shared"},
        headers={"Authorization": f"Bearer {EMULATOR_API_KEY}"},
    )
    assert created.status_code == 200


def test_the_port_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCOUT_EMULATOR_PORT", "9123")
    assert emulator_url() == "http://127.0.0.1:9123"
