"""Checking config values that may be given as ``EnvVar``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dagster import EnvVar

__all__ = ["check_literal"]


def check_literal(value: Any, check: Callable[[str], str]) -> Any:
    """``check(value)`` for a literal string; an ``EnvVar`` (a str naming the
    variable) or anything else passes as it is. Dagster builds the resource
    again with the variable's value when a run starts (before any asset runs,
    so before any paid run), and that value is checked then."""
    if isinstance(value, EnvVar) or not isinstance(value, str):
        return value
    return check(value)
