"""Queries that depend on the partition: ``"AI startups founded in {start:%B %Y}"``.

A template may use:

- ``{partition_key}``: the partition's key, with any partitions definition;
- ``{start}`` and ``{end}``: the time window of a time-window partition (or of
  the time dimension of a multi-partition), as ISO dates (``2026-01-01``) or
  ISO datetimes when not at midnight; a format spec is a ``strftime``
  pattern: ``{start:%B %Y}`` gives ``January 2026``;
- ``{<dimension>}``: a multi-partition's key in that dimension, e.g. ``{region}``.

Literal braces are doubled (``{{`` and ``}}``). Templates are checked when
the asset is defined: a placeholder the partitions definition cannot fill, or
a template with placeholders but no partitions, fails with a message that
lists what is available.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import string
import sys
from collections.abc import Mapping, Sequence

from dagster import (
    AssetExecutionContext,
    MultiPartitionKey,
    MultiPartitionsDefinition,
    PartitionsDefinition,
    TimeWindowPartitionsDefinition,
)

from .._requests import AnyRequest, FindAllRequest, SearchRequest

__all__ = [
    "QueryTemplate",
    "check_request_templates",
    "check_templates_use_partition",
    "partition_key_of",
    "partition_values",
    "render_request",
    "request_templates",
]

_SAMPLE_TIME = dt.datetime(2026, 1, 31, tzinfo=dt.UTC)


class _When:
    """A window bound that formats as an ISO date by default, or with strftime."""

    def __init__(self, value: dt.datetime) -> None:
        self.value = value

    def __format__(self, spec: str) -> str:
        if spec:
            return self.value.strftime(spec)
        midnight = self.value.time() == dt.time(0) and self.value.tzinfo in (None, dt.UTC)
        return self.value.date().isoformat() if midnight else self.value.isoformat()

    __str__ = __format__  # type: ignore[assignment]


# strftime's codes in Python's documentation, and glibc's common extras;
# anything else would pass through as text (``%Q`` stays ``%Q``). A code may
# carry glibc's flags, a width and an E/O modifier (``%-d``, ``%_5Y``, ``%Ey``)
# or be Python 3.12's ``%:z``.
_STRFTIME_CODES = frozenset("aAwdbBmyYHIpMSfzZjUWcxXGuV" + "eFDTRklPsntChgr")
_DIRECTIVE = re.compile(r"%(?:%|[-_0^#]?\d*[EO]?(:z|.?))")


def _check_strftime(spec: str, what: str) -> None:
    codes = [m.group(1) for m in _DIRECTIVE.finditer(spec) if m.group(0) != "%%"]
    if not codes:
        raise ValueError(
            f"{what}: a format for a window bound is a strftime pattern such as "
            "%Y-%m-%d, and this one has no % code"
        )
    if "" in codes:
        raise ValueError(f"{what}: the pattern ends with a lone %; write %% for a percent sign")
    known = _STRFTIME_CODES | ({":z"} if sys.version_info >= (3, 12) else set())
    unknown = sorted({code for code in codes if code not in known})
    if unknown:
        raise ValueError(
            f"{what}: unknown strftime code(s) {', '.join('%' + c for c in unknown)}; "
            "see https://docs.python.org/3/library/datetime.html#format-codes"
        )


def _time_dimension(partitions_def: PartitionsDefinition | None) -> bool:
    if isinstance(partitions_def, TimeWindowPartitionsDefinition):
        return True
    if isinstance(partitions_def, MultiPartitionsDefinition):
        return any(
            isinstance(d.partitions_def, TimeWindowPartitionsDefinition)
            for d in partitions_def.partitions_defs
        )
    return False


def available_placeholders(partitions_def: PartitionsDefinition | None) -> tuple[str, ...]:
    if partitions_def is None:
        return ()
    names = ["partition_key"]
    if _time_dimension(partitions_def):
        names += ["start", "end"]
    if isinstance(partitions_def, MultiPartitionsDefinition):
        names += [d.name for d in partitions_def.partitions_defs]
    return tuple(names)


@dataclasses.dataclass(frozen=True)
class QueryTemplate:
    """One text with placeholders, checked against a partitions definition."""

    text: str
    what: str  # names the field in messages: "query", "queries[1]", "objective"
    partitions_def: PartitionsDefinition | None
    #: The placeholders the text uses, in order.
    placeholders: tuple[str, ...] = dataclasses.field(default=(), init=False)

    def __post_init__(self) -> None:
        available = available_placeholders(self.partitions_def)
        try:
            fields = [
                (name, spec)
                for _, name, spec, _ in string.Formatter().parse(self.text)
                if name is not None
            ]
        except ValueError as exc:
            raise ValueError(
                f"{self.what} template {self.text!r} is malformed ({exc}); "
                "double literal braces as {{ and }}"
            ) from None
        object.__setattr__(self, "placeholders", tuple(name for name, _ in fields))
        for name, spec in fields:
            if name not in available:
                shown = ", ".join("{" + n + "}" for n in available) or "none (no partitions_def)"
                raise ValueError(
                    f"{self.what} uses {{{name}}}, which this asset cannot fill; "
                    f"available placeholders: {shown}"
                )
            if name in ("start", "end") and spec:
                _check_strftime(spec, f"{self.what} {{{name}:{spec}}}")
        sample: dict[str, object] = {name: "sample" for name in available}
        if "start" in available:
            sample.update(start=_When(_SAMPLE_TIME), end=_When(_SAMPLE_TIME))
        try:
            self.text.format(**sample)
        except (ValueError, TypeError) as exc:
            raise ValueError(
                f"{self.what} template {self.text!r} cannot be rendered: {exc}"
            ) from None

    def render(self, values: Mapping[str, object]) -> str:
        # Always format, so doubled braces become literal ones even without placeholders.
        try:
            return self.text.format(**values)
        except KeyError as exc:
            raise ValueError(
                f"{self.what} needs {{{exc.args[0]}}}, which this run does not provide: "
                "materialize a partition of this asset (a run needs a partition key)"
            ) from None


def check_templates_use_partition(
    templates: Sequence[QueryTemplate], partitions_def: PartitionsDefinition | None
) -> None:
    """A partitioned asset whose request names no partition would pay N times
    for the same run: refuse it at definition time."""
    if partitions_def is None or any(t.placeholders for t in templates):
        return
    shown = ", ".join("{" + n + "}" for n in available_placeholders(partitions_def))
    raise ValueError(
        f"this asset is partitioned, but its {' / '.join(t.what for t in templates)} names no "
        f"partition, so every partition would pay for the same run; use one of {shown} "
        "(e.g. 'AI startups founded in {start:%B %Y}'), or drop partitions_def"
    )


def partition_key_of(context: AssetExecutionContext) -> str | None:
    """The one partition this execution materializes, however Dagster named it.

    A run launched for a partition carries ``dagster/partition``; Dagster's
    asset backfills (the UI's "Launch backfill") tag even a one-partition run
    with a range, ``dagster/asset_partition_range_start`` and ``_end``, for
    which ``context.has_partition_key`` is False. Both name one partition
    here; a range of several is refused (one remote run per partition).
    """
    if context.has_partition_key:
        key: str = context.partition_key
    elif context.has_partition_key_range:
        keys = context.partition_key_range
        if keys.start != keys.end:
            raise ValueError(
                f"a Scout asset materializes one partition per run (one remote run each), "
                f"and this run asks for {keys.start}..{keys.end}; use "
                "BackfillPolicy.multi_run(1), the default of these assets"
            )
        key = keys.start
    else:
        return None
    partitions_def = context.assets_def.partitions_def
    if isinstance(partitions_def, MultiPartitionsDefinition) and not isinstance(
        key, MultiPartitionKey
    ):
        key = partitions_def.get_partition_key_from_str(key)
    return key


def partition_values(context: AssetExecutionContext, key: str | None) -> dict[str, object]:
    """What a template may use in this execution of partition ``key`` (see
    :func:`partition_key_of`; empty when unpartitioned)."""
    if key is None:
        return {}
    values: dict[str, object] = {"partition_key": key}
    if isinstance(key, MultiPartitionKey):
        values.update(key.keys_by_dimension)
    if _time_dimension(context.assets_def.partitions_def):
        window = context.partition_time_window
        values.update(start=_When(window.start), end=_When(window.end))
    return values


def request_templates(
    request: FindAllRequest | SearchRequest, partitions_def: PartitionsDefinition | None
) -> list[QueryTemplate]:
    """The texts of a request that may name the partition, each checked."""
    if isinstance(request, FindAllRequest):
        return [QueryTemplate(request.query, "query", partitions_def)]
    templates = [
        QueryTemplate(query, f"queries[{index}]", partitions_def)
        for index, query in enumerate(request.queries)
    ]
    if request.objective is not None:
        templates.append(QueryTemplate(request.objective, "objective", partitions_def))
    return templates


def check_request_templates(
    request: FindAllRequest | SearchRequest, partitions_def: PartitionsDefinition | None
) -> None:
    """At definition time: every template renders, and a partitioned asset's
    request names its partition."""
    check_templates_use_partition(request_templates(request, partitions_def), partitions_def)


def render_request(
    request: AnyRequest, partitions_def: PartitionsDefinition | None, values: Mapping[str, object]
) -> AnyRequest:
    """The request for one partition (checked again as a request: a rendered
    query must still be a valid one)."""
    rendered = [t.render(values) for t in request_templates(request, partitions_def)]
    if isinstance(request, FindAllRequest):
        return dataclasses.replace(request, query=rendered[0])
    objective = rendered.pop() if request.objective is not None else None
    return dataclasses.replace(request, queries=tuple(rendered), objective=objective)
