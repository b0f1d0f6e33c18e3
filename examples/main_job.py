"""The README's main job: materialize the example assets and say where the tables are.

    python -m examples.main_job

Runs the ``scout_daily`` job of ``definitions.py`` in this process, against
the real API when ``SCOUT_API_KEY`` is set and against the local emulator
otherwise, then prints each table's location, rows and credits.
"""

import os
import sys
import tempfile
from typing import Any

from dagster import AssetKey, DagsterInstance, DagsterRunStatus


def _value(metadata: dict[str, Any], key: str) -> Any:
    entry = metadata.get(key)
    return getattr(entry, "value", entry)


def main() -> int:
    os.environ.setdefault("SCOUT_DAGSTER_DATA", os.path.abspath("data/scout"))
    from definitions import defs  # after the environment is settled

    job = defs.resolve_job_def("scout_daily")
    with tempfile.TemporaryDirectory() as home, DagsterInstance.local_temp(home) as instance:
        result = job.execute_in_process(instance=instance, raise_on_error=False)
        run = instance.get_run_by_id(result.run_id)
        print("\n" + "=" * 78)
        if run is None or run.status != DagsterRunStatus.SUCCESS:
            print("The job FAILED; see the log above.")
            return 1
        rows = []
        for event in result.get_asset_materialization_events():
            materialization = event.step_materialization_data.materialization
            metadata = dict(materialization.metadata)
            key: AssetKey = materialization.asset_key
            uri = _value(metadata, "dagster/uri") or "?"
            credits = _value(metadata, "scout/credits")
            row_count = _value(metadata, "dagster/row_count")
            rows.append((key.to_user_string(), row_count, credits, uri))
        runs_seen: dict[str, int] = {}
        print(f"{'table':<26} {'rows':>6} {'credits':>8}  location")
        for name, row_count, credits, uri in rows:
            shown_rows = "" if row_count is None else row_count
            shown_credits = "" if credits is None else credits
            print(f"{name:<26} {shown_rows!s:>6} {shown_credits!s:>8}  {uri}")
        for event in result.get_asset_materialization_events():
            metadata = dict(event.step_materialization_data.materialization.metadata)
            run_id = _value(metadata, "scout/run_id")
            if run_id and run_id not in runs_seen:
                runs_seen[run_id] = int(_value(metadata, "scout/credits") or 0)
        total = sum(runs_seen.values())
        print(f"\n{len(runs_seen)} Scout runs, {total} credits in all.")
        print(f"Tables are under {os.environ['SCOUT_DAGSTER_DATA']}")
        print("Read them back with: python -m examples.read_back")
        if not os.environ.get("SCOUT_API_KEY"):
            print("(Ran against the local Scout emulator: synthetic data, no credits spent.)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
