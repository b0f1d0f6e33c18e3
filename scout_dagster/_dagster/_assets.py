"""``build_findall_assets`` and ``build_search_assets``: the decorators, as one call.

Thin wrappers for code that does not need a body of its own: each declares
the request, builds the multi-asset with :func:`scout_findall_assets` /
:func:`scout_search_assets`, and a body that calls the resource's
``run_findall`` / ``run_search``. The per-table options (``key_prefix``,
``group_name``, ``owners``, ...) are applied to every table through a
translator wrapped around the one given.
"""

# Dagster reads the context annotation at definition time, so annotations here
# must stay real objects (no `from __future__ import annotations`).

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetsDefinition,
    AssetSpec,
    AutomationCondition,
    BackfillPolicy,
    FreshnessPolicy,
    Output,
    PartitionsDefinition,
    RetryPolicy,
)

from .._requests import FindAllRequest, SearchRequest, coerce_request
from ._decorators import declare
from ._output_types import TableType
from ._translator import PRIMARY_TABLE, DagsterScoutTranslator, ScoutTableProps

__all__ = ["build_findall_assets", "build_search_assets"]


class _OptionsTranslator(DagsterScoutTranslator):
    """The factories' per-table options, applied over another translator's specs."""

    def __init__(
        self,
        inner: DagsterScoutTranslator,
        *,
        key_prefix: str | Sequence[str] | None,
        group_name: str | None,
        description: str | None,
        owners: Sequence[str] | None,
        tags: Mapping[str, str] | None,
        automation_condition: AutomationCondition[Any] | None,
        freshness_policy: FreshnessPolicy | None,
    ) -> None:
        self.inner = inner
        self.key_prefix = [key_prefix] if isinstance(key_prefix, str) else list(key_prefix or [])
        self.group_name = group_name
        self.description = description
        self.owners = list(owners or [])
        self.tags = dict(tags or {})
        self.automation_condition = automation_condition
        self.freshness_policy = freshness_policy

    def get_asset_spec(self, props: ScoutTableProps) -> AssetSpec:
        spec = self.inner.get_asset_spec(props)
        if self.key_prefix:
            spec = spec.replace_attributes(key=spec.key.with_prefix(self.key_prefix))
        if self.group_name:
            spec = spec.replace_attributes(group_name=self.group_name)
        if self.description and props.table == PRIMARY_TABLE[props.kind]:
            # The caller's words replace the first paragraph (the request's).
            _, _, rest = (spec.description or "").partition("\n\n")
            text = f"{self.description}\n\n{rest}" if rest else self.description
            spec = spec.replace_attributes(description=text)
        if self.owners or self.tags:
            spec = spec.merge_attributes(owners=self.owners, tags=self.tags)
        if self.automation_condition is not None:
            spec = spec.replace_attributes(automation_condition=self.automation_condition)
        if self.freshness_policy is not None:
            spec = spec.replace_attributes(freshness_policy=self.freshness_policy)
        return spec


def build_findall_assets(
    name: str,
    query: str | None = None,
    *,
    request: FindAllRequest | None = None,
    translator: DagsterScoutTranslator | None = None,
    timeout_s: float = 3600.0,
    credit_budget: int | None = None,
    partitions_def: PartitionsDefinition | None = None,
    key_prefix: str | Sequence[str] | None = None,
    group_name: str | None = None,
    description: str | None = None,
    owners: Sequence[str] | None = None,
    tags: Mapping[str, str] | None = None,
    automation_condition: AutomationCondition[Any] | None = None,
    freshness_policy: FreshnessPolicy | None = None,
    pool: str | None = "scout",
    resource_key: str = "scout",
    io_manager_key: str = "scout_io_manager",
    retry_policy: RetryPolicy | None = None,
    backfill_policy: BackfillPolicy | None = None,
    blocking_checks: bool = False,
    table_type: TableType | None = None,
    **request_fields: Any,
) -> AssetsDefinition:
    """A FindAll run as two tables: ``<name>_entities`` and ``<name>_citations``.

    The run is ``request``, or ``query`` with any other field of
    :class:`FindAllRequest` as a keyword (``fields``, ``output_schema``,
    ``limit``, ``generator``, ``metadata``). ``key_prefix``, ``group_name``,
    ``description``, ``owners``, ``tags``, ``automation_condition`` and
    ``freshness_policy`` apply to every table (over ``translator``'s specs);
    ``resource_key`` names the bound :class:`ScoutResource`. The other
    arguments are those of :func:`scout_findall_assets`.
    """
    the_request = _request(FindAllRequest, query, request, request_fields, "query")
    declaration = declare(
        "findall",
        name=name,
        request=the_request,
        translator=_OptionsTranslator(
            translator or DagsterScoutTranslator(),
            key_prefix=key_prefix,
            group_name=group_name,
            description=description,
            owners=owners,
            tags=tags,
            automation_condition=automation_condition,
            freshness_policy=freshness_policy,
        ),
        partitions_def=partitions_def,
        timeout_s=timeout_s,
        credit_budget=credit_budget,
        keep_partial=False,
        pool=pool,
        io_manager_key=io_manager_key,
        retry_policy=retry_policy,
        backfill_policy=backfill_policy,
        blocking_checks=blocking_checks,
        table_type=table_type,
    )

    @declaration.multi_asset(required_resource_keys={resource_key})
    def _findall(context: AssetExecutionContext) -> Iterator[Output[Any] | AssetCheckResult]:
        yield from getattr(context.resources, resource_key).run_findall(context, the_request)

    return _findall


