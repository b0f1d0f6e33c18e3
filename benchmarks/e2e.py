"""The FindAll asset end to end, as a user runs it, against a hand-written Dagster asset.

    .venv/bin/python -m benchmarks.e2e [--sizes 1k 10k 100k 1M 1M+c] [--rounds 5]
                                       [--candidates] [--quick] [--import-rounds 5]

A loopback HTTP server (standard library, a thread of this process) serves a
FindAll run that is completed from the first look, the way the contract and
the emulator do: ``POST /v1/findall/runs`` answers a queued run,
``GET /v1/findall/runs/{id}`` the completed run (bytes built once per size,
as ``benchmarks.normalize.make_response`` builds them), and
``GET …/events`` one ``findall.status`` event whose data is the whole
completed run (nested, as the emulator sends it), then the end of the stream
(a JSON array of the same event with ``Accept: application/json``).

Two assets are materialized against it, each in a fresh ``python`` process
per round, with ``dagster.materialize`` on an ephemeral instance:

- ours: ``build_findall_assets(name, query, output_schema=..., limit=n)``
  with ``ScoutResource(api_key=..., base_url=<server>)`` and
  ``ScoutParquetIOManager(base_path=<tmp>)``: the package's own path;
- hand-written: an ``@asset`` that creates the run with ``httpx``, polls it
  every second until it is terminal, then ``json.loads`` +
  ``pandas.json_normalize(entities)`` + ``to_parquet``.

Per size (``1M+c``: a million entities and one matched candidate per entity
with two cited fields, as the emulator sends them) the table gives the median
over ``--rounds`` of the step time (STEP_START to STEP_SUCCESS in the
instance's event log) and of the peak resident memory (the child's highest
``VmHWM``, absolute: imports and Dagster included), with the ratios and the
targets' verdicts. Then where our step goes:

- in-process probes: the package's functions for each phase (create, the
  status read, the wait on the stream and its event decode, the final read
  and its parse, the tables, table metadata, data version, output
  conversion, the IO manager and its Parquet write, the checks), wrapped
  with timers in the child (a probe whose function is gone is left out and
  shown as ``-``); with each phase's peak memory (``VmHWM`` is reset at its
  start through ``/proc/self/clear_refs``; the overall peak is the highest
  ``VmHWM`` read, as the process would show it without the resets);
- the step's event log, as the time between consecutive events;
- the server's ledger: requests and megabytes sent per step.

Last, ``python -c "import definitions"`` against ``python -c "import
dagster"`` from the repository root, median of fresh processes.

Targets (the issue): at 1k and 10k ours takes at most the hand-written time;
at 100k at least 2x its speed; at 1M, with and without candidates, at least
5x its speed at no more than 0.25x its peak; importing ``definitions`` at
most 1.2x the time of importing ``dagster``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from typing import Any

from benchmarks.e2e_child import ASSET_NAME, run_child
from benchmarks.e2e_report import (
    ROOT,
    Size,
    SizeResult,
    hand_phases,
    median,
    ours_phases,
    print_cpu,
    print_import_times,
    print_requests,
    print_table,
    print_timelines,
)
from benchmarks.e2e_server import LoopbackServer, Served
from benchmarks.normalize import RESULT_PREFIX

CHILD_TIMEOUT_S = 1800
QUICK_SIZES = ["1k", "10k"]
DEFAULT_SIZES = ["1k", "10k", "100k", "1M", "1M+c"]


def parse_size(token: str) -> Size:
    """``1000``, ``10k``, ``1M``, ``1M+c`` (with candidates)."""
    match = re.fullmatch(r"(\d+)([kKmM]?)(\+c)?", token.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"not a size: {token!r} (say 1000, 10k, 1M or 1M+c)")
    scale = {"": 1, "k": 1000, "m": 1_000_000}[match.group(2).lower()]
    return Size(int(match.group(1)) * scale, match.group(3) is not None)


# ---------------------------------------------------------------- parent


def measure(path: str, server: LoopbackServer, size: Size) -> dict[str, Any]:
    """One round of ``path`` in a fresh process, with the server's ledger of it."""
    with tempfile.TemporaryDirectory() as out:
        server.ledger.take()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.e2e",
                "--child",
                path,
                server.url,
                out,
                str(size.entities),
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=CHILD_TIMEOUT_S,
        )
    if done.returncode != 0:
        raise SystemExit(f"the {path} path failed at {size.label}:\n{done.stderr[-6000:]}")
    line = next(x for x in done.stdout.splitlines() if x.startswith(RESULT_PREFIX))
    figures: dict[str, Any] = json.loads(line[len(RESULT_PREFIX) :])
    figures["requests"] = server.ledger.take()
    return figures


def machine_load() -> str:
    try:
        with open("/proc/loadavg") as f:
            load = " ".join(f.read().split()[:3])
    except OSError:
        load = "?"
    return f"load average {load}, {os.cpu_count()} cores"


