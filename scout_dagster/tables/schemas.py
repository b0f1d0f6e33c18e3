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

from collections.abc import Sequence

import pyarrow as pa

from .columns import (
    CITATIONS_COLUMNS,
    DEFAULT_FINDALL_FIELDS,
    FINDINGS_COLUMNS,
    MONITOR_RESULTS_COLUMNS,
    RESERVED_COLUMNS,
    RESULTS_COLUMNS,
    SOURCES_COLUMNS,
    TIMESTAMP_TYPE_NAME,
    Column,
    ColumnKind,
    EntityColumn,
    ScalarKind,
    entities_columns,
    entity_columns,
)

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
    "arrow_schema",
    "entities_schema",
    "entity_arrow_type",
    "entity_columns",
]

#: The Arrow type of each scalar kind.
SCALAR_TYPES: dict[ScalarKind, pa.DataType] = {
    "string": pa.string(),
    "integer": pa.int64(),
    "number": pa.float64(),
    "boolean": pa.bool_(),
}
#: The Arrow type of each type name the fixed tables declare.
_FIXED_TYPES: dict[str, pa.DataType] = {
    str(type_): type_
    for type_ in (
        *SCALAR_TYPES.values(),
        pa.int32(),
        pa.timestamp("us", tz="UTC"),
        pa.list_(pa.string()),
    )
}
assert TIMESTAMP_TYPE_NAME in _FIXED_TYPES


def entity_arrow_type(column: EntityColumn) -> pa.DataType:
    """The Arrow type an entity column is stored as."""
    if column.kind == "list":
        assert column.items is not None
        return pa.list_(SCALAR_TYPES[column.items])
    if column.kind == "struct":
        return pa.struct([(name, SCALAR_TYPES[kind]) for name, kind in column.members])
    if column.kind == "json":
        return pa.string()  # nested or mixed values, as JSON text
    return SCALAR_TYPES[column.kind]


def _field(column: Column, type_: pa.DataType) -> pa.Field:
    metadata = {b"description": column.description.encode()} if column.description else None
    return pa.field(column.name, type_, nullable=column.nullable, metadata=metadata)


def arrow_schema(columns: Sequence[Column]) -> pa.Schema:
    """The Arrow schema of a fixed table's declared columns."""
    return pa.schema([_field(c, _FIXED_TYPES[c.type_name]) for c in columns])


def entities_schema(columns: Sequence[EntityColumn]) -> pa.Schema:
    """The entities table of a FindAll run requested with ``columns``."""
    types = {c.name: entity_arrow_type(c) for c in columns}
    return pa.schema(
        [
            _field(c, types[c.name] if c.name in types else _FIXED_TYPES[c.type_name])
            for c in entities_columns(columns)
        ]
    )


CITATIONS_SCHEMA = arrow_schema(CITATIONS_COLUMNS)
RESULTS_SCHEMA = arrow_schema(RESULTS_COLUMNS)
SOURCES_SCHEMA = arrow_schema(SOURCES_COLUMNS)
FINDINGS_SCHEMA = arrow_schema(FINDINGS_COLUMNS)
MONITOR_RESULTS_SCHEMA = arrow_schema(MONITOR_RESULTS_COLUMNS)
