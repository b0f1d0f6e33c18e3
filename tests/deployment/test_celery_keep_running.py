"""With ``cancel_on_termination`` off, a Celery run terminated from the UI
leaves its remote run to a re-execution, which adopts it (see
test_celery_runs for the deployment)."""

from __future__ import annotations

import time

from dagster import DagsterRunStatus

from scout_dagster.emulator import EmulatorServer
from tests.deployment import location
from tests.deployment.celery_steps import (
    CANCEL_BOUND_S,
    a_launched_run,
    clock_of,
    entities_table,
    figure,
    reexecute_from_failure,
    terminate_run,
    wait_adopted,
    wait_finished,
    wait_success,
)
from tests.deployment.conftest import MakeDeployment

# -- 4. cancel_on_termination off -------------------------------------------------

#: Config given at launch replaces the resource's config from the code location
#: whole: a field it leaves out gets the class's default, not the location's
#: value (Dagster 1.13; a bare ``{"cancel_on_termination": False}`` runs with no
#: key and the default base URL). So the launch names every field the location
#: sets, as the same environment variables.
KEEP_RUNNING = {
    "resources": {
        "scout": {
            "config": {
                "api_key": {"env": location.ENV_KEY},
                "base_url": {"env": location.ENV_URL},
                "cancel_on_termination": False,
            }
        }
    }
}


def test_a_run_terminated_without_cancel_leaves_its_remote_run_to_a_reexecution(
    deployment: MakeDeployment, manual_emulator: EmulatorServer
) -> None:
    deploy = deployment(manual_emulator)
    ledger, clock = manual_emulator.ledger, clock_of(manual_emulator)
    with a_launched_run(deploy, "solo", KEEP_RUNNING) as launched:
        webserver, run_id, remote = launched.webserver, launched.run_id, launched.remote

        terminated = time.monotonic()
        terminate_run(webserver, run_id, "SAFE_TERMINATE")
        status = wait_finished(deploy.instance, run_id, CANCEL_BOUND_S)
        figure("terminate -> run ended (cancel_on_termination off)", time.monotonic() - terminated)
        print(f"\n[deployment] the terminated run ended {status.value}")
        assert status in (DagsterRunStatus.CANCELED, DagsterRunStatus.FAILURE)
        kept = ledger.run(remote)
        assert kept.state in ("queued", "running") and not kept.cancel_requested, kept

        child_id = reexecute_from_failure(webserver, run_id)
        child = deploy.instance.get_run_by_id(child_id)
        assert child is not None and child.run_config == KEEP_RUNNING  # the parent's
        wait_adopted(deploy.instance, child_id, remote)
        clock.advance(1_000)
        wait_success(deploy.instance, child_id)

    assert ledger.creates() == 1
    done = ledger.run(remote)
    assert done.state == "completed" and not done.cancel_requested, done
    table = entities_table(deploy)
    assert set(table.column("run_id").to_pylist()) == {remote}
