"""The ``scout-emulator`` command, run as a real subprocess."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from scout_dagster.emulator._cli import parse_faults

from ..conftest import wait_until

# Importing scout_dagster (and so dagster) takes a while in a fresh process.
START_TIMEOUT_S = 30.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _command() -> list[str]:
    script = Path(sys.executable).with_name("scout-emulator")
    return [str(script)] if script.exists() else [sys.executable, "-m", "scout_dagster.emulator"]


def test_cli_serves_until_interrupted() -> None:
    port = _free_port()
    process = subprocess.Popen(
        [
            *_command(),
            "--port",
            str(port),
            "--speed",
            "100",
            "--api-key",
            "cli-key",
            "--seed",
            "3",
            "--fault",
            "rate_limit_rate=0",
            "--fault",
            "create_cap=none",
            "--findall-duration",
            "4",
            "--queued",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    url = f"http://127.0.0.1:{port}"

    def serving() -> bool:
        assert process.poll() is None, process.communicate()
        try:
            return bool(httpx.get(url + "/_emulator/health", timeout=1.0).json()["ok"])
        except httpx.TransportError:
            return False

    try:
        wait_until(serving, timeout_s=START_TIMEOUT_S)
        headers = {"Authorization": "Bearer cli-key"}
        created = httpx.post(url + "/v1/findall/runs", json={"query": "q"}, headers=headers)
        assert created.status_code == 200
        assert httpx.get(url + "/_emulator/faults").json()["seed"] == 3
    finally:
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=10)
    assert process.returncode == 0, stderr
    assert f"Scout emulator listening on {url}" in stdout
    assert "API key:  cli-key" in stdout
    assert "Scout emulator stopped." in stdout
    assert "Traceback" not in stderr


def test_cli_rejects_unknown_faults() -> None:
    result = subprocess.run(
        [*_command(), "--fault", "gremlins=1"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "unknown fault 'gremlins'" in result.stderr


def test_parse_faults() -> None:
    config = parse_faults(["create_cap=5", "rate_limit_rate=0.25", "unknown_events=true"], seed=9)
    assert (config.create_cap, config.rate_limit_rate, config.unknown_events, config.seed) == (
        5,
        0.25,
        True,
        9,
    )
    assert parse_faults(["stream_drop_after_events=none"], None).stream_drop_after_events is None
    with pytest.raises(ValueError, match="rate_limit_rate"):
        parse_faults(["rate_limit_rate=2"], None)
    with pytest.raises(ValueError, match="name=value"):
        parse_faults(["create_cap"], None)
