"""Request bodies and query parameters the API accepts, and their 422 answers.

Bodies are validated by pydantic models strict enough to catch client bugs
(a ``limit`` of ``"5"`` or ``true`` is rejected, a blank ``query`` too) yet
tolerant of fields this contract does not know (they are ignored, as a
FastAPI server does). Failures become FastAPI-shaped 422 bodies:
``{"detail": [{"type", "loc": ["body", ...], "msg", "input"}]}``.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from ._cron import parse_cron

__all__ = [
    "CancelBody",
    "EmptyBody",
    "EnrichBody",
    "EventsQuery",
    "ExtendBody",
    "FindAllCreateBody",
    "InjectBody",
    "ListQuery",
    "MonitorCreateBody",
    "MonitorEventsQuery",
    "MonitorUpdateBody",
    "RequestInvalid",
    "SearchCreateBody",
    "parse_body",
    "parse_params",
]

Json = Any
# Non-blank: at least one non-whitespace character.
NonBlank = Annotated[StrictStr, StringConstraints(min_length=1, pattern=r"\S")]
# [assumed] bounds that keep one request from planning an unbounded timeline.
MAX_SEARCH_QUERIES = 20
MAX_SEARCH_LIMIT = 100
MAX_LIST_LIMIT = 100
MAX_MONITOR_LIMIT = 100
MAX_MONITOR_EVENTS_PAGE = 100


class RequestInvalid(Exception):
    """A request failed validation; ``errors`` is the 422 ``detail`` list."""

    def __init__(self, errors: list[dict[str, Json]]) -> None:
        super().__init__(errors)
        self.errors = errors


class _Body(BaseModel):
    # Unknown fields are ignored so Scout's own clients (which may send more
    # than this contract lists) are never refused.
    model_config = ConfigDict(extra="ignore")


def _check_output_schema(schema: dict[str, Json] | None) -> dict[str, Json] | None:
    if schema is None:
        return None
    if schema.get("type") != "object":
        raise ValueError('output_schema must be a JSON Schema with "type": "object"')
    if not isinstance(schema.get("properties"), dict):
        raise ValueError('output_schema must have a "properties" object')
    return schema


class FindAllMetadata(BaseModel):
    model_config = ConfigDict(extra="allow")

    title: StrictStr | None = None
    input: Json = None


class FindAllCreateBody(_Body):
    """``POST /v1/findall/runs`` (and the synchronous ``POST /v1/findall``)."""

    query: NonBlank
    fields: list[NonBlank] | None = None
    output_schema: dict[str, Json] | None = None
    limit: Annotated[StrictInt, Field(ge=1)] | None = None
    generator: Literal["base", "core", "pro"] = "base"
    metadata: FindAllMetadata | None = None

    _schema = field_validator("output_schema")(_check_output_schema)


class ExtendBody(_Body):
    """``POST .../extend``."""

    additional_limit: Annotated[StrictInt, Field(ge=1)]


class EnrichBody(_Body):
    """``POST .../enrich``: at least one of ``fields`` and ``output_schema``."""

    fields: list[NonBlank] | None = None
    output_schema: dict[str, Json] | None = None

    _schema = field_validator("output_schema")(_check_output_schema)

    @model_validator(mode="after")
    def _something_to_add(self) -> EnrichBody:
        if not self.fields and not self.output_schema:
            raise ValueError("give fields or output_schema to enrich with")
        return self


class CancelBody(_Body):
    """``POST .../cancel``: an empty body or ``{}``; anything in it is ignored."""


class EmptyBody(_Body):
    """A monitor's ``pause``, ``resume`` and ``run``: an empty body or ``{}``; the rest ignored."""


class SearchCreateBody(_Body):
    """``POST /v1/search``."""

    queries: Annotated[list[NonBlank], Field(min_length=1, max_length=MAX_SEARCH_QUERIES)]
    objective: StrictStr | None = None
    depth: Literal["shallow", "standard", "deep"]
    limit: Annotated[StrictInt, Field(ge=1, le=MAX_SEARCH_LIMIT)] = 10
    country: NonBlank = "us"
    language: NonBlank = "en"
    include_domains: list[StrictStr] | None = None
    exclude_domains: list[StrictStr] | None = None
    freshness: StrictStr | None = None


def _check_cron(cron: str | None) -> str | None:
    if cron is not None:
        parse_cron(cron)  # its ValueError says what is wrong
    return cron


def _check_webhook(url: str | None) -> str | None:
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("webhook must be an http or https URL")
    return url


Cadence = Literal["hourly", "daily", "weekly"]
MonitorLimit = Annotated[StrictInt, Field(ge=1, le=MAX_MONITOR_LIMIT)]


