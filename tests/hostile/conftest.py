"""Fixtures of the hostile-server tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from dagster import DagsterInstance


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    """An ephemeral Dagster instance (in memory), the sensor's and its runs'."""
    with DagsterInstance.ephemeral() as instance:
        yield instance
