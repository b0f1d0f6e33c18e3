"""The issue's findings, each against the hostile server, through real Dagster.

Every test asserts the CORRECT outcome: the assets materialize with
``dagster.materialize``, the tables are read back from their Parquet files,
and the server (``tests/hostile/server.py``, which shares no code with the
package or its emulator) records what reached it. Deadline tests measure wall
time with a generous bound; nothing waits by a fixed sleep.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from dagster import (
    AssetKey,
    AssetsDefinition,
    DagsterInstance,
    ExecuteInProcessResult,
    RetryPolicy,
    materialize,
)

from scout_dagster import (
    ScoutParquetIOManager,
    ScoutResource,
    build_findall_assets,
    build_search_assets,
)
from tests.conftest import POLL_S
from tests.hostile.server import HostileServer, Scenario

KEY = "sk-hostile-4c1d-DO-NOT-LEAK"
QUERY = "S-1 stage AI infrastructure companies"
#: Entities a FindAll run of the hostile server finds (its create `limit`).
ROWS = 8
FINDALL_TABLES = ("ai_entities", "ai_citations")
SEARCH_TABLES = ("ev_results", "ev_sources", "ev_findings", "ev_report")
#: A deadline test may take this long past its deadline: generous, not a speed test.
DEADLINE_SLACK_S = 12.0
NO_COMPUTE_LOGS: Any = {
    "compute_logs": {
        "module": "dagster._core.storage.noop_compute_log_manager",
        "class": "NoOpComputeLogManager",
    }
}


# ---------------------------------------------------------------- helpers


def resources(server: HostileServer, base: Path, **scout: Any) -> dict[str, Any]:
    options = {"max_retries": 2, "retry_backoff_s": 0.01} | scout
    return {
        "scout": ScoutResource(api_key=KEY, base_url=server.url, **options),
        "scout_io_manager": ScoutParquetIOManager(base_path=str(base)),
    }


def findall_assets(**kwargs: Any) -> AssetsDefinition:
    return build_findall_assets("ai", QUERY, limit=ROWS, **kwargs)


def search_assets(**kwargs: Any) -> AssetsDefinition:
    return build_search_assets("ev", ["ev market trends"], objective="Where is it going?", **kwargs)


def rows(base: Path, table: str) -> int:
    return int(ds.dataset(base / table, format="parquet").count_rows())


def table_bytes(base: Path, tables: tuple[str, ...]) -> dict[str, bytes]:
    return {table: (base / table / "data.parquet").read_bytes() for table in tables}


def metadata_of(result: ExecuteInProcessResult, key: str) -> dict[str, Any]:
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        if materialization.asset_key == AssetKey(key):
            return {k: getattr(v, "value", v) for k, v in materialization.metadata.items()}
    raise AssertionError(f"no materialization of {key}")


def failure_text(result: ExecuteInProcessResult) -> str:
    """Everything the step failures say: errors with their causes, and descriptions."""
    parts = []
    for event in result.get_step_failure_events():
        data = event.step_failure_data
        if data.error is not None:
            parts.append(data.error.to_string())
        if data.user_failure_data is not None:
            parts.append(data.user_failure_data.description or "")
            parts.append(str(data.user_failure_data.metadata))
    return "\n".join(parts)


def posts(server: HostileServer) -> int:
    return sum(1 for r in server.requests if r.method == "POST")


def settle(predicate: Callable[[], object], timeout_s: float) -> bool:
    """Poll ``predicate`` until truthy or ``timeout_s`` passes; say which."""
    give_up = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > give_up:
            return False
        time.sleep(POLL_S)  # polling a condition, not waiting a fixed time
    return True


class Background:
    """``fn`` in a daemon thread, timed, so a test can bound a wait that may hang."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self._fn = fn
        self._value: Any = None
        self._error: BaseException | None = None
        self.started = time.monotonic()
        self.ended: float | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._fn()
        except BaseException as exc:
            self._error = exc
        finally:
            self.ended = time.monotonic()

    def wait(self, timeout_s: float) -> bool:
        self._thread.join(timeout_s)
        return self.done

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    @property
    def elapsed(self) -> float:
        return (self.ended or time.monotonic()) - self.started

    @property
    def value(self) -> Any:
        assert self.done, "still running"
        if self._error is not None:
            raise self._error
        return self._value


def materialize_in_background(
    assets: AssetsDefinition, res: dict[str, Any], **kw: Any
) -> Background:
    return Background(lambda: materialize([assets], resources=res, raise_on_error=False, **kw))


# ---------------------------------------------------------------- 1. the final read


@pytest.mark.timeout(60)
@pytest.mark.parametrize("state", ["running", "cancelled", "failed"])
def test_a_final_get_that_contradicts_the_stream_fails_and_keeps_the_old_tables(
    state: Any, tmp_path: Path
) -> None:
    with HostileServer(KEY) as good:
        first = materialize([findall_assets(timeout_s=10)], resources=resources(good, tmp_path))
    assert first.success and rows(tmp_path, "ai_entities") == ROWS
    before = table_bytes(tmp_path, FINDALL_TABLES)

    # Status events without the entities: the tables can only come from the GET.
    # Running until watched: the first look (a GET, which lies once the run
    # has ended) finds it going however slow the machine, as the test means.
    scenario = Scenario(
        final_get_state=state, status_events_without_entities=True, runs_until_watched=True
    )
    with HostileServer(KEY, scenario) as server:
        result = materialize(
            [findall_assets(timeout_s=10)],
            resources=resources(server, tmp_path),
            raise_on_error=False,
        )
    assert result.success is False, (
        f"the stream said completed, every GET said {state}, and it materialized "
        f"{rows(tmp_path, 'ai_entities')} rows"
    )
    assert table_bytes(tmp_path, FINDALL_TABLES) == before, "the earlier tables were changed"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("state", ["running", "cancelled", "failed"])
