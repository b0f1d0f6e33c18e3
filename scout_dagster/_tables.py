"""Scout runs as Arrow tables with explicit schemas. No HTTP, no Dagster.

FindAll runs become two tables:

- entities: one row per matched entity; ``entity_id``, the requested fields
  in their declared order, ``source_url``, then the provenance columns.
- citations: one row per (entity, field, citation), with its excerpts.

Search runs become results, sources and findings tables.

Every row carries provenance: ``run_id``, the query, the ``partition_key``
and ``partition_start`` (the start of a time-window partition, a UTC
timestamp a warehouse IO manager can take as its ``partition_expr``; both
null when they do not apply) and ``fetched_at``. The schema depends only on
the column spec (the requested fields or output schema), never on the data,
so partitions of one table always read together.

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

Values are read as their declared type where they plainly are one (``"1999"``
for an integer, ``"true"`` for a boolean, ``2`` for a number); a value that
is not (``"n/a"`` for a number, ``1.5`` or ``10**30`` for an integer) is
null, and its row stands; a text column takes any other value as its JSON.
List items and struct members follow the same rule, each item on its own
(``["1", "x", 3]`` for a list of integers is ``[1, null, 3]``); a value that
is not a list where a list is declared (``"ai"``, ``5``, an object), or not
an object where a struct is, is null: nothing is guessed. Keys an object
does not declare are left out, as the entity's own undeclared keys are.

FindAll payloads can be large (a million entities is a ~200 MB response), so
a run body is read once (:func:`read_findall`), from its bytes, by pyarrow's
JSON reader against an explicit schema: the entities and the candidates in
pieces on every core, entity ids and citation rows derived on the same
threads (see :mod:`._arrow_json`), the run's facts beside them. A payload
that does not fit that schema (a number where the field is text, a nested
value) takes an exact Python path instead that coerces value by value; both
give identical tables.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc

from ._arrow_json import read_arrays
from ._errors import ScoutRunBodyError
from ._models import RunState, SearchRun
from ._requests import FindAllRequest

__all__ = [
    "DEFAULT_FINDALL_FIELDS",
    "PROVENANCE_COLUMNS",
    "EntityColumn",
    "FindAllBody",
    "FindAllFacts",
    "FindAllTables",
    "Provenance",
    "SearchTables",
    "entity_columns",
    "findall_tables",
    "read_findall",
    "search_tables",
]

#: Fields a FindAll run returns when the request names none (as in the vendor's example).
DEFAULT_FINDALL_FIELDS = ("name", "website", "headquarters")

#: Names the tables reserve for themselves; a requested field may not use them.
PROVENANCE_COLUMNS = ("run_id", "query", "partition_key", "partition_start", "fetched_at")
RESERVED_COLUMNS = frozenset({"entity_id", "source_url", *PROVENANCE_COLUMNS})

ReadPath = Literal["document", "python"]
ScalarKind = Literal["string", "integer", "number", "boolean"]
ColumnKind = Literal["string", "integer", "number", "boolean", "list", "struct", "json"]
_SCALAR_TYPES: dict[ScalarKind, pa.DataType] = {
    "string": pa.string(),
    "integer": pa.int64(),
    "number": pa.float64(),
    "boolean": pa.bool_(),
}
_TIMESTAMP = pa.timestamp("us", tz="UTC")


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
            return pa.list_(_SCALAR_TYPES[self.items])
        if self.kind == "struct":
            return pa.struct([(name, _SCALAR_TYPES[kind]) for name, kind in self.members])
        if self.kind == "json":
            return pa.string()  # nested or mixed values, as JSON text
        return _SCALAR_TYPES[self.kind]


def _scalar_kind(spec: object) -> ScalarKind | None:
    """The scalar type a property's schema declares (``["T", "null"]`` is ``T``), if any."""
    declared = _declared(spec)
    return declared if declared in _SCALAR_TYPES else None


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


