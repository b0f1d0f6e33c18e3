"""One materialization of the end-to-end benchmark, in a fresh process: ours
(the package's FindAll asset and IO manager) or the hand-written asset,
printing its figures as one JSON line."""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.e2e_probes import SETUP, PeakTracker, Phases, StepCpu, _status_kb, install_probes
from benchmarks.e2e_server import QUERY, RUN_ID
from benchmarks.normalize import RESULT_PREFIX, SCHEMA

__all__ = ["ASSET_NAME", "run_child"]

API_KEY = "sk-bench"
ASSET_NAME = "bench"
HAND_ASSET = "handwritten_entities"


def run_child(path: str, url: str, out_dir: str, entities: int) -> None:
    """One materialization in this fresh process; prints its figures."""
    started = time.perf_counter()
    import dagster

    dagster_s = time.perf_counter() - started
    if path == "ours":
        import scout_dagster

        _ = scout_dagster
    else:
        import httpx
        import pandas

        _ = (httpx, pandas)
    import_s = time.perf_counter() - started

    tracker = PeakTracker()
    phases = Phases(tracker)
    if path == "ours":
        from scout_dagster import ScoutParquetIOManager, ScoutResource, build_findall_assets

        assets = build_findall_assets(ASSET_NAME, QUERY, output_schema=SCHEMA, limit=entities)
        resources: dict[str, Any] = {
            "scout": ScoutResource(api_key=API_KEY, base_url=url),
            "scout_io_manager": ScoutParquetIOManager(base_path=out_dir),
        }
        install_probes(phases)
    else:
        assets = hand_written_asset(url, out_dir, entities, phases)
        resources = {}

    before_mb = _status_kb()[1] / 1024
    pandas_before = "pandas" in sys.modules
    with dagster.DagsterInstance.ephemeral() as instance:
        step_cpu = StepCpu(instance)
        wall_started = time.perf_counter()
        result = dagster.materialize([assets], resources=resources, instance=instance)
        materialize_s = time.perf_counter() - wall_started
        peak = tracker.overall_mb()
        assert result.success
        timeline = event_timeline(instance.all_logs(result.run_id))

    step_start = next(t for label, t in timeline if label == "STEP_START")
    step_end = next(t for label, t in timeline if label == "STEP_SUCCESS")
    figures = phases.figures()
    create = phases.calls.get("create")
    if path == "ours" and create is not None and create.first_start is not None:
        figures[SETUP] = {"seconds": create.first_start - step_start}
    out: dict[str, Any] = {
        "step_s": step_end - step_start,
        "step_cpu_s": step_cpu.seconds,
        "peak_mb": peak,
        "before_materialize_mb": before_mb,
        "hwm_resets": tracker.resets,
        "pandas_imported_in_materialize": not pandas_before and "pandas" in sys.modules,
        "import_s": import_s,
        "import_dagster_s": dagster_s,
        "materialize_s": materialize_s,
        "timeline": [(label, t - step_start) for label, t in timeline],
        "rows": written_rows(out_dir),
        "phases": figures,
    }
    print(RESULT_PREFIX + json.dumps(out))


def hand_written_asset(url: str, out_dir: str, entities: int, phases: Phases) -> Any:
    """What a user writes without the package: create, poll every second,
    ``json.loads`` + ``pandas.json_normalize`` + ``to_parquet`` (with
    ``phases.span`` around each piece, to see where its time goes)."""
    import httpx
    import pandas as pd
    from dagster import Failure, MaterializeResult, asset

    span = phases.span

    # Not annotated: under `from __future__ import annotations` Dagster cannot
    # resolve a local name; it returns a MaterializeResult (no IO manager).
    @asset(name=HAND_ASSET)
    def handwritten_entities():
        with span("client setup"):
            headers = {"Authorization": f"Bearer {API_KEY}"}
            client = httpx.Client(base_url=url, headers=headers, timeout=300)
        with client:
            with span("create"):
                created = client.post(
                    "/v1/findall/runs",
                    json={"query": QUERY, "output_schema": SCHEMA, "limit": entities},
                )
                created.raise_for_status()
                run_id = created.json()["findall_id"]
            while True:
                with span("poll GET (download)"):
                    response = client.get(f"/v1/findall/runs/{run_id}")
                    response.raise_for_status()
                with span("json.loads"):
                    run = json.loads(response.content)
                    del response  # as `client.get(...).json()` would drop it
                status = run["status"]
                state = status.get("status") if isinstance(status, dict) else status
                if state in ("completed", "failed", "cancelled"):
                    break
                with span("sleep"):
                    time.sleep(1.0)
        if state != "completed":
            raise Failure(f"run {run_id} ended {state}")
        with span("json_normalize"):
            frame = pd.json_normalize(run["entities"])
        with span("to_parquet"):
            frame.to_parquet(os.path.join(out_dir, "entities.parquet"))
        return MaterializeResult(metadata={"dagster/row_count": len(frame)})

    return handwritten_entities


def event_timeline(records: Sequence[Any]) -> list[tuple[str, float]]:
    """(label, timestamp) of each event of the step, in order."""
    timeline: list[tuple[str, float]] = []
    for record in records:
        event = record.dagster_event
        if event is None:
            message = re.sub(r"\d[\d.,]*", "#", record.user_message or "").replace(RUN_ID, "ID")
            label = f"log: {message[:46]}"
        elif event.step_key is None:
            continue  # the run's own events, outside the step
        else:
            label = event.event_type_value
            data = event.event_specific_data
            name = getattr(data, "step_output_handle", None)
            if name is not None:
                label += f" {name.output_name}"
            elif getattr(data, "output_name", None):
                label += f" {data.output_name}"
            key = getattr(event, "asset_key", None)
            if key is not None and "OUTPUT" not in label:
                label += f" {key.to_user_string()}"
        timeline.append((label, record.timestamp))
    return timeline


def written_rows(out_dir: str) -> dict[str, int]:
    import pyarrow.parquet as pq

    rows: dict[str, int] = {}
    for file in sorted(Path(out_dir).rglob("*.parquet")):
        folder = file.parent.relative_to(out_dir)
        name = file.stem if folder == Path() else str(folder)
        rows[name] = pq.read_metadata(file).num_rows
    return rows
