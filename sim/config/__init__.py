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
    MemoryConfig,
    NetworkConfig,
    SimdConfig,
    SimdOpCycles,
)
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
    "LinkConfig",
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
