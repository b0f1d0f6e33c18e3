"""The end-to-end benchmark's report: the figures of every round, as tables."""

from __future__ import annotations

import compileall
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.e2e_probes import OTHER, PROBES, SETUP

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Size:
    entities: int
    candidates: bool

    @property
    def label(self) -> str:
        n = self.entities
        if n >= 1_000_000 and n % 1_000_000 == 0:
            text = f"{n // 1_000_000}M"
        elif n >= 1000 and n % 1000 == 0:
            text = f"{n // 1000}k"
        else:
            text = str(n)
        return text + ("+c" if self.candidates else "")


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


@dataclass
class SizeResult:
    size: Size
    response_mb: float
    ours: list[dict[str, Any]]
    hand: list[dict[str, Any]]

    def step(self, path: str) -> float:
        return median([r["step_s"] for r in getattr(self, path)])

    def peak(self, path: str) -> float:
        return median([r["peak_mb"] for r in getattr(self, path)])


def speed_target(size: Size) -> float | None:
    """How many times the hand-written asset's speed the issue asks of ours at
    ``size`` (1.0: no slower), or None where it sets no target."""
    if size.entities in (1000, 10_000) and not size.candidates:
        return 1.0
    if size.entities == 100_000 and not size.candidates:
        return 2.0
    if size.entities == 1_000_000:
        return 5.0
    return None


def verdict(result: SizeResult) -> str:
    speed = result.step("hand") / result.step("ours")
    wanted = speed_target(result.size)
    if wanted is None:
        return "- (no target)"
    if wanted == 1.0:
        ok, target = speed >= 1.0, "time <= 1.0x"
    else:
        ok, target = speed >= wanted, f"speed >= {wanted:.0f}x"
    if result.size.entities == 1_000_000:
        ok = ok and result.peak("ours") / result.peak("hand") <= 0.25
        target += ", peak <= 0.25x"
    return f"{'PASS' if ok else 'FAIL'} ({target})"


