"""Switchable faults: what can go wrong, and the decision of when it does.

``FaultConfig`` is the mix (all off by default). ``Faults`` holds the current
mix, a seeded RNG and a queue of one-shot injections, and answers, per
request, which fault (if any) to apply. Random decisions draw a fixed number
of values from ``random.Random(seed)`` for every ``/v1`` request whatever the
outcome, so a given seed and request order always yields the same faults.

The faults are applied on the wire by ``_middleware`` (and by ``_streams`` for
event streams); this module only decides.
"""

from __future__ import annotations

import hashlib
import logging
import math
import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "FAULT_KINDS",
    "DeliberateAbort",
    "FaultConfig",
    "FaultDecision",
    "FaultKind",
    "Faults",
    "Injection",
    "QuietDeliberateAborts",
    "create_cap_retry_after",
]

FaultKind = Literal[
    "rate_limit", "server_error", "slow", "drop", "malformed_json", "stream_drop", "status"
]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)


class FaultConfig(BaseModel):
    """The mix of faults an emulator applies. Every fault is off by default.

    Rates are probabilities per request (0..1). Faults apply only to ``/v1``
    routes, never to ``/_emulator/*``, and at most one fault applies per request.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = Field(default=0, description="Seed of the RNG behind every random fault.")
    rate_limit_rate: float = Field(
        default=0.0, ge=0.0, le=1.0, description="Share of requests answered 429."
    )
    retry_after_s: int = Field(
        default=1, ge=0, description="Retry-After (seconds) sent with fault 429s and 503s."
    )
    server_error_rate: float = Field(
        default=0.0, ge=0.0, le=1.0, description="Share of requests answered 500, 502 or 503."
    )
    slow_rate: float = Field(
        default=0.0, ge=0.0, le=1.0, description="Share of requests delayed by slow_s."
    )
    slow_s: float = Field(
        default=2.0, ge=0.0, description="REAL seconds a slow request waits before it is handled."
    )
    drop_rate: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Share of JSON responses cut off mid-body (the connection is aborted).",
    )
    malformed_json_rate: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Share of JSON responses whose body is truncated into invalid JSON.",
    )
    stream_drop_after_events: int | None = Field(
        default=None,
        ge=1,
        description="Abort every event stream after it has sent this many events.",
    )
    stream_drop_rate: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Share of event streams aborted after 1 to 3 events.",
    )
    run_failure_rate: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Share of runs that fail halfway through running (decided from seed and id).",
    )
    create_cap: int | None = Field(
        default=None,
        ge=0,
        description="Run creates allowed per API key in any rolling window; more get 429.",
    )
    create_cap_window_s: float = Field(
        default=3600.0, gt=0.0, description="The rolling window of create_cap, virtual seconds."
    )
    unknown_events: bool = Field(
        default=False, description="Sprinkle events of types no client knows into streams."
    )


@dataclass
class Injection:
    """A one-shot fault queued by ``Faults.inject``."""

    kind: FaultKind
    times: int
    method: str | None
    path: str | None
    status: int | None
    message: str | None

    def matches(self, method: str, path: str, *, streaming: bool) -> bool:
        # Stream faults wait for a stream; body faults for a plain JSON response.
        applies = {"stream_drop": streaming, "drop": not streaming, "malformed_json": not streaming}
        if not applies.get(self.kind, True):
            return False
        method_ok = self.method is None or self.method.upper() == method.upper()
        return method_ok and (self.path is None or path.startswith(self.path))


@dataclass(frozen=True)
class FaultDecision:
    """The fault chosen for one request."""

    kind: FaultKind
    status: int | None = None  # for rate_limit, server_error, status
    message: str | None = None
    retry_after_s: int | None = None
    delay_s: float = 0.0  # slow: real seconds
    after_events: int | None = None  # stream_drop


class Faults:
    """The fault mix in force plus pending one-shot injections. Thread-safe."""

    def __init__(self, config: FaultConfig | None = None) -> None:
        self._initial = config or FaultConfig()
        self._lock = threading.Lock()
        self._config = self._initial
        self._rng = random.Random(self._initial.seed)
        self._injections: list[Injection] = []

    @property
    def config(self) -> FaultConfig:
        with self._lock:
            return self._config

    def configure(self, config: FaultConfig) -> None:
        """Replace the fault mix at runtime; the RNG restarts from ``config.seed``."""
        with self._lock:
            self._config = config
            self._rng = random.Random(config.seed)

    def reset(self) -> None:
        """Back to the mix the emulator started with; pending injections are dropped."""
        self.configure(self._initial)
        with self._lock:
            self._injections.clear()

    def inject(
        self,
        kind: FaultKind | str,
        times: int = 1,
        method: str | None = None,
        path: str | None = None,
        status: int | None = None,
        message: str | None = None,
    ) -> None:
        """Queue a deterministic fault for the next ``times`` matching ``/v1`` requests.

        ``method`` (any if None) and ``path`` (a prefix such as ``/v1/findall/runs``;
        any if None) select the requests. ``status`` and ``message`` override the
        answer of ``rate_limit``/``server_error`` and are required by ``status``
        (an arbitrary error answer, e.g. 403). A ``stream_drop`` aborts the stream
        after ``stream_drop_after_events`` events (1 when that is unset).
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {FAULT_KINDS}")
        if times < 1:
            raise ValueError("times must be at least 1")
        if kind == "status" and (status is None or not 100 <= status <= 599):
            raise ValueError("a 'status' injection needs an HTTP status code (100..599)")
        with self._lock:
            self._injections.append(
                Injection(kind, times, method, path, status, message)  # type: ignore[arg-type]
            )

    @property
    def pending_injections(self) -> int:
        with self._lock:
            return sum(i.times for i in self._injections)

    def decide(self, method: str, path: str, *, streaming: bool) -> FaultDecision | None:
        """The fault for one ``/v1`` request, if any: injections first, then the random mix."""
        with self._lock:
            config = self._config
            # A fixed number of draws per request keeps decisions aligned with
            # request order whatever each request's outcome.
            draws = [self._rng.random() for _ in range(8)]
            for injection in self._injections:
                if injection.matches(method, path, streaming=streaming):
                    injection.times -= 1
                    if injection.times == 0:
                        self._injections.remove(injection)
                    return self._injected(injection, config, draws)
        return self._random(config, draws, streaming=streaming)

    @staticmethod
    def _injected(
        injection: Injection, config: FaultConfig, draws: Sequence[float]
    ) -> FaultDecision:
        kind = injection.kind
        if kind == "rate_limit":
            return FaultDecision(
                kind, injection.status or 429, injection.message, config.retry_after_s
            )
        if kind == "server_error":
            status = injection.status or 500
            return FaultDecision(
                kind, status, injection.message, config.retry_after_s if status == 503 else None
            )
        if kind == "status":
            status = injection.status or 500
            retry = config.retry_after_s if status in (429, 503) else None
            return FaultDecision(kind, status, injection.message, retry)
        if kind == "slow":
            return FaultDecision(kind, delay_s=config.slow_s)
        if kind == "stream_drop":
            return FaultDecision(kind, after_events=config.stream_drop_after_events or 1)
        return FaultDecision(kind)

    @staticmethod
    def _random(
        config: FaultConfig, draws: Sequence[float], *, streaming: bool
    ) -> FaultDecision | None:
        if draws[0] < config.rate_limit_rate:
            return FaultDecision("rate_limit", 429, None, config.retry_after_s)
        if draws[1] < config.server_error_rate:
            status = (500, 502, 503)[min(2, int(draws[6] * 3))]
            return FaultDecision(
                "server_error", status, None, config.retry_after_s if status == 503 else None
            )
        if draws[2] < config.slow_rate:
            return FaultDecision("slow", delay_s=config.slow_s)
        if streaming:
            after = config.stream_drop_after_events
            if draws[5] < config.stream_drop_rate:
                by_rate = 1 + min(2, int(draws[7] * 3))
                after = by_rate if after is None else min(after, by_rate)
            return None if after is None else FaultDecision("stream_drop", after_events=after)
        if draws[3] < config.drop_rate:
            return FaultDecision("drop")
        if draws[4] < config.malformed_json_rate:
            return FaultDecision("malformed_json")
        return None

    def run_fails(self, run_id: str) -> bool:
        """Whether a new run fails halfway: a pure function of the seed and the run id."""
        config = self.config
        if config.run_failure_rate <= 0:
            return False
        digest = hashlib.sha256(f"{config.seed}:{run_id}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64 < config.run_failure_rate

    @property
    def unknown_events(self) -> bool:
        return self.config.unknown_events


def create_cap_retry_after(
    create_times: Sequence[float], now: float, cap: int, window_s: float, speed: float = 1.0
) -> int | None:
    """Seconds until a create slot frees, or ``None`` when a create is allowed now.

    ``create_times`` are the virtual times of this key's earlier creates; the
    window is rolling, so the slot frees when the oldest create in it leaves.
    ``Retry-After`` is a promise in real time, so the virtual wait is divided by
    the clock's ``speed`` (virtual seconds per real second) and rounded up to
    whole seconds, at least 1.
    """
    in_window = sorted(t for t in create_times if now - t < window_s)
    if len(in_window) < cap:
        return None
    frees_at = in_window[len(in_window) - cap] + window_s
    return max(1, math.ceil((frees_at - now) / speed))


class DeliberateAbort(Exception):
    """Raised to cut a connection on purpose (drop faults); uvicorn closes the socket."""


class QuietDeliberateAborts(logging.Filter):
    """Keeps uvicorn from logging a traceback for each deliberately aborted connection."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
            error = error.exceptions[0]
        return not isinstance(error, DeliberateAbort)
