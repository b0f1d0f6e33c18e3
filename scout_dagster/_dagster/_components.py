"""Dagster Components: Scout FindAll and deep-search assets declared in ``defs.yaml``.

The components are thin: they turn YAML into the package's own objects and
call the factories. ``request:`` is a :class:`~scout_dagster.FindAllRequest`
or :class:`~scout_dagster.SearchRequest`, its YAML form derived from the
dataclass's fields (:func:`request_model`), so a field added to a request is
a field of the YAML with no change here; the request checks itself when it is
built, the factory checks the rest (name, deadline, budget, partitions and
the query's placeholders), both at load (``dg check defs``).

Resources: each component binds the ``scout`` resource and the
``scout_io_manager``; components that agree share them
(:mod:`._component_resources`). See ``docs/components.md``.

The parts, one module each: the YAML form of a request
(``_component_request``), of partitions and retry policies
(``_component_models``), the resources (``_component_resources``), what both
components take (``_component_base``) and what ``dg scaffold defs`` writes
(``_component_scaffold``).
"""

# Dagster derives the YAML schema from these dataclasses' annotations at run
# time, so they must stay real objects (no `from __future__ import annotations`).

import dataclasses
from typing import Annotated, ClassVar

from dagster import AssetsDefinition
from dagster.components import Resolver, scaffold_with

from .._requests import FindAllRequest, SearchRequest
from ._assets import build_findall_assets, build_search_assets
from ._component_base import _ScoutComponent
from ._component_request import _request_resolver, request_model
from ._component_resources import ScoutIOManagerAttributes, ScoutResourceAttributes

# Imported from here by the monitor component and the tests.
from ._component_resources import _bindings as _bindings
from ._component_resources import _io_manager as _io_manager
from ._component_resources import _scout_resource as _scout_resource
from ._component_scaffold import _FindAllScaffolder, _SearchScaffolder

__all__ = [
    "ScoutFindAllComponent",
    "ScoutIOManagerAttributes",
    "ScoutResourceAttributes",
    "ScoutSearchComponent",
    "request_model",
]


@scaffold_with(_FindAllScaffolder)
@dataclasses.dataclass(kw_only=True)
class ScoutFindAllComponent(_ScoutComponent):
    """A Scout FindAll run as Parquet tables: <name>_entities and <name>_citations.

    ``request`` holds the fields of ``scout_dagster.FindAllRequest``, checked by
    it at load; its query may name the partition (``{start:%B %d, %Y}``).
    Binds the ``scout`` resource (its key read from ``api_key_env`` where each
    run executes) and the ``scout_io_manager``.
    """

    kind: ClassVar[type] = FindAllRequest

    request: Annotated[FindAllRequest, _request_resolver(FindAllRequest)]

    def build_assets(self) -> AssetsDefinition:
        return build_findall_assets(self.name, request=self.request, **self.asset_options())


@scaffold_with(_SearchScaffolder)
@dataclasses.dataclass(kw_only=True)
class ScoutSearchComponent(_ScoutComponent):
    """A Scout deep-search run as Parquet tables: <name>_results, _sources, _findings, _report.

    ``request`` holds the fields of ``scout_dagster.SearchRequest``, checked by
    it at load; its queries and objective may name the partition. Binds the
    ``scout`` resource and the ``scout_io_manager`` as the FindAll component does.
    """

    kind: ClassVar[type] = SearchRequest

    request: Annotated[SearchRequest, _request_resolver(SearchRequest)]
    keep_partial_on_timeout: Annotated[
        bool,
        Resolver.default(
            description="When the deadline or the credit budget stops the run, keep what it "
            "gathered (marked scout/partial) instead of failing."
        ),
    ] = False

    def build_assets(self) -> AssetsDefinition:
        return build_search_assets(
            self.name,
            request=self.request,
            keep_partial_on_timeout=self.keep_partial_on_timeout,
            **self.asset_options(),
        )
