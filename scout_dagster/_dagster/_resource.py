"""``ScoutResource``: the Scout client as a Dagster resource."""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    ConfigurableResource,
    EnvVar,
    InitResourceContext,
    Output,
    get_dagster_logger,
)
from pydantic import BaseModel, Field, PrivateAttr, field_validator

from .._arrow_pool import MemoryPoolName, pool_chosen_by_environment, use_memory_pool
from .._config import DEFAULT_BASE_URL, RetryPolicy, normalize_base_url
from .._errors import ScoutConfigError
from .._local_emulator import EMULATOR_API_KEY, emulator_url, ensure_local_emulator
from .._requests import FindAllRequest, SearchRequest
from ._literal import check_literal

if TYPE_CHECKING:
    from .._client import ScoutClient

__all__ = ["ScoutResource"]

#: Where the key is read when the resource is given none: the environment of
#: the process that runs the step (a run worker, or the Celery worker, pod or
#: container of a step), not that of the process that loads the code location.
API_KEY_ENV = "SCOUT_API_KEY"

#: The error of a run with no key and no opt-in to the emulator.
NO_KEY_MESSAGE = (
    f"no Scout API key: {API_KEY_ENV} is not set where this run executes and the "
    f"resource was given no api_key. Set {API_KEY_ENV} in the environment of the run "
    f"workers (or pass api_key=EnvVar('{API_KEY_ENV}')). Nothing was sent and nothing "
    "was written. For synthetic data from the local emulator instead, opt in "
    "explicitly: ScoutResource.from_env(emulator_without_key=True), or "
    "ScoutResource.for_local_emulator() (in a Component's defs.yaml: "
    "resource: {emulator_without_key: true})"
)

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


def _prepare_for_runs() -> None:
    """Import and build what a run's step uses, as the step's resources are set up.

    Loading definitions (a code server, ``dg check defs``) needs none of it,
    so none of it is imported or built then; a step needs all of it, once per
    process, and pays for it here, before the step starts:

    - pandas, when it is installed, and pyarrow's bridge to it: pyarrow
      imports both (if it can) the first time it builds an array from Python
      objects, which every table of a run does (0.3 s in the middle of the
      step's first parse otherwise), so one such array is built here;
    - the codec the socket module encodes a host name with, which it imports
      on the process's first connection (the run's create otherwise);
    - the execution modules: the HTTP client, the follower, the tables and
      the Parquet store (pyarrow);
    - the validators of the API's records, which are built on first use.
    """
    importlib.import_module("pyarrow").array([0])
    importlib.import_module("encodings.idna")
    importlib.import_module("scout_dagster._dagster._execution")
    importlib.import_module("scout_dagster._storage")
    pending: list[type[BaseModel]] = [BaseModel]
    while pending:
        for record in pending.pop().__subclasses__():
            pending.append(record)
            if record.__module__.split(".")[0] == "scout_dagster" and not getattr(
                record, "__pydantic_complete__", True
            ):
                record.model_rebuild()


