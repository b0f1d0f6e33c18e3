"""``EmulatorServer``: the emulator served by uvicorn on loopback, in a background thread.

The socket is bound in the caller's thread (port 0 picks a free port), so a
taken port fails at once with a clear ``OSError`` and ``url`` is known before
the server starts. uvicorn then serves on that socket from a daemon thread; it
installs signal handlers only in the main thread, so the host process keeps
its own Ctrl-C handling.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from types import TracebackType

import uvicorn

from ._app import build_app
from ._clock import Clock
from ._config import EmulatorConfig
from ._faults import FaultConfig, Faults
from ._ledger import Ledger
from ._state import EmulatorState

__all__ = ["EmulatorServer", "run_emulator"]

# How long start() waits for uvicorn to accept connections, in real seconds.
START_TIMEOUT_S = 10.0
# How long stop() waits for open streams to notice and uvicorn to exit, real seconds.
STOP_TIMEOUT_S = 5


class EmulatorServer:
    """A running Scout emulator on ``http://127.0.0.1:<port>``.

    Use it as a context manager (``with EmulatorServer() as emu:``) or call
    ``start()`` and ``stop()``. ``port=0`` (the default) takes a free port.
    """

    def __init__(
        self,
        *,
        config: EmulatorConfig | None = None,
        faults: FaultConfig | None = None,
        api_key: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Clock | None = None,
    ) -> None:
        self.state = EmulatorState.create(config, faults, api_key, clock)
        self.host = host
        self._port = port  # the bound port once start() has bound it
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None

    # -- what users read ---------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port (the requested one until ``start()`` binds)."""
        return self._port

    @property
    def url(self) -> str:
        """Base URL without ``/v1``, e.g. ``http://127.0.0.1:52311``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def api_key(self) -> str:
        return self.state.api_key

    @property
    def ledger(self) -> Ledger:
        return self.state.ledger

    @property
    def faults(self) -> Faults:
        return self.state.faults

    @property
    def clock(self) -> Clock:
        return self.state.clock

    @property
    def config(self) -> EmulatorConfig:
        return self.state.config

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- lifecycle -------------------------------------------------------------------

    def start(self, timeout_s: float = START_TIMEOUT_S) -> EmulatorServer:
        """Bind, serve in a daemon thread and return once connections are accepted."""
        if self._thread is not None:
            raise RuntimeError("this EmulatorServer was already started")
        # IPPROTO_TCP (not the default 0) matters: asyncio only disables Nagle
        # on accepted sockets whose proto says TCP, and without that every
        # response waits ~40 ms for a delayed ACK.
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self._port))
        except OSError as error:
            sock.close()
            raise OSError(
                error.errno,
                f"cannot bind the emulator to {self.host}:{self._port}: {error.strerror}",
            ) from error
        self._socket = sock
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            build_app(self.state),
            log_level="warning",
            access_log=False,
            log_config=None,  # leave the host process's logging configuration alone
            lifespan="off",
            loop="asyncio",
            timeout_graceful_shutdown=STOP_TIMEOUT_S,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._serve, name=f"scout-emulator:{self.port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                cause = self._failure
                raise RuntimeError(
                    f"the Scout emulator did not start on {self.url} within {timeout_s:g} s"
                    + (f": {cause!r}" if cause else "")
                ) from cause
            time.sleep(0.01)
        return self

    def _serve(self) -> None:
        assert self._server is not None and self._socket is not None
        try:
            self._server.run(sockets=[self._socket])
        except BaseException as error:  # reported by start(); a thread cannot raise to it
            self._failure = error

    def stop(self) -> None:
        """Close open streams, stop uvicorn and wait for its thread (idempotent)."""
        self.state.stopping.set()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(STOP_TIMEOUT_S + 1.0)
        if self._socket is not None:
            self._socket.close()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"EmulatorServer(url={self.url!r}, running={self.running})"


@contextlib.contextmanager
def run_emulator(
    *,
    config: EmulatorConfig | None = None,
    faults: FaultConfig | None = None,
    api_key: str | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    clock: Clock | None = None,
) -> Iterator[EmulatorServer]:
    """Serve an emulator for the duration of a ``with`` block.

    >>> with run_emulator(config=EmulatorConfig(speed=1000.0)) as emu:  # doctest: +SKIP
    ...     httpx.get(emu.url + "/v1/findall/runs",
    ...               headers={"Authorization": f"Bearer {emu.api_key}"})
    """
    server = EmulatorServer(
        config=config, faults=faults, api_key=api_key, host=host, port=port, clock=clock
    )
    with server:
        yield server
