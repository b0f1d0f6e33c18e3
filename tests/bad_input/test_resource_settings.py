"""A malformed base URL, one past the service root, or a missing or wrong API
key fails when the resource is built or initialized, before any paid request."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import (
    EnvVar,
    materialize,
)

from scout_dagster import (
    ScoutResource,
    build_findall_assets,
)
from scout_dagster._config import normalize_base_url
from scout_dagster.emulator import EmulatorServer
from tests.bad_input.support import (
    QUERY,
    URL_EXAMPLE,
    assert_nothing_written_or_running,
    error_chain,
    only_step_failure_description,
    resources,
)
from tests.conftest import TEST_KEY

# ---------------------------------------------------------------- base URL

MALFORMED_URLS = [
    pytest.param("core.usescout.sh", id="no-scheme"),
    pytest.param("ftp://x", id="ftp"),
    pytest.param("https://", id="no-host"),
]


def _url_sentence(url: str) -> str:
    return f"base_url must be an absolute http(s) URL such as {URL_EXAMPLE}, got {url!r}"


def _messages_with_base_url_from_environment(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> list[str]:
    """The messages of the error (and its causes) a FindAll materialization
    raises with ``SCOUT_BASE_URL`` set to ``url``."""
    monkeypatch.setenv("SCOUT_BASE_URL", url)
    scout = ScoutResource(api_key=TEST_KEY, base_url=EnvVar("SCOUT_BASE_URL"))
    with pytest.raises(Exception) as caught:
        materialize([build_findall_assets("ai", QUERY)], resources=resources(scout, tmp_path))
    return [str(e) for e in error_chain(caught.value)]


@pytest.mark.parametrize("url", MALFORMED_URLS)
def test_a_malformed_base_url_fails_when_the_resource_is_built(
    emulator: EmulatorServer, tmp_path: Path, url: str
) -> None:
    with pytest.raises(ValueError) as caught:
        ScoutResource(api_key=TEST_KEY, base_url=url)
    assert _url_sentence(url) in str(caught.value)
    assert_nothing_written_or_running(emulator, tmp_path, no_requests=True)


@pytest.mark.parametrize("url", MALFORMED_URLS)
def test_a_malformed_base_url_from_the_environment_fails_at_resource_init(
    emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    messages = _messages_with_base_url_from_environment(url, tmp_path, monkeypatch)
    assert any(_url_sentence(url) in m for m in messages), messages
    assert_nothing_written_or_running(emulator, tmp_path, no_requests=True)


# The client adds /v1/...; a base URL that already has it (or another version)
# sends every call to /v1/findall/v1/findall/runs or /v2/v1/..., a 404 at run time.
PAST_THE_ROOT_URLS = [
    pytest.param(
        "https://core.usescout.sh/v2",
        "base_url names API version 'v2', but this client speaks v1: ",
        "https://core.usescout.sh",
        id="v2",
    ),
    pytest.param(
        "https://proxy.example.com/scout/V3/",
        "base_url names API version 'V3', but this client speaks v1: ",
        "https://proxy.example.com/scout",
        id="v3-behind-a-proxy",
    ),
    pytest.param(
        "https://core.usescout.sh/v2/findall/runs",
        "base_url names API version 'v2', but this client speaks v1: ",
        "https://core.usescout.sh",
        id="v2-and-a-path",
    ),
    pytest.param(
        "https://core.usescout.sh/v1/findall",
        "base_url must not include the API's own path '/v1/findall': ",
        "https://core.usescout.sh",
        id="findall",
    ),
    pytest.param(
        "https://core.usescout.sh/v1/findall/runs/",
        "base_url must not include the API's own path '/v1/findall/runs': ",
        "https://core.usescout.sh",
        id="runs",
    ),
    pytest.param(
        "https://core.usescout.sh/v1/searches",
        "base_url must not include the API's own path '/v1/searches': ",
        "https://core.usescout.sh",
        id="searches",
    ),
    pytest.param(
        "https://core.usescout.sh/v1/search",
        "base_url must not include the API's own path '/v1/search': ",
        "https://core.usescout.sh",
        id="search",
    ),
    pytest.param(
        "https://proxy.example.com/scout/v1/lists",
        "base_url must not include the API's own path '/v1/lists': ",
        "https://proxy.example.com/scout",
        id="lists-behind-a-proxy",
    ),
]


def _root_sentence(url: str, start: str, root: str) -> str:
    return (
        f"{start}the base URL is the service root, e.g. {URL_EXAMPLE}; paths /v1/... are "
        f"added by the client: write {root!r} instead of {url!r}"
    )


@pytest.mark.parametrize(("url", "start", "root"), PAST_THE_ROOT_URLS)
def test_a_base_url_past_the_service_root_fails_when_the_resource_is_built(
    emulator: EmulatorServer, tmp_path: Path, url: str, start: str, root: str
) -> None:
    with pytest.raises(ValueError) as caught:
        ScoutResource(api_key=TEST_KEY, base_url=url)
    assert _root_sentence(url, start, root) in str(caught.value)
    assert_nothing_written_or_running(emulator, tmp_path, no_requests=True)


@pytest.mark.parametrize(("url", "start", "root"), PAST_THE_ROOT_URLS[::3])
def test_a_base_url_past_the_service_root_from_the_environment_fails_at_resource_init(
    emulator: EmulatorServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    url: str,
    start: str,
    root: str,
) -> None:
    messages = _messages_with_base_url_from_environment(url, tmp_path, monkeypatch)
    assert any(_root_sentence(url, start, root) in m for m in messages), messages
    assert_nothing_written_or_running(emulator, tmp_path, no_requests=True)


@pytest.mark.parametrize(
    ("url", "normalized"),
    [
        ("https://core.usescout.sh", "https://core.usescout.sh"),
        ("https://core.usescout.sh/", "https://core.usescout.sh"),
        ("https://core.usescout.sh/v1", "https://core.usescout.sh"),
        ("https://core.usescout.sh/v1/", "https://core.usescout.sh"),
        ("https://proxy.example.com/scout", "https://proxy.example.com/scout"),
        ("https://proxy.example.com/scout/v1/", "https://proxy.example.com/scout"),
        # A gateway's own version prefix, not Scout's API paths after it.
        ("https://gateway.example.com/v1/scout", "https://gateway.example.com/v1/scout"),
        ("http://127.0.0.1:8765", "http://127.0.0.1:8765"),
    ],
)
def test_base_urls_that_name_the_service_root_are_accepted(url: str, normalized: str) -> None:
    assert normalize_base_url(url) == normalized
    assert ScoutResource(api_key=TEST_KEY, base_url=url).base_url == normalized


# ---------------------------------------------------------------- API key

_EMPTY_KEY = (
    "api_key is empty: pass api_key=EnvVar('SCOUT_API_KEY') with the key of your "
    "Scout account set in that variable"
)
_UNSET_KEY = (
    'You have attempted to fetch the environment variable "SCOUT_API_KEY" which is not set. '
    "In order for this execution to succeed it must be set in this environment."
)


@pytest.mark.parametrize(
    ("environment", "api_key", "sentence"),
    [
        pytest.param(None, EnvVar("SCOUT_API_KEY"), _UNSET_KEY, id="EnvVar-unset"),
        pytest.param("", EnvVar("SCOUT_API_KEY"), _EMPTY_KEY, id="EnvVar-set-but-empty"),
        pytest.param(None, "", _EMPTY_KEY, id="literal-empty"),
        pytest.param(None, "   ", _EMPTY_KEY, id="literal-blank"),
    ],
)
def test_a_missing_api_key_fails_before_any_request(
    emulator: EmulatorServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    environment: str | None,
    api_key: str,
    sentence: str,
) -> None:
    # local_emulator stays False: no emulator is wanted. The base URL points at
    # the test emulator only so that a request, if one went out, is recorded.
    if environment is not None:
        monkeypatch.setenv("SCOUT_API_KEY", environment)
    # A literal blank key is refused when the resource is defined, an EnvVar's
    # value when the run starts: either way before any request.
    with pytest.raises(Exception) as caught:
        scout = ScoutResource(api_key=api_key, base_url=emulator.url)
        materialize([build_findall_assets("ai", QUERY)], resources=resources(scout, tmp_path))
    messages = [str(e) for e in error_chain(caught.value)]
    assert any(sentence in m for m in messages), messages
    assert "SCOUT_API_KEY" in sentence
    assert_nothing_written_or_running(emulator, tmp_path, no_requests=True)


def test_a_wrong_api_key_is_refused_by_the_server_with_our_hint(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    scout = ScoutResource(api_key="sk-not-the-right-key", base_url=emulator.url, max_retries=1)
    result = materialize(
        [build_findall_assets("ai", QUERY)],
        resources=resources(scout, tmp_path),
        raise_on_error=False,
    )
    description = only_step_failure_description(result)
    (request,) = emulator.ledger.requests
    assert description == (
        f"POST /v1/findall/runs returned 401: Invalid API key (request id {request.request_id})"
        ". Check SCOUT_API_KEY (or the resource's api_key)"
    )
    assert_nothing_written_or_running(emulator, tmp_path, no_requests=False)
