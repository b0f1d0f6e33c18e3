"""``build_findall_enrich_assets`` and ``build_findall_extend_assets``: later phases of a
FindAll run as assets downstream of its FindAll assets.

A FindAll run that completed can be *enriched* (fields added to its matched
entities) or *extended* (its match limit raised, so it runs on and finds
more). Each factory builds a multi-asset of two tables, ``<name>_entities``
and ``<name>_citations``, partitioned as the upstream, that depends on the
upstream's entities table and materializes, for each partition, the phase of
that partition's remote run (the one the upstream's latest materialization
names), read from the run's completed body as the FindAll tables are. The
execution is :mod:`._phases`; everything here is checked when the assets are
defined, before any API call.
"""

# Dagster reads the context annotation at definition time, so annotations here
# must stay real objects (no `from __future__ import annotations`).

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetsDefinition,
    AssetSpec,
    AutomationCondition,
    FreshnessPolicy,
    Output,
    RetryPolicy,
    multi_asset,
)

from .._requests import FindAllRequest
from ..tables.columns import CITATIONS_COLUMNS, entities_columns, entity_columns
from ._assets import _OptionsTranslator
from ._checks import check_specs
from ._decorators import _NAME, TABLES_VERSION, _backfill_policy
from ._metadata import column_schema
from ._output_types import TableType
from ._phase_checks import Upstream, check_settings, enrichment
from ._phase_records import Phase, PhaseMetadataSet
from ._translator import FINDALL_TABLES, DagsterScoutTranslator, ScoutMetadataSet, ScoutTableProps

__all__ = ["build_findall_enrich_assets", "build_findall_extend_assets"]


