"""The example code location: a FindAll asset, a deep-search asset, a daily schedule.

    dagster dev -f definitions.py

With ``SCOUT_API_KEY`` set (and optionally ``SCOUT_BASE_URL``) the assets call
the real Scout API and spend credits. Without it they run against the local
Scout emulator (synthetic data, no credits), which is started on first use
and shared by every process on this machine; the log says so loudly.

Importing this file makes no network call and starts nothing.
"""

from dagster import AssetSelection, Definitions, ScheduleDefinition, define_asset_job

from examples.downstream import headquarters_summary
from scout_dagster import (
    ScoutParquetIOManager,
    ScoutResource,
    build_findall_assets,
    build_search_assets,
)

ai_infra = build_findall_assets(
    "ai_infra",
    "S-1 stage AI infrastructure companies",
    output_schema={
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": "Company name"},
            "website": {"type": "string", "description": "Company website"},
            "headquarters": {"type": "string", "description": "City and state or country"},
            "founded_year": {"type": "integer", "description": "Year the company was founded"},
            "headcount": {"type": "integer", "description": "Approximate number of employees"},
        },
    },
    limit=25,
    timeout_s=900,
    description="AI infrastructure companies preparing an IPO (S-1 stage).",
)

ev_market = build_search_assets(
    "ev_market",
    ["latest electric vehicle market trends", "EV battery supply chain 2026"],
    objective="Research the latest trends and growth projections in the electric vehicle market.",
    limit=20,
    timeout_s=900,
    keep_partial_on_timeout=True,
)

scout_daily = define_asset_job(
    "scout_daily",
    selection=AssetSelection.groups("scout") | AssetSelection.assets(headquarters_summary),
    description="Refresh every Scout table, then what is built on them.",
)

defs = Definitions(
    assets=[ai_infra, ev_market, headquarters_summary],
    jobs=[scout_daily],
    schedules=[
        ScheduleDefinition(job=scout_daily, cron_schedule="0 6 * * *", name="scout_daily_6am")
    ],
    resources={
        "scout": ScoutResource.from_env(),
        "scout_io_manager": ScoutParquetIOManager(),
    },
)