@dataclasses.dataclass(frozen=True)
class Provenance:
    """What every row says about where it came from."""

    run_id: str
    query: str
    fetched_at: dt.datetime
    partition_key: str | None = None
    #: The start of the time window of a time-window partition (None otherwise):
    #: the ``partition_start`` column, in UTC.
    partition_start: dt.datetime | None = None

    def __post_init__(self) -> None:
        start = self.partition_start
        if start is not None and start.utcoffset() is None:
            raise ValueError(
                f"partition_start {start.isoformat()} has no time zone: give an aware "
                "datetime (a time window's start), so that its instant is known"
            )

    def columns(self, rows: int) -> list[tuple[str, pa.ChunkedArray]]:
        return [
            ("run_id", _constant(pa.scalar(self.run_id, pa.string()), rows)),
            ("query", _constant(pa.scalar(self.query, pa.string()), rows)),
            ("partition_key", _constant(pa.scalar(self.partition_key, pa.string()), rows)),
            ("partition_start", _constant(pa.scalar(self.partition_start, _TIMESTAMP), rows)),
            ("fetched_at", _constant(pa.scalar(self.fetched_at, _TIMESTAMP), rows)),
        ]


#: Rows in the one chunk a constant column repeats.
_CONSTANT_CHUNK_ROWS = 65_536


def _constant(value: pa.Scalar, rows: int) -> pa.ChunkedArray:
    """``rows`` copies of ``value`` that cost one chunk of memory.

    Every chunk is the same immutable buffer, so a million rows of run id and
    query take 64k rows' worth of memory instead of a million; readers and the
    Parquet writer see an ordinary column.
    """
    chunk = pa.repeat(value, min(rows, _CONSTANT_CHUNK_ROWS))
    full, rest = divmod(rows, _CONSTANT_CHUNK_ROWS)
    chunks = [chunk] * full + ([chunk.slice(0, rest)] if rest else [])
    return pa.chunked_array(chunks, type=value.type)


_PROVENANCE_FIELDS = [
    pa.field("run_id", pa.string(), nullable=False),
    pa.field("query", pa.string(), nullable=False),
    pa.field("partition_key", pa.string()),
    pa.field("partition_start", _TIMESTAMP),
    pa.field("fetched_at", _TIMESTAMP, nullable=False),
]


# ---------------------------------------------------------------- FindAll


def entities_schema(columns: Sequence[EntityColumn]) -> pa.Schema:
    return pa.schema(
        [
            pa.field("entity_id", pa.string(), nullable=False),
            *[pa.field(c.name, c.arrow_type, metadata=_describe(c.description)) for c in columns],
            pa.field("source_url", pa.string()),
            *_PROVENANCE_FIELDS,
        ]
    )


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
        *_PROVENANCE_FIELDS,
    ]
)


def _describe(description: str | None) -> dict[bytes, bytes] | None:
    return {b"description": description.encode()} if description else None


@dataclasses.dataclass(frozen=True)
class FindAllTables:
    entities: pa.Table
    citations: pa.Table
    #: How it was read: "document" (pyarrow, the whole document at once) or
    #: "python" (the exact path).
    path: ReadPath


_CITATION_STRUCT = pa.struct(
    [("url", pa.string()), ("title", pa.string()), ("excerpts", pa.list_(pa.string()))]
)
_BASIS_STRUCT = pa.struct(
    [
        ("field", pa.string()),
        ("citations", pa.list_(_CITATION_STRUCT)),
        ("reasoning", pa.string()),
        ("confidence", pa.string()),
    ]
)
_CANDIDATE_STRUCT = pa.struct(
    [
        ("candidate_id", pa.string()),
        ("name", pa.string()),
        ("url", pa.string()),
        ("match_status", pa.string()),
        ("basis", pa.list_(_BASIS_STRUCT)),
    ]
)


@dataclasses.dataclass(frozen=True)
class FindAllFacts:
    """What a materialization records of a finished FindAll run, read from its
    body without building its entities as Python objects."""

    run_id: str
    count: int
    credits: int
    error: str | None
    completed_at: dt.datetime | None
    #: The state the body itself says (a table is only written from a completed one).
    state: RunState = RunState.UNKNOWN
    termination_reason: str | None = None


