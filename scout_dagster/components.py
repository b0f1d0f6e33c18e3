"""Dagster Components for Scout: FindAll, deep-search and monitor assets in ``defs.yaml``.

Registered with ``dg`` (the ``dagster_dg_cli.registry_modules`` entry point),
so ``dg list components`` shows them and ``dg scaffold defs`` writes them::

    dg scaffold defs scout_dagster.components.ScoutFindAllComponent ai_infra
    dg check defs

See ``docs/components.md`` for the attributes.
"""

from ._dagster._components import (
    ScoutFindAllComponent,
    ScoutIOManagerAttributes,
    ScoutResourceAttributes,
    ScoutSearchComponent,
)
from ._dagster._monitor_component import ScoutMonitorComponent

__all__ = [
    "ScoutFindAllComponent",
    "ScoutIOManagerAttributes",
    "ScoutMonitorComponent",
    "ScoutResourceAttributes",
    "ScoutSearchComponent",
]

# Show them as scout_dagster.components.X, the type name defs.yaml uses.
for _cls in (
    ScoutFindAllComponent,
    ScoutIOManagerAttributes,
    ScoutMonitorComponent,
    ScoutResourceAttributes,
    ScoutSearchComponent,
):
    _cls.__module__ = __name__
del _cls
