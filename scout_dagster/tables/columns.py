"""Every Scout table's columns, declared without pyarrow.

A code location's definitions need the tables' columns (Dagster's column
schema of each asset) but none of their data, so this module names each
column's Arrow type as pyarrow prints it and imports nothing heavy: loading
definitions does not pay the ~0.3 s of importing pyarrow and numpy.
:mod:`.schemas` builds the Arrow schemas from these declarations, and a test
holds each declared type name to ``str()`` of the Arrow type built from it.

The mapping of ``output_schema`` property types to columns is described in
:mod:`.schemas`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from .._requests import FindAllRequest

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "CITATIONS_COLUMNS",
    "CURRENT_COLUMNS",
    "DEFAULT_FINDALL_FIELDS",
    "FINDINGS_COLUMNS",
    "MONITOR_RESULTS_COLUMNS",
    "PROVENANCE_COLUMNS",
    "PROVENANCE_DECLARED",
    "RESERVED_COLUMNS",
    "RESULTS_COLUMNS",
    "SCALAR_TYPE_NAMES",
    "SOURCES_COLUMNS",
    "TIMESTAMP_TYPE_NAME",
    "Column",
    "ColumnKind",
    "EntityColumn",
    "ScalarKind",
    "declared_columns",
    "entities_columns",
    "entity_columns",
]

ScalarKind = Literal["string", "integer", "number", "boolean"]
ColumnKind = Literal["string", "integer", "number", "boolean", "list", "struct", "json"]
#: The Arrow type of each scalar kind, as pyarrow prints it.
SCALAR_TYPE_NAMES: dict[ScalarKind, str] = {
    "string": "string",
    "integer": "int64",
    "number": "double",
    "boolean": "bool",
}
#: The type of every time column: microseconds, UTC.
TIMESTAMP_TYPE_NAME = "timestamp[us, tz=UTC]"
#: A list of text values, as pyarrow prints it.
_TEXT_LIST = "list<item: string>"


@dataclasses.dataclass(frozen=True)
class Column:
    """One column of a table: its name, Arrow type (as pyarrow prints it),
    whether it may be null, and what it holds."""

    name: str
    type_name: str
    nullable: bool = True
    description: str | None = None


def declared_columns(schema: pa.Schema) -> tuple[Column, ...]:
    """A table's columns as declared, read off its Arrow schema."""
    return tuple(
        Column(
            field.name,
            str(field.type),
            nullable=field.nullable,
            description=(field.metadata or {}).get(b"description", b"").decode() or None,
        )
        for field in schema
    )


#: The provenance columns, last in every table (see :mod:`.provenance`).
PROVENANCE_DECLARED = (
    Column("run_id", "string", nullable=False),
    Column("query", "string", nullable=False),
    Column("partition_key", "string"),
    Column("partition_start", TIMESTAMP_TYPE_NAME),
    Column("fetched_at", TIMESTAMP_TYPE_NAME, nullable=False),
)
PROVENANCE_COLUMNS = tuple(column.name for column in PROVENANCE_DECLARED)

#: Fields a FindAll run returns when the request names none (as in the vendor's example).
DEFAULT_FINDALL_FIELDS = ("name", "website", "headquarters")

#: Names the tables reserve for themselves; a requested field may not use them.
RESERVED_COLUMNS = frozenset({"entity_id", "source_url", *PROVENANCE_COLUMNS})


@dataclasses.dataclass(frozen=True)
class EntityColumn:
    """One requested entity field and how it is stored.

    ``kind`` ``"string"`` is text (a non-text value is stored as its JSON);
    ``"list"`` a list of ``items``; ``"struct"`` a struct of ``members``;
    ``"json"`` a nested or untyped value stored as JSON text.
    """

    name: str
    kind: ColumnKind
    description: str | None = None
    #: The kind of a ``"list"`` column's items.
    items: ScalarKind | None = None
    #: A ``"struct"`` column's members, in declared order.
    members: tuple[tuple[str, ScalarKind], ...] = ()

    def __post_init__(self) -> None:
        if (self.kind == "list") != (self.items is not None):
            raise ValueError(f"column {self.name!r}: a list column has items, no other one")
        if (self.kind == "struct") != bool(self.members):
            raise ValueError(f"column {self.name!r}: a struct column has members, no other one")

    @property
    def type_name(self) -> str:
        """The column's Arrow type as pyarrow prints it."""
        if self.kind == "list":
            assert self.items is not None
            return f"list<item: {SCALAR_TYPE_NAMES[self.items]}>"
        if self.kind == "struct":
            members = ", ".join(f"{name}: {SCALAR_TYPE_NAMES[k]}" for name, k in self.members)
            return f"struct<{members}>"
        if self.kind == "json":
            return "string"  # nested or mixed values, as JSON text
        return SCALAR_TYPE_NAMES[self.kind]

    @property
    def arrow_type(self) -> Any:
        """The column's ``pyarrow.DataType`` (imports pyarrow)."""
        from .schemas import entity_arrow_type  # pyarrow only where data is

        return entity_arrow_type(self)


def _scalar_kind(spec: object) -> ScalarKind | None:
    """The scalar type a property's schema declares (``["T", "null"]`` is ``T``), if any."""
    declared = _declared(spec)
    return declared if declared in SCALAR_TYPE_NAMES else None


def _declared(spec: object) -> object:
    if not isinstance(spec, Mapping):
        return None
    declared = spec.get("type")
    if isinstance(declared, list):
        non_null = [t for t in declared if t != "null"]
        declared = non_null[0] if len(non_null) == 1 else None
    return declared


