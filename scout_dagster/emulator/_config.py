"""``EmulatorConfig``: timings, credits and keys of one emulator.

Durations of runs are in *virtual* seconds of the emulator's clock; the two
stream pacing knobs (``keepalive_s``, ``stream_tick_s``) are in REAL seconds,
because they pace bytes on a socket, not the simulated world.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DEFAULT_API_KEY", "EmulatorConfig"]

# The key an emulator accepts when none is configured. Not a secret.
DEFAULT_API_KEY = "scout-emulator-key"


class EmulatorConfig(BaseModel):
    """How an emulator behaves. Every field has a working default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    speed: float = Field(
        default=1.0,
        gt=0.0,
        description="Virtual seconds per real second of the default SystemClock "
        "(1000 makes a 40 s run take 40 ms). Ignored when a clock is passed explicitly.",
    )
    queued_s: float = Field(
        default=2.0, ge=0.0, description="Virtual seconds an async run stays queued."
    )
    findall_duration_s: float = Field(
        default=40.0,
        ge=0.0,
        description="Virtual seconds of a FindAll running phase (also each extend phase).",
    )
    search_duration_s: float = Field(
        default=30.0, ge=0.0, description="Virtual seconds a deep search runs."
    )
    enrich_duration_s: float = Field(
        default=10.0, ge=0.0, description="Virtual seconds of the phase an enrich call adds."
    )
    findall_heartbeat_s: float = Field(
        default=5.0,
        gt=0.0,
        description="Virtual seconds between findall.status heartbeat events while running.",
    )
    keepalive_s: float = Field(
        default=15.0,
        gt=0.0,
        description="REAL seconds between ': keep-alive' comment lines while a stream waits.",
    )
    stream_tick_s: float = Field(
        default=0.02,
        gt=0.0,
        description="REAL seconds between two looks at the timeline by an open stream.",
    )
    credit_balance: int | None = Field(
        default=None,
        description="Credits the account holds. When set, a create that would start with "
        "less than a FindAll run's fixed cost (or 1 credit for a search) left is a 402. "
        "None: unlimited.",
    )
    api_keys: tuple[str, ...] = Field(
        default=(),
        description="Bearer keys accepted in addition to the server's api_key argument. "
        f"When both are empty, {DEFAULT_API_KEY!r} is accepted.",
    )
