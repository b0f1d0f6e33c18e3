"""The decorator form with a translator, as docs/assets.md shows it (tested verbatim)."""

from collections.abc import Iterator
from typing import Any

from dagster import AssetExecutionContext, AssetSpec, AutomationCondition, Definitions

from scout_dagster import (
    DagsterScoutTranslator,
    FindAllRequest,
    ScoutParquetIOManager,
    ScoutResource,
    ScoutTableProps,
    SearchRequest,
    scout_findall_assets,
    scout_search_assets,
)


class ResearchTranslator(DagsterScoutTranslator):
    """Every table under research/, owned by the research team, refreshed weekly."""

    def get_asset_spec(self, props: ScoutTableProps) -> AssetSpec:
        spec = super().get_asset_spec(props)
        return spec.replace_attributes(
            key=spec.key.with_prefix("research"),
            group_name="research",
            owners=["team:research"],
            # A paid run: on a schedule, not eagerly (see "Automation" below).
            automation_condition=AutomationCondition.on_cron("0 6 * * 1"),
        )


ai_infra_request = FindAllRequest(
    "S-1 stage AI infrastructure companies",
    fields=("name", "website", "headquarters"),
    limit=25,
)


@scout_findall_assets(
    name="ai_infra",
    request=ai_infra_request,
    translator=ResearchTranslator(),
    timeout_s=900,
    blocking_checks=True,  # an empty or broken run stops what loads from it
)
def ai_infra(context: AssetExecutionContext, scout: ScoutResource) -> Iterator[Any]:
    context.log.info("refreshing the S-1 list")
    yield from scout.run_findall(context, ai_infra_request)


ev_market_request = SearchRequest(
    ("latest electric vehicle market trends",),
    objective="Where is the EV market going?",
    freshness="month",
)


@scout_search_assets(name="ev_market", request=ev_market_request, keep_partial_on_timeout=True)
def ev_market(context: AssetExecutionContext, scout: ScoutResource) -> Iterator[Any]:
    yield from scout.run_search(context, ev_market_request)


defs = Definitions(
    assets=[ai_infra, ev_market],
    resources={"scout": ScoutResource.from_env(), "scout_io_manager": ScoutParquetIOManager()},
)
