"""The load test's job: many Scout assets in one run, for the multiprocess executor.

Reconstructable (each step process rebuilds it), configured from the
environment so the step processes find the test's emulator and folder.
"""

from __future__ import annotations

from typing import Any

from dagster import Definitions, EnvVar, define_asset_job, multiprocess_executor

from scout_dagster import (
    ScoutParquetIOManager,
    ScoutResource,
    build_findall_assets,
    build_search_assets,
)

FINDALL_ASSETS = 22
SEARCH_ASSETS = 4
ENV_URL = "SCOUT_LOAD_EMULATOR_URL"
ENV_KEY = "SCOUT_LOAD_API_KEY"
ENV_DATA = "SCOUT_LOAD_DATA"
#: Step processes at once; more than the 2 cores, since steps mostly wait.
MAX_CONCURRENT = 8


def queries() -> list[str]:
    return [f"AI companies in sector {i}" for i in range(FINDALL_ASSETS)]


def get_job() -> Any:
    assets = [
        build_findall_assets(f"sector_{i}", query, limit=5, timeout_s=120)
        for i, query in enumerate(queries())
    ] + [
        build_search_assets(f"topic_{i}", [f"market trends topic {i}"], timeout_s=120)
        for i in range(SEARCH_ASSETS)
    ]
    job = define_asset_job(
        "load",
        selection=assets,
        executor_def=multiprocess_executor.configured({"max_concurrent": MAX_CONCURRENT}),
    )
    defs = Definitions(
        assets=assets,
        jobs=[job],
        resources={
            "scout": ScoutResource(
                api_key=EnvVar(ENV_KEY),
                base_url=EnvVar(ENV_URL),
                max_retries=6,
                retry_backoff_s=0.05,
            ),
            "scout_io_manager": ScoutParquetIOManager(base_path=EnvVar(ENV_DATA)),
        },
    )
    return defs.resolve_job_def("load")
