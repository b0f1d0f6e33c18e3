"""A code location for tests/dagster/test_asset_backfill.py: partitioned Scout assets as a
Dagster deployment loads them (``dagster-daemon run -w``), configured from the environment.

Importing it reads no environment and makes no network call: the resources hold
``EnvVar``s, which Dagster reads when a run starts, in whichever process runs it.
"""

from __future__ import annotations

from dagster import (
    DailyPartitionsDefinition,
    Definitions,
    EnvVar,
    StaticPartitionsDefinition,
    in_process_executor,
)

from scout_dagster import ScoutParquetIOManager, ScoutResource, build_findall_assets

#: Environment the resources read in every run's process.
ENV_KEY = "SCOUT_BACKFILL_TEST_API_KEY"
ENV_URL = "SCOUT_BACKFILL_TEST_BASE_URL"
ENV_DATA = "SCOUT_BACKFILL_TEST_DATA"

DAILY = DailyPartitionsDefinition(start_date="2026-01-01", end_date="2026-02-01")
TOPICS = StaticPartitionsDefinition(["batteries", "robotics", "semiconductors"])

#: The query names the time window: needs the run's partition to render.
daily = build_findall_assets(
    "daily", "AI companies in the news on {start:%B %d, %Y}", partitions_def=DAILY, limit=3
)
#: The query names the key of a static partition.
topics = build_findall_assets(
    "topics", "AI startups working on {partition_key}", partitions_def=TOPICS, limit=3
)

defs = Definitions(
    assets=[daily, topics],
    resources={
        "scout": ScoutResource(api_key=EnvVar(ENV_KEY), base_url=EnvVar(ENV_URL)),
        "scout_io_manager": ScoutParquetIOManager(base_path=EnvVar(ENV_DATA)),
    },
    # Each run executes its one step in the run's own process: half the Python
    # start-ups of the default multiprocess executor, which matters on 2 cores.
    executor=in_process_executor,
)
