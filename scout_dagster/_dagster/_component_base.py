"""What both Scout asset components take, and the YAML model Dagster derives of it."""

# Dagster derives the YAML schema from these dataclasses' annotations at run
# time, so they must stay real objects (no `from __future__ import annotations`).

import abc
import dataclasses
import functools
import os
from typing import Annotated, Any, ClassVar, Literal

from dagster import AssetsDefinition, Definitions
from dagster.components import (
    Component,
    ComponentLoadContext,
    ComponentTypeSpec,
    Resolvable,
    Resolver,
)
from dagster.components.resolved.base import derive_model_type
from pydantic import BaseModel, Field, create_model

from ._component_models import ResolvedPartitionsDefinition, ResolvedRetryPolicy
from ._component_request import request_model
from ._component_resources import (
    ScoutIOManagerAttributes,
    ScoutResourceAttributes,
    _bindings,
    _io_manager,
    _scout_resource,
)

__all__: list[str] = []


@dataclasses.dataclass(kw_only=True)
class _ScoutComponent(Component, Resolvable):
    """What both components take; ``request`` is each one's own."""

    kind: ClassVar[type]

    name: Annotated[
        str,
        Resolver.default(
            description="Base name of the tables (letters, digits, underscores).",
            examples=["ai_infra"],
        ),
    ]
    request: Any
    partitions_def: ResolvedPartitionsDefinition = None
    timeout_s: Annotated[
        float,
        Resolver.default(
            description="Seconds to wait for the remote run before it is cancelled and the "
            "materialization fails."
        ),
    ] = 3600.0
    credit_budget: Annotated[
        int | None,
        Resolver.default(description="Cancel the remote run and fail past this many credits."),
    ] = None
    key_prefix: str | list[str] | None = None
    group_name: str | None = None
    description: str | None = None
    owners: list[str] | None = None
    tags: dict[str, str] | None = None
    pool: Annotated[
        str | None,
        Resolver.default(description="Dagster concurrency pool of the steps."),
    ] = "scout"
    retry_policy: ResolvedRetryPolicy = None
    blocking_checks: bool = False
    table_type: Annotated[
        Literal["arrow", "pandas", "polars"] | None,
        Resolver.default(
            description="What the tables are handed to their IO manager as; unset: what "
            "the IO manager takes."
        ),
    ] = None
    resource: ScoutResourceAttributes = dataclasses.field(default_factory=ScoutResourceAttributes)
    io_manager: ScoutIOManagerAttributes = dataclasses.field(
        default_factory=ScoutIOManagerAttributes
    )

    @classmethod
    def model(cls) -> type[BaseModel]:
        return _component_model(cls)

    @classmethod
    def get_spec(cls) -> ComponentTypeSpec:
        return ComponentTypeSpec(
            tags=["scout"],
            produces=["asset", "asset_check", "resource"],
        )

    def asset_options(self) -> dict[str, Any]:
        """The factory's keywords, other than the name and the request."""
        return {
            "partitions_def": self.partitions_def,
            "timeout_s": self.timeout_s,
            "credit_budget": self.credit_budget,
            "key_prefix": self.key_prefix,
            "group_name": self.group_name,
            "description": self.description,
            "owners": self.owners,
            "tags": self.tags,
            "pool": self.pool,
            "retry_policy": self.retry_policy,
            "blocking_checks": self.blocking_checks,
            "table_type": self.table_type,
            "resource_key": self.resource.key,
            "io_manager_key": self.io_manager.key,
        }

    def resources(self) -> dict[str, Any]:
        """The two resources the tables need, shared with every component that agrees."""
        return {
            self.resource.key: _scout_resource(self.resource, os.environ.get("SCOUT_BASE_URL", "")),
            self.io_manager.key: _io_manager(
                self.io_manager.base_path, os.environ.get("SCOUT_DAGSTER_DATA")
            ),
        }

    def __post_init__(self) -> None:
        # From Python, or a template standing for the io_manager block.
        for name, expected in (
            ("resource", ScoutResourceAttributes),
            ("io_manager", ScoutIOManagerAttributes),
        ):
            if not isinstance(getattr(self, name), expected):
                raise ValueError(
                    f"{name} must be a mapping of its settings, got {getattr(self, name)!r}"
                )

    @abc.abstractmethod
    def build_assets(self) -> AssetsDefinition:
        """The multi-asset, from the factory of this kind of run."""

    def build_defs(self, context: ComponentLoadContext) -> Definitions:
        assets = self.build_assets()
        resources = self.resources()
        _bindings(context).bind(
            context.path,
            {
                self.resource.key: ("resource", self.resource),
                self.io_manager.key: ("io_manager", self.io_manager),
            },
        )
        return Definitions(assets=[assets], resources=resources)


@functools.cache
def _component_model(cls: type[_ScoutComponent]) -> type[BaseModel]:
    """Dagster's model of the component, with ``request`` and ``resource``
    exactly their own models: Dagster lets every field be a template string
    too, which would turn a misspelt request field into "not valid under any
    of the given schemas" in ``dg check defs``. Neither takes templates."""
    derived = derive_model_type(cls)
    return create_model(
        derived.__name__,
        __base__=derived,
        request=(
            request_model(cls.kind),
            Field(description=derived.model_fields["request"].description),
        ),
        resource=(
            ScoutResourceAttributes,
            Field(
                default=ScoutResourceAttributes(),
                description="The Scout resource the tables use (bound by this component).",
            ),
        ),
    )
