"""A code location for tests/dagster/test_one_run.py: a FindAll and a search
multi-asset, on the service the environment names (read when a run starts)."""

from dagster import Definitions, EnvVar

from scout_dagster import (
    FindAllRequest,
    ScoutParquetIOManager,
    ScoutResource,
    SearchRequest,
    build_findall_assets,
    build_search_assets,
)

ENV_URL = "SCOUT_ONE_RUN_TEST_BASE_URL"
ENV_DATA = "SCOUT_ONE_RUN_TEST_DATA"

ai = build_findall_assets("ai", request=FindAllRequest("AI infrastructure companies", limit=3))
ev = build_search_assets("ev", request=SearchRequest(("ev market trends",), limit=3))

defs = Definitions(
    assets=[ai, ev],
    resources={
        "scout": ScoutResource(base_url=EnvVar(ENV_URL)),  # the key: SCOUT_API_KEY
        "scout_io_manager": ScoutParquetIOManager(base_path=EnvVar(ENV_DATA)),
    },
)
