"""Dagster Components: Scout FindAll and deep-search assets declared in ``defs.yaml``.

The components are thin: they turn YAML into the package's own objects and
call the factories. ``request:`` is a :class:`~scout_dagster.FindAllRequest`
or :class:`~scout_dagster.SearchRequest`, its YAML form derived from the
dataclass's fields (:func:`request_model`), so a field added to a request is
a field of the YAML with no change here; the request checks itself when it is
built, the factory checks the rest (name, deadline, budget, partitions and
the query's placeholders), both at load (``dg check defs``).

Resources: each component binds the ``scout`` resource (the key read from an
environment variable where each run executes, never written anywhere) and
the ``scout_io_manager``. Two components with the same settings get the very
same resource objects, which ``Definitions.merge`` accepts; two with
different settings under one key fail the load with both named, so one of
them takes a key of its own. See ``docs/components.md``.
"""

# Dagster derives the YAML schema from these dataclasses' annotations at run
# time, so they must stay real objects (no `from __future__ import annotations`).

import abc
import collections
import dataclasses
import functools
import inspect
import os
import re
import sys
import textwrap
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Union

from dagster import (
    AssetsDefinition,
    Backoff,
    Definitions,
    EnvVar,
    Jitter,
    MonthlyPartitionsDefinition,
    PartitionsDefinition,
    RetryPolicy,
)
from dagster.components import (
    Component,
    ComponentLoadContext,
    ComponentTypeSpec,
    Model,
    ResolutionContext,
    Resolvable,
    Resolver,
    Scaffolder,
    ScaffoldRequest,
    scaffold_with,
)

# Dagster's own YAML models of partitions definitions (those of its asset
# attributes); it has none for monthly partitions, which is added here.
from dagster.components.resolved.base import derive_model_type
from dagster.components.resolved.core_models import (
    DailyPartitionsDefinitionModel,
    HourlyPartitionsDefinitionModel,
    StaticPartitionsDefinitionModel,
    TimeWindowPartitionsDefinitionModel,
    WeeklyPartitionsDefinitionModel,
    resolve_partitions_def,
)
from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator, model_validator

from .._requests import FindAllRequest, SearchRequest
from ._assets import build_findall_assets, build_search_assets
from ._io_manager import ScoutParquetIOManager
from ._resource import API_KEY_ENV, ScoutResource

__all__ = [
    "ScoutFindAllComponent",
    "ScoutIOManagerAttributes",
    "ScoutResourceAttributes",
    "ScoutSearchComponent",
    "request_model",
]

# ---------------------------------------------------------------- the request


