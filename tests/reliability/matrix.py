"""The randomized fault-injection suite: every asset kind under seeded mixes of every fault.

    .venv/bin/python -m tests.reliability.matrix --seeds 200

For each seed and each asset kind (a FindAll asset, a search asset, a
partition of a partitioned FindAll asset), the emulator gets a fault mix drawn
from the seed: 429s with Retry-After, 5xx, connections reset mid-response,
responses slower than the request timeout, malformed JSON, event streams
dropped mid-run, creates rejected by the creation cap, and in some seeds an
outage that makes the run impossible. The asset is materialized with real
Dagster and compared with the same materialization without faults:

- a run that completes must give the same tables, row for row (the
  run-specific columns ``run_id`` and the fetch times aside), from exactly one
  create, with no remote run left active and its credits in the metadata
  equal to what the emulator's ledger charged;
- a run that fails must fail cleanly: a Scout error message, no table written
  (the partitioned kind checks that the previous version is intact), no
  remote run left active, at most one create.

Three more kinds go through Dagster's other paths, under the same mixes:

- ``backfill-range``: the partition as Dagster's asset backfills (the UI's
  "Launch backfill") name it, ``dagster/asset_partition_range_start``/``_end``;
- ``retry-after-deadline``: the first attempt meets its deadline (the remote
  run is held still) and cancels its run; a step retry must start a new run,
  which completes;
- ``reexecute-after-cancel``: the same, then a re-execution from failure on a
  real instance.

For the last two, exactly one remote run may complete (one paid result) and
every other must have ended cancelled by us.

The summary table counts faults injected by kind, runs completed, clean
failures, rows lost or duplicated, orphaned runs and double creates. The exit
status is non-zero when anything is unclean.
"""

from __future__ import annotations

import argparse
import dataclasses
import filecmp
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from scout_dagster.emulator import EmulatorConfig, EmulatorServer, FaultConfig, ManualClock

from .matrix_paths import (
    AFTER_A_CANCEL,
    KEY,
    KINDS,
    ReleaseAfterCancel,
    RunResult,
    fault_mix,
    fill_the_cap,
    materialize_fault_free,
    materialize_kind,
    table_rows,
)