class ScoutResource(ConfigurableResource["ScoutResource"]):
    """Access to the Scout API for assets.

    The client is built once per execution and closed after it. It never talks
    to an emulator unless told to in so many words: without a key a run fails
    before any request.

    Examples:
        The real service, key read where the run executes (``SCOUT_API_KEY``)::

            ScoutResource.from_env()          # or: ScoutResource(api_key=EnvVar("SCOUT_API_KEY"))

        Another deployment (or a proxy)::

            ScoutResource(api_key=EnvVar("SCOUT_API_KEY"), base_url=EnvVar("SCOUT_BASE_URL"))

        Demos and CI: the real API when ``SCOUT_API_KEY`` is set, else the local
        emulator (synthetic data, said loudly in the log)::

            ScoutResource.from_env(emulator_without_key=True)

        Always the local emulator::

            ScoutResource.for_local_emulator()
    """

    api_key: str | None = Field(
        default=None,
        description=f"Scout API key, sent as a Bearer token. Unset: read from {API_KEY_ENV} "
        "in the process that runs the step, not where the code location loads. "
        "Or EnvVar('SCOUT_API_KEY').",
    )
    base_url: str = Field(
        default=DEFAULT_BASE_URL,
        description="Service root; paths /v1/... are appended. SCOUT_BASE_URL sets it "
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
    cancel_on_termination: bool = Field(
        default=True,
        description="Cancel the remote run when the Dagster run is terminated (the step "
        "watches the run's status through the instance, under every executor). Turn it "
        "off where step processes are killed on purpose (autoscaled pods): the remote "
        "run then keeps going and the re-execution adopts it.",
    )
    local_emulator: bool = Field(
        default=False,
        description="Talk to the machine's shared Scout emulator at base_url, starting it "
        "if needed: synthetic data. For demos, tests and CI; never set with a real key.",
    )
    emulator_without_key: bool = Field(
        default=False,
        description=f"Where a run executes with no key (no api_key, no {API_KEY_ENV}), use "
        "the local emulator (synthetic data) instead of failing. For demos and CI only.",
    )

    arrow_memory_pool: MemoryPoolName = Field(
        default="jemalloc",
        description="The Arrow memory pool of the processes that run steps, set for the "
        "whole process as a run's resources are set up: jemalloc (measured faster than "
        "pyarrow's default, mimalloc, on a run's tables), mimalloc, system, or unchanged "
        "(pyarrow's choice, or your own set_memory_pool). ARROW_DEFAULT_MEMORY_POOL wins "
        "where set.",
    )

    _client: ScoutClient | None = PrivateAttr(default=None)
    _uses_emulator: bool = PrivateAttr(default=False)

    @field_validator("api_key", mode="before")
    @classmethod
    def _keep_literal_keys_out_of_config(cls, value: Any) -> Any:
        # An EnvVar stores only the variable's name; the emulator's key is no secret.
        if value is None or isinstance(value, EnvVar) or not isinstance(value, str):
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
    def from_env(
        cls,
        *,
        emulator_without_key: bool = False,
        cancel_on_termination: bool = True,
        arrow_memory_pool: MemoryPoolName = "jemalloc",
    ) -> ScoutResource:
        """The real API, with the key read from ``SCOUT_API_KEY`` where each run
        executes (not where the code location is loaded), and the service from
        ``SCOUT_BASE_URL`` if set.

        Without a key a run fails before any request, unless
        ``emulator_without_key=True`` asks for the local emulator instead (a
        base URL without a key still fails: someone meant that service).
        ``cancel_on_termination``, ``arrow_memory_pool``: see the fields.
        Makes no network call and starts nothing.
        """
        base_url = os.environ.get("SCOUT_BASE_URL", "").strip() or DEFAULT_BASE_URL
        if emulator_without_key and not os.environ.get(API_KEY_ENV, "").strip():
            get_dagster_logger().warning(
                "%s is not set here: Scout assets whose runs execute without it will use "
                "the LOCAL EMULATOR (SYNTHETIC data, no credits), as this code location "
                "asks (emulator_without_key=True).",
                API_KEY_ENV,
            )
        return cls(
            base_url=base_url,
            emulator_without_key=emulator_without_key,
            cancel_on_termination=cancel_on_termination,
            arrow_memory_pool=arrow_memory_pool,
        )

    @classmethod
    def for_local_emulator(cls) -> ScoutResource:
        """The machine's shared local emulator (``SCOUT_EMULATOR_PORT``, default
        8787), started on first use: synthetic data, no credits."""
        return cls(api_key=EMULATOR_API_KEY, base_url=emulator_url(), local_emulator=True)

    def __repr__(self) -> str:
        return (
            f"ScoutResource(base_url={self.base_url!r}, api_key=***, "
            f"local_emulator={self.local_emulator}, "
            f"emulator_without_key={self.emulator_without_key})"
        )

    __str__ = __repr__

    @property
    def uses_emulator(self) -> bool:
        """Whether the execution's client talks to the local emulator (after setup)."""
        return self._uses_emulator

    def setup_for_execution(self, context: InitResourceContext) -> None:
        _prepare_for_runs()
        if context.run is not None:  # a run's steps; not a sensor's tick
            self._use_memory_pool(context.log or get_dagster_logger())
        self._client = self._build_client(context.log)

    def _use_memory_pool(self, log: Any) -> None:
        wanted = self.arrow_memory_pool
        pool = use_memory_pool(wanted)
        if wanted not in ("unchanged", pool) and not pool_chosen_by_environment():
            log.warning(
                "arrow_memory_pool is %s, which this pyarrow is built without: Arrow "
                "allocates from %s",
                wanted,
                pool,
            )
        else:
            log.debug("Arrow memory pool: %s", pool)

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _connection(self) -> tuple[str, str, bool]:
        """(key, base URL, local emulator?) for this process, or the reason there is none."""
        given = _key_behind(self.api_key) if self.api_key else None
        if self.local_emulator:
            # Never the account's key from the environment: the emulator needs none.
            return given or EMULATOR_API_KEY, self.base_url, True
        key = given or os.environ.get(API_KEY_ENV, "").strip() or None
        if key is not None:
            return key, self.base_url, False
        if not self.emulator_without_key:
            raise ScoutConfigError(NO_KEY_MESSAGE)
        if self.base_url != DEFAULT_BASE_URL:
            # Someone meant a particular service; do not quietly use the emulator.
            raise ScoutConfigError(
                f"base_url is {self.base_url} (SCOUT_BASE_URL?) but {API_KEY_ENV} is not "
                "set: set the key for that service (for an emulator you run yourself, its "
                f"key, {EMULATOR_API_KEY!r} by default), or unset SCOUT_BASE_URL to use the "
                "local emulator"
            )
        return EMULATOR_API_KEY, emulator_url(), True

    def _build_client(self, log: Any = None) -> ScoutClient:
        # httpx and the client on first use: loading definitions needs neither.
        from .._client import ScoutClient

        key, base_url, emulator = self._connection()
        self._uses_emulator = emulator
        if emulator:
            (log or get_dagster_logger()).warning(
                "Scout resource is using the LOCAL EMULATOR at %s: SYNTHETIC DATA, no real "
                "API calls, no credits. Set %s where runs execute to use the real service.",
                base_url,
                API_KEY_ENV,
            )
            ensure_local_emulator(base_url)
        return ScoutClient(
            key,
            base_url=base_url,
            timeout=self.request_timeout_s,
            retry=RetryPolicy(
                max_attempts=self.max_retries + 1,
                initial_backoff_s=self.retry_backoff_s,
                total_budget_s=self.retry_budget_s,
            ),
            # In a step, the step's log: retries and slow answers are in the run's log.
            logger=log if isinstance(log, logging.Logger) else None,
        )

    def run_findall(
        self, context: AssetExecutionContext, request: FindAllRequest
    ) -> Iterator[Output[Any] | AssetCheckResult]:
        """Materialize the assets of ``@scout_findall_assets``: create the run
        (or adopt the one an earlier attempt started), follow it to its end
        within the deadline, cancel it on timeout or termination, and yield
        both tables and the checks. ``request`` is the decorator's."""
        from ._execution import materialize_findall

        yield from materialize_findall(context, self, request)

    def run_search(
        self, context: AssetExecutionContext, request: SearchRequest
    ) -> Iterator[Output[Any] | AssetCheckResult]:
        """Materialize the assets of ``@scout_search_assets``, as :meth:`run_findall`."""
        from ._execution import materialize_search

        yield from materialize_search(context, self, request)

    def get_client(self) -> ScoutClient:
        """The execution's client (built on first use outside an execution)."""
        if self._client is None:
            self._client = self._build_client()
        return self._client
