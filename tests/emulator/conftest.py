"""Fixtures: emulators served on loopback, and plain httpx clients for them.

Servers are session-scoped (starting uvicorn costs ~50 ms) and reset before
each test, so every test starts with no runs, no records and no faults.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from scout_dagster.emulator import EmulatorConfig, EmulatorServer, ManualClock

# Read timeout of the test clients, in real seconds: a hung stream fails fast.
WAIT_TIMEOUT_S = 5.0


@pytest.fixture(scope="session")
def manual_server() -> Iterator[EmulatorServer]:
    """An emulator on a ManualClock: time moves only when a test advances it."""
    config = EmulatorConfig(keepalive_s=0.1, stream_tick_s=0.005, api_keys=("second-key",))
    with EmulatorServer(config=config, clock=ManualClock(), api_key="test-key") as server:
        yield server


@pytest.fixture
def emu(manual_server: EmulatorServer) -> EmulatorServer:
    manual_server.state.reset()
    return manual_server


@pytest.fixture
def clock(emu: EmulatorServer) -> ManualClock:
    assert isinstance(emu.clock, ManualClock)
    return emu.clock


@pytest.fixture
def client(emu: EmulatorServer) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {emu.api_key}", "Scout-Version": "2026-06-21"}
    with httpx.Client(base_url=emu.url, headers=headers, timeout=WAIT_TIMEOUT_S) as http:
        yield http


@pytest.fixture(scope="session")
def fast_server() -> Iterator[EmulatorServer]:
    """An emulator on a SystemClock at 1000x: a 40 s run takes 40 ms."""
    config = EmulatorConfig(speed=1000.0, keepalive_s=0.1, stream_tick_s=0.005)
    with EmulatorServer(config=config) as server:
        yield server


@pytest.fixture
def fast(fast_server: EmulatorServer) -> EmulatorServer:
    fast_server.state.reset()
    return fast_server


@pytest.fixture
def fast_client(fast: EmulatorServer) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {fast.api_key}"}
    with httpx.Client(base_url=fast.url, headers=headers, timeout=WAIT_TIMEOUT_S) as http:
        yield http
