"""The YAML models of a component's ``partitions_def`` and ``retry_policy``."""

# Dagster derives the YAML schema from these annotations at run time, so they
# must stay real objects (no `from __future__ import annotations`).

from typing import Annotated, Any, Literal

from dagster import (
    Backoff,
    Jitter,
    MonthlyPartitionsDefinition,
    PartitionsDefinition,
    RetryPolicy,
)
from dagster.components import Model, ResolutionContext, Resolver

# Dagster's own YAML models of partitions definitions (those of its asset
# attributes); it has none for monthly partitions, which is added here.
from dagster.components.resolved.core_models import (
    DailyPartitionsDefinitionModel,
    HourlyPartitionsDefinitionModel,
    StaticPartitionsDefinitionModel,
    TimeWindowPartitionsDefinitionModel,
    WeeklyPartitionsDefinitionModel,
    resolve_partitions_def,
)
from pydantic import Field

__all__ = [
    "MonthlyPartitionsDefinitionModel",
    "ResolvedPartitionsDefinition",
    "ResolvedRetryPolicy",
    "RetryPolicyModel",
]

# ---------------------------------------------------------------- partitions


class MonthlyPartitionsDefinitionModel(Model):
    """Monthly partitions (``dagster.MonthlyPartitionsDefinition``)."""

    type: Literal["monthly"] = "monthly"
    start_date: str
    end_date: str | None = None
    timezone: str | None = None
    minute_offset: int = 0
    hour_offset: int = 0
    day_offset: int = 1


_PartitionsModel = Annotated[
    HourlyPartitionsDefinitionModel
    | DailyPartitionsDefinitionModel
    | WeeklyPartitionsDefinitionModel
    | MonthlyPartitionsDefinitionModel
    | TimeWindowPartitionsDefinitionModel
    | StaticPartitionsDefinitionModel,
    # Dagster's models default their `type`; a partitions block must say which.
    Field(discriminator="type"),
]


def _resolve_partitions(context: ResolutionContext, model: Any) -> PartitionsDefinition | None:
    if model is None or isinstance(model, PartitionsDefinition):
        return model
    if isinstance(model, MonthlyPartitionsDefinitionModel):
        return MonthlyPartitionsDefinition(
            start_date=model.start_date,
            end_date=model.end_date,
            timezone=model.timezone,
            minute_offset=model.minute_offset,
            hour_offset=model.hour_offset,
            day_offset=model.day_offset,
        )
    if isinstance(model, str):
        raise ValueError(
            "partitions_def must be a mapping with a type (hourly, daily, weekly, monthly, "
            "time_window, static), or a template that gives a PartitionsDefinition, "
            f"got {model!r}"
        )
    partitions: PartitionsDefinition | None = resolve_partitions_def(context, model)
    return partitions


ResolvedPartitionsDefinition = Annotated[
    PartitionsDefinition | None,
    Resolver(
        _resolve_partitions,
        model_field_type=_PartitionsModel | None,
        description="The partitions of every table: one remote run per partition. The "
        "request's query (or queries, objective) must name the partition, e.g. "
        "'... on {start:%B %d, %Y}'.",
        examples=[{"type": "daily", "start_date": "2026-01-01"}],
    ),
]


# ---------------------------------------------------------------- retries


class RetryPolicyModel(Model):
    """``dagster.RetryPolicy`` of the step: a retry adopts the remote run the
    failed attempt started (one Idempotency-Key), so it never pays twice."""

    max_retries: int = 1
    delay: float | None = None
    backoff: Literal["linear", "exponential"] | None = None
    jitter: Literal["full", "plus_minus"] | None = None


def _resolve_retry_policy(context: ResolutionContext, model: Any) -> RetryPolicy | None:
    if model is None or isinstance(model, RetryPolicy):
        return model
    if not isinstance(model, RetryPolicyModel):
        raise ValueError(f"retry_policy must be a mapping (max_retries, delay, ...), got {model!r}")
    return RetryPolicy(
        max_retries=model.max_retries,
        delay=model.delay,
        backoff=Backoff[model.backoff.upper()] if model.backoff else None,
        jitter=Jitter[model.jitter.upper()] if model.jitter else None,
    )


ResolvedRetryPolicy = Annotated[
    RetryPolicy | None,
    Resolver(_resolve_retry_policy, model_field_type=RetryPolicyModel | None),
]
