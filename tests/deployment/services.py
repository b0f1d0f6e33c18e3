"""The services of a Dagster deployment, started and stopped by the tests themselves.

PostgreSQL (Dagster's instance storage), Redis (the Celery broker and result
backend) and Celery workers each run on a free loopback port, in a temporary
directory, in a session of their own (``start_new_session=True``): stopping one
signals its whole process group, and whatever is still alive after a grace
period is SIGKILLed, so nothing outlives a test run even when a test fails.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import redis

#: Where a service binary missing on this machine comes from.
SETUP_HINT = "run `bash scripts/services.sh` (it installs redis-server and postgresql when missing)"
#: Bounds of a service's start and of its graceful stop, in real seconds.
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
POLL_S = 0.05
#: The repository root, on the PYTHONPATH of every worker.
ROOT = Path(__file__).resolve().parents[2]


class ServiceError(RuntimeError):
    """A service could not be found or started; the message says why and what to do."""


def free_port() -> int:
    """A TCP port on loopback that nothing listens on (now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tail(path: Path, lines: int = 30) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


def wait_for(predicate: Callable[[], object], what: str, log: Path, timeout_s: float) -> None:
    """Poll ``predicate`` until truthy; raise with the end of ``log`` otherwise."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise ServiceError(f"{what} not ready within {timeout_s:g} s; {log} ends:\n{tail(log)}")
        time.sleep(POLL_S)


def start(
    argv: list[str], log: Path, *, env: Mapping[str, str] | None = None, **kwargs: Any
) -> subprocess.Popen[bytes]:
    """``argv`` in a new session, stdout and stderr to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            argv,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **kwargs,
        )


def run_checked(argv: list[str], **kwargs: Any) -> None:
    """``argv`` to completion; a ``ServiceError`` with its output if it fails."""
    done = subprocess.run(argv, check=False, capture_output=True, **kwargs)
    if done.returncode != 0:
        output = (done.stdout + done.stderr).decode(errors="replace").strip()
        raise ServiceError(f"{Path(argv[0]).name} exited with {done.returncode}: {output}")