def _column(name: str, spec: Mapping[str, Any]) -> EntityColumn:
    """The column an ``output_schema`` property becomes (see :mod:`.schemas`)."""
    description = spec.get("description")
    description = description if isinstance(description, str) else None
    declared = _declared(spec)
    scalar = _scalar_kind(spec)
    if scalar is not None:
        return EntityColumn(name, scalar, description)
    if declared == "array":
        items = _scalar_kind(spec.get("items"))
        if items is not None:
            return EntityColumn(name, "list", description, items=items)
    if declared == "object":
        members = _struct_members(spec)
        if members:
            return EntityColumn(name, "struct", description, members=members)
    return EntityColumn(name, "json", description)


def _struct_members(spec: Mapping[str, Any]) -> tuple[tuple[str, ScalarKind], ...]:
    """An object's members when it can be a struct: every property declared
    and scalar, none other allowed, names a reader can tell apart; else ()."""
    properties = spec.get("properties")
    if not isinstance(properties, Mapping) or not properties:
        return ()
    if spec.get("additionalProperties", False) is not False or "patternProperties" in spec:
        return ()  # keys the schema does not name are expected: a struct would drop them
    members: list[tuple[str, ScalarKind]] = []
    for name, sub in properties.items():
        kind = _scalar_kind(sub)
        if kind is None or not isinstance(name, str) or not name:
            return ()
        members.append((name, kind))
    if len({name.casefold() for name, _ in members}) != len(members):
        return ()  # case-insensitive readers (DuckDB, Spark) would see one member
    return tuple(members)


def entity_columns(request: FindAllRequest) -> tuple[EntityColumn, ...]:
    """The entity table's field columns for a request, in declared order.

    ``fields`` are text columns; ``output_schema`` properties map JSON Schema
    types to Arrow as :mod:`.schemas` says.
    """
    if request.output_schema is not None:
        properties: Mapping[str, Mapping[str, Any]] = request.output_schema["properties"]
        columns = tuple(_column(name, spec) for name, spec in properties.items())
    else:
        names = request.fields if request.fields is not None else DEFAULT_FINDALL_FIELDS
        columns = tuple(EntityColumn(name, "string") for name in names)
    clashes = sorted(RESERVED_COLUMNS & {c.name for c in columns})
    if clashes:
        raise ValueError(
            f"field name(s) {clashes} are reserved for the table's own columns; rename them"
        )
    return columns


# ---------------------------------------------------------------- the tables


def entities_columns(columns: Sequence[EntityColumn]) -> tuple[Column, ...]:
    """The entities table of a FindAll run requested with ``columns``."""
    return (
        Column("entity_id", "string", nullable=False),
        *[Column(c.name, c.type_name, description=c.description) for c in columns],
        Column("source_url", "string"),
        *PROVENANCE_DECLARED,
    )


CITATIONS_COLUMNS = (
    Column("entity_id", "string", nullable=False),
    Column("field", "string", nullable=False),
    Column("citation_index", "int32", nullable=False),
    Column("source_url", "string"),
    Column("title", "string"),
    Column("excerpts", _TEXT_LIST),
    Column("reasoning", "string"),
    Column("confidence", "string"),
    *PROVENANCE_DECLARED,
)
RESULTS_COLUMNS = (
    Column("result_id", "string", nullable=False),
    Column("rank", "int32", nullable=False),
    Column("title", "string"),
    Column("source_url", "string", nullable=False),
    Column("snippet", "string"),
    *PROVENANCE_DECLARED,
)
SOURCES_COLUMNS = (
    Column("source_id", "string", nullable=False),
    Column("source_index", "int32"),
    Column("title", "string"),
    Column("source_url", "string", nullable=False),
    Column("domain", "string"),
    Column("quality", "string"),
    Column("first_seen_subquery", "string"),
    Column("source_fetched_at", TIMESTAMP_TYPE_NAME),
    *PROVENANCE_DECLARED,
)
FINDINGS_COLUMNS = (
    Column("finding_id", "string", nullable=False),
    Column("finding_index", "int32", nullable=False),
    Column("subquery", "string"),
    Column("answer", "string"),
    Column("confidence", "double"),
    Column("evidence", "string"),
    Column("citations", _TEXT_LIST),
    Column("source_url", "string"),
    *PROVENANCE_DECLARED,
)
#: One monitor event's results: the search results' columns, then whether
#: the monitor saw each for the first time, and which monitor run it was.
MONITOR_RESULTS_COLUMNS = (
    *RESULTS_COLUMNS[:5],
    Column("first_seen", "bool", nullable=False),
    Column("monitor_id", "string", nullable=False),
    Column("event_id", "string", nullable=False),
    Column("run_at", TIMESTAMP_TYPE_NAME),
    *PROVENANCE_DECLARED,
)
#: Columns the current table adds after the entity's own, with their descriptions.
CURRENT_COLUMNS = (
    ("first_seen_at", "The earliest fetched_at of the entity in any partition."),
    ("last_seen_at", "The latest fetched_at of the entity."),
    ("runs_seen", "Distinct remote runs that found the entity, in the partitions that exist."),
    ("partitions_seen", "Distinct partitions whose latest run found the entity."),
    ("last_run_id", "The remote run of the latest sighting, whose values these are."),
    ("last_partition_key", "The partition of the latest sighting; null if unpartitioned."),
)
