"""Fixtures of the deployment tier: PostgreSQL and Redis for the session, and for
each test a deployment of its own (a database, a Redis database, a
DAGSTER_HOME, a workspace, Celery workers), all torn down after it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pytest
from dagster import DagsterInstance

try:
    import dagster_celery  # noqa: F401
    import dagster_postgres  # noqa: F401
except ImportError as exc:  # not skipped: a missing dependency is a failure
    raise ImportError(
        f"{exc}: the deployment tests need dagster-celery[redis] and dagster-postgres "
        "(the dev extra): run `bash scripts/setup.sh`"
    ) from exc

from scout_dagster.emulator import EmulatorConfig, EmulatorServer
from tests.conftest import TEST_KEY
from tests.deployment import location
from tests.deployment.services import (
    CeleryWorker,
    Postgres,
    Redis,
    ServiceError,
    descendants,
    kill_pids,
)

Service = TypeVar("Service", Postgres, Redis)


def _running(server: Service) -> Iterator[Service]:
    """``server`` started, and stopped after the session; a test fails (never
    skips) when it cannot start, with the reason and the fix."""
    try:
        server.start()
        error = None
    except ServiceError as exc:
        error = str(exc)
    if error is not None:
        server.stop()
        pytest.fail(error, pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    yield from _running(Postgres())


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Redis]:
    yield from _running(Redis(tmp_path_factory.mktemp("redis")))


@pytest.fixture(scope="module")
def backfill_emulator_server() -> Iterator[EmulatorServer]:
    # 7x: a FindAll run takes 6 s of real time (2 s queued, 40 s running,
    # virtual): long enough that runs of a backfill overlap beyond its pool's
    # limit when nothing holds them (measured on 2 cores with the pool's limit
    # removed: 3 at once, the run queue launching one every ~2 s).
    config = EmulatorConfig(speed=7.0, keepalive_s=0.2, stream_tick_s=0.005)
    with EmulatorServer(config=config, api_key=TEST_KEY) as server:
        yield server


@pytest.fixture
def backfill_emulator(backfill_emulator_server: EmulatorServer) -> EmulatorServer:
    backfill_emulator_server.state.reset()
    return backfill_emulator_server


@dataclass
class Deployment:
    """One test's Dagster deployment on the session's services."""

    root: Path
    home: Path
    workspace: Path
    data: Path
    broker: str
    emulator: EmulatorServer
    instance: DagsterInstance
    workers: list[CeleryWorker] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        """The environment of the processes that run: the key, the service, the data
        path (read by the resources where steps execute), the broker (read by
        the executor in the run worker) and DAGSTER_HOME."""
        return {
            "DAGSTER_HOME": str(self.home),
            location.ENV_KEY: TEST_KEY,
            location.ENV_URL: self.emulator.url,
            location.ENV_DATA: str(self.data),
            location.ENV_BROKER: self.broker,
        }

    def start_worker(self, name: str, concurrency: int = 1) -> CeleryWorker:
        """A worker on this deployment's broker, started (``wait_ready()`` before use)."""
        worker = CeleryWorker(name, self.root, self.broker, self.env, concurrency)
        self.workers.append(worker)
        return worker.start()

    def stop_workers(self) -> None:
        for worker in self.workers:
            worker.signal_stop()
        for worker in self.workers:
            worker.stop()


def _dagster_yaml(postgres: Postgres, db_name: str, queued: bool) -> str:
    text = (
        "telemetry:\n"
        "  enabled: false\n"
        "storage:\n"
        "  postgres:\n"
        "    postgres_db:\n"
        "      hostname: 127.0.0.1\n"
        f"      port: {postgres.port}\n"
        f"      username: {postgres.user}\n"
        f"      db_name: {db_name}\n"
        # SQLAlchemy 2.1 reads a bare postgresql:// as psycopg (3); dagster-postgres
        # installs psycopg2.
        "      scheme: postgresql+psycopg2\n"
        # Each run in its own process, launched by the code server.
        "run_launcher:\n"
        "  module: dagster\n"
        "  class: DefaultRunLauncher\n"
    )
    if queued:
        # The daemon's run queue submits queued runs (1 s between looks, not 5 s).
        text += (
            "run_coordinator:\n"
            "  module: dagster._core.run_coordinator\n"
            "  class: QueuedRunCoordinator\n"
            "  config:\n"
            "    dequeue_interval_seconds: 1\n"
            # Two runs more than the pool's free slots may be launched, their
            # steps waiting in their run workers for a slot: a run worker's
            # start-up is not in the gap between one remote run and the next.
            "concurrency:\n"
            "  pools:\n"
            "    op_granularity_run_buffer: 2\n"
        )
    else:
        # Launched as soon as submitted, without a daemon (Dagster's default is
        # the queue, which needs one).
        text += (
            "run_coordinator:\n"
            "  module: dagster._core.run_coordinator\n"
            "  class: DefaultRunCoordinator\n"
        )
    return text


def _workspace(path: Path) -> None:
    path.write_text(
        "load_from:\n"
        "  - python_file:\n"
        f"      relative_path: {Path(location.__file__).resolve()}\n"
        f"      location_name: {location.LOCATION_NAME}\n"
        f"      working_directory: {Path(__file__).resolve().parents[2]}\n"
    )


#: Makes a deployment for an emulator; ``queued`` gives it a QueuedRunCoordinator.
MakeDeployment = Callable[..., Deployment]


@pytest.fixture
def deployment(
    postgres: Postgres,
    redis_server: Redis,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[MakeDeployment]:
    """``deployment(emulator, queued=False)``: a deployment of its own for this test.

    The test process's environment gets the location's variables too: the code
    server it starts (and the run workers that server launches) inherit them.
    After the test: its workers stopped, its instance disposed, and every other
    process it left under this one (code servers, run workers) killed.
    """
    services = {postgres.process.pid if postgres.process else 0}
    services.add(redis_server.process.pid if redis_server.process else 0)
    before = descendants(os.getpid())
    stack = contextlib.ExitStack()

    def make(emulator: EmulatorServer, *, queued: bool = False) -> Deployment:
        db_name = postgres.create_database()
        home = tmp_path / "dagster_home"
        home.mkdir()
        (home / "dagster.yaml").write_text(_dagster_yaml(postgres, db_name, queued))
        workspace = tmp_path / "workspace.yaml"
        _workspace(workspace)
        instance = stack.enter_context(DagsterInstance.from_config(str(home)))
        made = Deployment(
            root=tmp_path,
            home=home,
            workspace=workspace,
            data=tmp_path / "data",
            broker=redis_server.new_database(),
            emulator=emulator,
            instance=instance,
        )
        stack.callback(made.stop_workers)
        for name, value in made.env.items():
            monkeypatch.setenv(name, value)
        return made

    try:
        yield make
    finally:
        stack.close()
        # Left behind: what is new under this process and not a session
        # service or a process of one (a PostgreSQL backend is not ours to kill).
        kept = set(services)
        for pid in services:
            kept |= descendants(pid)
        kill_pids(descendants(os.getpid()) - before - kept)
