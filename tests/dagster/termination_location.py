"""Jobs for tests/dagster/test_termination.py, configured from the environment: one
FindAll asset under the multiprocess executor, and under a step-delegating
executor whose steps run as processes of their own.

The step-delegating executor is Dagster's own (``StepDelegatingExecutor``, the
one dagster-k8s and dagster-docker build on); its step handler launches each
step as ``dagster api execute_step`` in a new process, as those launch it in a
pod or a container, and stops it with SIGTERM as they delete it. With run
monitoring on (the instance's ``run_monitoring``), the executor does not
forward a termination to its steps at all (dagster issue #33923): the step
learns of it only from the run's status in the instance.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

from dagster import (
    DagsterEvent,
    Definitions,
    EnvVar,
    define_asset_job,
    executor,
    multiprocess_executor,
)
from dagster._core.definitions.executor_definition import multiple_process_executor_requirements
from dagster._core.execution.retries import RetryMode
from dagster._core.executor.step_delegating import (
    CheckStepHealthResult,
    StepDelegatingExecutor,
    StepHandler,
    StepHandlerContext,
)
from dagster._core.launcher import DefaultRunLauncher, ResumeRunContext

from scout_dagster import ScoutParquetIOManager, ScoutResource, build_findall_assets

ENV_KEY = "SCOUT_TERMINATION_TEST_API_KEY"
ENV_URL = "SCOUT_TERMINATION_TEST_BASE_URL"
ENV_DATA = "SCOUT_TERMINATION_TEST_DATA"
#: The step handler writes the pid of each step process it starts here.
ENV_STEP_PIDS = "SCOUT_TERMINATION_TEST_STEP_PIDS"


class ProcessStepHandler(StepHandler):
    """Each step in a process of its own, like a pod or a container per step."""

    def __init__(self) -> None:
        self._processes: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def name(self) -> str:
        return "ProcessStepHandler"

    def launch_step(self, step_handler_context: StepHandlerContext) -> Iterator[DagsterEvent]:
        args = step_handler_context.execute_step_args
        (step_key,) = args.step_keys_to_execute or ["?"]
        command = list(args.get_command_args())
        if command[0] == "dagster":  # the entry point of this venv, which PATH may not name
            command[:1] = [sys.executable, "-m", "dagster"]
        process = subprocess.Popen(command, start_new_session=True)
        self._processes[step_key] = process
        with open(os.environ[ENV_STEP_PIDS], "a") as pids:
            pids.write(f"{process.pid}\n")
        return iter(())

    def check_step_health(self, step_handler_context: StepHandlerContext) -> CheckStepHealthResult:
        (step_key,) = step_handler_context.execute_step_args.step_keys_to_execute or ["?"]
        process = self._processes.get(step_key)
        if process is None or process.poll() in (None, 0):
            return CheckStepHealthResult.healthy()
        return CheckStepHealthResult.unhealthy(f"step process exited {process.returncode}")

    def terminate_step(self, step_handler_context: StepHandlerContext) -> Iterator[DagsterEvent]:
        for step_key in step_handler_context.execute_step_args.step_keys_to_execute or []:
            process = self._processes.get(step_key)
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        return iter(())


class ResumingRunLauncher(DefaultRunLauncher):
    """The default launcher, saying it can resume runs as the k8s and docker
    launchers do: what run monitoring's resumption (and so the executor's
    "not forwarding to steps") requires. Nothing here resumes a run."""

    @property
    def supports_resume_run(self) -> bool:
        return True

    def resume_run(self, context: ResumeRunContext) -> None:
        raise NotImplementedError("tests never resume a run")


@executor(name="process_per_step", requirements=multiple_process_executor_requirements())
def process_per_step_executor(_init_context: Any) -> StepDelegatingExecutor:
    return StepDelegatingExecutor(
        ProcessStepHandler(), retries=RetryMode.DISABLED, sleep_seconds=0.1
    )


companies = build_findall_assets("ai", "S-1 stage AI infrastructure companies", limit=8)

defs = Definitions(
    assets=[companies],
    jobs=[
        define_asset_job("companies", selection=[companies], executor_def=multiprocess_executor),
        define_asset_job(
            "companies_delegated", selection=[companies], executor_def=process_per_step_executor
        ),
    ],
    resources={
        "scout": ScoutResource(api_key=EnvVar(ENV_KEY), base_url=EnvVar(ENV_URL)),
        "scout_io_manager": ScoutParquetIOManager(base_path=EnvVar(ENV_DATA)),
    },
)


def get_job() -> Any:
    return defs.resolve_job_def("companies")


def get_delegated_job() -> Any:
    return defs.resolve_job_def("companies_delegated")