def _yaml_type(hint: Any) -> Any:
    """The type of a request field as YAML gives it: a list where the request
    keeps a tuple, a dict where it keeps a Mapping (the request converts)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        return _alias(Union, *(_yaml_type(arg) for arg in args))
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return _alias(list, _yaml_type(args[0]))
    if origin in (list, Sequence):
        return _alias(list, *map(_yaml_type, args)) if args else list
    if origin in (dict, Mapping):
        return _alias(dict, args[0], _yaml_type(args[1])) if args else dict
    return hint


def _alias(origin: Any, *params: Any) -> Any:
    """``origin[params]``, for types built at run time."""
    return origin[params if len(params) > 1 else params[0]]


def _is_tuple_type(hint: Any) -> bool:
    if typing.get_origin(hint) in (Union, types.UnionType):
        return any(_is_tuple_type(arg) for arg in typing.get_args(hint))
    return typing.get_origin(hint) is tuple


def _type_hints(kind: type) -> dict[str, Any]:
    """The annotations of a request class and its bases, each evaluated where
    it was written (the package shows its classes as ``scout_dagster.X``, a
    namespace other than the one their annotations were written in)."""
    hints: dict[str, Any] = {}
    for base in reversed(kind.__mro__):
        if "__annotations__" in vars(base):
            hints.update(inspect.get_annotations(base, globals=_namespace(base), eval_str=True))
    return hints


def _namespace(cls: type) -> dict[str, Any]:
    for value in vars(cls).values():
        if isinstance(value, types.FunctionType) and value.__qualname__.startswith(
            f"{cls.__qualname__}."
        ):
            return value.__globals__
    module = sys.modules.get(cls.__module__)
    return vars(module) if module is not None else {}


def _summary(kind: type) -> str:
    return (kind.__doc__ or kind.__name__).strip().split("\n\n")[0].replace("\n", " ")


@functools.cache
def request_model(kind: type) -> type[BaseModel]:
    """The YAML form of a request dataclass: one field per field it takes, of
    the type it declares (strictly: ``limit: "5"`` or ``limit: true`` is no
    limit), with its default, and no other field.

    It checks the shape only; what a value means (a limit of at least 1, a
    valid ``output_schema``, a query that fits) is the request's own check,
    run when the component builds it.
    """
    if not dataclasses.is_dataclass(kind):
        raise TypeError(f"{kind!r} is not a dataclass")
    hints = _type_hints(kind)
    fields: dict[str, Any] = {}
    for field in dataclasses.fields(kind):
        if not field.init:
            continue
        description = field.metadata.get("description")
        if field.default is not dataclasses.MISSING:
            info = Field(default=field.default, description=description)
        elif field.default_factory is not dataclasses.MISSING:
            info = Field(default_factory=field.default_factory, description=description)
        else:
            info = Field(description=description)
        fields[field.name] = (_yaml_type(hints[field.name]), info)
    return create_model(
        kind.__name__,
        __config__=ConfigDict(extra="forbid", strict=True, title=kind.__name__),
        __doc__=f"The fields of scout_dagster.{kind.__name__}: {_summary(kind)}",
        **fields,
    )


def request_field_names(kind: type) -> tuple[str, ...]:
    return tuple(field.name for field in dataclasses.fields(kind) if field.init)


def _request_resolver(kind: type) -> Resolver:
    def resolve(context: ResolutionContext, value: BaseModel) -> Any:
        # Only what the YAML sets: the defaults are the request's own. A list
        # stands for a tuple where the request declares one.
        hints = _type_hints(kind)
        given = {
            name: tuple(item) if isinstance(item, list) and _is_tuple_type(hints[name]) else item
            for name, item in value.model_dump(exclude_unset=True).items()
        }
        return kind(**given)

    # The request's strings are not Jinja templates: they are the package's own
    # partition templates ("{start:%B %Y}", "{{" for a literal brace), which
    # Jinja would misread. _component_model takes the template form away.
    return Resolver(
        resolve,
        model_field_type=request_model(kind),
        description=f"The run's request: the fields of scout_dagster.{kind.__name__}, "
        "checked by it at load.",
    )


# ---------------------------------------------------------------- partitions


class MonthlyPartitionsDefinitionModel(Model):
    """Monthly partitions (``dagster.MonthlyPartitionsDefinition``)."""

    type: Literal["monthly"] = "monthly"
    start_date: str
    end_date: str | None = None
    timezone: str | None = None
    minute_offset: int = 0
    hour_offset: int = 0
    day_offset: int = 1


_PartitionsModel = Annotated[
    HourlyPartitionsDefinitionModel
    | DailyPartitionsDefinitionModel
    | WeeklyPartitionsDefinitionModel
    | MonthlyPartitionsDefinitionModel
    | TimeWindowPartitionsDefinitionModel
    | StaticPartitionsDefinitionModel,
    # Dagster's models default their `type`; a partitions block must say which.
    Field(discriminator="type"),
]


def _resolve_partitions(context: ResolutionContext, model: Any) -> PartitionsDefinition | None:
    if model is None or isinstance(model, PartitionsDefinition):
        return model
    if isinstance(model, MonthlyPartitionsDefinitionModel):
        return MonthlyPartitionsDefinition(
            start_date=model.start_date,
            end_date=model.end_date,
            timezone=model.timezone,
            minute_offset=model.minute_offset,
            hour_offset=model.hour_offset,
            day_offset=model.day_offset,
        )
    if isinstance(model, str):
        raise ValueError(
            "partitions_def must be a mapping with a type (hourly, daily, weekly, monthly, "
            "time_window, static), or a template that gives a PartitionsDefinition, "
            f"got {model!r}"
        )
    partitions: PartitionsDefinition | None = resolve_partitions_def(context, model)
    return partitions


ResolvedPartitionsDefinition = Annotated[
    PartitionsDefinition | None,
    Resolver(
        _resolve_partitions,
        model_field_type=_PartitionsModel | None,
        description="The partitions of every table: one remote run per partition. The "
        "request's query (or queries, objective) must name the partition, e.g. "
        "'... on {start:%B %d, %Y}'.",
        examples=[{"type": "daily", "start_date": "2026-01-01"}],
    ),
]


# ---------------------------------------------------------------- retries


class RetryPolicyModel(Model):
    """``dagster.RetryPolicy`` of the step: a retry adopts the remote run the
    failed attempt started (one Idempotency-Key), so it never pays twice."""

    max_retries: int = 1
    delay: float | None = None
    backoff: Literal["linear", "exponential"] | None = None
    jitter: Literal["full", "plus_minus"] | None = None


def _resolve_retry_policy(context: ResolutionContext, model: Any) -> RetryPolicy | None:
    if model is None or isinstance(model, RetryPolicy):
        return model
    if not isinstance(model, RetryPolicyModel):
        raise ValueError(f"retry_policy must be a mapping (max_retries, delay, ...), got {model!r}")
    return RetryPolicy(
        max_retries=model.max_retries,
        delay=model.delay,
        backoff=Backoff[model.backoff.upper()] if model.backoff else None,
        jitter=Jitter[model.jitter.upper()] if model.jitter else None,
    )


ResolvedRetryPolicy = Annotated[
    RetryPolicy | None,
    Resolver(_resolve_retry_policy, model_field_type=RetryPolicyModel | None),
]


# ---------------------------------------------------------------- resources

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ScoutResourceAttributes(Model):
    """The ``scout`` resource: where the key comes from, and whether a run
    without one may use the local emulator. Taken literally (no templates):
    ``emulator_without_key`` is a YAML boolean or nothing."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    key: str = Field(
        default="scout",
        description="The resource key the assets require; components with the same "
        "settings share one resource under it.",
    )
    api_key_env: str = Field(
        default=API_KEY_ENV,
        description="The environment variable that holds the Scout API key, read where "
        "each run executes. The key itself never goes in YAML.",
        examples=[API_KEY_ENV],
    )
    emulator_without_key: bool = Field(
        default=False,
        description="Demos and CI only: a run whose process has no key uses the local "
        "Scout emulator (SYNTHETIC data, no credits) instead of failing before any "
        "request. Only with api_key_env: SCOUT_API_KEY.",
    )
    cancel_on_termination: bool = Field(
        default=True,
        description="Cancel the remote run when the Dagster run is terminated.",
    )

    @field_validator("api_key_env")
    @classmethod
    def _names_a_variable(cls, value: str) -> str:
        if not _ENV_NAME.match(value):
            # The value is not repeated here: it may be a key pasted in the wrong place.
            raise ValueError(
                "api_key_env must name an environment variable (letters, digits and "
                f"underscores, such as {API_KEY_ENV}) that holds the key, not the key itself"
            )
        return value

    @model_validator(mode="after")
    def _opt_in_reads_the_default_variable(self) -> "ScoutResourceAttributes":
        if self.emulator_without_key and self.api_key_env != API_KEY_ENV:
            raise ValueError(
                f"emulator_without_key works with api_key_env: {API_KEY_ENV} only (a run "
                f"without {self.api_key_env} would fail, not use the emulator); drop one"
            )
        return self


