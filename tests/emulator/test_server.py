"""EmulatorServer and run_emulator: ports, start/stop, signals, streams at shutdown."""

from __future__ import annotations

import signal
import socket
import threading
import time

import httpx
import pytest
from httpx_sse import connect_sse

from scout_dagster.emulator import (
    EmulatorConfig,
    EmulatorServer,
    FaultConfig,
    ManualClock,
    SystemClock,
    run_emulator,
)


def test_run_emulator_interface() -> None:
    config = EmulatorConfig(speed=1000.0)
    with run_emulator(config=config, faults=FaultConfig(seed=4), api_key="k", port=0) as emu:
        assert emu.url.startswith("http://127.0.0.1:") and not emu.url.endswith("/v1")
        assert emu.port > 0 and emu.api_key == "k" and emu.config is config
        assert isinstance(emu.clock, SystemClock) and emu.clock.speed == 1000.0
        assert emu.faults.config.seed == 4
        assert httpx.get(emu.url + "/_emulator/health").status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(emu.url + "/_emulator/health")


def test_default_key_and_explicit_clock() -> None:
    clock = ManualClock()
    with EmulatorServer(clock=clock, config=EmulatorConfig(speed=50.0)) as emu:
        assert emu.api_key == "scout-emulator-key"
        assert emu.clock is clock  # speed is ignored when a clock is given


def test_start_stop_without_with() -> None:
    emu = EmulatorServer()
    emu.start()
    try:
        assert emu.running
        headers = {"Authorization": f"Bearer {emu.api_key}"}
        assert httpx.get(emu.url + "/v1/searches", headers=headers).json() == []
    finally:
        emu.stop()
    assert not emu.running
    emu.stop()  # idempotent
    with pytest.raises(RuntimeError, match="already started"):
        emu.start()


def test_taken_port_fails_clearly() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match=f"cannot bind the emulator to 127.0.0.1:{port}"):
            EmulatorServer(port=port).start()


def test_signal_handlers_are_left_alone() -> None:
    before = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    with run_emulator():
        during = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    assert before == during == (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))


def test_stop_closes_open_streams_promptly() -> None:
    emu = EmulatorServer(clock=ManualClock()).start()
    headers = {"Authorization": f"Bearer {emu.api_key}"}
    with httpx.Client(base_url=emu.url, headers=headers, timeout=5.0) as client:
        run_id = client.post("/v1/findall/runs", json={"query": "q"}).json()["findall_id"]
        with connect_sse(client, "GET", f"/v1/findall/runs/{run_id}/events") as source:
            events = source.iter_sse()
            assert next(events).id == "1"
            started = time.monotonic()
            stopper = threading.Thread(target=emu.stop)
            stopper.start()
            assert list(events) == []  # the stream ends without its terminal event
            stopper.join()
    assert time.monotonic() - started < 2.0
    assert not emu.running


def test_many_concurrent_clients() -> None:
    with run_emulator(config=EmulatorConfig(speed=1000.0)) as emu:
        headers = {"Authorization": f"Bearer {emu.api_key}"}
        failures: list[BaseException] = []

        def work(n: int) -> None:
            try:
                with httpx.Client(base_url=emu.url, headers=headers, timeout=5.0) as client:
                    for i in range(5):
                        response = client.post("/v1/findall", json={"query": f"q{n}-{i}"})
                        assert response.status_code == 200
            except BaseException as error:  # collected for the main thread
                failures.append(error)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert failures == []
        assert emu.ledger.creates() == 40
