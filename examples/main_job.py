"""The README's main job: materialize the example assets and say where the tables are.

    python -m examples.main_job

Runs the ``scout_research`` job of ``definitions.py`` and the latest partition
of its ``scout_daily`` job in this process, against the real API when
``SCOUT_API_KEY`` is set and, because ``definitions.py`` opts in to it, against
the local emulator (synthetic data) otherwise; then prints each table's
location, rows and credits.
"""

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from dagster import DagsterInstance, DagsterRunStatus, ExecuteInProcessResult, JobDefinition


def _value(metadata: dict[str, Any], key: str) -> Any:
    entry = metadata.get(key)
    return getattr(entry, "value", entry)


def _summary(results: list[ExecuteInProcessResult]) -> None:
    """One line per table: rows, credits of its remote run, location."""
    credits_by_run: dict[str, int] = {}
    print(f"{'table':<26} {'rows':>6} {'credits':>8}  location")
    events = [e for result in results for e in result.get_asset_materialization_events()]
    for event in events:
        materialization = event.step_materialization_data.materialization
        metadata = dict(materialization.metadata)
        rows = _value(metadata, "dagster/row_count")
        if rows is None:  # a partition: its own rows
            rows = _value(metadata, "dagster/partition_row_count")
        credits = _value(metadata, "scout/credits")
        run_id = _value(metadata, "scout/run_id")
        if run_id is not None and credits is not None:  # on one table per remote run
            credits_by_run[run_id] = int(credits)
        print(
            f"{materialization.asset_key.to_user_string():<26} "
            f"{'' if rows is None else rows!s:>6} {'' if credits is None else credits!s:>8}  "
            f"{_value(metadata, 'dagster/uri') or '?'}"
        )
    print(f"\n{len(credits_by_run)} Scout runs, {sum(credits_by_run.values())} credits in all.")


def _run(jobs: list[tuple[JobDefinition, str | None]], instance: DagsterInstance) -> int:
    results = [
        job.execute_in_process(instance=instance, partition_key=partition, raise_on_error=False)
        for job, partition in jobs
    ]
    print("\n" + "=" * 78)
    for result in results:
        run = instance.get_run_by_id(result.run_id)
        if run is None or run.status != DagsterRunStatus.SUCCESS:
            print(f"The job {result.job_def.name} FAILED; see the log above.")
            return 1
    _summary(results)
    print(f"Tables are under {os.environ['SCOUT_DAGSTER_DATA']}")
    print("Read them back with: .venv/bin/python -m examples.read_back")
    if not os.environ.get("SCOUT_API_KEY"):
        from scout_dagster._local_emulator import emulator_pid, emulator_url

        url = emulator_url()
        pid = emulator_pid(url)
        stop = f"stop it with `kill {pid}`" if pid else "stop it with Ctrl-C where it runs"
        print(
            "\nThese tables hold SYNTHETIC DATA from the local Scout emulator: no "
            "SCOUT_API_KEY is set, and definitions.py opts in to the emulator for that "
            "case (ScoutResource.from_env(emulator_without_key=True)). No credits were "
            f"spent. The emulator keeps running at {url} for the next run; {stop}."
        )
    return 0


def main() -> int:
    os.environ.setdefault("SCOUT_DAGSTER_DATA", os.path.abspath("data/scout"))
    from definitions import daily, defs  # after the environment is settled

    jobs = [
        (defs.resolve_job_def("scout_research"), None),
        (defs.resolve_job_def("scout_daily"), daily.get_last_partition_key()),
        (defs.resolve_job_def("scout_history"), None),
    ]
    with tempfile.TemporaryDirectory() as home:
        Path(home, "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        with DagsterInstance.local_temp(home) as instance:
            return _run(jobs, instance)


if __name__ == "__main__":
    sys.exit(main())