@dataclasses.dataclass(frozen=True)
class ScoutIOManagerAttributes(Resolvable):
    """The ``scout_io_manager`` (:class:`~scout_dagster.ScoutParquetIOManager`)."""

    key: Annotated[
        str,
        Resolver.default(description="The IO manager key of every table."),
    ] = "scout_io_manager"
    base_path: Annotated[
        str | None,
        Resolver.default(
            description="Folder or URI the tables go under (s3://bucket/scout, gs://...). "
            "Unset: SCOUT_DAGSTER_DATA, else data/scout below the working directory.",
            examples=["{{ context.project_root }}/data/scout", "s3://my-bucket/scout"],
        ),
    ] = None


@functools.cache
def _scout_resource(settings: ScoutResourceAttributes, base_url_env: str) -> ScoutResource:
    """One resource object per settings (and SCOUT_BASE_URL, which ``from_env``
    reads): two components that agree bind the same object, which is what
    ``Definitions.merge`` accepts under one key."""
    if settings.api_key_env == API_KEY_ENV:
        # The package's own rule: the key read where the run executes, and
        # without it a failure before any request, or the opt-in emulator.
        return ScoutResource.from_env(
            emulator_without_key=settings.emulator_without_key,
            cancel_on_termination=settings.cancel_on_termination,
        )
    # Only the variable's name is kept; Dagster reads it where the run executes,
    # and a run without it fails before the resource exists.
    return ScoutResource(
        api_key=EnvVar(settings.api_key_env),
        base_url=base_url_env.strip() or ScoutResource.model_fields["base_url"].default,
        cancel_on_termination=settings.cancel_on_termination,
    )


