"""``ScoutMonitorComponent``: a monitor's results table and its sensor, from ``defs.yaml``.

    type: scout_dagster.components.ScoutMonitorComponent
    attributes:
      name: chips
      monitor_id: mon_0123456789abcdef01234567
      max_events_per_tick: 25

It builds what :func:`~scout_dagster.build_scout_monitor_assets` and
:func:`~scout_dagster.build_scout_monitor_sensor` build (the sensor
``STOPPED`` unless ``sensor_status: running``), and binds the ``scout``
resource and the IO manager as the FindAll and search components do.
"""

# Dagster reads the annotations of a Resolvable at definition time.

import dataclasses
import functools
import os
from typing import Annotated, Any, Literal

from dagster import ComponentLoadContext, DefaultSensorStatus, Definitions
from dagster.components import Component, ComponentTypeSpec, Resolvable, Resolver
from dagster.components.resolved.base import derive_model_type
from pydantic import BaseModel, Field, create_model

from ._components import (
    ScoutIOManagerAttributes,
    ScoutResourceAttributes,
    _bindings,
    _io_manager,
    _scout_resource,
)
from ._monitor import build_scout_monitor_assets, build_scout_monitor_sensor

__all__ = ["ScoutMonitorComponent"]


@dataclasses.dataclass(kw_only=True)
class ScoutMonitorComponent(Component, Resolvable):
    """A Scout monitor's events as the <name>_monitor_results table, one partition
    per event, and the sensor that requests a run per new event."""

    name: Annotated[
        str,
        Resolver.default(description="Base name: the table is <name>_monitor_results."),
    ]
    monitor_id: Annotated[
        str,
        Resolver.default(description="The monitor (client.monitors.create gives its id)."),
    ]
    query: Annotated[
        str | None,
        Resolver.default(description="The monitor's query for the rows; read from it if unset."),
    ] = None
    group_name: str = "scout"
    minimum_interval_seconds: Annotated[
        int, Resolver.default(description="Seconds between two ticks of the sensor.")
    ] = 300
    max_events_per_tick: Annotated[
        int, Resolver.default(description="Events one tick requests runs for (1 to 100).")
    ] = 25
    sensor_status: Annotated[
        Literal["stopped", "running"],
        Resolver.default(
            description="The sensor's status when deployed: stopped unless you say so "
            "(the monitor's runs cost credits)."
        ),
    ] = "stopped"
    resource: ScoutResourceAttributes = dataclasses.field(default_factory=ScoutResourceAttributes)
    io_manager: ScoutIOManagerAttributes = dataclasses.field(
        default_factory=ScoutIOManagerAttributes
    )

    @classmethod
    def model(cls) -> type[BaseModel]:
        return _model()

    @classmethod
    def get_spec(cls) -> ComponentTypeSpec:
        return ComponentTypeSpec(tags=["scout"], produces=["asset", "sensor", "resource"])

    def build_defs(self, context: ComponentLoadContext) -> Definitions:
        assets = build_scout_monitor_assets(
            self.name,
            self.monitor_id,
            query=self.query,
            group_name=self.group_name,
            io_manager_key=self.io_manager.key,
            resource_key=self.resource.key,
        )
        status = (
            DefaultSensorStatus.RUNNING
            if self.sensor_status == "running"
            else DefaultSensorStatus.STOPPED
        )
        sensor = build_scout_monitor_sensor(
            assets,
            minimum_interval_seconds=self.minimum_interval_seconds,
            max_events_per_tick=self.max_events_per_tick,
            default_status=status,
        )
        _bindings(context).bind(
            context.path,
            {
                self.resource.key: ("resource", self.resource),
                self.io_manager.key: ("io_manager", self.io_manager),
            },
        )
        resources: dict[str, Any] = {
            self.resource.key: _scout_resource(self.resource, os.environ.get("SCOUT_BASE_URL", "")),
            self.io_manager.key: _io_manager(
                self.io_manager.base_path, os.environ.get("SCOUT_DAGSTER_DATA")
            ),
        }
        return Definitions(assets=[assets], sensors=[sensor], resources=resources)


@functools.cache
def _model() -> type[BaseModel]:
    """Dagster's model, with ``resource`` its own strict model (no templates),
    as the FindAll and search components have it."""
    derived = derive_model_type(ScoutMonitorComponent)
    return create_model(
        derived.__name__,
        __base__=derived,
        resource=(
            ScoutResourceAttributes,
            Field(
                default=ScoutResourceAttributes(),
                description="The Scout resource the table and the sensor use.",
            ),
        ),
    )
