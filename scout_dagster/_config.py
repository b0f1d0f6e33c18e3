"""Connection settings of the Scout client: base URL, API version, timeouts, retries.

Everything the contract leaves to us ([assumed] in ``docs/api-contract.md``)
and every default has its reason next to it, so there is one place to change.
"""

from __future__ import annotations

import dataclasses
import re
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "API_VERSION",
    "DEFAULT_BASE_URL",
    "DEFAULT_RETRY",
    "RetryPolicy",
    "normalize_base_url",
]

#: The real service. API paths (``/v1/...``) are appended to it.
DEFAULT_BASE_URL = "https://core.usescout.sh"

#: Sent as ``Scout-Version`` on every request, as Scout's own SDKs do (v0.1.0).
API_VERSION = "2026-06-21"


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """How one logical request is retried.

    An attempt is retried when it failed on the network (connect error, dropped
    connection, timeout, unreadable body) or the server answered 408, 409, 429
    or 5xx. Every non-GET request carries an ``Idempotency-Key`` that stays the
    same across its attempts, so a retried create never starts a second run.

    Attributes:
        max_attempts: attempts in all, the first included (1 disables retries).
        initial_backoff_s: backoff before the 2nd attempt, in seconds; it doubles
            per attempt (``min(initial * 2**n, max_backoff_s)``), then is
            jittered into ``[50 %, 100 %]`` of that so clients spread out.
        max_backoff_s: ceiling of the computed backoff, in seconds.
        max_retry_after_s: a server's ``Retry-After`` is honoured up to this
            many seconds (Scout's SDKs cap it at 60).
        min_retry_after_s: and waited at least this long: a ``Retry-After``
            costs no attempt, so a tiny one must not become a request storm.
        total_budget_s: give up once this many seconds have passed (or been
            waited) since the first attempt, whatever ``max_attempts`` says;
            ``None`` means no time budget. A 429 that carries ``Retry-After``
            does not use up an attempt, only this budget: the server is pacing
            the client, not failing.
    """

    max_attempts: int = 5
    initial_backoff_s: float = 0.5
    max_backoff_s: float = 8.0
    max_retry_after_s: float = 60.0
    min_retry_after_s: float = 1.0
    total_budget_s: float | None = 300.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        for name in (
            "initial_backoff_s",
            "max_backoff_s",
            "max_retry_after_s",
            "min_retry_after_s",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, got {getattr(self, name)}")
        if self.total_budget_s is not None and self.total_budget_s <= 0:
            raise ValueError(f"total_budget_s must be positive or None, got {self.total_budget_s}")

    def backoff_s(self, retry_number: int, jitter: float) -> float:
        """Delay before retry ``retry_number`` (1-based); ``jitter`` in [0, 1)."""
        base = min(self.initial_backoff_s * 2 ** (retry_number - 1), self.max_backoff_s)
        return float(base * (0.5 + jitter / 2))


DEFAULT_RETRY = RetryPolicy()


#: First path segments of the API under ``/v1`` (the contract's paths and aliases).
_API_RESOURCES = frozenset({"findall", "lists", "search", "searches", "monitors"})
_VERSION_SEGMENT = re.compile(r"v\d+", re.IGNORECASE)


def normalize_base_url(base_url: str) -> str:
    """Check a base URL and return it without a trailing ``/`` or ``/v1``.

    ``https://core.usescout.sh``, ``https://core.usescout.sh/`` and
    ``https://core.usescout.sh/v1`` all mean the same service, so all are
    accepted, as is a proxy prefix (``https://proxy.example.com/scout``).
    Refused, with a message that says what is wrong: anything that is not an
    absolute http(s) URL; a path ending in another API version
    (``.../v2``), which this client does not speak; and a path that goes past
    the version into the API (``.../v1/findall``), which the client adds itself.
    """
    text = base_url.strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"base_url must be an absolute http(s) URL such as {DEFAULT_BASE_URL!r}, "
            f"got {base_url!r}"
        )
    try:
        parts.port  # noqa: B018  (raises on a malformed port)
    except ValueError as exc:
        raise ValueError(f"base_url has an invalid port: {base_url!r}") from exc
    if parts.query or parts.fragment:
        raise ValueError(f"base_url must not carry a query or fragment, got {base_url!r}")
    segments = parts.path.rstrip("/").split("/")
    for index, segment in enumerate(segments):
        if not _VERSION_SEGMENT.fullmatch(segment):
            continue
        rest = segments[index + 1 :]
        into_the_api = bool(rest) and rest[0].lower() in _API_RESOURCES
        if not rest and segment.lower() == "v1":
            segments = segments[:index]  # ``.../v1``: the client adds it itself
            break
        if into_the_api or not rest:
            root = urlunsplit((parts.scheme, parts.netloc, "/".join(segments[:index]), "", ""))
            if segment.lower() == "v1":
                api_path = "/" + "/".join(segments[index:])
                problem = f"base_url must not include the API's own path {api_path!r}"
            else:
                problem = f"base_url names API version {segment!r}, but this client speaks v1"
            raise ValueError(
                f"{problem}: the base URL is the service root, e.g. {DEFAULT_BASE_URL!r}; "
                f"paths /v1/... are added by the client: write {root!r} instead of {base_url!r}"
            )
    return urlunsplit((parts.scheme, parts.netloc, "/".join(segments), "", ""))
