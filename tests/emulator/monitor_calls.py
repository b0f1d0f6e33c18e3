"""What the emulator's monitor tests share: the calls they make over HTTP
and the conversions between the API's timestamps and the emulator's clock."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
from httpx_sse import ServerSentEvent, connect_sse

from scout_dagster.emulator import (
    EmulatorServer,
)

QUERY = "battery recycling startups"
HOUR = 3600.0
EVENT_ID = re.compile(r"^mev_[0-9a-f]{12}_\d{6}$")

Json = dict[str, Any]


def create_monitor(client: httpx.Client, **body: object) -> Json:
    payload: dict[str, object] = {"query": QUERY, "cadence": "hourly", **body}
    response = client.post("/v1/monitors", json=payload)
    assert response.status_code == 200, response.text
    return dict(response.json())


def list_events(client: httpx.Client, monitor_id: str, **params: object) -> list[Json]:
    response = client.get(f"/v1/monitors/{monitor_id}/events", params=params)  # type: ignore[arg-type]
    assert response.status_code == 200, response.text
    return list(response.json())


def run_monitor(client: httpx.Client, monitor_id: str) -> Json:
    response = client.post(f"/v1/monitors/{monitor_id}/run")
    assert response.status_code == 200, response.text
    return dict(response.json())


def sse_events(
    client: httpx.Client, url: str, headers: dict[str, str] | None = None
) -> Iterator[ServerSentEvent]:
    with connect_sse(client, "GET", url, headers=dict(headers or {})) as source:
        yield from source.iter_sse()


def virtual_seconds(emu: EmulatorServer, stamp: str) -> float:
    """An API timestamp back in virtual seconds of the emulator's clock."""
    return datetime.fromisoformat(stamp).timestamp() - emu.state.timestamps.epoch


def wall_time(emu: EmulatorServer, virtual_s: float) -> datetime:
    return datetime.fromtimestamp(emu.state.timestamps.epoch + virtual_s, UTC)