def _build(
    upstream: Upstream,
    phase: Phase,
    combined: FindAllRequest,
    *,
    name: str,
    summary: str,
    options: Mapping[str, Any],
) -> AssetsDefinition:
    """The phase's multi-asset: two tables, as the upstream's, downstream of it."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            f"name must be letters, digits and underscores, starting with a letter, got {name!r}"
        )
    if name == upstream.name:
        raise ValueError(f"name {name!r} is the upstream's own; give this asset a name of its own")
    check_settings(
        options["timeout_s"],
        options["credit_budget"],
        options["blocking_checks"],
        options["table_type"],
    )
    translator = options["translator"] or DagsterScoutTranslator()
    if not isinstance(translator, DagsterScoutTranslator):
        raise ValueError(
            "translator must be a DagsterScoutTranslator (or a subclass), got "
            f"{type(translator).__name__}"
        )
    entities = upstream.entities
    prefix = options["key_prefix"]
    wrapped = _OptionsTranslator(
        translator,
        key_prefix=list(entities.key.path[:-1]) if prefix is None else prefix,
        group_name=options["group_name"] or entities.group_name,
        description=options["description"] or summary,
        owners=options["owners"],
        tags=options["tags"],
        automation_condition=options["automation_condition"],
        freshness_policy=options["freshness_policy"],
    )
    partitions_def = upstream.assets_def.partitions_def
    io_manager_key = options["io_manager_key"] or str(
        entities.metadata.get("dagster/io_manager_key", "io_manager")
    )
    schemas = {"entities": entities_columns(phase.columns), "citations": CITATIONS_COLUMNS}
    code_version = f"{TABLES_VERSION}-{upstream.request.fingerprint}-{phase.fingerprint}"
    specs: list[AssetSpec] = []
    for table in FINDALL_TABLES:
        props = ScoutTableProps(
            kind="findall",
            name=name,
            table=table,
            request=combined,
            partitions_def=partitions_def,
            table_schema=column_schema(schemas[table]),
        )
        spec = wrapped.get_asset_spec(props)
        if not isinstance(spec, AssetSpec):
            raise ValueError(
                f"{type(translator).__name__}.get_asset_spec returned {type(spec).__name__} "
                f"for table {table}; it must return an AssetSpec"
            )
        if spec.partitions_def is not None and spec.partitions_def != partitions_def:
            raise ValueError(
                f"the translator gave table {table} partitions of its own; an {phase.operation} "
                "has the partitions of the assets it builds on"
            )
        facts = ScoutMetadataSet(
            kind="findall",
            name=name,
            table=table,
            request_fingerprint=phase.fingerprint,
            timeout_s=float(options["timeout_s"]),
            credit_budget=options["credit_budget"],
            keep_partial=False,
            blocking_checks=options["blocking_checks"],
            table_type=options["table_type"],
        )
        marker = PhaseMetadataSet(
            operation=phase.operation,
            upstream=entities.key.to_user_string(),
            upstream_name=upstream.name,
        )
        spec = spec.merge_attributes(metadata={**dict(facts), **dict(marker)}, deps=[entities.key])
        if spec.code_version is None:
            spec = spec.replace_attributes(code_version=code_version)
        if "dagster/io_manager_key" not in spec.metadata:
            spec = spec.with_io_manager_key(io_manager_key)
        specs.append(spec)
    keys = [spec.key for spec in specs]
    taken = set(keys) & set(upstream.assets_def.keys)
    if len(set(keys)) != len(keys) or taken:
        raise ValueError(f"the tables of {name} need keys of their own; the translator gave {keys}")
    resource_key = options["resource_key"]

    @multi_asset(
        name=f"{name}_{phase.operation}",
        specs=specs,
        check_specs=check_specs(
            specs[0].key,
            "entity_id",
            blocking=options["blocking_checks"],
            partitions_def=partitions_def,
        ),
        # One remote run, all its tables: selecting one table selects all.
        can_subset=False,
        partitions_def=partitions_def,
        pool=options["pool"],
        required_resource_keys={resource_key},
        retry_policy=options["retry_policy"],
        backfill_policy=_backfill_policy(None, partitions_def),
    )
    def _phase(context: AssetExecutionContext) -> Iterator[Output[Any] | AssetCheckResult]:
        from ._phases import materialize_phase  # the run's machinery: on use, not to define

        yield from materialize_phase(context, getattr(context.resources, resource_key), phase)

    return _phase


def build_findall_enrich_assets(
    upstream: AssetsDefinition,
    *,
    name: str,
    fields: Sequence[str] | None = None,
    output_schema: Mapping[str, Any] | None = None,
    timeout_s: float = 3600.0,
    credit_budget: int | None = None,
    translator: DagsterScoutTranslator | None = None,
    key_prefix: str | Sequence[str] | None = None,
    group_name: str | None = None,
    description: str | None = None,
    owners: Sequence[str] | None = None,
    tags: Mapping[str, str] | None = None,
    automation_condition: AutomationCondition[Any] | None = None,
    freshness_policy: FreshnessPolicy | None = None,
    pool: str | None = None,
    resource_key: str = "scout",
    io_manager_key: str | None = None,
    retry_policy: RetryPolicy | None = None,
    blocking_checks: bool = False,
    table_type: TableType | None = None,
) -> AssetsDefinition:
    """Fields added to the entities of an upstream FindAll asset's runs:
    ``<name>_entities`` and ``<name>_citations``.

    For each partition, the remote run of ``upstream``'s latest
    materialization is enriched (``POST …/enrich`` with ``fields`` and/or
    ``output_schema``) once: a re-materialization for the same upstream run,
    a step retry or a re-execution sends nothing new. The entities table has
    the upstream's columns, then the added ones (``fields`` as text,
    ``output_schema`` properties typed as a FindAll request's are).
    ``scout/credits`` on ``<name>_entities`` is what the enrich added.

    Args:
        upstream: the assets of ``@scout_findall_assets`` or ``build_findall_assets``.
        name: base name of the tables (letters, digits, underscores).
        fields, output_schema: what to add; none of it may be a column already.
        timeout_s: seconds for the whole materialization; then the run is
            cancelled (which discards a FindAll run's result).
        credit_budget: cancel the run once the enrich has cost more credits.
        key_prefix, group_name, io_manager_key: default to the upstream
            entities'; description, owners, tags, automation_condition,
            freshness_policy, translator, pool, retry_policy, blocking_checks,
            table_type, resource_key: as :func:`build_findall_assets`'s.
    """
    parent = Upstream.of(upstream, "build_findall_enrich_assets")
    body, combined, added = enrichment(parent, fields, output_schema)
    phase = Phase(
        operation="enrich",
        body=body,
        upstream_key=parent.entities.key,
        columns=entity_columns(combined),
        requested=added,
    )
    summary = (
        f"The entities of {parent.entities.key.to_user_string()} with "
        f"{', '.join(added)} added (Scout FindAll enrich)"
    )
    # Every argument but the upstream and the phase's own, by name.
    return _build(parent, phase, combined, name=name, summary=summary, options=locals())


def build_findall_extend_assets(
    upstream: AssetsDefinition,
    *,
    name: str,
    additional_limit: int,
    timeout_s: float = 3600.0,
    credit_budget: int | None = None,
    translator: DagsterScoutTranslator | None = None,
    key_prefix: str | Sequence[str] | None = None,
    group_name: str | None = None,
    description: str | None = None,
    owners: Sequence[str] | None = None,
    tags: Mapping[str, str] | None = None,
    automation_condition: AutomationCondition[Any] | None = None,
    freshness_policy: FreshnessPolicy | None = None,
    pool: str | None = None,
    resource_key: str = "scout",
    io_manager_key: str | None = None,
    retry_policy: RetryPolicy | None = None,
    blocking_checks: bool = False,
    table_type: TableType | None = None,
) -> AssetsDefinition:
    """The entities of an upstream FindAll asset's runs after their match limit
    grew by ``additional_limit``: ``<name>_entities`` and ``<name>_citations``.

    For each partition, the remote run of ``upstream``'s latest
    materialization is extended (``POST …/extend``) once, and runs on; the
    tables are all its entities then, in the upstream's columns.
    ``scout/credits`` on ``<name>_entities`` is what the extend added: the
    new matches, never the ones found before. The upstream's request must
    have a ``limit``. The other arguments are those of
    :func:`build_findall_enrich_assets`.
    """
    parent = Upstream.of(upstream, "build_findall_extend_assets")
    if parent.request.limit is None:
        raise ValueError(
            f"build_findall_extend_assets: the request of {parent.entities.key.to_user_string()} "
            "has no limit, so its runs find every match already and there is nothing to "
            "extend; give it a limit"
        )
    if (
        isinstance(additional_limit, bool)
        or not isinstance(additional_limit, int)
        or additional_limit < 1
    ):
        raise ValueError(
            f"additional_limit must be a whole number of at least 1 (more matches), got "
            f"{additional_limit!r}"
        )
    combined = dataclasses.replace(parent.request, limit=parent.request.limit + additional_limit)
    phase = Phase(
        operation="extend",
        body={"additional_limit": additional_limit},
        upstream_key=parent.entities.key,
        columns=parent.columns,
    )
    summary = (
        f"The entities of {parent.entities.key.to_user_string()} after its runs' match limit "
        f"grew by {additional_limit} (Scout FindAll extend)"
    )
    # Every argument but the upstream and the phase's own, by name.
    return _build(parent, phase, combined, name=name, summary=summary, options=locals())
