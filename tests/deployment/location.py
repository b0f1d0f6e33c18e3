"""A code location for tests/deployment: Scout assets whose steps run on Celery
workers, configured from the environment as a production deployment is.

Importing it reads no environment and makes no network call: the resources and
the executor hold ``EnvVar``s (``{"env": ...}``), which Dagster reads in each
process that needs them: the run worker (the broker, to submit steps) and the
Celery worker (the key, the URL and the data path, to run them).
"""

from __future__ import annotations

from dagster import DailyPartitionsDefinition, Definitions, EnvVar
from dagster_celery import celery_executor

from scout_dagster import ScoutParquetIOManager, ScoutResource, build_findall_assets

#: Environment the processes that run steps read.
ENV_KEY = "SCOUT_DEPLOYMENT_API_KEY"
ENV_URL = "SCOUT_DEPLOYMENT_BASE_URL"
ENV_DATA = "SCOUT_DEPLOYMENT_DATA"
#: The Redis URL of the Celery broker and result backend (one for both).
ENV_BROKER = "SCOUT_DEPLOYMENT_BROKER"

LOCATION_NAME = "scout_deployment"

DAILY = DailyPartitionsDefinition(start_date="2026-01-01", end_date="2026-02-01")

#: One remote run per materialization; the tests hold its clock or watch it.
watched = build_findall_assets("watched", "AI infrastructure companies", limit=4)
#: Partitioned: one remote run per day, in the pool "scout" (the factory's default).
daily = build_findall_assets(
    "daily", "AI companies in the news on {start:%B %d, %Y}", partitions_def=DAILY, limit=3
)

defs = Definitions(
    assets=[watched, daily],
    resources={
        "scout": ScoutResource(api_key=EnvVar(ENV_KEY), base_url=EnvVar(ENV_URL)),
        "scout_io_manager": ScoutParquetIOManager(base_path=EnvVar(ENV_DATA)),
    },
    executor=celery_executor.configured(
        {"broker": {"env": ENV_BROKER}, "backend": {"env": ENV_BROKER}}
    ),
)