def build_search_assets(
    name: str,
    queries: Sequence[str] | None = None,
    *,
    request: SearchRequest | None = None,
    translator: DagsterScoutTranslator | None = None,
    timeout_s: float = 3600.0,
    keep_partial_on_timeout: bool = False,
    credit_budget: int | None = None,
    partitions_def: PartitionsDefinition | None = None,
    key_prefix: str | Sequence[str] | None = None,
    group_name: str | None = None,
    description: str | None = None,
    owners: Sequence[str] | None = None,
    tags: Mapping[str, str] | None = None,
    automation_condition: AutomationCondition[Any] | None = None,
    freshness_policy: FreshnessPolicy | None = None,
    pool: str | None = "scout",
    resource_key: str = "scout",
    io_manager_key: str = "scout_io_manager",
    retry_policy: RetryPolicy | None = None,
    backfill_policy: BackfillPolicy | None = None,
    blocking_checks: bool = False,
    table_type: TableType | None = None,
    **request_fields: Any,
) -> AssetsDefinition:
    """A deep-search run as ``<name>_results``, ``_sources``, ``_findings`` and ``_report``.

    The run is ``request``, or ``queries`` with any other field of
    :class:`SearchRequest` as a keyword (``objective``, ``limit``,
    ``country``, ``language``, ``include_domains``, ``exclude_domains``,
    ``freshness``). ``keep_partial_on_timeout``: when the deadline or the
    credit budget stops the run, keep what it gathered (marked
    ``scout/partial``) instead of failing. The other arguments are those of
    :func:`build_findall_assets`.
    """
    the_request = _request(SearchRequest, queries, request, request_fields, "queries")
    declaration = declare(
        "search",
        name=name,
        request=the_request,
        translator=_OptionsTranslator(
            translator or DagsterScoutTranslator(),
            key_prefix=key_prefix,
            group_name=group_name,
            description=description,
            owners=owners,
            tags=tags,
            automation_condition=automation_condition,
            freshness_policy=freshness_policy,
        ),
        partitions_def=partitions_def,
        timeout_s=timeout_s,
        credit_budget=credit_budget,
        keep_partial=keep_partial_on_timeout,
        pool=pool,
        io_manager_key=io_manager_key,
        retry_policy=retry_policy,
        backfill_policy=backfill_policy,
        blocking_checks=blocking_checks,
        table_type=table_type,
    )

    @declaration.multi_asset(required_resource_keys={resource_key})
    def _search(context: AssetExecutionContext) -> Iterator[Output[Any] | AssetCheckResult]:
        yield from getattr(context.resources, resource_key).run_search(context, the_request)

    return _search


def _request(
    kind: Any, first: object, given: object, fields: Mapping[str, Any], first_name: str
) -> Any:
    """The factory's request: ``request=``, or the first field plus keywords."""
    if given is not None:
        if first is not None or fields:
            also = first_name if first is not None else ", ".join(sorted(fields))
            raise ValueError(
                f"give request or its fields, not both: {also} given beside request= "
                f"(set them in the {kind.__name__} instead)"
            )
        try:
            return coerce_request(kind, given, fields)
        except TypeError as exc:
            raise ValueError(str(exc)) from None
    if first is None:
        raise ValueError(f"give {first_name} (or request={kind.__name__}(...))")
    try:
        return coerce_request(kind, first, fields)
    except TypeError as exc:
        raise ValueError(str(exc)) from None