_FACTS_FIELDS = [
    ("findall_id", pa.string()),
    ("count", pa.int64()),
    ("credits", pa.int64()),
    ("error", pa.string()),
    ("completedAt", pa.string()),
]
#: ``status`` is a rich object once a run has ended (the contract), a plain
#: string before (or from an older server): the fast read tries the first,
#: then the second.
_STATUS_TYPES = (
    pa.struct([("status", pa.string()), ("termination_reason", pa.string())]),
    pa.string(),
)


def _facts(row: Mapping[str, Any]) -> FindAllFacts:
    run_id = row.get("findall_id")
    if not run_id or not isinstance(run_id, str):
        raise ValueError("the body has no findall_id")
    completed = row.get("completedAt")
    try:
        completed_at = dt.datetime.fromisoformat(completed) if completed else None
    except (TypeError, ValueError):
        raise ScoutRunBodyError(f"completedAt {completed!r} is not an ISO-8601 time") from None
    status = row.get("status")
    if isinstance(status, Mapping):
        state, reason = (
            RunState.parse(status.get("status")),
            _text(status.get("termination_reason")),
        )
    else:
        state, reason = RunState.parse(status), None
    return FindAllFacts(
        run_id=run_id,
        count=_whole_number(row, "count"),
        credits=_whole_number(row, "credits"),
        error=_text(row.get("error")),
        completed_at=completed_at,
        state=state,
        termination_reason=reason,
    )


def _whole_number(row: Mapping[str, Any], name: str) -> int:
    value = row.get(name)
    if value is None:
        return 0
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise ScoutRunBodyError(f"{name} {value!r} is not a whole number")


@dataclasses.dataclass(frozen=True)
class FindAllBody:
    """A finished FindAll run's body, read once: its facts; its entities
    (``entity_id``, the requested fields, ``source_url``) and its citation
    rows, both without the provenance columns :meth:`tables` adds."""

    facts: FindAllFacts
    columns: tuple[EntityColumn, ...]
    entities: pa.Table
    citations: pa.Table
    path: ReadPath

    @property
    def state(self) -> RunState:
        return self.facts.state

    def tables(self, provenance: Provenance) -> FindAllTables:
        """The entities and citations tables, every row with ``provenance``."""
        return FindAllTables(
            entities=_with_provenance_columns(
                self.entities, entities_schema(self.columns), provenance
            ),
            citations=_with_provenance_columns(self.citations, CITATIONS_SCHEMA, provenance),
            path=self.path,
        )


def _with_provenance_columns(
    table: pa.Table, schema: pa.Schema, provenance: Provenance
) -> pa.Table:
    columns = [*table.columns, *[array for _, array in provenance.columns(table.num_rows)]]
    return pa.Table.from_arrays(columns, schema=schema)


def read_findall(
    payload: bytes | Mapping[str, Any], columns: Sequence[EntityColumn]
) -> FindAllBody:
    """A finished FindAll run object, as the server sent it: raw bytes (fastest)
    or already decoded.

    Two paths give the same result: pyarrow reading the bytes against the
    declared types (see :mod:`._arrow_json`), and the exact Python path for
    payloads that do not fit them.

    Raises ``ValueError`` when the payload is not a FindAll run object (not
    JSON, not UTF-8, not an object, no ``findall_id``): a garbled or foreign
    response, worth reading again. Raises :class:`ScoutRunBodyError` when it is a
    run object whose contents cannot be read (``entities`` not a list of
    objects, ``count``/``credits`` not whole numbers, ``completedAt`` not a
    time), which reading again would not mend.
    """
    columns = tuple(columns)
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    if all(c.kind != "json" for c in columns):
        for status_type in _STATUS_TYPES:
            try:
                return _read_native(raw, columns, status_type)
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                pass  # the payload does not fit the declared types: the next, then the exact path
    decoded = payload if isinstance(payload, Mapping) else json.loads(raw)
    if not isinstance(decoded, Mapping):
        raise ValueError(f"the body is a JSON {type(decoded).__name__}, not a run object")
    return _read_python(decoded, columns)