class Matrix:
    """One emulator and the fault-free baselines, shared by every seed."""

    def __init__(
        self,
        emulator: EmulatorServer,
        work: Path,
        kinds: tuple[str, ...] = KINDS,
        held: EmulatorServer | None = None,
    ) -> None:
        self.emulator = emulator
        self.held = held  # a manual-clock emulator, for the kinds AFTER_A_CANCEL
        self.work = work
        self.baselines: dict[str, dict[str, list[tuple[Any, ...]]]] = {}
        self.previous: dict[str, Path] = {}
        for kind in kinds:
            emulator.state.reset()
            emulator.faults.configure(FaultConfig())
            base = work / f"baseline-{kind}"
            # A deadline kind's baseline is the same request without the
            # deadline: the tables of one completed run.
            plain = {"retry-after-deadline": "findall", "reexecute-after-cancel": "plain-day"}
            result = (
                materialize_kind(kind, emulator, base)
                if kind not in plain
                else materialize_fault_free(plain[kind], emulator, base)
            )
            if not result.success:
                raise RuntimeError(f"the fault-free {kind} run failed")
            self.baselines[kind] = table_rows(base, kind)
            self.previous[kind] = base

    def run(self, seed: int, kind: str) -> RunResult:
        if kind in AFTER_A_CANCEL:
            assert self.held is not None, "the deadline kinds need the manual-clock emulator"
            emulator = self.held
            release = ReleaseAfterCancel(emulator)
            release.start()
            try:
                return self._run(seed, kind, emulator)
            finally:
                release.done.set()
                release.join()
        return self._run(seed, kind, self.emulator)

    def _run(self, seed: int, kind: str, emulator: EmulatorServer) -> RunResult:
        mix = fault_mix(seed)
        emulator.state.reset()
        emulator.faults.configure(FaultConfig())
        config = mix.config
        if kind in AFTER_A_CANCEL:
            # Two creates are the point here; a one-per-window cap on a clock
            # that stands still would refuse the second for good.
            config = config.model_copy(update={"create_cap": None})
        elif mix.capped:
            fill_the_cap(emulator)
        emulator.faults.configure(config)
        if mix.outage:
            # Once the run exists, every read fails, on every retry: the run is
            # impossible to follow. The cancel, a POST, still gets through.
            emulator.faults.inject("server_error", times=100_000, method="GET")
        base = self.work / f"seed-{seed}-{kind}"
        if kind in ("partitioned", "backfill-range"):
            shutil.copytree(self.previous[kind], base)  # a previous version to keep intact
        result = materialize_kind(kind, emulator, base)
        emulator.faults.configure(FaultConfig())
        emulator.faults.reset()

        runs = [r for r in emulator.ledger.runs() if r.query != "cap filler"]
        outcome = RunResult(seed, kind, "", Counter(emulator.ledger.faults_injected()))
        outcome.orphaned_runs = len(
            [r for r in emulator.ledger.active_runs() if r.query != "cap filler"]
        )
        if kind in AFTER_A_CANCEL:
            # Runs we cancelled at the deadline are expected; a second paid
            # result, or a run that ended any other way, is not.
            completed = [r for r in runs if r.state == "completed"]
            outcome.double_creates = max(len(completed) - 1, 0)
            runs = completed
            odd = [r for r in emulator.ledger.runs() if r.state not in ("completed", "cancelled")]
            if any(r.query != "cap filler" for r in odd):
                outcome.problems.append(f"runs ended otherwise: {[r.state for r in odd]}")
        else:
            outcome.double_creates = max(len(runs) - 1, 0)
        if result.success:
            self._check_completed(outcome, result, base, runs)
        else:
            self._check_failed(outcome, result, base, kind)
        if outcome.orphaned_runs:
            outcome.problems.append(f"{outcome.orphaned_runs} remote run(s) left active")
        if outcome.double_creates:
            outcome.problems.append(f"{len(runs)} creates for one logical run")
        if outcome.problems:
            outcome.outcome = "UNCLEAN"
        shutil.rmtree(base, ignore_errors=True)
        return outcome

    def _check_completed(
        self, outcome: RunResult, result: Any, base: Path, runs: list[Any]
    ) -> None:
        outcome.outcome = "completed"
        expected = self.baselines[outcome.kind]
        got = table_rows(base, outcome.kind)
        for table, rows in expected.items():
            have = Counter(got.get(table, []))
            want = Counter(rows)
            outcome.rows_lost += sum((want - have).values())
            outcome.rows_duplicated += sum((have - want).values())
            if got.get(table) != rows and not (want - have) and not (have - want):
                outcome.problems.append(f"{table}: rows in another order")
        if outcome.rows_lost or outcome.rows_duplicated:
            outcome.problems.append(
                f"{outcome.rows_lost} rows lost, {outcome.rows_duplicated} duplicated"
            )
        credits = {r.run_id: r.credits for r in runs}
        # Credits are counted once per remote run, on one table of it.
        counted: Counter[str] = Counter()
        for event in result.get_asset_materialization_events():
            metadata = event.step_materialization_data.materialization.metadata
            run_id = metadata["scout/run_id"].value
            if "scout/credits" not in metadata:
                continue
            counted[run_id] += 1
            if metadata["scout/credits"].value != credits.get(run_id):
                outcome.problems.append(
                    f"credits in metadata {metadata['scout/credits'].value} != ledger "
                    f"{credits.get(run_id)}"
                )
        if any(times != 1 for times in counted.values()) or not counted:
            outcome.problems.append(f"credits counted {dict(counted)} times per run, not once")

    def _check_failed(self, outcome: RunResult, result: Any, base: Path, kind: str) -> None:
        outcome.outcome = "clean failure"
        # A step retried to exhaustion ends with Dagster's "Exceeded max_retries":
        # the attempts' own failures say what happened.
        messages = [
            message
            for event in result.all_events
            if event.is_step_failure or event.is_step_up_for_retry
            for message in _messages(event.event_specific_data.error)
        ]
        scout = [m for m in messages if "/v1/" in m or " run " in m]
        message = (scout or messages or [""])[-1]
        outcome.cause = message.strip().splitlines()[-1] if message.strip() else ""
        if not any(word in message for word in ("/v1/", " run ")):
            outcome.problems.append(f"failure without a Scout error message: {message[:200]!r}")
        if kind in ("partitioned", "backfill-range"):
            comparison = filecmp.dircmp(self.previous[kind], base)
            if _differs(comparison):
                outcome.problems.append("the previous version of the table changed")
        elif base.exists() and any(base.rglob("*.parquet")):
            outcome.problems.append("a table was written by a failed run")


def _messages(error: Any) -> Iterator[str]:
    """An error's message and those of its causes (a retried step's failure
    is the cause of Dagster's own "Exceeded max_retries")."""
    while error is not None:
        yield error.message
        error = error.cause


