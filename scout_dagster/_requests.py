"""What to ask Scout for: validated FindAll and deep-search run requests.

A request is checked when it is built, so bad configuration fails at
definition time with a message that says what to fix, before any API call
(and before any credit is spent). Its ``fingerprint`` is a stable hash of
everything that changes the answer: asset code versions and idempotency keys
derive from it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any, Literal, NoReturn, TypeVar
from urllib.parse import urlsplit

__all__ = [
    "GENERATORS",
    "MAX_QUERY_CHARS",
    "MAX_SEARCH_LIMIT",
    "MAX_SEARCH_QUERIES",
    "RESERVED_COLUMN_NAMES",
    "AnyRequest",
    "FindAllGenerator",
    "FindAllRequest",
    "SearchDepth",
    "SearchRequest",
    "coerce_request",
    "request_field_names",
    "validate_output_schema",
]

#: Longest query accepted. The contract sets no limit; 2,000 characters is far
#: beyond any sensible research query and keeps a mistaken paste (a whole
#: document as the query) from becoming a paid run. [assumed]
MAX_QUERY_CHARS = 2000
#: Most queries one search run may ask. The contract sets no bound. Each query
#: is a paid query; 20 is the emulator's own bound (emulator/_schemas.py), so
#: nothing the client lets through is refused there, and a tighter client
#: bound would refuse requests our stand-in for the service accepts. [assumed]
MAX_SEARCH_QUERIES = 20
#: Most merged results one search run returns (``limit`` is 1 to this). The
#: contract sets no bound; the vendor's example asks for 50 and the emulator
#: takes at most 100. [assumed]
MAX_SEARCH_LIMIT = 100
#: Column names the entities table uses for itself (``entity_id``,
#: ``source_url`` and the provenance columns of ``tables.schemas.entities_schema``),
#: plus ``partition``, the folder level of a partitioned table, which
#: hive-style readers (pandas, pyarrow, Spark) add as a column. A field of one
#: of these names (compared case-insensitively) would make the table
#: unreadable. ``tests/bad_input/test_request_objects.py`` checks them against the table's own.
RESERVED_COLUMN_NAMES = (
    "entity_id",
    "source_url",
    "run_id",
    "query",
    "partition_key",
    "partition_start",
    "fetched_at",
    "partition",
)
FindAllGenerator = Literal["base", "core", "pro"]
GENERATORS: tuple[FindAllGenerator, ...] = ("base", "core", "pro")
SearchDepth = Literal["shallow", "standard", "deep"]
_JSON_TYPES = frozenset({"string", "integer", "number", "boolean", "array", "object", "null"})


def _check_query(text: object, what: str = "query") -> str:
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{what} must be a non-empty string, got {text!r}")
    if len(text) > MAX_QUERY_CHARS:
        raise ValueError(
            f"{what} is {len(text)} characters long; the most allowed is {MAX_QUERY_CHARS}"
        )
    return text


def _check_limit(limit: object, most: int | None = None, what: str = "") -> None:
    if limit is None:
        return
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be a whole number of at least 1, got {limit!r}")
    if most is not None and limit > most:
        raise ValueError(f"limit must be at most {most}{what}, got {limit}")


def _split_string(value: object) -> str | None:
    """The string a list-of-names argument was given as, if it was one (the
    factories pass it on as given, so it is not split into letters first)."""
    return value if isinstance(value, str) else None


def _refuse_one_string(what: str, kind: str, text: str) -> NoReturn:
    meant = [part.strip() for part in text.split(",") if part.strip()]
    raise ValueError(
        f"{what} must be a list of {kind}, not one string: write {meant!r} instead of {text!r}"
    )


def _check_column_names(names: Iterable[str], what: str) -> None:
    """Refuse names that would give the entities table two columns of one name.

    Exact repeats (pyarrow and pandas refuse to read such a file), names that
    differ only in case (one column to readers that match case-insensitively),
    and the table's own columns (``RESERVED_COLUMN_NAMES``).
    """
    names = list(names)
    reserved = {name.casefold() for name in RESERVED_COLUMN_NAMES}
    clashes = [name for name in names if name.casefold() in reserved]
    if clashes:
        raise ValueError(
            f"{what} name(s) {clashes} are reserved for the entities table's own columns; "
            f"rename them (reserved, in any case: {', '.join(RESERVED_COLUMN_NAMES)})"
        )
    seen: dict[str, str] = {}
    for name in names:
        key = name.casefold()
        if key in seen:
            if seen[key] == name:
                raise ValueError(
                    f"{what} {name!r} is given twice: name each field once "
                    "(each becomes a column of the entities table)"
                )
            raise ValueError(
                f"{what} {seen[key]!r} and {name!r} differ only in case: Parquet readers that "
                "match columns case-insensitively (Spark, Athena, DuckDB) take them for one "
                "column; keep one"
            )
        seen[key] = name


def _check_domains(value: object, what: str) -> tuple[str, ...] | None:
    """``include_domains``/``exclude_domains``: a list of bare domains, or None."""
    if value is None:
        return None
    text = _split_string(value)
    if text is not None:
        _refuse_one_string(what, "domains", text)
    if not isinstance(value, Iterable):
        raise ValueError(f"{what} must be a list of domains such as ['reuters.com'], got {value!r}")
    domains = tuple(value)
    for index, domain in enumerate(domains):
        where = f"{what}[{index}]"
        if not isinstance(domain, str) or not domain.strip():
            raise ValueError(f"{where} must be a domain such as 'reuters.com', got {domain!r}")
        if "://" in domain or any(c in domain for c in "/?#"):
            host = urlsplit(domain if "://" in domain else f"//{domain}").hostname
            if host:
                raise ValueError(
                    f"{where} must be a domain such as 'reuters.com', not a URL: "
                    f"write {host!r} instead of {domain!r}"
                )
            raise ValueError(f"{where} must be a domain such as 'reuters.com', got {domain!r}")
        if any(c.isspace() for c in domain):
            raise ValueError(f"{where} must be a domain such as 'reuters.com', got {domain!r}")
    return domains


def validate_output_schema(schema: object) -> None:
    """Check that ``schema`` is a JSON Schema for entity objects.

    It must be an object schema with a ``properties`` map whose every value
    declares a JSON type (or nests further properties). Raises ValueError that
    names the offending property.
    """
    if not isinstance(schema, Mapping):
        raise ValueError(f"output_schema must be a JSON Schema object, got {type(schema).__name__}")
    if schema.get("type") != "object":
        raise ValueError('output_schema must have "type": "object" at its top level')
    properties = schema.get("properties")
    if not isinstance(properties, Mapping) or not properties:
        raise ValueError('output_schema must have a non-empty "properties" object')
    for name in properties:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(
                f"output_schema property names must be non-empty strings, got {name!r}"
            )
    for name, spec in properties.items():
        if not isinstance(spec, Mapping):
            raise ValueError(f"output_schema property {name!r} must be an object, got {spec!r}")
        declared = spec.get("type")
        types = declared if isinstance(declared, list) else [declared]
        if declared is None and not ({"properties", "items", "enum", "anyOf"} & set(spec)):
            raise ValueError(f"output_schema property {name!r} declares no type")
        unknown = [t for t in types if t is not None and t not in _JSON_TYPES]
        if unknown:
            raise ValueError(
                f"output_schema property {name!r} has unknown type {unknown[0]!r}; "
                f"use one of {sorted(_JSON_TYPES)}"
            )
    _check_column_names(properties, "output_schema property")


def _fingerprint(payload: Mapping[str, Any]) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclasses.dataclass(frozen=True)
class FindAllRequest:
    """A FindAll run to create: ``POST /v1/findall/runs``.

    Give ``fields`` (entity attribute names) or ``output_schema`` (a JSON
    Schema for entity objects), or neither for the server's default fields.
    """

    query: str
    fields: tuple[str, ...] | None = None
    output_schema: Mapping[str, Any] | None = None
    limit: int | None = None
    generator: FindAllGenerator | None = None
    metadata: Mapping[str, Any] | None = None

    kind: Literal["findall"] = dataclasses.field(default="findall", init=False)

    def __post_init__(self) -> None:
        _check_query(self.query)
        _check_limit(self.limit)
        if self.fields is not None:
            text = _split_string(self.fields)
            if text is not None:
                _refuse_one_string("fields", "names", text)
            if not all(isinstance(f, str) and f.strip() for f in self.fields):
                raise ValueError(f"fields must be a list of non-empty names, got {self.fields!r}")
            if not self.fields:
                raise ValueError("fields must name at least one field (or be left out)")
            object.__setattr__(self, "fields", tuple(self.fields))
            _check_column_names(self.fields, "field")
        if self.fields is not None and self.output_schema is not None:
            raise ValueError("give either fields or output_schema, not both")
        if self.output_schema is not None:
            validate_output_schema(self.output_schema)
        if self.generator is not None and self.generator not in GENERATORS:
            raise ValueError(f"generator must be one of {GENERATORS}, got {self.generator!r}")

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"query": self.query}
        if self.fields is not None:
            body["fields"] = list(self.fields)
        if self.output_schema is not None:
            body["output_schema"] = dict(self.output_schema)
        if self.limit is not None:
            body["limit"] = self.limit
        if self.generator is not None:
            body["generator"] = self.generator
        if self.metadata is not None:
            body["metadata"] = dict(self.metadata)
        return body

    @property
    def fingerprint(self) -> str:
        """Stable hash of the request (metadata excluded: it does not change results)."""
        body = self.body()
        body.pop("metadata", None)
        return _fingerprint({"kind": self.kind, **body})


@dataclasses.dataclass(frozen=True)
class SearchRequest:
    """An async deep-search run to create: ``POST /v1/search`` with ``depth="deep"``."""

    queries: tuple[str, ...]
    objective: str | None = None
    limit: int | None = None
    country: str | None = None
    language: str | None = None
    include_domains: tuple[str, ...] | None = None
    exclude_domains: tuple[str, ...] | None = None
    freshness: str | None = None

    kind: Literal["search"] = dataclasses.field(default="search", init=False)

    def __post_init__(self) -> None:
        if isinstance(self.queries, str | Mapping | set | frozenset) or not self.queries:
            raise ValueError(f"queries must be a non-empty list of strings, got {self.queries!r}")
        object.__setattr__(self, "queries", tuple(self.queries))
        if len(self.queries) > MAX_SEARCH_QUERIES:
            raise ValueError(
                f"queries lists {len(self.queries)} queries; the most allowed is "
                f"{MAX_SEARCH_QUERIES}"
            )
        for index, query in enumerate(self.queries):
            _check_query(query, f"queries[{index}]")
        _check_limit(self.limit, MAX_SEARCH_LIMIT, " for a search")
        if self.objective is not None:
            _check_query(self.objective, "objective")
        for name in ("country", "language"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value.isalpha()):
                raise ValueError(f"{name} must be a short code such as 'us' or 'en', got {value!r}")
        for name in ("include_domains", "exclude_domains"):
            object.__setattr__(self, name, _check_domains(getattr(self, name), name))
        excluded = {d.casefold() for d in self.exclude_domains or ()}
        for domain in self.include_domains or ():
            if domain.casefold() in excluded:
                raise ValueError(
                    f"{domain!r} is in both include_domains and exclude_domains: keep it in one"
                )
        # The contract types freshness as a string and says no more of its form
        # (the emulator takes any string), so only that is checked.
        if self.freshness is not None and (
            not isinstance(self.freshness, str) or not self.freshness.strip()
        ):
            raise ValueError(f"freshness must be a non-empty string, got {self.freshness!r}")

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"queries": list(self.queries), "depth": "deep"}
        for name in ("objective", "limit", "country", "language", "freshness"):
            if getattr(self, name) is not None:
                body[name] = getattr(self, name)
        for name in ("include_domains", "exclude_domains"):
            if getattr(self, name) is not None:
                body[name] = list(getattr(self, name))
        return body

    @property
    def fingerprint(self) -> str:
        return _fingerprint({"kind": self.kind, **self.body()})


AnyRequest = TypeVar("AnyRequest", FindAllRequest, SearchRequest)


def request_field_names(kind: type[FindAllRequest] | type[SearchRequest]) -> tuple[str, ...]:
    """The create fields of a request, in declaration order: what a caller may set."""
    return tuple(field.name for field in dataclasses.fields(kind) if field.init)


def coerce_request(kind: type[AnyRequest], given: object, fields: Mapping[str, Any]) -> AnyRequest:
    """The request a call was given: a request object (``fields`` replacing
    some of its values), or the value of its first field (the query, the
    queries) with the rest as keywords, or only keywords. So every create field is named once,
    in the request class, and each caller takes them all."""
    unknown = sorted(set(fields) - set(request_field_names(kind)))
    if unknown:
        raise TypeError(
            f"{kind.__name__} has no field(s) {', '.join(unknown)}; its fields are "
            f"{', '.join(request_field_names(kind))}"
        )
    if isinstance(given, kind):
        return dataclasses.replace(given, **fields) if fields else given
    if isinstance(given, FindAllRequest | SearchRequest | Mapping):
        raise TypeError(
            f"expected a {kind.__name__}, got a {type(given).__name__}: write "
            f"{kind.__name__}(...) or pass its fields as keywords"
        )
    first = request_field_names(kind)[0]
    if given is None:
        return kind(**fields)
    if first in fields:
        raise TypeError(f"{first} is given twice: as the first argument and as {first}=")
    return kind(**{first: given, **fields})
