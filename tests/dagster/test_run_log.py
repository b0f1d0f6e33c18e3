"""Retries and slow answers are in the run's log, through the Dagster logger.

Not only on stderr: a user looking at a run in the UI sees each retry (the
endpoint, the status and the server's message, the wait, the attempt) and a
request that has had no answer for a while.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import DagsterEventType, DagsterInstance, materialize

from scout_dagster import ScoutParquetIOManager, ScoutResource, _http, build_findall_assets
from scout_dagster.emulator import EmulatorServer
from tests.conftest import TEST_KEY
from tests.hostile.server import HostileServer, Scenario


def _run_log(instance: DagsterInstance, run_id: str) -> str:
    return "\n".join(
        record.user_message
        for record in instance.all_logs(run_id)
        if record.dagster_event is None
        or record.dagster_event.event_type == DagsterEventType.ENGINE_EVENT
    )


def _materialize(url: str, tmp_path: Path, instance: DagsterInstance) -> str:
    assets = build_findall_assets("logged", "AI infrastructure companies", limit=3)
    result = materialize(
        [assets],
        instance=instance,
        resources={
            "scout": ScoutResource(api_key=TEST_KEY, base_url=url, max_retries=3),
            "scout_io_manager": ScoutParquetIOManager(base_path=str(tmp_path)),
        },
        raise_on_error=False,
    )
    return _run_log(instance, result.run_id)


def test_a_retried_request_says_so_in_the_run_log(emulator: EmulatorServer, tmp_path: Path) -> None:
    emulator.faults.inject(
        "server_error", times=1, method="POST", path="/v1/findall/runs", message="busy, try later"
    )
    log = _materialize(emulator.url, tmp_path, DagsterInstance.ephemeral())
    [line] = [line for line in log.splitlines() if "retrying in" in line]
    assert "POST /v1/findall/runs" in line
    assert "500" in line and "busy, try later" in line
    assert "attempt 2 of 4" in line
    assert TEST_KEY not in log


def test_a_request_without_an_answer_is_reported_while_it_waits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first notice after 0.1 s instead of 10 s; the server holds every GET 1 s.
    monkeypatch.setattr(_http, "SLOW_NOTICE_AFTER_S", 0.1)
    with HostileServer(TEST_KEY, Scenario(slow_get_s=1.0, no_stream=True, run_s=0.1)) as server:
        log = _materialize(server.url, tmp_path, DagsterInstance.ephemeral())
    notices = [line for line in log.splitlines() if "no complete answer yet" in line]
    assert notices, log
    assert notices[0].startswith("GET /v1/findall/runs/")
