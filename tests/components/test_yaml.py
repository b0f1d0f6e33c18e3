"""The YAML form of the components: derived from the requests, checked at load.

The ``request:`` block is generated from the request dataclass's fields, so a
field added to a request is a field of the YAML; a bad value fails at load
with the request's (or the factory's) own message.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import pytest
from dagster import RetryPolicy
from dagster._core.definitions.policy import Backoff

from scout_dagster import FindAllRequest, SearchRequest
from scout_dagster._dagster._components import (
    ScoutResourceAttributes,
    _scout_resource,
    request_model,
)
from scout_dagster.components import ScoutFindAllComponent, ScoutSearchComponent
from scout_dagster.emulator import EmulatorServer
from tests.components.conftest import FINDALL, ROOT, SEARCH, defs_from_yaml
from tests.conftest import TEST_KEY


def load_error(components: Mapping[str, str]) -> str:
    """Everything the failed load says: the error, its causes and their tracebacks."""
    with pytest.raises(Exception) as raised, defs_from_yaml(components):
        pass
    return "".join(traceback.format_exception(raised.value))


def findall(request: str, more: str = "", base: Path = Path("/tmp/unused")) -> str:
    return f"""
        type: {FINDALL}
        attributes:
          name: companies
          request:
            {request}
          io_manager:
            base_path: "{base}"
          {more}
        """


# ---------------------------------------------------------------- the request's model


def init_fields(kind: type) -> list[str]:
    return [field.name for field in dataclasses.fields(kind) if field.init]


@pytest.mark.parametrize("kind", [FindAllRequest, SearchRequest])
def test_the_request_block_is_the_requests_fields(kind: type) -> None:
    model = request_model(kind)
    assert list(model.model_fields) == init_fields(kind)
    required = [name for name, info in model.model_fields.items() if info.is_required()]
    assert required == [
        field.name
        for field in dataclasses.fields(kind)
        if field.init
        and field.default is dataclasses.MISSING
        and field.default_factory is dataclasses.MISSING
    ]
    schema = model.model_json_schema()
    assert schema["additionalProperties"] is False
    component = ScoutFindAllComponent if kind is FindAllRequest else ScoutSearchComponent
    attributes = component.model().model_json_schema()
    assert attributes["properties"]["request"]["$ref"].endswith(f"/{kind.__name__}")


def test_a_request_model_is_derived_from_any_request_class() -> None:
    @dataclasses.dataclass(frozen=True)
    class WiderRequest(FindAllRequest):
        region: Literal["us", "eu"] | None = None
        exclude: tuple[str, ...] | None = None

    model = request_model(WiderRequest)
    assert list(model.model_fields) == [*init_fields(FindAllRequest), "region", "exclude"]
    parsed = model.model_validate({"query": "q", "region": "eu", "exclude": ["a.com"]})
    assert parsed.model_dump(exclude_unset=True) == {
        "query": "q",
        "region": "eu",
        "exclude": ["a.com"],
    }
    with pytest.raises(ValueError, match="region"):
        model.model_validate({"query": "q", "region": "asia"})


#: FindAllRequest with one more field, as if _requests.py had gained it, and
#: the unchanged component loaded after it.
WIDER_REQUEST = """
import dataclasses
from typing import Literal

import scout_dagster._requests as requests


@dataclasses.dataclass(frozen=True)
class FindAllRequest(requests.FindAllRequest):
    region: Literal["us", "eu"] | None = None
    exclude_domains: tuple[str, ...] | None = None


requests.FindAllRequest = FindAllRequest

from scout_dagster.components import ScoutFindAllComponent

