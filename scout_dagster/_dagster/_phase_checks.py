"""What an enrich or extend builds on, and what it adds, checked when it is defined.

:class:`Upstream` reads a FindAll multi-asset's entities spec (its declared
request, ``scout/request``); :func:`enrichment` checks what an enrich adds
against the upstream's columns; :func:`check_settings` the run settings an
enrich or extend shares with every Scout asset.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any

from dagster import AssetsDefinition, AssetSpec

from .._deadline import MAX_DEADLINE_S
from .._requests import FindAllRequest, coerce_request
from ..tables.columns import EntityColumn, entity_columns
from ._decorators import REQUEST_METADATA_KEY
from ._output_types import TABLE_TYPES
from ._phase_records import PhaseMetadataSet
from ._translator import ScoutMetadataSet

__all__ = ["Upstream", "check_settings", "enrichment"]


@dataclasses.dataclass(frozen=True)
class Upstream:
    """The FindAll multi-asset a phase builds on, as its specs declare it."""

    assets_def: AssetsDefinition
    name: str
    entities: AssetSpec
    request: FindAllRequest

    @classmethod
    def of(cls, upstream: object, factory: str) -> Upstream:
        entities = _entities_spec(upstream)
        if entities is None or not isinstance(upstream, AssetsDefinition):
            raise ValueError(
                f"{factory} builds on the assets of @scout_findall_assets or "
                f"build_findall_assets (an AssetsDefinition); got {_shown(upstream)}"
            )
        key = entities.key.to_user_string()
        phase = PhaseMetadataSet.extract(entities.metadata)
        if phase.operation is not None:
            raise ValueError(
                f"{factory}: {key} is itself the {phase.operation} of {phase.upstream}; build "
                f"on the FindAll assets of {phase.upstream} instead (give one enrich all the "
                "fields it adds)"
            )
        facts = ScoutMetadataSet.extract(entities.metadata)
        declared = entities.metadata.get(REQUEST_METADATA_KEY)
        body = getattr(declared, "value", declared)
        if not isinstance(body, Mapping):
            raise ValueError(
                f"{factory}: {key} does not say what request its runs make ({REQUEST_METADATA_KEY} "
                "is missing from its spec's metadata); define it with scout_findall_assets or "
                "build_findall_assets of this version"
            )
        request = coerce_request(FindAllRequest, None, dict(body))
        if request.fingerprint != facts.request_fingerprint:
            raise ValueError(
                f"{factory}: the request {key} declares ({REQUEST_METADATA_KEY}) is not the one "
                "its runs make (its fingerprint differs); was its metadata changed?"
            )
        return cls(upstream, str(facts.name), entities, request)

    @property
    def columns(self) -> tuple[EntityColumn, ...]:
        return entity_columns(self.request)


def _entities_spec(upstream: object) -> AssetSpec | None:
    if isinstance(upstream, AssetsDefinition):
        for spec in upstream.specs:
            facts = ScoutMetadataSet.extract(spec.metadata)
            if facts.kind == "findall" and facts.table == "entities":
                return spec
    return None


def _shown(value: object) -> str:
    if isinstance(value, AssetsDefinition):
        keys = ", ".join(sorted(k.to_user_string() for k in value.keys))
        return f"the asset definition of {keys}"
    return type(value).__name__


def _as_properties(upstream: Upstream) -> dict[str, Any]:
    """The upstream's entity columns as output_schema properties (fields are text)."""
    schema = upstream.request.output_schema
    if schema is not None:
        return dict(schema["properties"])
    return {column.name: {"type": "string"} for column in upstream.columns}


def enrichment(
    upstream: Upstream, fields: Sequence[str] | None, output_schema: Mapping[str, Any] | None
) -> tuple[dict[str, Any], FindAllRequest, tuple[str, ...]]:
    """(the enrich body, the request whose columns the tables have, the names added)."""
    if fields is None and output_schema is None:
        raise ValueError("build_findall_enrich_assets needs fields or output_schema: what to add")
    body: dict[str, Any] = {}
    added: dict[str, Any] = {}
    query = upstream.request.query
    try:
        if fields is not None:
            # A request of these fields alone checks them as a create's are.
            named = FindAllRequest(query, fields=fields)  # type: ignore[arg-type]
            body["fields"] = list(named.fields or ())
            added.update({name: {"type": "string"} for name in body["fields"]})
        if output_schema is not None:
            schema = json.loads(json.dumps(output_schema))
            typed = FindAllRequest(query, output_schema=schema)
            body["output_schema"] = dict(typed.output_schema or {})
            for name, spec in schema["properties"].items():
                if name.casefold() in {n.casefold() for n in added}:
                    raise ValueError(
                        f"{name!r} is both in fields and in output_schema: name it once"
                    )
                added[name] = spec
    except (TypeError, ValueError) as exc:
        raise ValueError(f"build_findall_enrich_assets: {exc}") from None
    existing = {c.name.casefold(): c.name for c in upstream.columns}
    clashes = [name for name in added if name.casefold() in existing]
    if clashes:
        raise ValueError(
            f"build_findall_enrich_assets: {', '.join(map(repr, clashes))} "
            f"{'is a column' if len(clashes) == 1 else 'are columns'} of "
            f"{upstream.entities.key.to_user_string()} already (its columns: "
            f"{', '.join(existing.values())}); enrich adds new fields only"
        )
    combined = FindAllRequest(
        query,
        output_schema={"type": "object", "properties": {**_as_properties(upstream), **added}},
        limit=upstream.request.limit,
        generator=upstream.request.generator,
    )
    return body, combined, tuple(added)


def check_settings(
    timeout_s: object, credit_budget: object, blocking_checks: object, table_type: object
) -> None:
    # bool is an int to Python, never a number of seconds or credits to a user.
    if (
        isinstance(timeout_s, bool)
        or not isinstance(timeout_s, int | float)
        or not 0 < timeout_s < MAX_DEADLINE_S
    ):
        raise ValueError(
            f"timeout_s must be a positive number of seconds below {MAX_DEADLINE_S:g} (a "
            f"week), got {timeout_s!r}"
        )
    if credit_budget is not None and (
        isinstance(credit_budget, bool) or not isinstance(credit_budget, int) or credit_budget < 1
    ):
        raise ValueError(f"credit_budget must be at least 1 credit, got {credit_budget!r}")
    if not isinstance(blocking_checks, bool):
        raise ValueError(f"blocking_checks must be True or False, got {blocking_checks!r}")
    if table_type is not None and table_type not in TABLE_TYPES:
        raise ValueError(
            f"table_type must be one of {', '.join(TABLE_TYPES)} (or None: taken from the "
            f"IO manager), got {table_type!r}"
        )