@functools.cache
def _io_manager(base_path: str | None, data_env: str | None) -> ScoutParquetIOManager:
    # data_env: SCOUT_DAGSTER_DATA, the default's source, so a change is seen.
    if base_path is None:
        return ScoutParquetIOManager()
    return ScoutParquetIOManager(base_path=base_path)


# ---------------------------------------------------------------- the components


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


class _Bindings:
    """The resource keys the Scout components of one component tree bound, and
    how: so two that disagree are told apart by name, before Definitions.merge
    refuses them with "different resources with same key"."""

    def __init__(self) -> None:
        self.by_key: dict[str, tuple[Any, str, Any]] = {}

    def bind(self, where: Any, settings: Mapping[str, tuple[str, Any]]) -> None:
        for key, (block, value) in settings.items():
            earlier = self.by_key.get(key)
            if earlier is not None and earlier[0] != where and earlier[2] != value:
                first, second = _settings(earlier[2]), _settings(value)
                differ = ", ".join(
                    f"{name}: {first.get(name)!r} vs {second.get(name)!r}"
                    for name in first
                    if first.get(name) != second.get(name)
                )
                raise ValueError(
                    f"two Scout components bind the resource key {key!r} with different "
                    f"{block} settings ({differ}): {earlier[0]} and {where}. Components "
                    "that share a key share one resource: give them the same settings, or "
                    f"give one a key of its own ({block}: {{key: {key}_"
                    f"{_table_name(_folder(where))}}})"
                )
            self.by_key[key] = (where, block, value)


def _folder(where: Any) -> str:
    """The name of a component's folder (its path is a defs.yaml's folder or a .py file)."""
    path = Path(str(where))
    return path.parent.name if path.suffix else path.name


def _settings(block: Any) -> dict[str, Any]:
    if isinstance(block, BaseModel):
        return block.model_dump()
    return dataclasses.asdict(block)


#: The bindings of the latest component trees. A tree is held while it is here
#: (its id cannot then be reused); a few suffice, one is loaded at a time.
_TREES: "collections.OrderedDict[int, tuple[Any, _Bindings]]" = collections.OrderedDict()
_TREES_KEPT = 8


def _bindings(context: ComponentLoadContext) -> _Bindings:
    tree = context.component_tree
    entry = _TREES.get(id(tree))
    if entry is None or entry[0] is not tree:
        entry = (tree, _Bindings())
        _TREES[id(tree)] = entry
        while len(_TREES) > _TREES_KEPT:
            _TREES.popitem(last=False)
    _TREES.move_to_end(id(tree))
    return entry[1]


class _ScaffoldParams(BaseModel):
    """``dg scaffold defs <type> <path> --json-params '{...}'``."""

    name: str | None = Field(
        default=None, description="Base name of the tables; default: the folder's name."
    )
    emulator_without_key: bool = Field(
        default=False,
        description="Opt in to the local emulator (synthetic data) for runs without a key.",
    )


def _table_name(path_name: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_]", "_", path_name).strip("_") or "scout"
    return f"_{name}" if name[0].isdigit() else name


