"""A job for tests/dagster/test_termination.py: one FindAll asset under the
multiprocess executor (each step in a process of its own, which a terminate
reaches as an interrupt), configured from the environment."""

from __future__ import annotations

from typing import Any

from dagster import Definitions, EnvVar, define_asset_job, multiprocess_executor

from scout_dagster import ScoutParquetIOManager, ScoutResource, build_findall_assets

ENV_KEY = "SCOUT_TERMINATION_TEST_API_KEY"
ENV_URL = "SCOUT_TERMINATION_TEST_BASE_URL"
ENV_DATA = "SCOUT_TERMINATION_TEST_DATA"

companies = build_findall_assets("ai", "S-1 stage AI infrastructure companies", limit=8)

defs = Definitions(
    assets=[companies],
    jobs=[define_asset_job("companies", selection=[companies], executor_def=multiprocess_executor)],
    resources={
        "scout": ScoutResource(api_key=EnvVar(ENV_KEY), base_url=EnvVar(ENV_URL)),
        "scout_io_manager": ScoutParquetIOManager(base_path=EnvVar(ENV_DATA)),
    },
)


def get_job() -> Any:
    return defs.resolve_job_def("companies")
