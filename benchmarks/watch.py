"""Reading a FindAll run's status while following it: with and without its entities.

    .venv/bin/python -m benchmarks.watch [--entities 1000000] [--repeat 3]

The contract's ``findall.status`` events carry the whole run object on every
heartbeat, and so does a status GET. The follower reads them with
``entities=False`` (``findall_run_head``: the run's own fields, its entities
and candidates parsed but never built as Python objects). The baseline is
the full read (``json.loads`` + ``FindAllRun``). Each read runs in a fresh
process; printed: best time of ``--repeat`` runs, the peak resident memory
while reading, and the resident memory after it (the full read's result
holds its million dicts; after the head read the allocators keep freed
parser memory resident for reuse, the result holds no entity).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.normalize import RESULT_PREFIX, make_response, peak_mb, rss_mb


def run_read(mode: str, input_file: str) -> None:
    """Child process: read the run once and print the figures."""
    from scout_dagster import FindAllRun
    from scout_dagster._models import findall_run_head

    text = Path(input_file).read_bytes()
    baseline = rss_mb()
    started = time.perf_counter()
    if mode == "full":
        run = FindAllRun.from_payload(json.loads(text))
    else:
        run = FindAllRun.from_payload(findall_run_head(text))
    elapsed = time.perf_counter() - started
    figures = {
        "seconds": elapsed,
        "peak_mb": peak_mb() - baseline,
        "rss_after_mb": rss_mb() - baseline,
        "count": run.count,
        "entities": len(run.entities),
    }
    print(RESULT_PREFIX + json.dumps(figures))


def measure(mode: str, input_file: str, repeat: int) -> dict[str, float]:
    runs: list[dict[str, float]] = []
    for _ in range(repeat):
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.watch", "--child", mode, input_file],
            capture_output=True,
            text=True,
            check=True,
        )
        line = next(x for x in done.stdout.splitlines() if x.startswith(RESULT_PREFIX))
        runs.append(json.loads(line[len(RESULT_PREFIX) :]))
    best = min(runs, key=lambda r: r["seconds"])
    return {**best, "peak_mb": max(r["peak_mb"] for r in runs)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--entities", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", nargs=2, metavar=("MODE", "INPUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_read(*args.child)
        return

    with tempfile.TemporaryDirectory() as work:
        body = Path(work, "run.json")
        body.write_bytes(make_response(args.entities))
        size_mb = body.stat().st_size / 2**20
        results = {mode: measure(mode, str(body), args.repeat) for mode in ("full", "head")}
    print(f"run object: {args.entities:,} entities, {size_mb:.0f} MB")
    print(f"{'read':<22} {'seconds':>8} {'peak MB':>8} {'RSS after':>9} {'entities':>9}")
    for mode, label in (("full", "full (baseline)"), ("head", "entities=False")):
        r = results[mode]
        print(
            f"{label:<22} {r['seconds']:>8.3f} {r['peak_mb']:>8.0f} {r['rss_after_mb']:>9.0f} "
            f"{int(r['entities']):>9,}"
        )
    full, head = results["full"], results["head"]
    assert head["count"] == full["count"], "both reads must see the same run"
    print(
        f"entities=False: {full['seconds'] / head['seconds']:.1f}x faster, "
        f"{head['peak_mb'] / max(full['peak_mb'], 1e-9):.2f}x the peak"
    )


if __name__ == "__main__":
    main()
