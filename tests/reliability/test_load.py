"""Many assets at once through the multiprocess executor, against one emulator with faults on."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from dagster import DagsterInstance, execute_job, reconstructable

from scout_dagster.emulator import EmulatorConfig, EmulatorServer, FaultConfig
from tests.conftest import TEST_KEY
from tests.reliability import load_job


@pytest.mark.slow  # 40 s on 2 cores: in the long suite (bash scripts/slow.sh)
def test_many_assets_at_once_succeed_or_fail_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    faults = FaultConfig(
        seed=7,
        rate_limit_rate=0.05,
        retry_after_s=0,
        server_error_rate=0.05,
        drop_rate=0.03,
        malformed_json_rate=0.03,
        stream_drop_rate=0.2,
    )
    config = EmulatorConfig(speed=100.0, keepalive_s=0.2, stream_tick_s=0.01)
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    data = tmp_path / "data"
    # On top of the random mix, faults that must happen whatever the timing.
    certain = {"server_error": 5, "rate_limit": 5, "drop": 3, "stream_drop": 5}
    with EmulatorServer(config=config, faults=faults, api_key=TEST_KEY) as emulator:
        emulator.faults.inject("server_error", times=certain["server_error"], method="POST")
        emulator.faults.inject("rate_limit", times=certain["rate_limit"], method="GET")
        emulator.faults.inject("drop", times=certain["drop"], method="GET")
        emulator.faults.inject("stream_drop", times=certain["stream_drop"])
        monkeypatch.setenv(load_job.ENV_URL, emulator.url)
        monkeypatch.setenv(load_job.ENV_KEY, TEST_KEY)
        monkeypatch.setenv(load_job.ENV_DATA, str(data))
        with (
            DagsterInstance.from_config(str(home)) as instance,
            execute_job(
                reconstructable(load_job.get_job), instance=instance, raise_on_error=False
            ) as result,
        ):
            steps = [*result.get_step_success_events(), *result.get_step_failure_events()]
            failures = result.get_step_failure_events()
            messages = [
                f.step_failure_data.error.message for f in failures if f.step_failure_data.error
            ]
            materializations = result.get_asset_materialization_events()
        injected = emulator.ledger.faults_injected()
        assert emulator.ledger.active_runs() == [], "no remote run left running"
        creates = Counter(r.query or r.queries for r in emulator.ledger.runs())
        runs = {r.run_id: r.credits for r in emulator.ledger.runs()}

    assert len(steps) == load_job.FINDALL_ASSETS + load_job.SEARCH_ASSETS
    assert all(injected.get(kind, 0) >= count for kind, count in certain.items()), injected
    assert max(creates.values()) == 1, "one create per asset at most"
    assert all("/v1/" in m or " run " in m for m in messages), messages
    assert len(failures) <= 2, messages  # retries absorb these fault rates
    counted: Counter[str] = Counter()
    for event in materializations:
        materialization = event.step_materialization_data.materialization
        metadata = materialization.metadata
        run_id = str(metadata["scout/run_id"].value)
        if "scout/credits" in metadata:  # once per remote run, on its primary table
            counted[run_id] += 1
            assert metadata["scout/credits"].value == runs[run_id]
        if "dagster/row_count" in metadata:
            path = metadata["dagster/uri"].value
            assert pq.read_metadata(path).num_rows == metadata["dagster/row_count"].value
    assert set(counted.values()) <= {1}
