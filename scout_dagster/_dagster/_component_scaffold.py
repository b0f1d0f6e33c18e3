"""``dg scaffold defs`` for the Scout asset components: a ``defs.yaml`` or a
``component.py`` that loads as written."""

import textwrap
from typing import ClassVar

from dagster.components import Scaffolder, ScaffoldRequest
from pydantic import BaseModel, Field

from .._requests import FindAllRequest, SearchRequest
from ._component_request import request_field_names
from ._component_resources import _table_name
from ._resource import API_KEY_ENV

__all__: list[str] = []


class _ScaffoldParams(BaseModel):
    """``dg scaffold defs <type> <path> --json-params '{...}'``."""

    name: str | None = Field(
        default=None, description="Base name of the tables; default: the folder's name."
    )
    emulator_without_key: bool = Field(
        default=False,
        description="Opt in to the local emulator (synthetic data) for runs without a key.",
    )


class _ScoutScaffolder(Scaffolder[_ScaffoldParams]):
    """Writes a ``defs.yaml`` that ``dg check defs`` accepts as written."""

    #: The component's request block, indented under ``request:``.
    request_yaml: ClassVar[str]
    kind: ClassVar[type]
    tables: ClassVar[str]

    @classmethod
    def get_scaffold_params(cls) -> type[_ScaffoldParams]:
        return _ScaffoldParams

    def scaffold(self, request: ScaffoldRequest[_ScaffoldParams]) -> None:
        params = request.params or _ScaffoldParams()
        name = params.name or _table_name(request.target_path.name)
        if request.scaffold_format == "python":
            python = self._python(request, name, params.emulator_without_key)
            (request.target_path / "component.py").write_text(python)
            return
        text = self._yaml(request.type_name, name, params.emulator_without_key)
        if request.append:
            with open(request.target_path, "a") as file:
                file.write("---\n" + text)
        else:
            (request.target_path / "defs.yaml").write_text(text)

    def _yaml(self, type_name: str, name: str, emulator: bool) -> str:
        fields = ", ".join(request_field_names(self.kind))
        if emulator:
            opt_in = (
                "    # Opted in at scaffold time: a run whose process has no SCOUT_API_KEY\n"
                "    # uses the local Scout emulator (SYNTHETIC data, no credits) instead\n"
                "    # of failing. For demos and CI; set it to false for production.\n"
                "    emulator_without_key: true\n"
            )
        else:
            opt_in = (
                "    # Without the key a run fails before any request. For demos and CI,\n"
                "    # `emulator_without_key: true` uses the local Scout emulator instead\n"
                "    # (SYNTHETIC data, no credits).\n"
                "    emulator_without_key: false\n"
            )
        return (
            f"# {self.tables}\n"
            "# Check it with `dg check defs`; the attributes are in scout-dagster's\n"
            "# docs/components.md.\n"
            f"type: {type_name}\n"
            "\n"
            "attributes:\n"
            f"  name: {name}\n"
            f"  # The fields of scout_dagster.{self.kind.__name__}: {fields}.\n"
            "  request:\n"
            f"{textwrap.indent(self.request_yaml, '    ')}"
            "  timeout_s: 900  # cancel the remote run and fail after 15 minutes\n"
            "  credit_budget: 100  # cancel the remote run and fail past 100 credits\n"
            "  resource:\n"
            "    # The key is read from this variable where each run executes; it is\n"
            "    # never written in this file.\n"
            f"    api_key_env: {API_KEY_ENV}\n"
            f"{opt_in}"
            "  io_manager:\n"
            '    base_path: "{{ context.project_root }}/data/scout"\n'
        )

    def _python(self, request: ScaffoldRequest[_ScaffoldParams], name: str, emulator: bool) -> str:
        module, _, cls = request.type_name.rpartition(".")
        return (
            "import dagster as dg\n"
            f"from scout_dagster import {self.kind.__name__}\n"
            "from scout_dagster.components import ScoutIOManagerAttributes, "
            "ScoutResourceAttributes\n"
            f"from {module} import {cls}\n"
            "\n"
            "\n"
            "@dg.component_instance\n"
            f"def load(context: dg.ComponentLoadContext) -> {cls}:\n"
            f"    return {cls}(\n"
            f"        name={name!r},\n"
            f"        request={self.kind.__name__}({self.python_request}),\n"
            "        timeout_s=900,  # cancel the remote run and fail after 15 minutes\n"
            "        credit_budget=100,  # cancel the remote run and fail past 100 credits\n"
            f"        # The key is read from {API_KEY_ENV} where each run executes. Without it\n"
            "        # a run fails before any request; emulator_without_key=True uses the\n"
            "        # local Scout emulator instead (SYNTHETIC data, no credits): demos, CI.\n"
            "        resource=ScoutResourceAttributes(\n"
            f"            api_key_env={API_KEY_ENV!r}, emulator_without_key={emulator}\n"
            "        ),\n"
            "        io_manager=ScoutIOManagerAttributes(\n"
            '            base_path=f"{context.project_root.resolve()}/data/scout"\n'
            "        ),\n"
            "    )\n"
        )

    python_request: ClassVar[str]


class _FindAllScaffolder(_ScoutScaffolder):
    kind = FindAllRequest
    tables = "A Scout FindAll run as Parquet tables: <name>_entities and <name>_citations."
    request_yaml = (
        'query: "S-1 stage AI infrastructure companies"\n'
        "fields: [name, website, headquarters]\n"
        "limit: 10\n"
    )
    python_request = '"S-1 stage AI infrastructure companies", limit=10'


class _SearchScaffolder(_ScoutScaffolder):
    kind = SearchRequest
    tables = (
        "A Scout deep-search run as Parquet tables: <name>_results, <name>_sources,\n"
        "# <name>_findings and the Markdown <name>_report."
    )
    request_yaml = (
        "queries:\n"
        '  - "latest electric vehicle market trends"\n'
        'objective: "Where is the EV market going?"\n'
        "limit: 20\n"
    )
    python_request = '("latest electric vehicle market trends",), limit=20'
