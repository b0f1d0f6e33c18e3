"""The end-to-end benchmark's measurements inside a child: phases timed by
probes around the package's functions, their peak memory, and the process's
CPU time at the step's start and end.

A phase's peak memory comes from ``VmHWM``, reset at its start through
``/proc/self/clear_refs`` (Linux); the step's CPU time is the process's user
and system time (every thread) when the instance handles the STEP_START and
STEP_SUCCESS events, which it does in the step's process as they happen.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["OTHER", "PROBES", "SETUP", "PeakTracker", "Phases", "StepCpu", "install_probes"]


#: (phase, module, attribute): the package's functions timed in our child. The
#: module is the one the caller looks the name up in. Indented phases are parts
#: of the phase above them.
PROBES: list[tuple[str, str, str]] = [
    ("create", "scout_dagster._client", "ScoutClient.create_findall_run"),
    ("status read (head)", "scout_dagster._client", "ScoutClient.get_findall_run"),
    ("wait/stream", "scout_dagster._follower", "RunFollower._wait"),
    ("  event decode (head)", "scout_dagster._client", "decode_event_without_entities"),
    # The look (or final read) of a completed run: downloaded and parsed at once.
    ("body read (download + parse)", "scout_dagster._client", "ScoutClient.read_findall_run"),
    ("  last parts (finish)", "scout_dagster.tables.findall", "FindAllBodyReader.finish"),
    ("read again whole (fallback)", "scout_dagster._client", "ScoutClient.get_findall_run_body"),
    ("tables (provenance)", "scout_dagster.tables.findall", "FindAllBody.tables"),
    ("table metadata", "scout_dagster._dagster._table_output", "table_metadata"),
    ("data version", "scout_dagster._dagster._table_output", "content_version"),
    ("output conversion", "scout_dagster._dagster._table_output", "as_output"),
    (
        "IO manager",
        "scout_dagster._dagster._io_manager",
        "ScoutParquetIOManager.handle_output",
    ),
    ("  Parquet write", "scout_dagster._storage", "ParquetStore.write"),
    # Counted on a thread of its own while the tables are written ("~": beside
    # the rows above, so not part of the step's sum of top-level phases).
    ("~ checks (own thread)", "scout_dagster._dagster._checks", "count_checks"),
]
SETUP = "step setup (start to create)"
OTHER = "other (step - top-level phases)"


def _status_kb() -> tuple[int, int]:
    """(VmRSS, VmHWM) of this process, in kB."""
    rss = hwm = 0
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    return rss, hwm


def _reset_hwm() -> bool:
    """Set VmHWM back to the current RSS (Linux: ``5`` to ``/proc/self/clear_refs``)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


class PeakTracker:
    """The peak resident memory of each phase, and of the process overall.

    At each phase's start VmHWM is read (every open phase and the overall
    peak take it), then reset to the current RSS, so that the VmHWM read at
    the phase's end (or at the next phase's start) is the peak since then.
    The overall peak is the highest VmHWM ever read: the VmHWM the process
    would show at its end without the resets. Where the reset is refused a
    phase's peak is the process's peak so far (an upper bound).
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.open: dict[int, int] = {}
        self.tokens = 0
        self.peak_kb = _status_kb()[1]
        self.resets = True

    def _read(self) -> tuple[int, int]:
        rss, hwm = _status_kb()
        self.peak_kb = max(self.peak_kb, hwm)
        for token, peak in self.open.items():
            self.open[token] = max(peak, hwm)
        return rss, hwm

    def enter(self) -> tuple[int, int]:
        """(token, RSS at the start) of a phase."""
        with self.lock:
            self._read()
            self.resets = _reset_hwm() and self.resets
            rss, hwm = _status_kb()
            self.tokens += 1
            self.open[self.tokens] = hwm
            return self.tokens, rss

    def exit(self, token: int) -> int:
        """The phase's peak, in kB."""
        with self.lock:
            self._read()
            return self.open.pop(token)

    def overall_mb(self) -> float:
        with self.lock:
            self._read()
            return self.peak_kb / 1024


@dataclass
class PhaseCalls:
    calls: int = 0
    seconds: float = 0.0
    first_start: float | None = None  # time.time(), to place it against the event log
    peak_kb: int = 0  # highest RSS while it ran (any thread), over its calls
    rise_kb: int = 0  # most its peak rose above the RSS at its start, over its calls


class Phases:
    """Time and memory of named phases, from any thread."""

    def __init__(self, tracker: PeakTracker) -> None:
        self.tracker = tracker
        self.calls: dict[str, PhaseCalls] = {}
        self.lock = threading.Lock()

    @contextlib.contextmanager
    def span(self, phase: str) -> Iterator[None]:
        wall = time.time()
        token, rss = self.tracker.enter()
        started = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - started
            peak = self.tracker.exit(token)
            with self.lock:
                calls = self.calls.setdefault(phase, PhaseCalls())
                calls.calls += 1
                calls.seconds += elapsed
                calls.peak_kb = max(calls.peak_kb, peak)
                calls.rise_kb = max(calls.rise_kb, peak - rss)
                if calls.first_start is None:
                    calls.first_start = wall

    def figures(self) -> dict[str, dict[str, float]]:
        with self.lock:
            return {
                phase: {
                    "seconds": c.seconds,
                    "calls": c.calls,
                    "peak_mb": c.peak_kb / 1024,
                    "rise_mb": c.rise_kb / 1024,
                }
                for phase, c in self.calls.items()
            }


def install_probes(phases: Phases) -> list[str]:
    """Wrap each probed function so that its calls are a phase; the phases probed."""
    probed = []
    for phase, module_name, attribute in PROBES:
        try:
            module = importlib.import_module(module_name)
            owner: Any = module
            *outer, name = attribute.split(".")
            for part in outer:
                owner = getattr(owner, part)
            original = inspect.getattr_static(owner, name)
        except (ImportError, AttributeError):
            continue  # the package changed: this phase is not probed
        if isinstance(original, staticmethod | classmethod) or not callable(original):
            continue
        setattr(owner, name, _spanned(original, phase, phases))
        probed.append(phase)
    return probed


def _spanned(original: Callable[..., Any], phase: str, phases: Phases) -> Any:
    if inspect.isgeneratorfunction(original):

        @functools.wraps(original)
        def generator(*args: Any, **kwargs: Any) -> Iterator[Any]:
            with phases.span(phase):
                yield from original(*args, **kwargs)

        return generator

    @functools.wraps(original)
    def function(*args: Any, **kwargs: Any) -> Any:
        with phases.span(phase):
            return original(*args, **kwargs)

    return function


class StepCpu:
    """The process's CPU seconds (user + system, every thread) from STEP_START
    to STEP_SUCCESS: taken as ``instance`` handles those events, in the step's
    process (``materialize`` runs the step in this one)."""

    MARKS = ("STEP_START", "STEP_SUCCESS")

    def __init__(self, instance: Any) -> None:
        self.at: dict[str, float] = {}
        handle = instance.handle_new_event

        @functools.wraps(handle)
        def handle_new_event(event: Any, *args: Any, **kwargs: Any) -> Any:
            dagster_event = event.dagster_event
            if dagster_event is not None and dagster_event.event_type_value in self.MARKS:
                times = os.times()
                self.at[dagster_event.event_type_value] = times.user + times.system
            return handle(event, *args, **kwargs)

        instance.handle_new_event = handle_new_event

    @property
    def seconds(self) -> float | None:
        start, end = (self.at.get(mark) for mark in self.MARKS)
        return None if start is None or end is None else end - start
