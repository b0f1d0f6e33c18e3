"""A local Scout API: a real HTTP server with deterministic synthetic data.

Runs move through realistic lifecycles on a clock, stream their events over
SSE, cost credits, and fail on demand through switchable faults. Tests of
clients, Dagster assets and users' own CI run against it. See ``README.md``
beside this module.

>>> from scout_dagster.emulator import EmulatorConfig, run_emulator
>>> with run_emulator(config=EmulatorConfig(speed=1000.0)) as emu:  # doctest: +SKIP
...     httpx.get(f"{emu.url}/_emulator/health")
"""

# starlette and uvicorn come with the emulator extra, not with the package. (The
# emulator imports nothing of scout_dagster outside this folder, so it says so itself.)
try:
    import starlette  # noqa: F401
    import uvicorn  # noqa: F401
except ImportError as exc:
    raise ImportError(
        "the local Scout emulator needs the package's emulator extra: "
        f"pip install 'scout-dagster[emulator]' ({exc.name} not installed)"
    ) from exc

from ._app import build_app
from ._clock import Clock, ManualClock, SystemClock
from ._config import DEFAULT_API_KEY, EmulatorConfig
from ._faults import FaultConfig, Faults
from ._ledger import (
    Ledger,
    MonitorRunRecord,
    MonitorSnapshot,
    RequestRecord,
    RunSnapshot,
    UnknownMonitorError,
    UnknownRunError,
)
from ._server import EmulatorServer, run_emulator
from ._state import EmulatorState

__all__ = [
    "DEFAULT_API_KEY",
    "Clock",
    "EmulatorConfig",
    "EmulatorServer",
    "EmulatorState",
    "FaultConfig",
    "Faults",
    "Ledger",
    "ManualClock",
    "MonitorRunRecord",
    "MonitorSnapshot",
    "RequestRecord",
    "RunSnapshot",
    "SystemClock",
    "UnknownMonitorError",
    "UnknownRunError",
    "build_app",
    "run_emulator",
]
