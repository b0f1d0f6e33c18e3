"""Which columns the partitions of one table share, and each partition as them.

The partitions of one table always have the same columns (why and how:
``_partitioned_write.py``): the union of every partition's columns, in the
existing order with new ones appended. A column whose type changed (int64 to
string, list<int64> to string) cannot be read together with its old values:
:class:`SchemaConflictError`. Differences in nullability or field metadata
are not type changes (a partition that declares a column non-null is
rewritten as nullable when another partition may hold nulls there, so no
reader is told otherwise); nor is a column that was all nulls (type ``null``,
as pandas gives all-None columns) taking a real type. Pure: Arrow schemas and
tables, no filesystem.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
import pyarrow.parquet as pq

__all__ = [
    "SchemaConflictError",
    "check_names",
    "conform",
    "conforms",
    "schema_union",
    "stored_schema",
]


class SchemaConflictError(ValueError):
    """A column's type differs between partitions of one table.

    Raised by a write before anything is written (the folder stays as it was),
    and by a read of a folder whose partitions already disagree.
    """

    def __init__(
        self,
        *,
        table: str,
        column: str,
        old_type: pa.DataType,
        new_type: pa.DataType,
        old_where: str,
        new_where: str,
        folder: str,
        writing: bool,
    ) -> None:
        self.table = table
        self.column = column
        self.old_type = old_type
        self.new_type = new_type
        self.folder = folder
        outcome = (
            "so nothing was written" if writing else "so the partitions cannot be read together"
        )
        super().__init__(
            f"table {table!r}: column {column!r} is {old_type} in {old_where} but {new_type} "
            f"in {new_where}; a column keeps one type across the partitions of a table, "
            f"{outcome}. To proceed: rename the field (the new type becomes a new column), "
            f"or delete {folder} and re-materialize every partition, or give the asset a "
            "new name."
        )


def _bare(type_: pa.DataType) -> pa.DataType:
    """``type_`` with every nested field nullable and without metadata."""
    if pa.types.is_struct(type_):
        return pa.struct([pa.field(f.name, _bare(f.type)) for f in type_])
    if pa.types.is_map(type_):
        return pa.map_(_bare(type_.key_type), _bare(type_.item_type), type_.keys_sorted)
    if pa.types.is_large_list(type_):
        return pa.large_list(_bare(type_.value_type))
    if pa.types.is_fixed_size_list(type_):
        return pa.list_(_bare(type_.value_type), type_.list_size)
    if pa.types.is_list(type_):
        return pa.list_(_bare(type_.value_type))
    if pa.types.is_dictionary(type_):
        return pa.dictionary(type_.index_type, _bare(type_.value_type), type_.ordered)
    return type_


def _merged_type(old: pa.DataType, new: pa.DataType) -> pa.DataType | None:
    """The type both can be read as, or None when the type really changed."""
    if old.equals(new):
        return new
    if pa.types.is_null(old):
        return new
    if pa.types.is_null(new):
        return old
    if _bare(old).equals(_bare(new)):  # only nested nullability or metadata differ
        return _bare(new)
    return None


def stored_schema(schema: pa.Schema) -> pa.Schema:
    """``schema`` as a Parquet footer will give it back (date64 becomes date32,
    timestamp[s] timestamp[ms], ...): what the new partition is compared as."""
    sink = pa.BufferOutputStream()
    pq.write_table(schema.empty_table(), sink)
    stored: pa.Schema = pq.read_schema(pa.BufferReader(sink.getvalue()))
    return stored


def check_names(table: str, where: str, schema: pa.Schema) -> None:
    duplicates = sorted({n for n in schema.names if schema.names.count(n) > 1})
    if duplicates:
        raise ValueError(
            f"table {table!r}: {where} has more than one column named {duplicates}; "
            "partitions are matched by column name, so give each column its own name"
        )


def schema_union(
    table: str, folder: str, schemas: Sequence[tuple[str, pa.Schema]], *, writing: bool
) -> pa.Schema:
    """Every column of ``schemas`` (``(where, schema)``, oldest first): the first
    schema's order, then columns as they first appear. A column takes the newest
    field (type, metadata), and is nullable where any schema lacks it or lets it
    be null. Raises :class:`SchemaConflictError` on a type change."""
    fields: dict[str, pa.Field] = {}
    where_typed: dict[str, str] = {}
    present: dict[str, int] = {}
    for where, schema in schemas:
        check_names(table, where, schema)
        for field in schema:
            name = field.name
            present[name] = present.get(name, 0) + 1
            seen = fields.get(name)
            if seen is None:
                fields[name] = field
                where_typed[name] = where
                continue
            merged = _merged_type(seen.type, field.type)
            if merged is None:
                raise SchemaConflictError(
                    table=table,
                    column=name,
                    old_type=seen.type,
                    new_type=field.type,
                    old_where=where_typed[name],
                    new_where=where,
                    folder=folder,
                    writing=writing,
                )
            if pa.types.is_null(seen.type) and not pa.types.is_null(field.type):
                where_typed[name] = where
            fields[name] = field.with_type(merged).with_nullable(seen.nullable or field.nullable)
    metadata = schemas[-1][1].metadata if schemas else None
    return pa.schema(
        [
            field.with_nullable(field.nullable or present[name] < len(schemas))
            for name, field in fields.items()
        ],
        metadata=metadata,
    )


def conforms(schema: pa.Schema, union: pa.Schema) -> bool:
    """Whether a file of ``schema`` reads as ``union`` with any reader: the same
    columns in the same order, none declared non-null or null-typed where the
    union is not."""
    if schema.names != union.names:
        return False
    for field, wanted in zip(schema, union, strict=True):
        if wanted.nullable and not field.nullable:
            return False
        if pa.types.is_null(field.type) and not pa.types.is_null(wanted.type):
            return False
    return True


def conform(table: pa.Table, union: pa.Schema, *, keep_types: bool) -> pa.Table:
    """``table`` with ``union``'s columns, in its order; absent ones as nulls.

    ``keep_types``: a rewritten old partition keeps its own columns' types and
    metadata (only nullability is widened and ``null`` columns typed); else every
    column is cast to the union's type.
    """
    columns: list[pa.ChunkedArray] = []
    fields: list[pa.Field] = []
    for wanted in union:
        if wanted.name not in table.column_names:
            columns.append(pa.chunked_array([pa.nulls(table.num_rows, wanted.type)]))
            fields.append(wanted)
            continue
        column = table.column(wanted.name)
        field = table.schema.field(wanted.name)
        if keep_types and not pa.types.is_null(field.type):
            fields.append(field.with_nullable(field.nullable or wanted.nullable))
        else:
            if not column.type.equals(wanted.type):
                column = column.cast(wanted.type)
            fields.append(wanted)
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=pa.schema(fields, metadata=table.schema.metadata))