def findall_tables(
    payload: bytes | Mapping[str, Any],
    columns: Sequence[EntityColumn],
    provenance: Provenance,
) -> FindAllTables:
    """Entities and citations of a finished FindAll run (see :func:`read_findall`)."""
    return read_findall(payload, columns).tables(provenance)


def _entity_struct(columns: Sequence[EntityColumn]) -> pa.StructType:
    return pa.struct(
        [(c.name, c.arrow_type) for c in columns if c.name != "source"] + [("source", pa.string())]
    )


def _read_native(
    raw: bytes, columns: tuple[EntityColumn, ...], status_type: pa.DataType
) -> FindAllBody:
    schema = pa.schema(
        [
            ("entities", pa.list_(_entity_struct(columns))),
            ("candidates", pa.list_(_CANDIDATE_STRUCT)),
            *_FACTS_FIELDS,
            ("status", status_type),
        ]
    )
    # Entity ids and citation rows are derived on the threads that parse
    # each piece of the two arrays.
    document = read_arrays(
        raw,
        schema,
        {"entities": lambda items: _identified(items, columns), "candidates": _citation_rows},
    )
    return FindAllBody(
        facts=_facts(document.fields.to_pylist()[0]),
        columns=columns,
        entities=document.arrays["entities"],
        citations=document.arrays["candidates"],
        path="document",
    )


def _read_python(run: Mapping[str, Any], columns: tuple[EntityColumn, ...]) -> FindAllBody:
    entities = run.get("entities") or []
    if not isinstance(entities, list):
        raise ScoutRunBodyError(f"entities is a JSON {type(entities).__name__}, not a list")
    for index, entity in enumerate(entities):
        if not isinstance(entity, Mapping):
            raise ScoutRunBodyError(
                f"entities[{index}] is a JSON {type(entity).__name__}, not an object"
            )
    struct = _entity_struct(columns)
    by_name = {c.name: c for c in columns}
    arrays = [
        pa.array(
            [
                _coerce_column(entity.get(field.name), by_name.get(field.name, _SOURCE))
                for entity in entities
            ],
            type=field.type,
        )
        for field in struct
    ]
    candidates = pa.array(
        [_candidate_row(c) for c in _objects(run.get("candidates"))], type=_CANDIDATE_STRUCT
    )
    items = pa.StructArray.from_arrays(arrays, fields=list(struct))
    return FindAllBody(
        facts=_facts(run),
        columns=columns,
        entities=_identified(items, columns),
        citations=_citation_rows(candidates),
        path="python",
    )


def _candidate_row(candidate: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "candidate_id": _text(candidate.get("candidate_id")),
        "name": _text(candidate.get("name")),
        "url": _text(candidate.get("url")),
        "match_status": _text(candidate.get("match_status")),
        "basis": [
            {
                "field": _text(basis.get("field")),
                "reasoning": _text(basis.get("reasoning")),
                "confidence": _text(basis.get("confidence")),
                "citations": [
                    {
                        "url": _text(citation.get("url")),
                        "title": _text(citation.get("title")),
                        "excerpts": [_text(e) for e in _excerpts(citation.get("excerpts"))],
                    }
                    for citation in _objects(basis.get("citations"))
                ],
            }
            for basis in _objects(candidate.get("basis"))
        ],
    }


