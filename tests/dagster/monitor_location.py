"""A code location for tests/dagster/test_monitor_daemon.py: a monitor's results
asset and its sensor, as a deployment loads them, configured from the environment.

The monitor id is read when the location is loaded (the test creates the
monitor first); the key and URL are ``EnvVar``s, read where each run executes.
"""

from __future__ import annotations

import os

from dagster import Definitions, EnvVar, in_process_executor

from scout_dagster import (
    ScoutParquetIOManager,
    ScoutResource,
    build_scout_monitor_assets,
    build_scout_monitor_sensor,
)

ENV_KEY = "SCOUT_MONITOR_TEST_API_KEY"
ENV_URL = "SCOUT_MONITOR_TEST_BASE_URL"
ENV_DATA = "SCOUT_MONITOR_TEST_DATA"
ENV_MONITOR = "SCOUT_MONITOR_TEST_MONITOR_ID"
#: Events one tick requests: fewer than the test's clock makes, so ticks carry on.
EVENTS_PER_TICK = 2

chips = build_scout_monitor_assets("chips", os.environ.get(ENV_MONITOR, "mon_unset"))
chips_sensor = build_scout_monitor_sensor(
    chips, minimum_interval_seconds=1, max_events_per_tick=EVENTS_PER_TICK
)

defs = Definitions(
    assets=[chips],
    sensors=[chips_sensor],
    resources={
        "scout": ScoutResource(api_key=EnvVar(ENV_KEY), base_url=EnvVar(ENV_URL)),
        "io_manager": ScoutParquetIOManager(base_path=os.environ.get(ENV_DATA, "data")),
    },
    executor=in_process_executor,
)
