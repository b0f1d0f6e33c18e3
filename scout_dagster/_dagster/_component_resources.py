"""The resources a Scout component binds, and the check that components agree.

Each component binds the ``scout`` resource (the key read from an
environment variable where each run executes, never written anywhere) and
the ``scout_io_manager``. Two components with the same settings get the very
same resource objects, which ``Definitions.merge`` accepts; two with
different settings under one key fail the load with both named, so one of
them takes a key of its own. See ``docs/components.md``.
"""

# Dagster derives the YAML schema from these dataclasses' annotations at run
# time, so they must stay real objects (no `from __future__ import annotations`).

import collections
import dataclasses
import functools
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from dagster import EnvVar
from dagster.components import ComponentLoadContext, Model, Resolvable, Resolver
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .._arrow_pool import MemoryPoolName
from ._io_manager import ScoutParquetIOManager
from ._resource import API_KEY_ENV, ScoutResource

__all__ = ["ScoutIOManagerAttributes", "ScoutResourceAttributes"]

# ---------------------------------------------------------------- the resources

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
    arrow_memory_pool: MemoryPoolName = Field(
        default="jemalloc",
        description="The Arrow memory pool of the processes that run steps (jemalloc, "
        "mimalloc, system, or unchanged: pyarrow's choice). ARROW_DEFAULT_MEMORY_POOL "
        "wins where set.",
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
            arrow_memory_pool=settings.arrow_memory_pool,
        )
    # Only the variable's name is kept; Dagster reads it where the run executes,
    # and a run without it fails before the resource exists.
    return ScoutResource(
        api_key=EnvVar(settings.api_key_env),
        base_url=base_url_env.strip() or ScoutResource.model_fields["base_url"].default,
        cancel_on_termination=settings.cancel_on_termination,
        arrow_memory_pool=settings.arrow_memory_pool,
    )


@functools.cache
def _io_manager(base_path: str | None, data_env: str | None) -> ScoutParquetIOManager:
    # data_env: SCOUT_DAGSTER_DATA, the default's source, so a change is seen.
    if base_path is None:
        return ScoutParquetIOManager()
    return ScoutParquetIOManager(base_path=base_path)


# ---------------------------------------------------------------- bindings


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


def _table_name(path_name: str) -> str:
    """A name of letters, digits and underscores made of a folder's name: the
    scaffolder's default table name, and the key suggested to a component that
    disagrees with another."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", path_name).strip("_") or "scout"
    return f"_{name}" if name[0].isdigit() else name


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