def _objects(value: Any) -> list[Mapping[str, Any]]:
    """The objects of a list; nothing for anything else (candidates are what
    a run found on the way: a malformed one is left out, not fatal)."""
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _excerpts(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    return [] if value is None else [value]


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


_SOURCE = EntityColumn("source", "string")


def _coerce_column(value: Any, column: EntityColumn) -> Any:
    """A value in its column's type (see the module's docstring); None when it
    cannot be read as one. Items and members each as a scalar of their kind."""
    if column.kind == "list":
        if not isinstance(value, list):
            return None
        assert column.items is not None
        kind = column.items
        return [_coerce(item, kind) for item in value]
    if column.kind == "struct":
        if not isinstance(value, Mapping):
            return None
        return {name: _coerce(value.get(name), kind) for name, kind in column.members}
    return _coerce(value, column.kind)


def _coerce(value: Any, kind: ColumnKind) -> Any:
    """A scalar value in its column's type; None when it cannot be read as one."""
    if value is None:
        return None
    if kind == "json":
        return json.dumps(value, sort_keys=True)
    if kind == "string":
        return _text(value)
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        return None
    try:
        number = float(value) if not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None
    if number is None:
        return None
    if kind == "integer":
        whole = int(number) if number.is_integer() else None
        return whole if whole is not None and _INT64_MIN <= whole <= _INT64_MAX else None
    return number


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _identified(items: pa.StructArray, columns: Sequence[EntityColumn]) -> pa.Table:
    """Entities as ``entity_id``, the requested fields and ``source_url``."""
    entities = pa.Table.from_struct_array(items)
    source_urls = entities.column("source")
    # A list or struct is no website or name to derive an id from.
    flat = {c.name for c in columns if c.kind not in ("list", "struct")}
    website = entities.column("website") if "website" in flat else None
    names = entities.column("name") if "name" in flat else None
    return pa.Table.from_arrays(
        [
            entity_ids_for(website, names, source_urls),
            *[entities.column(c.name) for c in columns],
            source_urls,
        ],
        names=["entity_id", *[c.name for c in columns], "source_url"],
    )


def _citation_rows(candidates: pa.StructArray) -> pa.Table:
    """One row per (matched candidate, basis field, citation), vectorized;
    the citations table without its provenance columns."""
    matched = candidates.filter(pc.equal(candidates.field("match_status"), "matched"))
    candidate_ids = entity_ids_for(matched.field("url"), matched.field("name"), None)
    basis_lists = matched.field("basis")
    basis = basis_lists.flatten()
    basis_owner = pc.list_parent_indices(basis_lists)
    citation_lists = basis.field("citations")
    citations = citation_lists.flatten()
    citation_owner = pc.list_parent_indices(citation_lists)
    # Position of each citation within its basis entry: row number minus the list's offset.
    # (``offsets`` are absolute in the values buffer, ``flatten`` starts at offsets[0].)
    offsets = citation_lists.offsets
    first = offsets[0].as_py() if len(offsets) else 0
    positions = pc.subtract(
        pa.array(range(first, first + len(citations)), pa.int64()),
        pc.take(offsets, citation_owner),
    )
    arrays = [
        pc.take(candidate_ids, pc.take(basis_owner, citation_owner)),
        pc.take(basis.field("field"), citation_owner),
        pc.cast(positions, pa.int32()),
        citations.field("url"),
        citations.field("title"),
        citations.field("excerpts"),
        pc.take(basis.field("reasoning"), citation_owner),
        pc.take(basis.field("confidence"), citation_owner),
    ]
    return pa.Table.from_arrays(arrays, names=CITATIONS_SCHEMA.names[: len(arrays)])


def entity_ids_for(
    website: pa.Array | None, name: pa.Array | None, fallback: pa.Array | None
) -> pa.Array:
    """Stable ids derived from the entity itself, never from the run.

    The id is the entity's website without scheme, ``www.``, trailing ``/``
    or case (``coreweave.com``), else ``name:<lower-cased name>``, else the
    ``fallback`` URL likewise. The same entity found by two runs or two
    partitions gets the same id, and a reader can tell what it means.
    """
    # Each fallback is computed only while some rows still lack an id: on a
    # million rows every kernel pass counts.
    makers: list[Callable[[], pa.Array]] = []
    if website is not None:
        makers.append(lambda: _bare_url(website))
    if name is not None:
        makers.append(lambda: _name_ids(name))
    if fallback is not None:
        makers.append(lambda: _bare_url(fallback))
    if not makers:
        raise ValueError("an entity id needs a website, a name or a source URL")
    ids = makers[0]()
    for make in makers[1:]:
        if ids.null_count == 0:
            break
        ids = pc.coalesce(ids, make())
    return pc.fill_null(ids, "unknown")


def _name_ids(names: pa.Array) -> pa.Array:
    lowered = pc.utf8_lower(pc.utf8_trim_whitespace(pc.cast(names, pa.string())))
    named = pc.binary_join_element_wise("name:", lowered, "")
    return pc.if_else(pc.equal(lowered, ""), None, named)


def _bare_url(urls: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """URLs lower-cased without scheme, ``www.`` or trailing ``/``; null when empty.

    One anchored regex rather than branches: this runs once per row of tables
    with millions of rows, read in many chunks, where each ``if_else`` pass
    measured several times the cost of the regex.
    """
    text = pc.utf8_lower(pc.utf8_trim_whitespace(pc.cast(urls, pa.string())))
    text = pc.replace_substring_regex(text, r"^(?:https?://)?(?:www\.)?", "", max_replacements=1)
    text = pc.utf8_rtrim(text, characters="/")
    return pc.if_else(pc.equal(text, ""), None, text)


# ---------------------------------------------------------------- search


RESULTS_SCHEMA = pa.schema(
    [
        pa.field("result_id", pa.string(), nullable=False),
        pa.field("rank", pa.int32(), nullable=False),
        pa.field("title", pa.string()),
        pa.field("source_url", pa.string(), nullable=False),
        pa.field("snippet", pa.string()),
        *_PROVENANCE_FIELDS,
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
        pa.field("source_fetched_at", _TIMESTAMP),
        *_PROVENANCE_FIELDS,
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
        *_PROVENANCE_FIELDS,
    ]
)


@dataclasses.dataclass(frozen=True)
class SearchTables:
    results: pa.Table
    sources: pa.Table
    findings: pa.Table
    report: str


def _url_ids(urls: list[str]) -> pa.Array:
    """Ids of URLs, normalized as entity websites are (see :func:`entity_ids_for`)."""
    return pc.fill_null(_bare_url(pa.array(urls, pa.string())), "unknown")


def _with_provenance(
    rows: dict[str, list[Any]], schema: pa.Schema, provenance: Provenance
) -> pa.Table:
    """``schema``'s table from its columns but the provenance ones, as lists."""
    names = schema.names[: len(schema) - len(PROVENANCE_COLUMNS)]
    arrays = [pa.array(rows[name], type=schema.field(name).type) for name in names]
    return _with_provenance_columns(pa.Table.from_arrays(arrays, names=names), schema, provenance)


def search_tables(run: SearchRun, provenance: Provenance) -> SearchTables:
    """Results, sources and findings of a search run, and its Markdown report."""
    results = run.results
    sources = run.sources or []
    findings = run.findings or []
    results_table = _with_provenance(
        {
            "result_id": _url_ids([r.url for r in results]).to_pylist(),
            "rank": list(range(1, len(results) + 1)),
            "title": [r.title for r in results],
            "source_url": [r.url for r in results],
            "snippet": [r.snippet for r in results],
        },
        RESULTS_SCHEMA,
        provenance,
    )
    sources_table = _with_provenance(
        {
            "source_id": _url_ids([s.url for s in sources]).to_pylist(),
            "source_index": [s.index for s in sources],
            "title": [s.title for s in sources],
            "source_url": [s.url for s in sources],
            "domain": [s.domain for s in sources],
            "quality": [s.quality for s in sources],
            "first_seen_subquery": [s.first_seen_subquery for s in sources],
            "source_fetched_at": [s.fetched for s in sources],
        },
        SOURCES_SCHEMA,
        provenance,
    )
    finding_keys = [f"{f.subquery or ''}\x1f{f.answer or ''}" for f in findings]
    findings_table = _with_provenance(
        {
            "finding_id": [_short_hash(key) for key in finding_keys],
            "finding_index": list(range(1, len(findings) + 1)),
            "subquery": [f.subquery for f in findings],
            "answer": [f.answer for f in findings],
            "confidence": [f.confidence for f in findings],
            "evidence": [f.evidence for f in findings],
            "citations": [list(f.citations) for f in findings],
            "source_url": [f.citations[0] if f.citations else None for f in findings],
        },
        FINDINGS_SCHEMA,
        provenance,
    )
    return SearchTables(
        results=results_table,
        sources=sources_table,
        findings=findings_table,
        report=run.report or "",
    )


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]