def kill_group(process: subprocess.Popen[bytes], signum: int = signal.SIGKILL) -> None:
    """Signal every process of ``process``'s session (its group: it leads it)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a member runs as another user: still there
        return True
    return True


def stop_group(process: subprocess.Popen[bytes], signum: int = signal.SIGTERM) -> None:
    """``signum`` to the group, SIGKILL to whatever is left after the grace period."""
    kill_group(process, signum)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=STOP_TIMEOUT_S)
    while group_alive(process.pid) and time.monotonic() < deadline:
        time.sleep(POLL_S)
    kill_group(process, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=STOP_TIMEOUT_S)


# -- processes started under this one -------------------------------------------


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process, from /proc."""
    parents = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The name in parentheses may hold spaces: the fields follow its last ')'.
        fields = stat[stat.rindex(")") + 2 :].split()
        parents[int(entry)] = int(fields[1])
    return parents


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (children, their children, ...)."""
    children: dict[int, list[int]] = {}
    for child, parent in _parents().items():
        children.setdefault(parent, []).append(child)
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def is_running(pid: int) -> bool:
    """Alive and not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def kill_pids(pids: set[int]) -> None:
    """SIGKILL each of ``pids`` (processes this test run started), and wait for them."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while any(is_running(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(POLL_S)


# -- PostgreSQL -----------------------------------------------------------------


def postgres_binary(name: str) -> str:
    """A PostgreSQL server binary: Debian keeps them out of PATH, under its version."""
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)
    found = str(candidates[0]) if candidates else shutil.which(name)
    if found is None:
        raise ServiceError(f"PostgreSQL's {name} is not installed: {SETUP_HINT}")
    return found


def _as_postgres() -> dict[str, Any]:
    """PostgreSQL refuses to run as root: as root, run it as the ``postgres`` user."""
    if os.geteuid() != 0:
        return {}
    return {"user": "postgres", "group": "postgres", "extra_groups": []}


class Postgres:
    """A PostgreSQL server in a temporary directory, trusting loopback connections.

    ``initdb`` then the server in the foreground (its postmaster is the process
    this object holds); stopped with a fast shutdown (SIGINT), SIGKILL after the
    grace period. Fsync is off: nothing here needs to survive a crash.
    """

    user = "postgres"

    def __init__(self) -> None:
        # Not under pytest's tmp dirs: those are private to root, and the
        # server runs as postgres.
        self.root = Path(tempfile.mkdtemp(prefix="scout-deployment-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._databases = 0

    def start(self) -> Postgres:
        initdb, postgres = postgres_binary("initdb"), postgres_binary("postgres")
        as_postgres = _as_postgres()
        if as_postgres:
            shutil.chown(self.root, user="postgres", group="postgres")
        init = [initdb, "-D", str(self.data), "-U", self.user, "--auth=trust", "-E", "UTF8"]
        run_checked([*init, "--no-sync", "--no-instructions"], cwd=self.root, **as_postgres)
        settings = {
            "listen_addresses": "127.0.0.1",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "200",
        }
        options = [arg for name, value in settings.items() for arg in ("-c", f"{name}={value}")]
        self.process = start(
            [postgres, "-D", str(self.data), "-p", str(self.port), "-k", str(self.root), *options],
            self.log,
            cwd=self.root,
            **as_postgres,
        )
        ready = postgres_binary("pg_isready")
        wait_for(
            lambda: (
                self._exited()
                or subprocess.run(
                    [ready, "-q", *self._connection()],
                    check=False,
                ).returncode
                == 0
            ),
            "PostgreSQL",
            self.log,
            START_TIMEOUT_S,
        )
        if self._exited():
            raise ServiceError(f"PostgreSQL exited; {self.log} ends:\n{tail(self.log)}")
        return self

    def _connection(self) -> list[str]:
        return ["-h", "127.0.0.1", "-p", str(self.port), "-U", self.user]

    def _exited(self) -> bool:
        return self.process is None or self.process.poll() is not None

    def create_database(self) -> str:
        """A new, empty database (one per test: no test sees another's runs)."""
        self._databases += 1
        name = f"dagster_{self._databases}"
        argv = [postgres_binary("createdb"), *self._connection(), name]
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                run_checked(argv)
                return name
            except ServiceError as exc:
                # A test that kills a worker can take a backend with it: the
                # server then restarts and recovers, refusing connections a while.
                if "not yet accepting connections" not in str(exc) or (time.monotonic() > deadline):
                    raise
                time.sleep(POLL_S)

    def stop(self) -> None:
        if self.process is not None:
            stop_group(self.process, signal.SIGINT)  # SIGINT: a fast shutdown
        shutil.rmtree(self.root, ignore_errors=True)


# -- Redis ----------------------------------------------------------------------


class Redis:
    """A redis-server on loopback, without persistence (no RDB snapshots, no AOF)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.log = root / "redis.log"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._databases = 0

    def start(self) -> Redis:
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServiceError(f"redis-server is not installed: {SETUP_HINT}")
        # No RDB snapshots (--save ""), no append-only file: nothing on disk.
        persistence = ["--save", "", "--appendonly", "no", "--dir", str(self.root)]
        self.process = start(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", *persistence],
            self.log,
            cwd=self.root,
        )
        wait_for(self._answers, "redis-server", self.log, START_TIMEOUT_S)
        return self

    def _answers(self) -> bool:
        if self.process is None or self.process.poll() is not None:
            raise ServiceError(f"redis-server exited; {self.log} ends:\n{tail(self.log)}")
        try:
            return bool(redis.Redis(port=self.port, socket_timeout=1).ping())
        except redis.ConnectionError:
            return False

    def new_database(self) -> str:
        """The URL of a Redis database no earlier test used (16 exist), emptied:
        no task a test left queued reaches another test's worker."""
        index = self._databases % 16
        self._databases += 1
        redis.Redis(port=self.port, db=index).flushdb()
        return f"redis://127.0.0.1:{self.port}/{index}"

    def stop(self) -> None:
        if self.process is not None:
            stop_group(self.process)


# -- Celery workers -----------------------------------------------------------------

#: Read by ``dagster_celery.app`` (make_app with no arguments) after its defaults.
_CELERY_CONFIG = """\
broker_url = {broker!r}
result_backend = {broker!r}
# No more tasks reserved than the worker has process slots (dagster_celery's
# defaults reserve 4 per slot): no step waits behind a busy one while another
# worker idles.
worker_prefetch_multiplier = 1
"""


class CeleryWorker:
    """``celery -A dagster_celery.app worker``, as ``dagster-celery worker start`` runs it.

    With ``concurrency=1`` the pool is ``solo``: the step runs in the worker's
    own process. Above 1 it is ``prefork`` and steps run in its children. The
    worker leads its own process group either way, so ``kill()`` (SIGKILL to
    the group) kills the process that runs the step.
    """

    def __init__(
        self, name: str, root: Path, broker: str, env: Mapping[str, str], concurrency: int = 1
    ) -> None:
        self.name = name
        self.log = root / f"worker-{name}.log"
        config = root / f"worker-{name}-config"
        config.mkdir()
        (config / "dagster_celery_config.py").write_text(_CELERY_CONFIG.format(broker=broker))
        pool = ["--pool=solo"] if concurrency == 1 else ["--pool=prefork"]
        self.argv = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "dagster_celery.app",
            "worker",
            *pool,
            f"--concurrency={concurrency}",
            "-n",
            f"{name}@%h",
            "-Q",
            "dagster",
            "--loglevel=INFO",
            # No waiting for other workers at start-up, nor chatting with them after.
            "--without-mingle",
            "--without-gossip",
            "--without-heartbeat",
        ]
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SCOUT_")} | {
            "PYTHONPATH": os.pathsep.join([str(config), str(ROOT)]),
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> CeleryWorker:
        self.process = start(self.argv, self.log, env=self.env, cwd=ROOT)
        return self

    def wait_ready(self) -> CeleryWorker:
        def ready() -> bool:
            if self.process is None or self.process.poll() is not None:
                raise ServiceError(
                    f"celery worker {self.name} exited; {self.log} ends:\n{tail(self.log)}"
                )
            return " ready." in self.log.read_text(errors="replace")

        wait_for(ready, f"celery worker {self.name}", self.log, START_TIMEOUT_S)
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None, "the worker was never started"
        return self.process.pid

    def kill(self) -> None:
        """SIGKILL to the worker's whole process group: no warm shutdown, no goodbye."""
        assert self.process is not None, "the worker was never started"
        kill_group(self.process)
        self.process.wait(timeout=STOP_TIMEOUT_S)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while group_alive(self.process.pid) and time.monotonic() < deadline:
            time.sleep(POLL_S)

    def stop(self) -> None:
        if self.process is not None:
            # SIGQUIT: a cold shutdown, which does not wait for a running step.
            stop_group(self.process, signal.SIGQUIT)

    def signal_stop(self) -> None:
        """The start of ``stop()`` without its wait (to stop several at once)."""
        if self.process is not None:
            kill_group(self.process, signal.SIGQUIT)
