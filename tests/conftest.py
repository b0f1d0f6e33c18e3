"""Fixtures shared by every test: a clean environment and emulators on loopback.

Emulator servers are module-scoped (starting uvicorn costs ~50 ms) and reset
before each test, so every test starts with no runs, no records, no faults.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow.fs as pafs
import pytest
from dagster import AssetKey, ExecuteInProcessResult

from scout_dagster import RetryPolicy, ScoutClient
from scout_dagster.emulator import EmulatorConfig, EmulatorServer, ManualClock

#: The key tests use; recognizable so leak checks can search for it.
TEST_KEY = "sk-test-7f3a9c-DO-NOT-LEAK"
#: Bounds of every wait on a condition, in real seconds.
WAIT_TIMEOUT_S = 10.0
#: How often a wait looks at its condition, in real seconds.
POLL_S = 0.005


def wait_until(predicate: Callable[[], object], timeout_s: float = WAIT_TIMEOUT_S) -> None:
    """Poll ``predicate`` until truthy; fail after ``timeout_s`` real seconds."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        time.sleep(POLL_S)


@pytest.fixture
def python_sigint() -> Iterator[None]:
    """Python's own SIGINT handler, for a test that calls ``_thread.interrupt_main()``
    (which raises KeyboardInterrupt only under that handler).

    Dagster's ``capture_interrupts`` replaces it while a run executes in the main
    thread and puts it back when the execution's generator closes; a generator an
    earlier test in this worker left suspended, and collected on a later thread,
    cannot put it back (only the main thread may). The interrupt would then be
    recorded for a run that is not there, and never raised.
    """
    previous = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's Scout settings."""
    for name in ("SCOUT_API_KEY", "SCOUT_BASE_URL", "SCOUT_DAGSTER_DATA", "SCOUT_EMULATOR_PORT"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def fast_emulator_server() -> Iterator[EmulatorServer]:
    # 200x: a 40 s FindAll takes 0.2 s, a 30 s search 0.15 s; slow enough to
    # see progress events, fast enough for a quick suite.
    config = EmulatorConfig(speed=200.0, keepalive_s=0.2, stream_tick_s=0.005)
    with EmulatorServer(config=config, api_key=TEST_KEY) as server:
        yield server


@pytest.fixture
def emulator(fast_emulator_server: EmulatorServer) -> EmulatorServer:
    fast_emulator_server.state.reset()
    return fast_emulator_server


@pytest.fixture(scope="module")
def slow_emulator_server() -> Iterator[EmulatorServer]:
    # 10x: FindAll runs take 4 s and searches 3 s of real time, long enough for
    # deadlines of a second or so to pass, or a worker to be killed, mid-run.
    config = EmulatorConfig(speed=10.0, keepalive_s=0.2, stream_tick_s=0.005)
    with EmulatorServer(config=config, api_key=TEST_KEY) as server:
        yield server


@pytest.fixture
def slow_emulator(slow_emulator_server: EmulatorServer) -> EmulatorServer:
    slow_emulator_server.state.reset()
    return slow_emulator_server


@pytest.fixture(scope="module")
def manual_emulator_server() -> Iterator[EmulatorServer]:
    config = EmulatorConfig(keepalive_s=0.1, stream_tick_s=0.005)
    with EmulatorServer(config=config, clock=ManualClock(), api_key=TEST_KEY) as server:
        yield server


@pytest.fixture
def manual_emulator(manual_emulator_server: EmulatorServer) -> EmulatorServer:
    manual_emulator_server.state.reset()
    return manual_emulator_server


class SleepRecorder(list[float]):
    """A ``sleep`` that records instead of waiting (retries in tests cost no time)."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def make_client(server: EmulatorServer, **kwargs: object) -> tuple[ScoutClient, SleepRecorder]:
    sleeps = SleepRecorder()
    kwargs.setdefault("retry", RetryPolicy(max_attempts=5))
    client = ScoutClient(TEST_KEY, base_url=server.url, sleep=sleeps, **kwargs)  # type: ignore[arg-type]
    return client, sleeps


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server in a thread on a free loopback port (object storage tests)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def moto_filesystem(endpoint: str) -> pafs.S3FileSystem:
    """A pyarrow S3 file system on the moto server at ``endpoint`` (the
    credentials ``s3_credentials`` sets)."""
    return pafs.S3FileSystem(
        endpoint_override=endpoint,
        scheme="http",
        region="us-east-1",
        access_key="testing",
        secret_key="testing",
    )


@pytest.fixture
def s3_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)


def metadata_of(result: ExecuteInProcessResult, key: str) -> dict[str, Any]:
    """The metadata values of ``key``'s materialization in ``result``."""
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        if materialization.asset_key == AssetKey(key):
            return {k: getattr(v, "value", v) for k, v in materialization.metadata.items()}
    raise AssertionError(f"no materialization of {key}")
