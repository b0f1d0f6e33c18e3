"""What the specs of a Scout multi-asset say, read back when it is materialized.

Where each table goes (its key, possibly changed by a translator) and the
run's settings are read from the specs' :class:`ScoutMetadataSet`, written
when the assets were defined; :func:`layout_for` checks that the body runs
the request the decorator declared.
"""

import dataclasses
from collections.abc import Mapping

from dagster import AssetExecutionContext, AssetKey, Failure

from .._requests import FindAllRequest, SearchRequest
from ._output_types import TABLE_TYPES, TableType
from ._partitions import check_request_templates
from ._translator import PRIMARY_TABLE, ScoutMetadataSet

__all__ = ["ScoutAssetLayout", "layout_for"]


@dataclasses.dataclass(frozen=True)
class ScoutAssetLayout:
    """What the specs of a Scout multi-asset say, read back at run time."""

    kind: str
    name: str
    keys: Mapping[str, AssetKey]  # table -> key
    fingerprint: str
    timeout_s: float
    credit_budget: int | None
    keep_partial: bool
    io_manager_keys: Mapping[str, str]  # table -> the key of its IO manager
    table_type: TableType | None  # as the decorator was told; None: detect

    @classmethod
    def of(cls, context: AssetExecutionContext) -> "ScoutAssetLayout":
        keys: dict[str, AssetKey] = {}
        io_manager_keys: dict[str, str] = {}
        found: ScoutMetadataSet | None = None
        for spec in context.assets_def.specs:
            facts = ScoutMetadataSet.extract(spec.metadata)
            if facts.table is None:
                continue
            keys[facts.table] = spec.key
            io_manager_keys[facts.table] = str(
                spec.metadata.get("dagster/io_manager_key", "io_manager")
            )
            found = facts
        if found is None or found.kind is None or found.name is None:
            raise Failure(
                description="run_findall/run_search materialize the assets of "
                "@scout_findall_assets or @scout_search_assets (or build_findall_assets / "
                "build_search_assets); this asset was not defined by them"
            )
        return cls(
            kind=found.kind,
            name=found.name,
            keys=keys,
            fingerprint=found.request_fingerprint or "",
            timeout_s=found.timeout_s or 3600.0,
            credit_budget=found.credit_budget,
            keep_partial=bool(found.keep_partial),
            io_manager_keys=io_manager_keys,
            table_type=_table_type_named(found.table_type),
        )

    @property
    def primary_key(self) -> AssetKey:
        return self.keys[PRIMARY_TABLE[self.kind]]


def _table_type_named(name: str | None) -> TableType | None:
    for table_type in TABLE_TYPES:
        if name == table_type:
            return table_type
    return None


def layout_for(
    context: AssetExecutionContext, request: FindAllRequest | SearchRequest, kind: str
) -> ScoutAssetLayout:
    """The layout of the asset being materialized by ``run_{kind}(context, request)``,
    checked: declared for that kind of run, and for that very request."""
    layout = ScoutAssetLayout.of(context)
    if layout.kind != kind:
        other = "run_search" if kind == "findall" else "run_findall"
        raise Failure(
            description=f"this asset was declared with @scout_{layout.kind}_assets; "
            f"its body must call {other}, not run_{kind}"
        )
    try:
        # Partitions added after the decorator checked the request (say, by a
        # Component's post_processing) must still be named by it: else every
        # partition would pay for the same run.
        check_request_templates(request, context.assets_def.partitions_def)
    except ValueError as exc:
        raise Failure(description=f"{exc}. Nothing was sent.") from None
    if request.fingerprint != layout.fingerprint:
        # The tables' columns and code version were derived from the declared
        # request: another request would not fit them.
        raise Failure(
            description=f"the body of {layout.name} runs a request other than the one its "
            f"decorator declared (fingerprint {request.fingerprint}, declared "
            f"{layout.fingerprint}); pass the decorator's request to run_{kind}. "
            "Nothing was sent."
        )
    return layout