def busy_processes() -> str:
    """The processes using the CPU now (from top), other than this benchmark's."""
    try:
        top = subprocess.run(
            ["top", "-bn1", "-w", "200"], capture_output=True, text=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return "?"
    lines = top.splitlines()
    try:
        start = next(i for i, x in enumerate(lines) if x.lstrip().startswith("PID"))
    except StopIteration:
        return "?"
    busy = []
    for line in lines[start + 1 :]:
        cols = line.split(None, 11)
        if len(cols) < 12:
            continue
        try:
            cpu = float(cols[8])
        except ValueError:
            continue
        if cpu >= 10 and cols[0] != str(os.getpid()) and "top" not in cols[11]:
            busy.append(f"{cols[11][:60]} ({cpu:.0f}%)")
    return "; ".join(busy[:5]) or "nothing else above 10% CPU"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--sizes",
        type=parse_size,
        nargs="+",
        default=None,
        help="entities per run: 1000, 10k, 1M; 1M+c with candidates "
        f"(default: {' '.join(DEFAULT_SIZES)})",
    )
    parser.add_argument("--rounds", type=int, default=None, help="per path and size (default 5)")
    parser.add_argument(
        "--candidates",
        action="store_true",
        help="every size also with a matched candidate per entity (a +c row beside it)",
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"{' '.join(QUICK_SIZES)}, 2 rounds (to try it)"
    )
    parser.add_argument("--import-rounds", type=int, default=5)
    parser.add_argument(
        "--imports", action="store_true", help="only the load time of definitions against dagster's"
    )
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        path, url, out, entities = args.child
        run_child(path, url, out, int(entities))
        return

    if args.imports:
        print_import_times(args.import_rounds)
        return
    default_sizes = QUICK_SIZES if args.quick else DEFAULT_SIZES
    sizes: list[Size] = args.sizes or [parse_size(s) for s in default_sizes]
    if args.candidates:
        sizes = [s for base in sizes for s in (base, Size(base.entities, True))]
        sizes = list(dict.fromkeys(sizes))
    rounds = args.rounds or (2 if args.quick else 5)

    began = time.perf_counter()
    print(f"e2e benchmark: {' '.join(s.label for s in sizes)}, {rounds} rounds")
    print(f"before: {machine_load()}; busy: {busy_processes()}")
    results: list[SizeResult] = []
    with LoopbackServer() as server:
        for size in sizes:
            response_mb = server.serve(size.entities, candidates=size.candidates)
            ours: list[dict[str, Any]] = []
            hand: list[dict[str, Any]] = []
            for _ in range(rounds):  # alternated, so load on the machine hits both
                ours.append(measure("ours", server, size))
                hand.append(measure("hand", server, size))
            result = SizeResult(size, response_mb, ours, hand)
            results.append(result)
            print(
                f"  {size.label}: ours {result.step('ours'):.3f} s, hand-written "
                f"{result.step('hand'):.3f} s ({time.perf_counter() - began:.0f} s so far; "
                f"{machine_load()})",
                flush=True,
            )
            check_rows(result)
        server.served = Served()
    print(f"after: {machine_load()}; busy: {busy_processes()}")

    print_table(results, rounds)
    print_cpu(results)
    ours_phases(results)
    hand_phases(results)
    print_timelines(results)
    print_requests(results)
    every_ours = [x for r in results for x in r.ours]
    every_hand = [x for r in results for x in r.hand]
    print(
        "\nImports in the measured children, before materialize() (median of every round): "
        f"ours dagster + scout_dagster {median([x['import_s'] for x in every_ours]):.2f} s "
        f"(dagster alone {median([x['import_dagster_s'] for x in every_ours]):.2f} s), "
        f"hand-written dagster + httpx + pandas {median([x['import_s'] for x in every_hand]):.2f}"
        " s; the step times above exclude them"
    )
    in_materialize = sum(x["pandas_imported_in_materialize"] for x in every_ours)
    print(
        f"pandas was imported during our materialize() in {in_materialize} of "
        f"{len(every_ours)} rounds: by the resource's set-up, before STEP_START (pyarrow "
        "would import it in the step's first parse otherwise), so not in the step times"
    )
    if not all(x["hwm_resets"] for x in every_ours + every_hand):
        print("VmHWM could not be reset here: a phase's peak is the process's peak so far")

    print_import_times(args.import_rounds)
    print(f"\ntotal {time.perf_counter() - began:.0f} s; {machine_load()}")


def check_rows(result: SizeResult) -> None:
    """Both paths wrote every entity (and ours a citation per cited field)."""
    n = result.size.entities
    for run in result.ours:
        rows = run["rows"]
        assert rows.get(f"{ASSET_NAME}_entities") == n, rows
        if result.size.candidates:
            assert rows.get(f"{ASSET_NAME}_citations", 0) > 0, rows
    for run in result.hand:
        assert run["rows"].get("entities") == n, run["rows"]


if __name__ == "__main__":
    main()
