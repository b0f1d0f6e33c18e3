"""Runs against the hostile server: odd figures (a huge error, a count that
disagrees, credits that go down) and recovery from slow cancels and runs
that fail at once."""

from __future__ import annotations

from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from dagster import (
    DagsterInstance,
    RetryPolicy,
    materialize,
)

from tests.conftest import metadata_of
from tests.hostile.run_support import (
    KEY,
    NO_COMPUTE_LOGS,
    ROWS,
    failure_text,
    findall_assets,
    resources,
    rows,
)
from tests.hostile.server import HostileServer, Scenario

# ---------------------------------------------------------------- 9. odd figures


@pytest.mark.timeout(60)
def test_a_huge_error_body_gives_a_short_failure(tmp_path: Path) -> None:
    scenario = Scenario(huge_error_bytes=10_000_000, error_times=10)
    with HostileServer(KEY, scenario) as server:
        result = materialize(
            [findall_assets(timeout_s=10)],
            resources=resources(server, tmp_path, max_retries=0),
            raise_on_error=False,
        )
    assert result.success is False
    failure = result.get_step_failure_events()[0].step_failure_data
    message = failure.error.message if failure.error else ""
    description = failure.user_failure_data.description if failure.user_failure_data else ""
    print(f"\nhuge error: message {len(message)} chars, description {len(description or '')}")
    assert len(message) < 10_000
    assert len(description or "") < 10_000


@pytest.mark.timeout(60)
def test_a_count_that_disagrees_with_the_entities_reports_the_rows_written(
    tmp_path: Path,
) -> None:
    with HostileServer(KEY, Scenario(count_mismatch=2)) as server:
        result = materialize([findall_assets(timeout_s=10)], resources=resources(server, tmp_path))
    assert result.success
    metadata = metadata_of(result, "ai_entities")
    print(f"\ncount mismatch: metadata keys {sorted(metadata)}")
    written = rows(tmp_path, "ai_entities")
    assert written == ROWS
    assert metadata["scout/entity_count"] == written
    assert pq.read_table(tmp_path / "ai_entities" / "data.parquet").num_rows == written


@pytest.mark.timeout(60)
def test_credits_that_go_down_still_materialize(tmp_path: Path) -> None:
    with HostileServer(KEY, Scenario(credits_sequence=[5, 7, 3])) as server:
        result = materialize([findall_assets(timeout_s=10)], resources=resources(server, tmp_path))
    assert result.success
    metadata = metadata_of(result, "ai_entities")
    print(
        f"\ncredits 5, 7, 3: scout/credits={metadata.get('scout/credits')}, "
        f"metadata keys {sorted(metadata)}"
    )
    assert rows(tmp_path, "ai_entities") == ROWS


# ---------------------------------------------------------------- 3. recovery, slow cancels


@pytest.mark.timeout(60)
def test_a_step_retry_never_adopts_the_run_we_cancelled_while_its_cancel_is_pending(
    tmp_path: Path,
) -> None:
    """The contract's cancel takes effect at the run's next checkpoint: the run
    we cancelled at our deadline still reads ``running`` when the retry starts.
    The retry must not adopt it (it would end cancelled under it) but start a
    new run, which completes."""
    scenario = Scenario(first_run_s=60.0, run_s=0.3, cancel_takes_s=5.0)
    with HostileServer(KEY, scenario) as server:
        assets = findall_assets(timeout_s=2, retry_policy=RetryPolicy(max_retries=1))
        with DagsterInstance.local_temp(overrides=NO_COMPUTE_LOGS) as instance:
            result = materialize([assets], resources=resources(server, tmp_path), instance=instance)
        assert result.success
        assert server.creates == 2
        first, second = server.runs()
        assert server.cancels == [first.run_id]
        assert server.state_of(second) == "completed"
        written = ds.dataset(tmp_path / "ai_entities", format="parquet").to_table()
        assert set(written.column("run_id").to_pylist()) == {second.run_id}


@pytest.mark.timeout(60)
def test_a_new_run_that_fails_at_once_is_not_paid_for_again_and_again(tmp_path: Path) -> None:
    """A run that is failed by its first read may be a replay of a dead one, or a
    new one that failed at once: at most two replacements, then its own error."""
    with HostileServer(KEY, Scenario(run_s=0.01, fail_runs=True, echo_key=True)) as server:
        result = materialize(
            [findall_assets()], resources=resources(server, tmp_path), raise_on_error=False
        )
        assert not result.success
        assert server.creates <= 3
        text = failure_text(result)
        assert "failed on the server: upstream rejected token ***" in text
        assert KEY not in text
