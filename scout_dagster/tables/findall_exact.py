"""The Arrow types a FindAll run body is read as, and the exact path into them.

pyarrow reads a body's ``entities`` and ``candidates`` against the structs
here (see :mod:`.findall`). A body that does not fit them (a number where the
field is text, a nested value) is decoded with ``json`` instead and coerced
value by value by :func:`exact_arrays`, into arrays of the same types, so
both paths give identical tables.

Values are read as their declared type where they plainly are one (``"1999"``
for an integer, ``"true"`` for a boolean, ``2`` for a number); a value that
is not (``"n/a"`` for a number, ``1.5`` or ``10**30`` for an integer) is
null, and its row stands; a text column takes any other value as its JSON.
List items and struct members follow the same rule, each item on its own
(``["1", "x", 3]`` for a list of integers is ``[1, null, 3]``); a value that
is not a list where a list is declared (``"ai"``, ``5``, an object), or not
an object where a struct is, is null: nothing is guessed. Keys an object
does not declare are left out, as the entity's own undeclared keys are.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from .._errors import ScoutRunBodyError
from .schemas import ColumnKind, EntityColumn

__all__ = ["CANDIDATE_STRUCT", "entity_struct", "exact_arrays", "text"]

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
#: One element of a body's ``candidates``, as far as the citations table reads it.
CANDIDATE_STRUCT = pa.struct(
    [
        ("candidate_id", pa.string()),
        ("name", pa.string()),
        ("url", pa.string()),
        ("match_status", pa.string()),
        ("basis", pa.list_(_BASIS_STRUCT)),
    ]
)
#: An entity's ``source``: the page it was found on.
_SOURCE = EntityColumn("source", "string")


def entity_struct(columns: Sequence[EntityColumn]) -> pa.StructType:
    """One element of a body's ``entities``: the requested fields and ``source``."""
    return pa.struct(
        [(c.name, c.arrow_type) for c in columns if c.name != _SOURCE.name]
        + [(_SOURCE.name, pa.string())]
    )


def exact_arrays(
    run: Mapping[str, Any], columns: Sequence[EntityColumn]
) -> tuple[pa.StructArray, pa.StructArray]:
    """A decoded body's entities (of :func:`entity_struct`) and candidates (of
    :data:`CANDIDATE_STRUCT`), every value coerced as the module says.

    Raises :class:`ScoutRunBodyError` when ``entities`` is not a list of
    objects; a malformed candidate is left out.
    """
    entities = run.get("entities") or []
    if not isinstance(entities, list):
        raise ScoutRunBodyError(f"entities is a JSON {type(entities).__name__}, not a list")
    for index, entity in enumerate(entities):
        if not isinstance(entity, Mapping):
            raise ScoutRunBodyError(
                f"entities[{index}] is a JSON {type(entity).__name__}, not an object"
            )
    struct = entity_struct(columns)
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
        [_candidate_row(c) for c in _objects(run.get("candidates"))], type=CANDIDATE_STRUCT
    )
    return pa.StructArray.from_arrays(arrays, fields=list(struct)), candidates


def text(value: Any) -> str | None:
    """A value as text: a string as it is, anything else but null as its JSON."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


def _candidate_row(candidate: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "candidate_id": text(candidate.get("candidate_id")),
        "name": text(candidate.get("name")),
        "url": text(candidate.get("url")),
        "match_status": text(candidate.get("match_status")),
        "basis": [
            {
                "field": text(basis.get("field")),
                "reasoning": text(basis.get("reasoning")),
                "confidence": text(basis.get("confidence")),
                "citations": [
                    {
                        "url": text(citation.get("url")),
                        "title": text(citation.get("title")),
                        "excerpts": [text(e) for e in _excerpts(citation.get("excerpts"))],
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
        return text(value)
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
