"""A whole run config (`RunConfig`) and its ``output`` section."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from sim.config.machine import MachineConfig
from sim.config.names import StrategyName
from sim.config.schedule import ScheduleConfig
from sim.config.section import Section
from sim.config.workload import CollectiveWorkload, NormLinearWorkload, TransformerWorkload

__all__ = ["OutputConfig", "RunConfig"]


class OutputConfig(Section):
    """What `imcsim run` prints and writes."""

    format: Literal["table", "json"] = "table"
    dir: str | None = Field(None, description="Directory for result.json and timeline.csv.")


class RunConfig(Section):
    """One simulation: a machine, a workload, a strategy, and output options."""

    machine: MachineConfig
    workload: NormLinearWorkload | TransformerWorkload | CollectiveWorkload = Field(
        discriminator="kind"
    )
    strategy: StrategyName = Field(
        StrategyName.SERIALIZED, strict=False, description="Strategy `imcsim run` uses."
    )
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