def _differs(comparison: filecmp.dircmp[str]) -> bool:
    if comparison.left_only or comparison.right_only or comparison.diff_files:
        return True
    return any(_differs(sub) for sub in comparison.subdirs.values())


@dataclasses.dataclass
class Summary:
    results: list[RunResult]
    seconds: float

    def lines(self) -> Iterator[str]:
        results = self.results
        faults: Counter[str] = Counter()
        for result in results:
            faults.update(result.faults)
        outcomes = Counter(r.outcome for r in results)
        yield f"| seeds | {len({r.seed for r in results})} |"
        yield f"| runs (seeds x asset kinds) | {len(results)} |"
        for kind in sorted(faults):
            yield f"| faults injected: {kind} | {faults[kind]} |"
        yield f"| runs completed | {outcomes['completed']} |"
        outages = [r for r in results if r.outcome == "clean failure" and fault_mix(r.seed).outage]
        yield f"| clean failures | {outcomes['clean failure']} |"
        yield f"| of which runs made impossible (outage) | {len(outages)} |"
        yield f"| unclean runs | {outcomes['UNCLEAN']} |"
        for kind in KINDS:
            of_kind = Counter(r.outcome for r in results if r.kind == kind)
            if of_kind:
                yield (
                    f"| {kind}: completed / clean failures / unclean | "
                    f"{of_kind['completed']} / {of_kind['clean failure']} / {of_kind['UNCLEAN']} |"
                )
        yield f"| rows lost | {sum(r.rows_lost for r in results)} |"
        yield f"| rows duplicated | {sum(r.rows_duplicated for r in results)} |"
        yield f"| orphaned runs | {sum(r.orphaned_runs for r in results)} |"
        yield f"| double creates | {sum(r.double_creates for r in results)} |"
        yield f"| wall time | {self.seconds:.0f} s |"

    @property
    def clean(self) -> bool:
        return all(r.outcome != "UNCLEAN" for r in self.results)


def run_matrix(seeds: Iterable[int], kinds: tuple[str, ...] = KINDS) -> Summary:
    started = time.monotonic()
    config = EmulatorConfig(speed=200.0, keepalive_s=0.2, stream_tick_s=0.005)
    held_config = EmulatorConfig(keepalive_s=0.1, stream_tick_s=0.005)
    results = []
    with (
        EmulatorServer(config=config, api_key=KEY) as emulator,
        EmulatorServer(config=held_config, clock=ManualClock(), api_key=KEY) as held,
        tempfile.TemporaryDirectory() as work,
    ):
        matrix = Matrix(emulator, Path(work), kinds, held)
        for seed in seeds:
            for kind in kinds:
                results.append(matrix.run(seed, kind))
    return Summary(results, time.monotonic() - started)


def _shape(message: str) -> str:
    """A failure message with its ids and numbers blanked, to group alike ones."""
    import re

    message = re.sub(r"(fa-[0-9a-f]+|[0-9a-f]{8}-[0-9a-f-]{27}|req_[0-9a-f]+)", "<id>", message)
    return re.sub(r"\d+(\.\d+)?", "<n>", message)[:160]


def _quiet_matrix(seeds: list[int]) -> Summary:
    import logging

    logging.disable(logging.WARNING)  # the faults make every layer complain; the table says it all
    return run_matrix(seeds)


def _run_in_processes(seeds: list[int], jobs: int) -> Summary:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    started = time.monotonic()
    slices = [seeds[index::jobs] for index in range(jobs)]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        parts = list(pool.map(_quiet_matrix, slices))
    results = sorted((r for part in parts for r in part.results), key=lambda r: r.seed)
    return Summary(results, time.monotonic() - started)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="processes to split the seeds among (each with its own emulators); most of "
        "a run is waiting, so 2 on 2 cores roughly halves the wall time",
    )
    args = parser.parse_args()
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    summary = _run_in_processes(seeds, args.jobs) if args.jobs > 1 else _quiet_matrix(seeds)
    print("| measure | value |\n| --- | --- |")
    for line in summary.lines():
        print(line)
    causes = Counter(
        _shape(r.cause)
        for r in summary.results
        if r.outcome == "clean failure" and not fault_mix(r.seed).outage
    )
    if causes:
        print("\nclean failures without an outage, by cause:")
        for cause, count in causes.most_common():
            print(f"  {count:4d}  {cause}")
    for result in summary.results:
        if result.outcome == "UNCLEAN":
            print(f"UNCLEAN seed {result.seed} {result.kind}: {fault_mix(result.seed).describe()}")
            for problem in result.problems:
                print(f"    {problem}")
    return 0 if summary.clean else 1


if __name__ == "__main__":
    sys.exit(main())
