"""Scout assets on the parts a production Dagster deployment uses: a Celery
run terminated from the UI cancels its remote run, and a re-execution after
a killed worker adopts the remote run.

PostgreSQL holds the instance (dagster-postgres), Redis is the Celery broker
and result backend, steps run in real Celery worker processes
(``dagster_celery``), runs are launched and terminated through the
webserver's GraphQL schema as the UI does, each in a run worker that the code
server starts (``DefaultRunLauncher``), and the Scout API is the emulator on
loopback. Every case is judged by the emulator's ledger: how many remote runs
were created, which were cancelled, what they cost.

The services are the tests' own (see ``services.py``): one PostgreSQL server
and one redis-server for the session, and for each test a database, a Redis
database, a DAGSTER_HOME and Celery workers of its own."""

from __future__ import annotations

import os
import time

from dagster import DagsterRunStatus

from scout_dagster.emulator import EmulatorServer
from tests.deployment.celery_steps import (
    CANCEL_BOUND_S,
    END_TIMEOUT_S,
    a_launched_run,
    celery_workers,
    clock_of,
    entities_table,
    figure,
    reexecute_from_failure,
    run_status,
    run_worker_pid,
    terminate_run,
    wait_adopted,
    wait_finished,
    wait_for,
    wait_success,
)
from tests.deployment.conftest import MakeDeployment
from tests.deployment.services import descendants, is_running, kill_pids

# -- 1. terminate -------------------------------------------------------------------


def test_terminating_a_celery_run_cancels_its_remote_run(
    deployment: MakeDeployment, manual_emulator: EmulatorServer
) -> None:
    deploy = deployment(manual_emulator)
    ledger, clock = manual_emulator.ledger, clock_of(manual_emulator)
    with a_launched_run(deploy, "solo") as launched:
        webserver, run_id, remote = launched.webserver, launched.run_id, launched.remote
        clock.advance(10)  # out of the queue, accruing credits; far from done

        terminated = time.monotonic()
        terminate_run(webserver, run_id, "SAFE_TERMINATE")
        wait_for(
            lambda: ledger.run(remote).cancel_requested,
            CANCEL_BOUND_S,
            lambda: (
                f"remote run {remote} not cancelled {CANCEL_BOUND_S:g} s after its Dagster "
                f"run was terminated: it is still {ledger.run(remote).state}, the Dagster "
                f"run is {run_status(deploy.instance, run_id).value}"
            ),
        )
        figure("terminate -> remote cancel (Celery step)", time.monotonic() - terminated)

        # Cancelled, and nothing accrues after: not even when its time passes.
        credits = ledger.run(remote).credits
        clock.advance(1_000)
        after = ledger.run(remote)
        assert after.state == "cancelled" and after.cancelled_while_active, after
        assert after.credits == credits, f"credits grew after the cancel: {credits} -> {after}"

        status = wait_finished(deploy.instance, run_id, END_TIMEOUT_S)
        print(f"\n[deployment] the terminated Celery run ended {status.value}")
        assert status in (DagsterRunStatus.CANCELED, DagsterRunStatus.FAILURE)
    assert ledger.creates() == 1


# -- 2. a lost worker, then re-execution ------------------------------------------


def test_a_reexecution_after_a_killed_worker_adopts_the_remote_run(
    deployment: MakeDeployment, manual_emulator: EmulatorServer
) -> None:
    deploy = deployment(manual_emulator)
    ledger, clock = manual_emulator.ledger, clock_of(manual_emulator)
    with a_launched_run(deploy, "first") as launched:
        webserver, run_id, remote = launched.webserver, launched.run_id, launched.remote
        first = launched.worker

        # The worker dies mid-wait, the step with it. Its task was acked when
        # it started, so no other worker gets it: the run worker waits forever.
        first.kill()
        run_worker = run_worker_pid(deploy.instance, run_id)
        assert run_worker in descendants(os.getpid()), "the run worker is not the code server's"
        # The UI's "Force termination immediately": CANCELED at once, while no
        # step is alive to see it.
        terminate_run(webserver, run_id, "MARK_AS_CANCELED_IMMEDIATELY")
        assert run_status(deploy.instance, run_id) == DagsterRunStatus.CANCELED
        # The run worker, still waiting for its lost task, would never exit.
        assert is_running(run_worker), "the run worker exited by itself"
        kill_pids({run_worker})
        assert ledger.run(remote).state in ("queued", "running"), ledger.run(remote)

        deploy.start_worker("second").wait_ready()
        started = time.monotonic()
        child_id = reexecute_from_failure(webserver, run_id)
        wait_adopted(deploy.instance, child_id, remote)
        figure("re-execution launch -> remote run adopted", time.monotonic() - started)
        clock.advance(1_000)  # the remote run completes
        wait_success(deploy.instance, child_id)
    assert celery_workers(deploy.instance, run_id) == ["first"]
    assert celery_workers(deploy.instance, child_id) == ["second"]

    assert ledger.creates() == 1
    done = ledger.run(remote)
    assert done.state == "completed" and not done.cancel_requested, done
    table = entities_table(deploy)
    assert table.num_rows == 4  # the asset's limit
    assert set(table.column("run_id").to_pylist()) == {remote}