def print_cpu(results: Sequence[SizeResult]) -> None:
    """The step's CPU time, and the shortest step it allows on this machine's
    cores, against the time the target allows."""
    cores = os.cpu_count() or 1
    print(
        "\nCPU seconds in the step (user + system, every thread; median) and what they allow: "
        f"at best all {cores} cores busy all the time, so the step takes at least our CPU "
        f"seconds / {cores}"
    )
    print(
        "| size | ours CPU s | cores busy (CPU / step) | hand-written CPU s | "
        "target's longest step s | ours CPU / cores s | target reachable on these cores |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in results:
        ours = [x["step_cpu_s"] for x in r.ours if x.get("step_cpu_s") is not None]
        hand = [x["step_cpu_s"] for x in r.hand if x.get("step_cpu_s") is not None]
        if not ours or not hand:
            continue
        floor = median(ours) / cores
        wanted = speed_target(r.size)
        longest = r.step("hand") / wanted if wanted else None
        print(
            f"| {r.size.label} | {median(ours):.3f} | {median(ours) / r.step('ours'):.2f} | "
            f"{median(hand):.3f} | {'-' if longest is None else f'{longest:.3f}'} | "
            f"{floor:.3f} | "
            f"{'-' if longest is None else ('yes' if floor <= longest else 'no')} |"
        )


def print_table(results: Sequence[SizeResult], rounds: int) -> None:
    print(f"\nStep time and peak memory, median of {rounds} fresh processes per path and size")
    print(
        "| size | response MB | ours step s | hand-written s | ours/hand time | "
        "ours peak MB | hand-written peak MB | peak ratio | target |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in results:
        print(
            f"| {r.size.label} | {r.response_mb:.1f} | {r.step('ours'):.3f} | "
            f"{r.step('hand'):.3f} | {r.step('ours') / r.step('hand'):.2f}x | "
            f"{r.peak('ours'):.0f} | {r.peak('hand'):.0f} | "
            f"{r.peak('ours') / r.peak('hand'):.2f}x | {verdict(r)} |"
        )
    print("\nSpread of the step times (min-max, s):")
    for r in results:
        spans = {
            path: (min(x["step_s"] for x in runs), max(x["step_s"] for x in runs))
            for path, runs in (("ours", r.ours), ("hand", r.hand))
        }
        print(
            f"  {r.size.label:>6}: ours {spans['ours'][0]:.3f}-{spans['ours'][1]:.3f}, "
            f"hand-written {spans['hand'][0]:.3f}-{spans['hand'][1]:.3f}; "
            f"materialize() wall ours {median([x['materialize_s'] for x in r.ours]):.2f}, "
            f"hand-written {median([x['materialize_s'] for x in r.hand]):.2f}"
        )


def _phase_table(
    title: str,
    results: Sequence[SizeResult],
    path: str,
    phases: Sequence[str],
    show: Callable[[list[dict[str, float]]], str],
) -> None:
    """One row per phase, one column per size: ``show`` of the rounds' figures."""
    print(f"\n{title}")
    print("| phase | " + " | ".join(r.size.label for r in results) + " |")
    print("| --- |" + " ---: |" * len(results))
    for phase in phases:
        cells = []
        for r in results:
            figures = [x["phases"][phase] for x in getattr(r, path) if phase in x["phases"]]
            cells.append(show(figures) if figures else "-")
        print(f"| {phase} | " + " | ".join(cells) + " |")


def _seconds(figures: list[dict[str, float]]) -> str:
    return f"{median([f['seconds'] for f in figures]):.3f}"


def _memory(figures: list[dict[str, float]]) -> str:
    if "peak_mb" not in figures[0]:
        return "-"
    peak = median([f["peak_mb"] for f in figures])
    rise = median([f["rise_mb"] for f in figures])
    return f"{peak:.0f} (+{rise:.0f})"


MEMORY_NOTE = (
    "median MB: the highest RSS while the phase ran (any thread), and in brackets how far "
    "that rose above the RSS at its start"
)


def ours_phases(results: Sequence[SizeResult]) -> None:
    """Our step by phase (probes), with derived rows."""
    for r in results:
        for run in r.ours:
            phases = run["phases"]
            top = sum(f["seconds"] for p, f in phases.items() if not p.startswith((" ", "~")))
            phases[OTHER] = {"seconds": run["step_s"] - top}
            phases["step (event log)"] = {"seconds": run["step_s"]}
    order = [SETUP, *(phase for phase, _, _ in PROBES)]
    _phase_table(
        "Our step by phase, in-process probes (median s; indented rows are part of the row "
        "above; ~ rows run on a thread of their own beside the rows above; other: Dagster's "
        "own work in the step, events and metadata, the wait for the checks' thread, and "
        "what no probe covers)",
        results,
        "ours",
        [*order, OTHER, "step (event log)"],
        _seconds,
    )
    _phase_table(
        f"Our memory by phase ({MEMORY_NOTE})",
        results,
        "ours",
        [p for p, _, _ in PROBES],
        _memory,
    )


def hand_phases(results: Sequence[SizeResult]) -> None:
    order = [
        "client setup",
        "create",
        "poll GET (download)",
        "json.loads",
        "sleep",
        "json_normalize",
        "to_parquet",
    ]
    _phase_table("The hand-written step by phase (median s)", results, "hand", order, _seconds)
    _phase_table(
        f"The hand-written memory by phase ({MEMORY_NOTE})", results, "hand", order, _memory
    )


def print_timelines(results: Sequence[SizeResult]) -> None:
    """Our step's event log: time since the previous event, median per size."""
    print(
        "\nOur step's event log: seconds since the previous event (median; labels with digits as #)"
    )
    reference = results[0].ours[0]["timeline"]
    labels = [label for label, _ in reference]
    # From the resources' setup on: the planning events before it are the run's.
    first = next((i for i, x in enumerate(labels) if x.startswith("RESOURCE_INIT")), 0)
    print("| event | " + " | ".join(r.size.label for r in results) + " |")
    print("| --- |" + " ---: |" * len(results))
    for index, label in enumerate(labels):
        if index < first:
            continue
        cells = []
        for r in results:
            gaps = []
            for run in r.ours:
                line = run["timeline"]
                if len(line) == len(labels) and line[index][0] == label:
                    gaps.append(line[index][1] - (line[index - 1][1] if index else 0.0))
            cells.append(f"{median(gaps):.3f}" if gaps else "-")
        print(f"| {label} | " + " | ".join(cells) + " |")


def print_requests(results: Sequence[SizeResult]) -> None:
    print("\nRequests per step as the server saw them (first round): method path [accept] MB")
    for r in results:
        for path, runs in (("ours", r.ours), ("hand-written", r.hand)):
            parts = []
            for q in runs[0]["requests"]:
                events = q["path"].endswith("/events")
                what = f"events [{q['accept']}]" if events else q["path"]
                parts.append(f"{q['method']} {what} {q['bytes'] / 2**20:.1f}")
            total = sum(q["bytes"] for q in runs[0]["requests"]) / 2**20
            print(f"  {r.size.label:>6} {path:<12} {total:8.1f} MB: " + "; ".join(parts))


def import_times(rounds: int) -> tuple[float, float]:
    """Median wall time of ``python -c "import definitions"`` and of ``import dagster``.

    The repository's modules are byte-compiled first, as ``pip install``
    compiles an installed package and compiled dagster's: otherwise a fresh
    checkout, or one whose sources changed, compiles them on every import
    where ``PYTHONDONTWRITEBYTECODE`` is set, which no installed deployment does.
    """
    for folder in ("scout_dagster", "examples"):
        compileall.compile_dir(ROOT / folder, quiet=1)
    compileall.compile_file(ROOT / "definitions.py", quiet=1)
    times: dict[str, list[float]] = {"definitions": [], "dagster": []}
    for _ in range(rounds):
        for module in times:  # interleaved, so drift in the machine's load hits both
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-c", f"import {module}"],
                cwd=ROOT,
                check=True,
                timeout=300,
                capture_output=True,
            )
            times[module].append(time.perf_counter() - started)
    return median(times["definitions"]), median(times["dagster"])


def print_import_times(rounds: int) -> None:
    definitions_s, dagster_s = import_times(rounds)
    ratio = definitions_s / dagster_s
    cached = "off" if os.environ.get("PYTHONDONTWRITEBYTECODE") else "on"
    print(
        f'\npython -c "import definitions": {definitions_s:.3f} s; '
        f'python -c "import dagster": {dagster_s:.3f} s (median of {rounds} '
        f"fresh processes each, both byte-compiled, bytecode writes {cached}): {ratio:.2f}x, "
        f"{'PASS' if ratio <= 1.2 else 'FAIL'} (target <= 1.2x)"
    )
