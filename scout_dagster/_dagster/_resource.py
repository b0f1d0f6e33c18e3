"""``ScoutResource``: the Scout client as a Dagster resource."""

from __future__ import annotations

import os
from typing import Any

from dagster import ConfigurableResource, EnvVar, InitResourceContext, get_dagster_logger
from pydantic import Field, PrivateAttr, field_validator

from .._client import ScoutClient
from .._config import DEFAULT_BASE_URL, RetryPolicy, normalize_base_url
from .._local_emulator import EMULATOR_API_KEY, emulator_url, ensure_local_emulator
from ._literal import check_literal

__all__ = ["ScoutResource"]

#: Keys given as literal strings, by reference. Dagster keeps a resource's
#: literal config values in its run storage (in the job snapshot), so the
#: resource's config holds only a reference and the key itself stays in this
#: process. Each Dagster process that runs an asset imports the code location,
#: which builds its resources in the same order, and with them the same
#: references again. A reference is the key's place in that order: it says
#: nothing of the key (a hash would let anyone with the run storage confirm
#: a guessed key).
_LITERAL_KEYS: dict[str, str] = {}
_REFERENCES: dict[str, str] = {}
_KEY_REFERENCE_PREFIX = "scout-key-ref:"


def _reference_to(key: str) -> str:
    reference = _REFERENCES.get(key)
    if reference is None:
        reference = f"{_KEY_REFERENCE_PREFIX}literal-key-{len(_REFERENCES) + 1}"
        _REFERENCES[key] = reference
    _LITERAL_KEYS[reference] = key
    return reference


def _key_behind(value: str) -> str:
    if not value.startswith(_KEY_REFERENCE_PREFIX):
        return value
    try:
        return _LITERAL_KEYS[value]
    except KeyError:
        raise ValueError(
            "the Scout API key was given as a literal string in another process and is not "
            "known here; pass it as api_key=EnvVar('SCOUT_API_KEY')"
        ) from None


class ScoutResource(ConfigurableResource["ScoutResource"]):
    """Access to the Scout API for assets.

    The client is built once per execution and closed after it.

    Examples:
        The real service, key from the environment::

            ScoutResource(api_key=EnvVar("SCOUT_API_KEY"))

        Another deployment (or a proxy)::

            ScoutResource(api_key=EnvVar("SCOUT_API_KEY"), base_url=EnvVar("SCOUT_BASE_URL"))

        Whatever the environment says, the local emulator when no key is set::

            ScoutResource.from_env()
    """

    api_key: str = Field(
        description="Scout API key, sent as a Bearer token. Use EnvVar('SCOUT_API_KEY').",
    )
    base_url: str = Field(
        default=DEFAULT_BASE_URL,
        description="Service root; paths /v1/... are appended. SCOUT_BASE_URL overrides it "
        "in from_env().",
        examples=[DEFAULT_BASE_URL, "http://127.0.0.1:8787"],
    )
    request_timeout_s: float = Field(
        default=30.0, gt=0, description="Timeout of one HTTP request, in seconds."
    )
    max_retries: int = Field(
        default=4,
        ge=0,
        description="Retries of a failed request (connection errors, 408/409/429/5xx), "
        "with jittered exponential backoff and Retry-After honoured.",
    )
    retry_backoff_s: float = Field(
        default=0.5,
        ge=0,
        description="Backoff before the first retry, in seconds; it doubles per retry up "
        "to 8 s and is jittered. Retry-After, when the server sends it, wins.",
    )
    retry_budget_s: float = Field(
        default=300.0,
        gt=0,
        description="Most seconds one request may spend retrying, waits included. A 429 "
        "that says when to come back (Retry-After) costs no retry, only this budget, so "
        "a backfill that meets the API's run-creation cap waits its turn.",
    )
    local_emulator: bool = Field(
        default=False,
        description="Talk to the machine's shared Scout emulator at base_url, starting it "
        "if needed. For demos, tests and CI; never set with a real key.",
    )

    _client: ScoutClient | None = PrivateAttr(default=None)

    @field_validator("api_key", mode="before")
    @classmethod
    def _keep_literal_keys_out_of_config(cls, value: Any) -> Any:
        # An EnvVar stores only the variable's name; the emulator's key is no secret.
        if isinstance(value, EnvVar) or not isinstance(value, str):
            return value
        if not value.strip():
            raise ValueError(
                "api_key is empty: pass api_key=EnvVar('SCOUT_API_KEY') with the key of your "
                "Scout account set in that variable"
            )
        if value.startswith(_KEY_REFERENCE_PREFIX) or value == EMULATOR_API_KEY:
            return value
        return _reference_to(value)

    @field_validator("base_url", mode="before")
    @classmethod
    def _check_base_url(cls, value: Any) -> Any:
        return check_literal(value, normalize_base_url)

    @classmethod
    def from_env(cls) -> ScoutResource:
        """The real API when ``SCOUT_API_KEY`` is set, else the local emulator.

        ``SCOUT_BASE_URL`` without ``SCOUT_API_KEY`` is an error, not the
        emulator. Makes no network call: the emulator is only found or
        started when an asset first uses the resource.
        """
        base_url = os.environ.get("SCOUT_BASE_URL", "").strip()
        if os.environ.get("SCOUT_API_KEY", "").strip():
            return cls(api_key=EnvVar("SCOUT_API_KEY"), base_url=base_url or DEFAULT_BASE_URL)
        if base_url:
            # Someone meant a particular service; do not quietly use the emulator.
            raise ValueError(
                f"SCOUT_BASE_URL is set ({base_url}) but SCOUT_API_KEY is not: set the key "
                "for that service (for an emulator you run yourself, its key, "
                f"{EMULATOR_API_KEY!r} by default), or unset SCOUT_BASE_URL to use the "
                "local emulator"
            )
        get_dagster_logger().warning(
            "SCOUT_API_KEY is not set: Scout assets will run against the LOCAL EMULATOR "
            "(synthetic data, no credits spent). Set SCOUT_API_KEY to use the real API."
        )
        return cls(api_key=EMULATOR_API_KEY, base_url=emulator_url(), local_emulator=True)

    def __repr__(self) -> str:
        return (
            f"ScoutResource(base_url={self.base_url!r}, api_key=***, "
            f"local_emulator={self.local_emulator})"
        )

    __str__ = __repr__

    def setup_for_execution(self, context: InitResourceContext) -> None:
        if self.local_emulator:
            context.log.warning(  # type: ignore[union-attr]
                "Scout resource is using the LOCAL EMULATOR at %s: synthetic data, "
                "no real API calls. Set SCOUT_API_KEY to use the real service.",
                self.base_url,
            )
            ensure_local_emulator(self.base_url)
        self._client = self._build_client()

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _build_client(self) -> ScoutClient:
        return ScoutClient(
            _key_behind(self.api_key),
            base_url=self.base_url,
            timeout=self.request_timeout_s,
            retry=RetryPolicy(
                max_attempts=self.max_retries + 1,
                initial_backoff_s=self.retry_backoff_s,
                total_budget_s=self.retry_budget_s,
            ),
        )

    def get_client(self) -> ScoutClient:
        """The execution's client (built on first use outside an execution)."""
        if self._client is None:
            if self.local_emulator:
                ensure_local_emulator(self.base_url)
            self._client = self._build_client()
        return self._client
