"""``EmulatorState``: what one emulator instance is made of.

The app, the server and the tests share one state: configuration, clock,
ledger, faults, the wall-clock epoch of timestamps and the accepted keys.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib.metadata
import threading
from dataclasses import dataclass, field

from ._clock import Clock, SystemClock, Timestamps
from ._config import DEFAULT_API_KEY, EmulatorConfig
from ._faults import FaultConfig, Faults
from ._ledger import Ledger
from ._monitors import MonitorPolicy
from ._run_common import Timings

__all__ = ["API_VERSION", "EmulatorState", "emulator_version"]

# The API version Scout's own clients send as ``Scout-Version``.
API_VERSION = "2026-06-21"


def emulator_version() -> str:
    """The installed scout-dagster version (the emulator ships with it)."""
    try:
        return importlib.metadata.version("scout-dagster")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


def key_fingerprint(key: str) -> str:
    """A short stable name for an API key, so records never hold the key itself."""
    return "key_" + hashlib.sha256(key.encode()).hexdigest()[:12]


@dataclass
class EmulatorState:
    """Everything one emulator shares between its app, its server and its users."""

    config: EmulatorConfig
    clock: Clock
    ledger: Ledger
    faults: Faults
    timestamps: Timestamps
    api_key: str  # the key handed to users (emu.api_key)
    api_keys: tuple[str, ...]  # every accepted key
    stopping: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        # Monitor runs execute inside the ledger; they read this state's fault
        # switch and balance at that moment (both can change at runtime).
        self.ledger.monitor_policy = MonitorPolicy(
            fails=lambda key: self.faults.run_fails(key),
            balance=lambda: self.config.credit_balance,
        )

    @classmethod
    def create(
        cls,
        config: EmulatorConfig | None = None,
        faults: FaultConfig | None = None,
        api_key: str | None = None,
        clock: Clock | None = None,
    ) -> EmulatorState:
        """Assemble a state; ``clock`` defaults to ``SystemClock(config.speed)``."""
        config = config or EmulatorConfig()
        clock = clock or SystemClock(config.speed)
        keys = tuple(dict.fromkeys([*([api_key] if api_key else []), *config.api_keys]))
        keys = keys or (DEFAULT_API_KEY,)
        return cls(
            config=config,
            clock=clock,
            ledger=Ledger(clock),
            faults=Faults(faults),
            timestamps=Timestamps(),
            api_key=keys[0],
            api_keys=keys,
        )

    @property
    def timings(self) -> Timings:
        config = self.config
        return Timings(
            queued_s=config.queued_s,
            findall_running_s=config.findall_duration_s,
            search_running_s=config.search_duration_s,
            heartbeat_s=config.findall_heartbeat_s,
            enrich_s=config.enrich_duration_s,
        )

    def owner_of(self, presented: str) -> str | None:
        """The fingerprint of ``presented`` if it is an accepted key, else ``None``."""
        matched = False
        for key in self.api_keys:
            # Compare every key in constant time so timing says nothing.
            matched |= hmac.compare_digest(presented.encode(), key.encode())
        return key_fingerprint(presented) if matched else None

    def reset(self) -> None:
        """Forget every run and record, and restore the starting fault mix."""
        self.ledger.reset()
        self.faults.reset()
