"""Runs against the hostile server: trickled bodies and slow reads cannot
outlast the deadline, a bad Retry-After cannot make creates hammer the API,
and two Dagster runs at once pay for one remote run. Deadline tests measure
wall time with a generous bound; nothing waits by a fixed sleep."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from dagster import (
    DagsterInstance,
    ExecuteInProcessResult,
    materialize,
)

from tests.hostile.run_support import (
    DEADLINE_SLACK_S,
    KEY,
    NO_COMPUTE_LOGS,
    Background,
    failure_text,
    findall_assets,
    materialize_in_background,
    posts,
    resources,
    settle,
)
from tests.hostile.server import HostileServer, Scenario

# ---------------------------------------------------------------- 6. deadlines


@pytest.mark.timeout(60)
def test_a_trickled_final_body_cannot_outlast_the_deadline(tmp_path: Path) -> None:
    timeout_s = 3.0
    scenario = Scenario(trickle_body_s=2.0, run_s=0.2, status_events_without_entities=True)
    with HostileServer(KEY, scenario) as server:
        job = materialize_in_background(
            findall_assets(timeout_s=timeout_s), resources(server, tmp_path)
        )
        finished = job.wait(timeout_s + DEADLINE_SLACK_S)
        elapsed = job.elapsed
    job.wait(10)  # the server is gone: a leftover attempt ends on connection refused
    print(
        f"\ntrickle: failed {elapsed - timeout_s:+.2f} s from the deadline"
        if finished
        else f"\ntrickle: still running {elapsed - timeout_s:.2f} s past the deadline"
    )
    assert finished, f"still running {elapsed:.1f} s after its start (deadline {timeout_s} s)"
    result = job.value
    assert result.success is False
    assert "deadline" in failure_text(result), failure_text(result)[:2000]


@pytest.mark.timeout(60)
def test_slow_reads_without_a_stream_cannot_outlast_the_deadline_and_the_run_is_cancelled(
    tmp_path: Path,
) -> None:
    timeout_s = 3.0
    scenario = Scenario(slow_get_s=30.0, no_stream=True, run_s=60.0)
    with HostileServer(KEY, scenario) as server:
        job = materialize_in_background(
            findall_assets(timeout_s=timeout_s), resources(server, tmp_path)
        )
        finished = job.wait(timeout_s + DEADLINE_SLACK_S)
        elapsed = job.elapsed
        cancels = list(server.cancels)
    job.wait(10)
    print(
        f"\nslow GETs: failed {elapsed - timeout_s:+.2f} s from the deadline"
        if finished
        else f"\nslow GETs: still running {elapsed - timeout_s:.2f} s past the deadline"
    )
    assert finished, f"still running {elapsed:.1f} s after its start (deadline {timeout_s} s)"
    assert job.value.success is False
    assert cancels, "the remote run was never cancelled"


# ---------------------------------------------------------------- 7. Retry-After


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "retry_after", ["0", "-5", "nan", "garbage", "Wed, 21 Oct 2015 07:28:00 GMT"]
)
def test_a_bad_retry_after_cannot_make_creates_hammer_the_api(
    retry_after: str, tmp_path: Path
) -> None:
    scenario = Scenario(rate_limit_creates=-1, retry_after=retry_after)
    with HostileServer(KEY, scenario) as server:
        job = materialize_in_background(
            findall_assets(timeout_s=30), resources(server, tmp_path, max_retries=3)
        )
        settle(lambda: job.done or posts(server) > 50, 30)
        attempts = posts(server)
    job.wait(15)
    assert attempts <= 10, f"{attempts} create attempts for Retry-After {retry_after!r}"
    assert job.done, "still retrying"
    result = job.value
    assert result.success is False
    failure = result.get_step_failure_events()[0].step_failure_data
    assert failure.user_failure_data is not None, f"not a clean Failure: {failure_text(result)}"
    assert "Invalid value NaN" not in failure_text(result)


# ---------------------------------------------------------------- 8. two runs at once


@pytest.mark.timeout(60)
def test_two_dagster_runs_of_one_asset_at_once_pay_for_one_remote_run(tmp_path: Path) -> None:
    assets = findall_assets(timeout_s=30)
    start = threading.Barrier(2)
    # A persistent instance in a temp dir: the ephemeral one's in-memory SQLite
    # cannot take two runs writing at once ("database table is locked"). No
    # compute-log capture: two runs in threads would swap the process's stdout.
    home = tmp_path / "dagster_home"
    home.mkdir()
    with (
        DagsterInstance.local_temp(str(home), overrides=NO_COMPUTE_LOGS) as instance,
        HostileServer(KEY, Scenario(run_s=1.0)) as server,
    ):
        res = resources(server, tmp_path)

        def one() -> ExecuteInProcessResult:
            start.wait(10)
            return materialize([assets], resources=res, instance=instance, raise_on_error=False)

        jobs = [Background(one), Background(one)]
        finished = all(job.wait(45) for job in jobs)
        creates = server.creates
    assert finished
    results = [job.value for job in jobs]
    assert all(r.success for r in results), [failure_text(r)[:1000] for r in results]
    assert creates == 1, f"{creates} remote runs created for one asset"
