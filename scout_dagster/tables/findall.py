"""A finished FindAll run body, read once, into its facts and its two tables.

FindAll payloads can be large (a million entities is a ~200 MB response), so
a run body is read once, by pyarrow's JSON reader against an explicit
schema, from its bytes (:func:`read_findall`) or as it downloads
(:class:`FindAllBodyReader`, which never holds the whole body): the entities and the candidates in
pieces on every core, entity ids and citation rows derived on the same
threads (see :mod:`.json_reader`), the run's facts beside them. A payload
that does not fit that schema (a number where the field is text, a nested
value) takes the exact Python path instead (:mod:`.findall_exact`), which
coerces value by value; both give identical tables.

:meth:`FindAllBody.tables` then adds the provenance columns: the entities
table (``entity_id``, the requested fields, ``source_url``) and the
citations table (one row per matched candidate, cited field and citation),
as :mod:`.schemas` declares them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc

from .._errors import ScoutRunBodyError
from .._models import RunState
from . import json_reader
from .findall_exact import CANDIDATE_STRUCT, entity_struct, exact_arrays, text
from .ids import entity_ids_for
from .json_parse import ArraysDocument
from .json_reader import ArraysReader, read_arrays
from .provenance import Provenance, with_provenance
from .schemas import CITATIONS_SCHEMA, EntityColumn, entities_schema
from .spool import SpooledTable, TableSpool, close_if_spooled

__all__ = [
    "FindAllBody",
    "FindAllBodyReader",
    "FindAllFacts",
    "FindAllTables",
    "ReadPath",
    "findall_tables",
    "read_findall",
    "read_findall_exact",
]

#: How a body was read: "document" (pyarrow, against the declared types) or
#: "python" (decoded, then coerced value by value: the exact path).
ReadPath = Literal["document", "python"]


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
    #: When the run was created, if the body says so readably (not checked:
    #: it is a fact for the runs ledger, not one a table depends on).
    created_at: dt.datetime | None = None


@dataclasses.dataclass(frozen=True)
class FindAllTables:
    #: On disk when the body was read as it downloaded (see :mod:`.spool`).
    entities: pa.Table | SpooledTable
    citations: pa.Table
    #: How the body was read (see :data:`ReadPath`).
    path: ReadPath


@dataclasses.dataclass(frozen=True)
class FindAllBody:
    """A finished FindAll run's body, read once: its facts; its entities
    (``entity_id``, the requested fields, ``source_url``) and its citation
    rows, both without the provenance columns :meth:`tables` adds."""

    facts: FindAllFacts
    columns: tuple[EntityColumn, ...]
    #: Spooled to disk when read as it downloaded (:class:`FindAllBodyReader`).
    entities: pa.Table | SpooledTable
    citations: pa.Table
    path: ReadPath

    @property
    def state(self) -> RunState:
        return self.facts.state

    def tables(self, provenance: Provenance) -> FindAllTables:
        """The entities and citations tables, every row with ``provenance``."""
        return FindAllTables(
            entities=with_provenance(self.entities, entities_schema(self.columns), provenance),
            citations=with_provenance(self.citations, CITATIONS_SCHEMA, provenance),
            path=self.path,
        )


def read_findall(
    payload: bytes | Mapping[str, Any], columns: Sequence[EntityColumn]
) -> FindAllBody:
    """A finished FindAll run object, as the server sent it: raw bytes (fastest)
    or already decoded.

    Two paths give the same result: pyarrow reading the bytes against the
    declared types, and the exact Python path (:func:`read_findall_exact`)
    for payloads that do not fit them.

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
    return read_findall_exact(decoded, columns)


class FindAllBodyReader:
    """A finished FindAll run body read as it downloads, as :func:`read_findall`
    reads its bytes: the entities and candidates parsed in pieces while the
    rest arrives (:class:`~.json_reader.ArraysReader`), so the body is never
    held whole. A body smaller than ``json_reader.SPLIT_MIN_BYTES``, or read
    with JSON columns, is gathered and read by :func:`read_findall`.

    :meth:`finish` gives None when the body did not fit the fast read
    (values of other types, a cut that did not parse, a spool file that
    could not be written): the body is gone by
    then, and it must be read again, whole, by :func:`read_findall`, which
    decides. Its errors are :func:`read_findall`'s.
    """

    def __init__(self, columns: Sequence[EntityColumn]) -> None:
        self._columns = tuple(columns)
        self._native = all(c.kind != "json" for c in self._columns)
        self._gathered: list[bytes | memoryview] = []
        self._size = 0
        self._reader: ArraysReader | None = None
        self._spool: TableSpool | None = None

    def feed(self, chunk: bytes | memoryview) -> None:
        if self._reader is not None:
            self._reader.feed(chunk)
            return
        self._gathered.append(chunk)
        self._size += len(chunk)
        if self._native and self._size >= json_reader.SPLIT_MIN_BYTES:
            # The contract's rich status first, then a plain string, as
            # read_findall tries them.
            first, *others = [_native_schema(self._columns, s) for s in _STATUS_TYPES]
            # The entities go to disk as they are parsed, once they are many:
            # a large body's table is not held while the step hands it on.
            self._spool = TableSpool()
            self._reader = ArraysReader(
                first,
                _transforms(self._columns),
                also=others,
                spill={"entities": self._spool.append},
            )
            self._reader.feed(b"".join(self._gathered))
            self._gathered.clear()

    def finish(self) -> FindAllBody | None:
        if self._reader is None:
            return read_findall(b"".join(self._gathered), self._columns)
        assert self._spool is not None
        document = self._reader.finish()
        if document is None:
            self._spool.discard()
            return None
        spooled = self._spool.finish(_entities_schema(self._columns))
        if spooled is None:  # its file could not be written: read it again, whole
            return None
        try:
            return _native_body(document, self._columns, entities=spooled)
        except BaseException:
            close_if_spooled(spooled)
            raise

    def close(self) -> None:
        self._gathered.clear()
        if self._reader is not None:
            self._reader.close()
        if self._spool is not None:
            self._spool.discard()  # nothing once finished: the table owns its file


