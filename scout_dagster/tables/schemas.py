"""Every Scout table's Arrow schema, and the column specs an entities table is built from.

The schema depends only on the column spec (the requested fields or output
schema), never on the data, so partitions of one table always read together.

FindAll runs become two tables:

- entities: one row per matched entity; ``entity_id``, the requested fields
  in their declared order, ``source_url``, then the provenance columns;
- citations: one row per (entity, field, citation), with its excerpts.

Search runs become results, sources and findings tables; a monitor event
its results. Every table ends with the provenance columns (see
:mod:`.provenance`).

Entity columns by ``output_schema`` property (a ``["T", "null"]`` type reads
as ``T``; ``fields`` are all text)::

    JSON Schema                                   Arrow
    string                                        string
    integer                                       int64
    number                                        double
    boolean                                       bool
    array, items string|integer|number|boolean    list<string|int64|double|bool>
    object, properties all string|integer|        struct<the properties, in order,
      number|boolean; additionalProperties          each of its scalar type>
      absent or false; no patternProperties
    array of anything else, or without items;     string: the value as JSON text
    any other object; no type or a type union

Objects with only scalar properties become structs: DuckDB, Spark, Delta,
Iceberg and BigQuery read a Parquet struct as their own struct type (``col.a``
in SQL, each member typed) and pandas as a dict per row; and the struct's
type follows from the schema alone, as every column's must. Any other object
stays JSON text, as do arrays of objects, of arrays or of mixed items: a
nested struct or list of structs would be typed only as far as the schema
goes, would hold nothing of the members it does not declare, and changes
type whenever a nested declaration does, which Delta and Iceberg accept
only as schema evolution; one JSON document per value keeps everything and
is what every engine's JSON functions take (``json_extract``, ``->``,
``PARSE_JSON``), which a list of JSON strings would not be.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import pyarrow as pa

from .._requests import FindAllRequest
from .provenance import PROVENANCE_COLUMNS, PROVENANCE_FIELDS, TIMESTAMP

__all__ = [
    "CITATIONS_SCHEMA",
    "DEFAULT_FINDALL_FIELDS",
    "FINDINGS_SCHEMA",
    "MONITOR_RESULTS_SCHEMA",
    "RESERVED_COLUMNS",
    "RESULTS_SCHEMA",
    "SCALAR_TYPES",
    "SOURCES_SCHEMA",
    "ColumnKind",
    "EntityColumn",
    "ScalarKind",
    "entities_schema",
    "entity_columns",
]

#: Fields a FindAll run returns when the request names none (as in the vendor's example).
DEFAULT_FINDALL_FIELDS = ("name", "website", "headquarters")

#: Names the tables reserve for themselves; a requested field may not use them.
RESERVED_COLUMNS = frozenset({"entity_id", "source_url", *PROVENANCE_COLUMNS})

ScalarKind = Literal["string", "integer", "number", "boolean"]
ColumnKind = Literal["string", "integer", "number", "boolean", "list", "struct", "json"]
#: The Arrow type of each scalar kind.
SCALAR_TYPES: dict[ScalarKind, pa.DataType] = {
    "string": pa.string(),
    "integer": pa.int64(),
    "number": pa.float64(),
    "boolean": pa.bool_(),
}


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
    def arrow_type(self) -> pa.DataType:
        if self.kind == "list":
            assert self.items is not None
            return pa.list_(SCALAR_TYPES[self.items])
        if self.kind == "struct":
            return pa.struct([(name, SCALAR_TYPES[kind]) for name, kind in self.members])
        if self.kind == "json":
            return pa.string()  # nested or mixed values, as JSON text
        return SCALAR_TYPES[self.kind]


def _scalar_kind(spec: object) -> ScalarKind | None:
    """The scalar type a property's schema declares (``["T", "null"]`` is ``T``), if any."""
    declared = _declared(spec)
    return declared if declared in SCALAR_TYPES else None


def _declared(spec: object) -> object:
    if not isinstance(spec, Mapping):
        return None
    declared = spec.get("type")
    if isinstance(declared, list):
        non_null = [t for t in declared if t != "null"]
        declared = non_null[0] if len(non_null) == 1 else None
    return declared


def _column(name: str, spec: Mapping[str, Any]) -> EntityColumn:
    """The column an ``output_schema`` property becomes (see the module's table)."""
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
    types to Arrow as the module's table says.
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


def entities_schema(columns: Sequence[EntityColumn]) -> pa.Schema:
    """The entities table of a FindAll run requested with ``columns``."""
    return pa.schema(
        [
            pa.field("entity_id", pa.string(), nullable=False),
            *[pa.field(c.name, c.arrow_type, metadata=_describe(c.description)) for c in columns],
            pa.field("source_url", pa.string()),
            *PROVENANCE_FIELDS,
        ]
    )


def _describe(description: str | None) -> dict[bytes, bytes] | None:
    return {b"description": description.encode()} if description else None


CITATIONS_SCHEMA = pa.schema(
    [
        pa.field("entity_id", pa.string(), nullable=False),
        pa.field("field", pa.string(), nullable=False),
        pa.field("citation_index", pa.int32(), nullable=False),
        pa.field("source_url", pa.string()),
        pa.field("title", pa.string()),
        pa.field("excerpts", pa.list_(pa.string())),
        pa.field("reasoning", pa.string()),
        pa.field("confidence", pa.string()),
        *PROVENANCE_FIELDS,
    ]
)
RESULTS_SCHEMA = pa.schema(
    [
        pa.field("result_id", pa.string(), nullable=False),
        pa.field("rank", pa.int32(), nullable=False),
        pa.field("title", pa.string()),
        pa.field("source_url", pa.string(), nullable=False),
        pa.field("snippet", pa.string()),
        *PROVENANCE_FIELDS,
    ]
)
SOURCES_SCHEMA = pa.schema(
    [
        pa.field("source_id", pa.string(), nullable=False),
        pa.field("source_index", pa.int32()),
        pa.field("title", pa.string()),
        pa.field("source_url", pa.string(), nullable=False),
        pa.field("domain", pa.string()),
        pa.field("quality", pa.string()),
        pa.field("first_seen_subquery", pa.string()),
        pa.field("source_fetched_at", TIMESTAMP),
        *PROVENANCE_FIELDS,
    ]
)
FINDINGS_SCHEMA = pa.schema(
    [
        pa.field("finding_id", pa.string(), nullable=False),
        pa.field("finding_index", pa.int32(), nullable=False),
        pa.field("subquery", pa.string()),
        pa.field("answer", pa.string()),
        pa.field("confidence", pa.float64()),
        pa.field("evidence", pa.string()),
        pa.field("citations", pa.list_(pa.string())),
        pa.field("source_url", pa.string()),
        *PROVENANCE_FIELDS,
    ]
)
#: One monitor event's results: the search results' columns, then whether
#: the monitor saw each for the first time, and which monitor run it was.
MONITOR_RESULTS_SCHEMA = pa.schema(
    [
        *[RESULTS_SCHEMA.field(name) for name in RESULTS_SCHEMA.names[:5]],
        pa.field("first_seen", pa.bool_(), nullable=False),
        pa.field("monitor_id", pa.string(), nullable=False),
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("run_at", TIMESTAMP),
        *PROVENANCE_FIELDS,
    ]
)