schema = ScoutFindAllComponent.model().model_json_schema()
print(sorted(schema["$defs"]["FindAllRequest"]["properties"]))
component = ScoutFindAllComponent.from_attributes_dict(
    attributes={
        "name": "wide",
        "request": {"query": "q", "region": "eu", "exclude_domains": ["a.com"]},
    }
)
print(component.request.region, component.request.exclude_domains)
"""


def test_a_field_added_to_a_request_is_in_the_yaml_with_no_edit_to_the_component() -> None:
    # Imports only: no run, no instance; still no Scout settings of the developer's.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCOUT_", "DAGSTER_"))}
    result = subprocess.run(
        [sys.executable, "-c", WIDER_REQUEST],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    fields, values = result.stdout.strip().splitlines()[-2:]
    assert "'region'" in fields and "'exclude_domains'" in fields
    assert values == "eu ('a.com',)", "a YAML list is the tuple the request declares"


def test_the_yaml_request_is_the_request(tmp_path: Path) -> None:
    yaml = findall(
        'query: "S-1 stage AI infrastructure companies"\n'
        "            output_schema:\n"
        "              type: object\n"
        "              properties:\n"
        "                name: {type: string}\n"
        "                founded_year: {type: integer}\n"
        "            limit: 7\n"
        "            generator: core\n"
        "            metadata: {team: research}",
        "retry_policy: {max_retries: 2, delay: 5, backoff: exponential}",
        tmp_path,
    )
    with defs_from_yaml({"companies": yaml}) as defs:
        assets = defs.resolve_assets_def("companies_entities")
    assert assets.op.retry_policy == RetryPolicy(
        max_retries=2, delay=5, backoff=Backoff.EXPONENTIAL
    )
    component = ScoutFindAllComponent.from_attributes_dict(
        attributes={
            "name": "companies",
            "request": {"query": "q", "fields": ["name", "website"], "limit": 3},
        }
    )
    assert component.request == FindAllRequest("q", fields=("name", "website"), limit=3)


# ---------------------------------------------------------------- bad YAML


@pytest.mark.parametrize(
    ("request_yaml", "message"),
    [
        # The request's own checks, at load.
        (
            'query: "AI companies"\n            limit: 0',
            "limit must be a whole number of at least 1",
        ),
        ('query: "   "', "query must be a non-empty string"),
        ('query: "AI companies"\n            fields: [name, Name]', "differ only in case"),
        (
            'query: "AI companies"\n            fields: [entity_id]',
            "reserved for the entities table's own columns",
        ),
        (
            'query: "AI companies"\n            output_schema: {type: array}',
            'output_schema must have "type": "object"',
        ),
        # The shape, from the request's declared fields and types.
        ('query: "AI companies"\n            limt: 10', "limt"),
        ('query: "AI companies"\n            limit: "10"', "Input should be a valid integer"),
        ('query: "AI companies"\n            limit: true', "Input should be a valid integer"),
        ('query: "AI companies"\n            generator: turbo', "'base', 'core' or 'pro'"),
        ("fields: [name]", "query"),
    ],
    ids=[
        "limit-0",
        "blank-query",
        "fields-case",
        "reserved-field",
        "bad-output-schema",
        "unknown-field",
        "limit-as-text",
        "limit-as-bool",
        "unknown-generator",
        "no-query",
    ],
)
def test_a_bad_findall_request_fails_at_load(request_yaml: str, message: str) -> None:
    error = load_error({"companies": findall(request_yaml)})
    assert message in error
    assert "attributes.request" in error, "the message says where in the YAML"


def test_an_unknown_field_is_named_where_it_is(tmp_path: Path) -> None:
    error = load_error({"companies": findall('query: "AI companies"\n            limt: 10')})
    assert "attributes.request.limt" in error and "Extra inputs are not permitted" in error


def test_a_bad_search_request_fails_at_load() -> None:
    yaml = f"""
        type: {SEARCH}
        attributes:
          name: ev
          request:
            queries: ["EV trends"]
            include_domains: ["https://reuters.com/world"]
        """
    error = load_error({"ev": yaml})
    assert "write 'reuters.com' instead of 'https://reuters.com/world'" in error


def test_a_partitioned_asset_whose_query_names_no_partition_fails_at_load() -> None:
    yaml = findall(
        'query: "AI infrastructure companies"',
        "partitions_def: {type: daily, start_date: '2026-01-01'}",
    )
    error = load_error({"companies": yaml})
    assert "every partition would pay for the same run" in error


def test_a_placeholder_the_partitions_cannot_fill_fails_at_load() -> None:
    yaml = findall(
        'query: "AI companies in {region}"',
        "partitions_def: {type: daily, start_date: '2026-01-01'}",
    )
    error = load_error({"companies": yaml})
    assert "uses {region}, which this asset cannot fill" in error


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ("name: 'ai infra'", "name must be letters, digits and underscores"),
        ("timeout_s: -5", "timeout_s must be a positive number of seconds"),
        ("credit_budget: 0", "credit_budget must be at least 1 credit"),
        ("partitions_def: {start_date: '2026-01-01'}", "discriminator 'type'"),
        ("partitions_def: {type: yearly, start_date: '2026'}", "yearly"),
        ("resource: {emulator_without_key: 'yes'}", "Input should be a valid boolean"),
        ("resource: {emulator_without_key: 1}", "Input should be a valid boolean"),
        ("resource: {api_key: 'sk-123'}", "Extra inputs are not permitted"),
        (
            "resource: {api_key_env: 'sk-live-0123'}",
            "must name an environment variable",
        ),
        (
            "resource: {api_key_env: ACME_SCOUT_KEY, emulator_without_key: true}",
            "emulator_without_key works with api_key_env: SCOUT_API_KEY only",
        ),
        ("io_manager: {base_path: 's3//bucket/scout'}", "write 's3://bucket/scout'"),
        ("resource: {arrow_memory_pool: tcmalloc}", "'jemalloc', 'mimalloc', 'system'"),
    ],
    ids=[
        "name",
        "timeout",
        "budget",
        "partitions-without-type",
        "partitions-unknown-type",
        "opt-in-as-text",
        "opt-in-as-number",
        "literal-key",
        "key-as-variable-name",
        "opt-in-with-another-variable",
        "base-path",
        "memory-pool",
    ],
)
def test_bad_attributes_fail_at_load(attributes: str, message: str) -> None:
    yaml = f"""
        type: {FINDALL}
        attributes:
          name: companies
          request:
            query: "AI companies"
          {attributes}
        """
    if attributes.startswith("name:"):
        yaml = yaml.replace("          name: companies\n", "")
    assert message in load_error({"companies": yaml})


def test_two_components_that_disagree_on_a_resource_key_are_named() -> None:
    quiet = findall('query: "AI companies"')
    opted_in = findall('query: "EV companies"', "resource: {emulator_without_key: true}")
    error = load_error({"ai": quiet, "ev": opted_in.replace("name: companies", "name: ev")})
    assert "bind the resource key 'scout' with different resource settings" in error
    assert "emulator_without_key: False vs True" in error
    assert "resource: {key: scout_" in error, "the message says how to fix it"


def test_a_component_of_its_own_key_binds_its_own_resource(tmp_path: Path) -> None:
    quiet = findall('query: "AI companies"', base=tmp_path)
    opted_in = findall(
        'query: "EV companies"',
        "resource: {key: scout_demo, emulator_without_key: true}",
        tmp_path,
    ).replace("name: companies", "name: ev")
    with defs_from_yaml({"ai": quiet, "ev": opted_in}) as defs:
        resources: Any = defs.resources
        assets = defs.resolve_assets_def("ev_entities")
    assert resources["scout"].emulator_without_key is False
    assert resources["scout_demo"].emulator_without_key is True
    assert assets.required_resource_keys >= {"scout_demo"}


def test_the_memory_pool_of_the_yaml_is_the_resources(tmp_path: Path) -> None:
    yaml = findall('query: "AI companies"', "resource: {arrow_memory_pool: unchanged}", tmp_path)
    with defs_from_yaml({"ai": yaml}) as defs:
        resources: Any = defs.resources
    assert resources["scout"].arrow_memory_pool == "unchanged"


def test_another_variable_is_read_where_the_run_executes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ACME_SCOUT_KEY", "sk-acme-not-in-config")
    resource = _scout_resource(ScoutResourceAttributes(api_key_env="ACME_SCOUT_KEY"), "")
    # Only the name is kept in the config; Dagster reads it where the run executes.
    assert "sk-acme-not-in-config" not in repr(resource._get_non_default_public_field_values())
    assert resource.api_key == "ACME_SCOUT_KEY"


def test_partitions_set_by_post_processing_are_refused(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SCOUT_API_KEY", TEST_KEY)
    monkeypatch.setenv("SCOUT_BASE_URL", emulator.url)
    yaml = findall('query: "AI companies"', base=tmp_path) + textwrap.indent(
        textwrap.dedent("""
            post_processing:
              assets:
                - target: "*"
                  attributes:
                    partitions_def: {type: daily, start_date: "2026-01-01"}
        """),
        "        ",
    )
    with defs_from_yaml({"companies": yaml}) as defs:
        job = defs.resolve_implicit_global_asset_job_def()
        result = job.execute_in_process(partition_key="2026-01-02", raise_on_error=False)
    assert not result.success and emulator.ledger.creates() == 0, "refused before any run"
    failure = result.get_step_failure_events()[0].step_failure_data
    assert failure.error is not None and "names no partition" in failure.error.message