def read_findall_exact(run: Mapping[str, Any], columns: Sequence[EntityColumn]) -> FindAllBody:
    """A decoded FindAll run object read by the exact path: every value
    coerced on its own (see :mod:`.findall_exact`)."""
    columns = tuple(columns)
    entities, candidates = exact_arrays(run, columns)
    return FindAllBody(
        facts=_facts(run),
        columns=columns,
        entities=_identified(entities, columns),
        citations=_citation_rows(candidates),
        path="python",
    )


def findall_tables(
    payload: bytes | Mapping[str, Any],
    columns: Sequence[EntityColumn],
    provenance: Provenance,
) -> FindAllTables:
    """Entities and citations of a finished FindAll run (see :func:`read_findall`)."""
    return read_findall(payload, columns).tables(provenance)


# ---------------------------------------------------------------- the native read

_FACTS_FIELDS = [
    ("findall_id", pa.string()),
    ("count", pa.int64()),
    ("credits", pa.int64()),
    ("error", pa.string()),
    ("completedAt", pa.string()),
    ("createdAt", pa.string()),
]
#: ``status`` is a rich object once a run has ended (the contract), a plain
#: string before (or from an older server): the fast read tries the first,
#: then the second.
_STATUS_TYPES = (
    pa.struct([("status", pa.string()), ("termination_reason", pa.string())]),
    pa.string(),
)


def _read_native(
    raw: bytes, columns: tuple[EntityColumn, ...], status_type: pa.DataType
) -> FindAllBody:
    schema = _native_schema(columns, status_type)
    return _native_body(read_arrays(raw, schema, _transforms(columns)), columns)


def _native_schema(columns: tuple[EntityColumn, ...], status_type: pa.DataType) -> pa.Schema:
    return pa.schema(
        [
            ("entities", pa.list_(entity_struct(columns))),
            ("candidates", pa.list_(CANDIDATE_STRUCT)),
            *_FACTS_FIELDS,
            ("status", status_type),
        ]
    )


def _transforms(columns: tuple[EntityColumn, ...]) -> dict[str, json_reader.Transform]:
    # Entity ids and citation rows are derived on the threads that parse
    # each piece of the two arrays.
    return {"entities": lambda items: _identified(items, columns), "candidates": _citation_rows}


def _native_body(
    document: ArraysDocument,
    columns: tuple[EntityColumn, ...],
    entities: pa.Table | SpooledTable | None = None,
) -> FindAllBody:
    return FindAllBody(
        facts=_facts(document.fields.to_pylist()[0]),
        columns=columns,
        entities=document.arrays["entities"] if entities is None else entities,
        citations=document.arrays["candidates"],
        path="document",
    )


# ---------------------------------------------------------------- both paths


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
        state, reason = RunState.parse(status.get("status")), text(status.get("termination_reason"))
    else:
        state, reason = RunState.parse(status), None
    return FindAllFacts(
        run_id=run_id,
        count=_whole_number(row, "count"),
        credits=_whole_number(row, "credits"),
        error=text(row.get("error")),
        completed_at=completed_at,
        state=state,
        termination_reason=reason,
        created_at=_time_or_none(row.get("createdAt")),
    )


def _time_or_none(value: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(value) if isinstance(value, str) and value else None
    except ValueError:
        return None


def _whole_number(row: Mapping[str, Any], name: str) -> int:
    value = row.get(name)
    if value is None:
        return 0
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise ScoutRunBodyError(f"{name} {value!r} is not a whole number")


def _entities_schema(columns: tuple[EntityColumn, ...]) -> pa.Schema:
    """The schema of :func:`_identified`'s tables."""
    return _identified(pa.array([], entity_struct(columns)), columns).schema


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
