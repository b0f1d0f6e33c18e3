"""The example code location: FindAll and deep-search assets, a daily partitioned
FindAll asset with a schedule built from its partitions, and a downstream asset.

    dagster dev -f definitions.py

With ``SCOUT_API_KEY`` set where runs execute (and optionally ``SCOUT_BASE_URL``)
the assets call the real Scout API and spend credits. This example opts in,
explicitly, to the local Scout emulator when no key is set
(``emulator_without_key=True``): synthetic data, no credits, started on first
use and shared by every process on this machine; the log says so loudly. A
production code location leaves that out (``ScoutResource.from_env()``), so a
run without a key fails before any request.

Importing this file makes no network call and starts nothing.
"""

from dagster import (
    AssetSelection,
    DailyPartitionsDefinition,
    Definitions,
    ScheduleDefinition,
    build_schedule_from_partitioned_job,
    define_asset_job,
)

from examples.downstream import headquarters_summary
from scout_dagster import (
    ScoutParquetIOManager,
    ScoutResource,
    build_current_entities,
    build_findall_assets,
    build_scout_runs_ledger,
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

# One partition a day: each day's query names the day, each day is one remote
# run, and a backfill over past days runs one partition per Dagster run.
daily = DailyPartitionsDefinition(start_date="2026-01-01")
ai_funding = build_findall_assets(
    "ai_funding",
    "AI infrastructure companies that announced a funding round on {start:%B %d, %Y}",
    fields=["name", "website", "headquarters"],
    partitions_def=daily,
    limit=10,
    timeout_s=900,
    credit_budget=200,
    group_name="scout_daily",
)

# History as data: one row per remote run (what it cost), and the daily
# entities merged across days.
scout_runs = build_scout_runs_ledger(ai_infra, ev_market, ai_funding)
ai_funding_current = build_current_entities(ai_funding)

scout_research = define_asset_job(
    "scout_research",
    selection=AssetSelection.assets(ai_infra, ev_market)
    | AssetSelection.assets(headquarters_summary),
    description="Refresh the research tables, then what is built on them.",
)
scout_daily = define_asset_job(
    "scout_daily",
    selection=AssetSelection.assets(ai_funding),  # daily partitions, from the asset
    description="Yesterday's funding announcements, one partition a day.",
)

scout_history = define_asset_job(
    "scout_history",
    selection=AssetSelection.assets(scout_runs, ai_funding_current),
    description="The runs ledger and the merged daily entities, after the loads.",
)

defs = Definitions(
    assets=[ai_infra, ev_market, ai_funding, headquarters_summary, scout_runs, ai_funding_current],
    jobs=[scout_research, scout_daily, scout_history],
    schedules=[
        # Each tick materializes the partition of the day that just ended.
        build_schedule_from_partitioned_job(scout_daily, hour_of_day=6, name="scout_daily_6am"),
        ScheduleDefinition(
            job=scout_research, cron_schedule="0 7 * * 1", name="scout_research_weekly"
        ),
    ],
    resources={
        # The demo's opt-in: without SCOUT_API_KEY, SYNTHETIC data from the local
        # emulator. Drop the argument in production, so a missing key fails.
        "scout": ScoutResource.from_env(emulator_without_key=True),
        "scout_io_manager": ScoutParquetIOManager(),
    },
)