class _ScoutScaffolder(Scaffolder[_ScaffoldParams]):
    """Writes a ``defs.yaml`` that ``dg check defs`` accepts as written."""

    #: The component's request block, indented under ``request:``.
    request_yaml: ClassVar[str]
    kind: ClassVar[type]
    tables: ClassVar[str]

    @classmethod
    def get_scaffold_params(cls) -> type[_ScaffoldParams]:
        return _ScaffoldParams

    def scaffold(self, request: ScaffoldRequest[_ScaffoldParams]) -> None:
        params = request.params or _ScaffoldParams()
        name = params.name or _table_name(request.target_path.name)
        if request.scaffold_format == "python":
            python = self._python(request, name, params.emulator_without_key)
            (request.target_path / "component.py").write_text(python)
            return
        text = self._yaml(request.type_name, name, params.emulator_without_key)
        if request.append:
            with open(request.target_path, "a") as file:
                file.write("---\n" + text)
        else:
            (request.target_path / "defs.yaml").write_text(text)

    def _yaml(self, type_name: str, name: str, emulator: bool) -> str:
        fields = ", ".join(request_field_names(self.kind))
        if emulator:
            opt_in = (
                "    # Opted in at scaffold time: a run whose process has no SCOUT_API_KEY\n"
                "    # uses the local Scout emulator (SYNTHETIC data, no credits) instead\n"
                "    # of failing. For demos and CI; set it to false for production.\n"
                "    emulator_without_key: true\n"
            )
        else:
            opt_in = (
                "    # Without the key a run fails before any request. For demos and CI,\n"
                "    # `emulator_without_key: true` uses the local Scout emulator instead\n"
                "    # (SYNTHETIC data, no credits).\n"
                "    emulator_without_key: false\n"
            )
        return (
            f"# {self.tables}\n"
            "# Check it with `dg check defs`; the attributes are in scout-dagster's\n"
            "# docs/components.md.\n"
            f"type: {type_name}\n"
            "\n"
            "attributes:\n"
            f"  name: {name}\n"
            f"  # The fields of scout_dagster.{self.kind.__name__}: {fields}.\n"
            "  request:\n"
            f"{textwrap.indent(self.request_yaml, '    ')}"
            "  timeout_s: 900  # cancel the remote run and fail after 15 minutes\n"
            "  credit_budget: 100  # cancel the remote run and fail past 100 credits\n"
            "  resource:\n"
            "    # The key is read from this variable where each run executes; it is\n"
            "    # never written in this file.\n"
            f"    api_key_env: {API_KEY_ENV}\n"
            f"{opt_in}"
            "  io_manager:\n"
            '    base_path: "{{ context.project_root }}/data/scout"\n'
        )

    def _python(self, request: ScaffoldRequest[_ScaffoldParams], name: str, emulator: bool) -> str:
        module, _, cls = request.type_name.rpartition(".")
        return (
            "import dagster as dg\n"
            f"from scout_dagster import {self.kind.__name__}\n"
            "from scout_dagster.components import ScoutIOManagerAttributes, "
            "ScoutResourceAttributes\n"
            f"from {module} import {cls}\n"
            "\n"
            "\n"
            "@dg.component_instance\n"
            f"def load(context: dg.ComponentLoadContext) -> {cls}:\n"
            f"    return {cls}(\n"
            f"        name={name!r},\n"
            f"        request={self.kind.__name__}({self.python_request}),\n"
            "        timeout_s=900,  # cancel the remote run and fail after 15 minutes\n"
            "        credit_budget=100,  # cancel the remote run and fail past 100 credits\n"
            f"        # The key is read from {API_KEY_ENV} where each run executes. Without it\n"
            "        # a run fails before any request; emulator_without_key=True uses the\n"
            "        # local Scout emulator instead (SYNTHETIC data, no credits): demos, CI.\n"
            "        resource=ScoutResourceAttributes(\n"
            f"            api_key_env={API_KEY_ENV!r}, emulator_without_key={emulator}\n"
            "        ),\n"
            "        io_manager=ScoutIOManagerAttributes(\n"
            '            base_path=f"{context.project_root.resolve()}/data/scout"\n'
            "        ),\n"
            "    )\n"
        )

    python_request: ClassVar[str]


class _FindAllScaffolder(_ScoutScaffolder):
    kind = FindAllRequest
    tables = "A Scout FindAll run as Parquet tables: <name>_entities and <name>_citations."
    request_yaml = (
        'query: "S-1 stage AI infrastructure companies"\n'
        "fields: [name, website, headquarters]\n"
        "limit: 10\n"
    )
    python_request = '"S-1 stage AI infrastructure companies", limit=10'


class _SearchScaffolder(_ScoutScaffolder):
    kind = SearchRequest
    tables = (
        "A Scout deep-search run as Parquet tables: <name>_results, <name>_sources,\n"
        "# <name>_findings and the Markdown <name>_report."
    )
    request_yaml = (
        "queries:\n"
        '  - "latest electric vehicle market trends"\n'
        'objective: "Where is the EV market going?"\n'
        "limit: 20\n"
    )
    python_request = '("latest electric vehicle market trends",), limit=20'


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
