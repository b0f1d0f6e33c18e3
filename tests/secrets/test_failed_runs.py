"""Secret hygiene of failed runs: a 401 that echoes the key, a Scout error
during the wait, and every attribute of a Scout error, redacted everywhere."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from dagster import (
    DagsterInstance,
    materialize,
)

from scout_dagster import (
    ScoutAPIError,
    ScoutClient,
    ScoutResource,
    build_findall_assets,
)
from scout_dagster.emulator import EmulatorServer
from tests.secrets.support import (
    KEY,
    QUERY,
    SNAPSHOTS_TABLE,
    KeyScan,
    only_run_id,
    resources,
    scan_run,
)

# ---------------------------------------------------------------- failed runs


#: Answer a call (status, message, "METHOD /path", times), then run a failing FindAll.
FailedRun = Callable[[int, str, str, int], tuple[KeyScan, BaseException]]


@pytest.fixture
def scan_a_failed_findall_run(
    emulator: EmulatorServer,
    scout: ScoutResource,
    dagster_home: Path,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    caplog_everything: pytest.LogCaptureFixture,
) -> FailedRun:
    """Answer ``status`` with ``message`` to the ``call`` (method and path
    prefix) ``times`` times, then run a FindAll materialization that must fail,
    on an instance in ``dagster_home``: its error, and every place the key
    could have gone scanned (run storage's snapshots aside:
    test_storage_and_reprs)."""

    def run(status: int, message: str, call: str, times: int) -> tuple[KeyScan, BaseException]:
        method, path = call.split(" ", 1)
        emulator.faults.inject(
            "status", status=status, message=message, method=method, path=path, times=times
        )
        return _failed_findall_run(scout, dagster_home, tmp_path, capfd, caplog_everything)

    return run


def _failed_findall_run(
    scout: ScoutResource,
    dagster_home: Path,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> tuple[KeyScan, BaseException]:
    scan = KeyScan()
    with DagsterInstance.from_config(str(dagster_home)) as instance:
        with pytest.raises(Exception) as caught:
            materialize(
                [build_findall_assets("ai", QUERY)],
                resources=resources(scout, tmp_path),
                instance=instance,
            )
        scan_run(scan, instance, only_run_id(instance))
    scan.exception("the failed run's exception", caught.value)
    scan.files(dagster_home, skip_tables=frozenset({SNAPSHOTS_TABLE}))
    scan.output(capfd)
    scan.logs(caplog)
    return scan, caught.value


def test_a_401_that_echoes_the_key_is_redacted_everywhere(
    emulator: EmulatorServer,
    tmp_path: Path,
    scan_a_failed_findall_run: FailedRun,
) -> None:
    # A careless server that repeats the key it was sent.
    scan, error = scan_a_failed_findall_run(401, f"bad key {KEY}", "POST /v1/findall/runs", 5)

    # The server's answer did arrive, and was redacted in the message.
    (request,) = emulator.ledger.requests
    assert request.status == 401
    assert (
        f"POST /v1/findall/runs returned 401: bad key *** (request id {request.request_id}). "
        "Check SCOUT_API_KEY (or the resource's api_key)"
    ) in str(error)
    assert emulator.ledger.creates() == 0 and emulator.ledger.active_runs() == []
    assert not (tmp_path / "tables").exists()
    scan.assert_saw("event log of", "the failed run's exception traceback", "stderr")
    scan.assert_clean()


def test_a_scout_error_during_the_wait_is_redacted_everywhere(
    emulator: EmulatorServer,
    tmp_path: Path,
    scan_a_failed_findall_run: FailedRun,
) -> None:
    # The create succeeds; the first read after it (the event stream) is refused
    # by a server that repeats the key.
    scan, error = scan_a_failed_findall_run(
        403, f"key {KEY} may not read runs", "GET /v1/findall/runs/", 1
    )

    (snapshot,) = emulator.ledger.runs()
    refused = [r for r in emulator.ledger.requests if r.status == 403]
    # The first read after the create is of the run's state (a replayed create
    # answers with a queued run that may have ended since).
    assert [r.path for r in refused] == [f"/v1/findall/runs/{snapshot.run_id}"]
    assert (
        f"GET /v1/findall/runs/{snapshot.run_id} returned 403: key *** may not read runs "
        f"(request id {refused[0].request_id}). "
        "The API key is valid but not allowed to make this call"
    ) in str(error)
    # The run it had started was cancelled, not left running.
    assert snapshot.state == "cancelled" and emulator.ledger.active_runs() == []
    assert not (tmp_path / "tables").exists()
    scan.assert_saw("event log of", "the failed run's exception traceback", "stderr")
    scan.assert_clean()


def test_no_attribute_of_a_scout_error_keeps_an_echoed_key(emulator: EmulatorServer) -> None:
    """What the message redacts must not survive on the exception for a logger,
    an error tracker or ``exc.errors`` to print."""
    emulator.faults.inject(
        "status", status=401, message=f"bad key {KEY}", method="POST", path="/v1/findall/runs"
    )
    with ScoutClient(KEY, base_url=emulator.url) as client, pytest.raises(ScoutAPIError) as caught:
        client.create_findall_run(QUERY)
    assert caught.value.message == "bad key ***"
    scan = KeyScan()
    for name, value in vars(caught.value).items():
        scan.text(f"{type(caught.value).__name__}.{name}", repr(value))
    scan.text(f"{type(caught.value).__name__}.args", repr(caught.value.args))
    scan.assert_clean()