def test_a_terminal_event_that_carries_the_completed_run_is_its_body_whatever_gets_say(
    state: Any, tmp_path: Path
) -> None:
    """The terminal status event is the run object, completed, entities and all:
    the tables come from it, in one download, and no GET is read after it."""
    # Running until watched: a first look after the run's end would be told
    # ``state`` by the GET and start another run (a replayed dead one, as it
    # seems); on a loaded machine it did.
    scenario = Scenario(final_get_state=state, runs_until_watched=True)
    with HostileServer(KEY, scenario) as server:
        result = materialize([findall_assets(timeout_s=10)], resources=resources(server, tmp_path))
        [run_id] = server.run_ids
        reads = [r for r in server.requests if r.method == "GET" and run_id in r.raw_path]
    assert result.success
    assert rows(tmp_path, "ai_entities") == ROWS
    assert metadata_of(result, "ai_entities")["scout/status"] == "completed"
    assert [r.raw_path.split("?")[0].rsplit("/", 1)[-1] for r in reads] == [run_id, "events"]


@pytest.mark.timeout(60)
def test_a_final_get_that_flaps_then_tells_the_truth_gives_every_row(tmp_path: Path) -> None:
    scenario = Scenario(final_get_state="running", flap_gets=2, status_events_without_entities=True)
    with HostileServer(KEY, scenario) as server:
        result = materialize(
            [findall_assets(timeout_s=10)],
            resources=resources(server, tmp_path),
            raise_on_error=False,
        )
    assert result.success, failure_text(result)
    assert rows(tmp_path, "ai_entities") == ROWS
    assert metadata_of(result, "ai_entities")["scout/status"] == "completed"


@pytest.mark.timeout(60)
def test_a_search_completed_event_with_a_running_body_fails_and_writes_nothing(
    tmp_path: Path,
) -> None:
    with HostileServer(KEY, Scenario(search_body_after_completed=True)) as server:
        result = materialize(
            [search_assets(timeout_s=10)],
            resources=resources(server, tmp_path),
            raise_on_error=False,
        )
    written = [t for t in SEARCH_TABLES if (tmp_path / t).exists()]
    assert result.success is False, f"materialized a running search; wrote {written}"
    assert written == []


# ---------------------------------------------------------------- 4. the key echoed back


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", ["success", "success-after-a-429", "failed-run"])
def test_a_key_the_server_echoes_never_shows(
    case: str,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    scenario = Scenario(
        echo_key=True,
        rate_limit_creates=1 if case == "success-after-a-429" else 0,
        fail_runs=case == "failed-run",
    )
    with DagsterInstance.ephemeral() as instance, HostileServer(KEY, scenario) as server:
        result = materialize(
            [findall_assets(timeout_s=10)],
            resources=resources(server, tmp_path),
            instance=instance,
            raise_on_error=False,
        )
        assert result.success is (case != "failed-run"), failure_text(result)  # the harness
        materializations = result.get_asset_materialization_events()
        surfaces = {
            "failure": failure_text(result),
            "event log": str(instance.all_logs(result.run_id)),
            "metadata": str(
                [e.step_materialization_data.materialization for e in materializations]
            ),
            "log records": caplog.text,
        }
    out, err = capfd.readouterr()
    surfaces |= {"stdout": out, "stderr": err}
    assert surfaces["event log"], "the event log is empty: the scan is blind"
    leaks = {}
    for where, text in surfaces.items():
        at = text.find(KEY)
        if at >= 0:
            leaks[where] = text[max(at - 100, 0) : at + len(KEY) + 20].replace(KEY, "<KEY>")
    assert not leaks, f"the key shows in {sorted(leaks)}: {leaks}"


# ---------------------------------------------------------------- 5. a hostile run id


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "run_id", ["../../v1/evil?x=1#frag", "fa-1%2F..%2F..%2Fv1%2Fevil"], ids=["dots", "pct2F"]
)
def test_a_hostile_run_id_stays_one_path_segment(run_id: str, tmp_path: Path) -> None:
    with HostileServer(KEY, Scenario(run_id=run_id, run_s=30)) as server:
        result = materialize(
            [findall_assets(timeout_s=1)],
            resources=resources(server, tmp_path),
            raise_on_error=False,
        )
        settle(lambda: server.cancels, 3)
        run_path = "/v1/findall/runs/" + quote(run_id, safe="")
        strays = [
            f"{r.method} {r.raw_path}"
            for r in server.requests
            if not r.raw_path.startswith(run_path)
            and (r.method, r.raw_path) != ("POST", "/v1/findall/runs")
        ]
        cancels = list(server.cancels)
    assert not result.success  # the deadline of 1 s passed with the run at 30 s
    assert strays == [], f"requests that left the run's path {run_path!r}: {strays}"
    assert cancels == [run_id], f"cancels that reached the run: {cancels}"


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