class MonitorCreateBody(_Body):
    """``POST /v1/monitors``: a query and exactly one of ``cadence`` and ``cron``."""

    query: NonBlank
    cadence: Cadence | None = None
    cron: StrictStr | None = None
    webhook: StrictStr | None = None
    limit: MonitorLimit = 10
    country: NonBlank = "us"
    language: NonBlank = "en"

    _cron = field_validator("cron")(_check_cron)
    _webhook = field_validator("webhook")(_check_webhook)

    @model_validator(mode="after")
    def _one_schedule(self) -> MonitorCreateBody:
        if (self.cadence is None) == (self.cron is None):
            raise ValueError("give exactly one of cadence and cron")
        return self


class MonitorUpdateBody(_Body):
    """``PATCH /v1/monitors/{id}``: any create field; fields left out keep their value.

    A ``cadence`` replaces the monitor's ``cron`` and vice versa; both at once
    is a 422, and so is an update that would leave neither. ``webhook: null``
    removes the webhook; the other fields cannot be null.
    """

    query: NonBlank | None = None
    cadence: Cadence | None = None
    cron: StrictStr | None = None
    webhook: StrictStr | None = None
    limit: MonitorLimit | None = None
    country: NonBlank | None = None
    language: NonBlank | None = None

    _cron = field_validator("cron")(_check_cron)
    _webhook = field_validator("webhook")(_check_webhook)

    @field_validator("query", "limit", "country", "language")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Runs only for values the body gave, so a left-out field stays unset.
        if value is None:
            raise ValueError("cannot be null")
        return value

    @model_validator(mode="after")
    def _schedule(self) -> MonitorUpdateBody:
        if self.cadence is not None and self.cron is not None:
            raise ValueError("give cadence or cron, not both")
        named = {"cadence", "cron"} & self.model_fields_set
        if named and self.cadence is None and self.cron is None:
            raise ValueError("a monitor keeps exactly one of cadence and cron: give one a value")
        return self


class MonitorEventsQuery(BaseModel):
    """``?after=&limit=`` of ``GET /v1/monitors/{id}/events`` (plus the stream's resume point)."""

    after: str | None = None
    last_event_id: str | None = None
    limit: Annotated[int, Field(ge=1, le=MAX_MONITOR_EVENTS_PAGE)] = MAX_MONITOR_EVENTS_PAGE


class ListQuery(BaseModel):
    """``?limit=&offset=`` of the list endpoints (newest first)."""

    limit: Annotated[int, Field(ge=1, le=MAX_LIST_LIMIT)] = 20
    offset: Annotated[int, Field(ge=0)] = 0


class EventsQuery(BaseModel):
    """``?last_event_id=`` of the event streams (the ``Last-Event-ID`` header wins)."""

    last_event_id: Annotated[int, Field(ge=0)] = 0


class InjectBody(BaseModel):
    """``POST /_emulator/faults/inject``."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal[
        "rate_limit", "server_error", "slow", "drop", "malformed_json", "stream_drop", "status"
    ]
    times: Annotated[int, Field(ge=1)] = 1
    method: str | None = None
    path: str | None = None
    status: Annotated[int, Field(ge=100, le=599)] | None = None
    message: str | None = None


_Model = TypeVar("_Model", bound=BaseModel)


def _located(error: ValidationError, location: str) -> list[dict[str, Json]]:
    details: list[dict[str, Json]] = json.loads(error.json(include_url=False))
    for detail in details:
        detail["loc"] = [location, *detail["loc"]]
    return details


def parse_body(model: type[_Model], raw: bytes, *, required: bool = True) -> _Model:
    """Validate a JSON request body against ``model`` or raise ``RequestInvalid``.

    An empty body counts as missing when ``required``, else as ``{}``.
    """
    if not raw.strip():
        if required:
            raise RequestInvalid(
                [{"type": "missing", "loc": ["body"], "msg": "Field required", "input": None}]
            )
        raw = b"{}"
    try:
        payload = json.loads(raw)
    except ValueError as error:
        raise RequestInvalid(
            [
                {
                    "type": "json_invalid",
                    "loc": ["body"],
                    "msg": "JSON decode error",
                    "input": {},
                    "ctx": {"error": getattr(error, "msg", str(error))},
                }
            ]
        ) from None
    try:
        return model.model_validate(payload)
    except ValidationError as error:
        raise RequestInvalid(_located(error, "body")) from None


def parse_params(model: type[_Model], params: dict[str, str], location: str = "query") -> _Model:
    """Validate query parameters (strings, converted leniently) or raise ``RequestInvalid``."""
    try:
        return model.model_validate(params)
    except ValidationError as error:
        raise RequestInvalid(_located(error, location)) from None
