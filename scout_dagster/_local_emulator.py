"""The machine's shared emulator: find it, or start one that outlives this process.

Dagster imports a code location in several processes (the code server, each
run worker, each step of the multiprocess executor). They must all talk to
one emulator, or a run created by one step would be unknown to the next. So
the emulator runs as its own detached process on a known loopback port, and
whoever needs it first starts it. Nothing here runs at import time.
"""

from __future__ import annotations

import importlib
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = [
    "DEFAULT_EMULATOR_PORT",
    "EMULATOR_API_KEY",
    "EMULATOR_EXTRA_HINT",
    "check_emulator_extra",
    "emulator_pid",
    "emulator_url",
    "ensure_local_emulator",
]

log = logging.getLogger("scout_dagster.emulator")

#: Port of the shared emulator; ``SCOUT_EMULATOR_PORT`` overrides it.
DEFAULT_EMULATOR_PORT = 8787
#: The emulator accepts this key by default; it is not a secret.
EMULATOR_API_KEY = "scout-emulator-key"
#: Virtual seconds per real second for the shared emulator: its default runs
#: (40 s FindAll, 30 s search) then take about 10 s and 7.5 s, long enough to
#: watch progress in the demo and short enough to wait for.
SHARED_EMULATOR_SPEED = 4.0
#: How long a starting emulator may take before we give up, in seconds.
_START_TIMEOUT_S = 20.0
#: How often a starting emulator is asked whether it is up, in seconds.
_HEALTH_POLL_S = 0.1


def emulator_url(port: int | None = None) -> str:
    port = port or int(os.environ.get("SCOUT_EMULATOR_PORT", DEFAULT_EMULATOR_PORT))
    return f"http://127.0.0.1:{port}"


def emulator_pid(url: str) -> int | None:
    """The process id of the emulator answering at ``url``, if one does."""
    try:
        import httpx  # on use: loading definitions needs no HTTP client

        pid = httpx.get(f"{url}/_emulator/health", timeout=1.0).json().get("pid")
    except (httpx.HTTPError, ValueError):
        return None
    return pid if isinstance(pid, int) else None


def _healthy(url: str) -> bool:
    try:
        import httpx

        return httpx.get(f"{url}/_emulator/health", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


#: What ``pip install scout-dagster`` leaves out and the emulator's server needs.
EMULATOR_EXTRA_MODULES = ("starlette", "uvicorn")
EMULATOR_EXTRA_HINT = (
    "the local Scout emulator needs the package's emulator extra: "
    "pip install 'scout-dagster[emulator]'"
)


def check_emulator_extra() -> None:
    """Raise ImportError, naming the extra, when the emulator's server cannot run here."""
    missing = []
    for module in EMULATOR_EXTRA_MODULES:
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise ImportError(f"{EMULATOR_EXTRA_HINT} ({', '.join(missing)} not installed)")


def ensure_local_emulator(url: str) -> str:
    """Make sure an emulator answers at ``url`` (loopback); start a detached one if not.

    Returns the URL. Safe to call from several processes at once: a second
    emulator that cannot bind the port exits, and the first one answers.
    """
    if _healthy(url):
        return url
    check_emulator_extra()
    import httpx

    port = httpx.URL(url).port or DEFAULT_EMULATOR_PORT
    log_path = Path(tempfile.gettempdir()) / f"scout-emulator-{port}.log"
    log.warning(
        "starting the local Scout emulator on %s (log: %s); no real API calls are made",
        url,
        log_path,
    )
    with open(log_path, "ab") as log_file:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "scout_dagster.emulator",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--speed",
                str(SHARED_EMULATOR_SPEED),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
            start_new_session=True,  # outlives this process and its signals
        )
    give_up = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < give_up:
        if _healthy(url):
            pid = emulator_pid(url) or process.pid
            log.warning(
                "the local Scout emulator (pid %d) answers on %s; it keeps running for later "
                "runs on this machine: stop it with `kill %d`",
                pid,
                url,
                pid,
            )
            return url
        time.sleep(_HEALTH_POLL_S)
    raise RuntimeError(
        f"the local Scout emulator did not start on {url} within {_START_TIMEOUT_S:g} s; "
        f"see {log_path}"
    )
