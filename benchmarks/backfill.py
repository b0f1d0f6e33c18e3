"""A backfill of a partitioned FindAll asset under a Dagster pool limit, timed against the ideal.

    .venv/bin/python -m benchmarks.backfill [--partitions 50] [--pool 4] [--duration 4]

The harness (``tests/backfill_job.py``, which the backfill tests run too): one
Dagster run per partition, worker processes sharing one real
``DagsterInstance`` with the pool ``scout`` limited to ``--pool`` slots;
every remote run lasts ``--duration`` seconds on the emulator. Printed: the
wall time against the ideal (partitions / pool x duration), the creates in the
emulator's ledger, and runs left active. Target (issue 4): within 1.3x of the
ideal, exactly one create per partition.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from tests.backfill_job import run_backfill


def main() -> None:
    from scout_dagster.emulator import EmulatorConfig, EmulatorServer

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--partitions", type=int, default=50)
    parser.add_argument("--pool", type=int, default=4)
    parser.add_argument("--workers", type=int, help="worker processes (default: --pool)")
    parser.add_argument("--duration", type=float, default=4.0, help="seconds each remote run takes")
    args = parser.parse_args()
    args.workers = args.workers or args.pool
    config = EmulatorConfig(speed=1.0, queued_s=0.0, findall_duration_s=args.duration)
    with EmulatorServer(config=config) as emulator, tempfile.TemporaryDirectory() as work:
        report = run_backfill(
            emulator_url=emulator.url,
            api_key=emulator.api_key,
            data_dir=str(Path(work, "data")),
            days=args.partitions,
            pool=args.pool,
            workers=args.workers,
            dagster_home=str(Path(work, "home")),
        )
        ideal = args.partitions / args.pool * args.duration
        failed = [key for key, ok in report.succeeded.items() if not ok]
        print(
            f"{args.partitions} partitions, pool {args.pool}, {args.workers} workers, "
            f"runs of {args.duration:g} s"
        )
        print(f"wall time      {report.wall_s:8.1f} s")
        print(f"ideal          {ideal:8.1f} s  (partitions / pool x duration)")
        print(f"ratio          {report.wall_s / ideal:8.2f}x  (target <= 1.3x)")
        print(f"creates        {emulator.ledger.creates():8d}    (target {args.partitions})")
        print(f"failed         {len(failed):8d}")
        print(f"left active    {len(emulator.ledger.active_runs()):8d}")


if __name__ == "__main__":
    main()
