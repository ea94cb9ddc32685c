"""Run configuration: the pydantic models, model presets, and validation.

A run config is a YAML mapping with the sections ``machine``, ``workload``,
``strategy``, ``schedule`` and ``output``. Files, ``extends:`` chains and
``--set a.b.c=VALUE`` overrides are read by `sim.config.files` (re-exported
here); `load_config` reads, merges, overrides and validates.

Modules: `~sim.config.machine`, `~sim.config.workload`, `~sim.config.schedule`
and `~sim.config.run` (the sections), `~sim.config.names` (strategy and
collective names), `~sim.config.load` (presets, validation, errors),
`~sim.config.files` (YAML, ``extends``, overrides), `~sim.config.presets`
(where the bundled presets live), `~sim.config.validation_errors` (a pydantic
error as one line). Import from `sim.config`: every public name is here.

The names are loaded on first use (`__getattr__`): importing a submodule
such as `~sim.config.presets` loads neither pydantic nor the models.

Every problem is raised as a one-line `ConfigError` that starts with the key
path, for example ``machine.simd.lanes: must be > 0, got -4``.

Examples
--------
>>> from sim.config import apply_overrides, parse_config
>>> tree = {"machine": {"clock_ghz": 1.0,
...                     "matmul": {"array_rows": 4, "array_cols": 4},
...                     "simd": {"lanes": 4}},
...         "workload": {"kind": "norm_linear", "hidden_size": 8, "out_features": 8}}
>>> parse_config(tree).machine.matmul.macs_per_engine_cycle
16
>>> parse_config(apply_overrides(tree, ["machine.simd.lanes=-4"]))
Traceback (most recent call last):
...
sim.errors.ConfigError: machine.simd.lanes: must be > 0, got -4
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names, for type checkers; at run time each loads on first use
    from sim.config.files import (
        apply_overrides,
        deep_merge,
        load_tree,
        parse_override,
        read_yaml_mapping,
    )
    from sim.config.load import load_config, model_presets, parse_config, resolve_model_preset
    from sim.config.machine import (
        BufferConfig,
        HierarchyConfig,
        LinkConfig,
        MachineConfig,
        MatmulEngineConfig,
        NetworkConfig,
        SimdConfig,
        SimdOpCycles,
    )
    from sim.config.memory import HostLinkConfig, LpddrConfig, MemoryConfig
    from sim.config.names import CollectiveAlgorithm, StrategyName
    from sim.config.run import OutputConfig, RunConfig
    from sim.config.schedule import ScheduleConfig
    from sim.config.workload import (
        WORKLOAD_KINDS,
        CollectiveWorkload,
        ModelSpec,
        NormLinearWorkload,
        TransformerWorkload,
    )


__all__ = [
    "WORKLOAD_KINDS",
    "BufferConfig",
    "CollectiveAlgorithm",
    "CollectiveWorkload",
    "HierarchyConfig",
    "HostLinkConfig",
    "LinkConfig",
    "LpddrConfig",
    "MachineConfig",
    "MatmulEngineConfig",
    "MemoryConfig",
    "ModelSpec",
    "NetworkConfig",
    "NormLinearWorkload",
    "OutputConfig",
    "RunConfig",
    "ScheduleConfig",
    "SimdConfig",
    "SimdOpCycles",
    "StrategyName",
    "TransformerWorkload",
    "apply_overrides",
    "deep_merge",
    "load_config",
    "load_tree",
    "model_presets",
    "parse_config",
    "parse_override",
    "read_yaml_mapping",
    "resolve_model_preset",
]

#: Where each public name lives (module docstring): imported on first use, so that
#: ``from sim.config.presets import list_presets`` does not load pydantic.
_HOME = {
    "BufferConfig": "sim.config.machine",
    "CollectiveAlgorithm": "sim.config.names",
    "CollectiveWorkload": "sim.config.workload",
    "HierarchyConfig": "sim.config.machine",
    "LinkConfig": "sim.config.machine",
    "MachineConfig": "sim.config.machine",
    "MatmulEngineConfig": "sim.config.machine",
    "MemoryConfig": "sim.config.memory",
    "LpddrConfig": "sim.config.memory",
    "HostLinkConfig": "sim.config.memory",
    "ModelSpec": "sim.config.workload",
    "NetworkConfig": "sim.config.machine",
    "NormLinearWorkload": "sim.config.workload",
    "OutputConfig": "sim.config.run",
    "RunConfig": "sim.config.run",
    "ScheduleConfig": "sim.config.schedule",
    "SimdConfig": "sim.config.machine",
    "SimdOpCycles": "sim.config.machine",
    "StrategyName": "sim.config.names",
    "TransformerWorkload": "sim.config.workload",
    "WORKLOAD_KINDS": "sim.config.workload",
    "apply_overrides": "sim.config.files",
    "deep_merge": "sim.config.files",
    "load_config": "sim.config.load",
    "load_tree": "sim.config.files",
    "model_presets": "sim.config.load",
    "parse_config": "sim.config.load",
    "parse_override": "sim.config.files",
    "read_yaml_mapping": "sim.config.files",
    "resolve_model_preset": "sim.config.load",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'sim.config' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
