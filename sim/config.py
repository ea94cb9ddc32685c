"""Run configuration: the pydantic models, model presets, and validation.

A run config is a YAML mapping with the sections ``machine``, ``workload``,
``strategy``, ``schedule`` and ``output``. Files, ``extends:`` chains and
``--set a.b.c=VALUE`` overrides are read by `sim.config_files` (re-exported
here); `load_config` reads, merges, overrides and validates.

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

import copy
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sim.config_files import (
    apply_overrides,
    deep_merge,
    load_tree,
    parse_override,
    read_yaml_mapping,
)
from sim.errors import ConfigError
from sim.presets import presets_root
from sim.validation_errors import describe_error

__all__ = [
    "BufferConfig",
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
    "load_config",
    "load_tree",
    "model_presets",
    "parse_config",
    "parse_override",
    "resolve_model_preset",
]


class StrategyName(StrEnum):
    """Normalization strategies; `sim.schedule.strategies` implements each once."""

    SERIALIZED = "serialized"
    PIPELINED = "pipelined"
    DEFERRED = "deferred"
    IN_NETWORK = "in_network"
    STATIC = "static"


#: Collective algorithms (implemented in `sim.network.collectives`).
CollectiveAlgorithm = Literal[
    "direct", "tree", "ring", "recursive_doubling", "hierarchical", "in_network"
]


class _Section(BaseModel):
    """Base of every config section: unknown keys rejected, values immutable,
    no silent type coercion (``"4"`` is not an integer)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class HierarchyConfig(_Section):
    """How many cores the machine has: cards x chiplets per card x cores per chiplet."""

    cards: int = Field(1, gt=0, description="Cards in the system.")
    chiplets_per_card: int = Field(1, gt=0, description="Chiplets on each card.")
    cores_per_chiplet: int = Field(
        1, gt=0, description="Cores (slices: one matmul engine + one SIMD unit) per chiplet."
    )

    @property
    def total_cores(self) -> int:
        """Cores in the whole system."""
        return self.cards * self.chiplets_per_card * self.cores_per_chiplet


class MatmulEngineConfig(_Section):
    """An in-memory matmul engine: a weight-stationary array of rows x columns.

    One engine cycle multiplies an input vector of ``array_rows`` elements with
    the stored ``array_rows x array_cols`` weight tile (``array_rows *
    array_cols`` MACs). The engine runs ``clock_divider`` times slower than the
    reference clock.
    """

    array_rows: int = Field(gt=0, description="Input elements consumed per engine cycle.")
    array_cols: int = Field(gt=0, description="Output elements produced per engine cycle.")
    clock_divider: int = Field(
        1, gt=0, description="Reference-clock cycles per engine cycle (2 = half rate)."
    )
    pipeline_latency_engine_cycles: int = Field(
        0,
        ge=0,
        description="Engine cycles from the last input to its output (fill/drain latency).",
    )

    @property
    def macs_per_engine_cycle(self) -> int:
        """Multiply-accumulates per engine cycle."""
        return self.array_rows * self.array_cols


class SimdOpCycles(_Section):
    """Reference-clock cycles the SIMD unit needs per element-vector (``lanes``
    elements) for each instruction. Zero means the instruction is free (a toy
    machine that counts only vector passes)."""

    add: int = Field(1, ge=0, description="Add or subtract.")
    mul: int = Field(1, ge=0, description="Multiply.")
    fma: int = Field(1, ge=0, description="Fused multiply-add (also square-and-accumulate).")
    max: int = Field(1, ge=0, description="Maximum.")
    exp: int = Field(4, ge=0, description="Exponential.")
    rsqrt: int = Field(4, ge=0, description="Reciprocal square root.")
    reciprocal: int = Field(4, ge=0, description="Reciprocal.")


class SimdConfig(_Section):
    """The non-linear SIMD unit of a core."""

    lanes: int = Field(gt=0, description="Elements per vector instruction.")
    op_cycles: SimdOpCycles = Field(default_factory=SimdOpCycles)
    reduction_tree_latency_cycles: int = Field(
        0, ge=0, description="Latency of the cross-lane reduction tree (pipelined)."
    )


class BufferConfig(_Section):
    """Buffers that cost time."""

    output_buffer_latency_cycles: int = Field(
        0,
        ge=0,
        description="Cycles for a matmul result to land in the shared output buffer "
        "where the SIMD unit can read it.",
    )


class MemoryConfig(_Section):
    """On-chip memory that holds the stationary weights and the KV cache."""

    sram_bytes_per_core: int = Field(
        1 << 20, gt=0, description="SRAM bytes each core can devote to weights and KV cache."
    )


class LinkConfig(_Section):
    """One kind of directed link."""

    bytes_per_cycle: float = Field(gt=0, description="Bytes the link carries per cycle (one flit).")
    latency_cycles: int = Field(ge=0, description="Cycles for a flit to cross the link.")


class NetworkConfig(_Section):
    """The interconnect: topology, links, routers, and collective parameters.

    ``card``: every chiplet is a ``mesh_width x mesh_height`` mesh of cores on
    ``noc`` links; chiplets of a card are joined all-to-all by ``d2d`` links
    between their gateway cores; cards all-to-all by ``c2c`` links. The flat
    topologies (``ring``, ``mesh``, ``torus``, ``tree``, ``fully_connected``)
    join all cores of the machine with ``noc`` links.
    """

    topology: Literal["card", "ring", "mesh", "torus", "tree", "fully_connected"] = "card"
    router_latency_cycles: int = Field(
        1, ge=0, description="Cycles a packet head spends in a router."
    )
    noc: LinkConfig = Field(
        default_factory=lambda: LinkConfig(bytes_per_cycle=32, latency_cycles=1),
        description="Links between cores of a chiplet (network-on-chip).",
    )
    d2d: LinkConfig = Field(
        default_factory=lambda: LinkConfig(bytes_per_cycle=64, latency_cycles=20),
        description="Die-to-die links between chiplets of a card.",
    )
    c2c: LinkConfig = Field(
        default_factory=lambda: LinkConfig(bytes_per_cycle=32, latency_cycles=200),
        description="Card-to-card links.",
    )
    mesh_width: int | None = Field(
        None, gt=0,
        description="Mesh columns (of a chiplet for card, of the machine for mesh/torus); "
        "default: the most square factorization of the core count.",
    )
    tree_arity: int = Field(4, gt=1, description="Children per switch of the tree topology.")
    max_packet_bytes: int | None = Field(
        None, gt=0, description="Longest packet; longer messages are split (default: no limit)."
    )
    in_network_combine_cycles: int = Field(
        1, ge=0, description="Cycles a router adds when it merges packets (in-network reduction)."
    )


class MachineConfig(_Section):
    """The accelerator: clock, core hierarchy, and the engines of every core."""

    name: str = Field("unnamed", description="Label used in reports.")
    clock_ghz: float = Field(gt=0, description="Reference clock; all cycles count this clock.")
    hierarchy: HierarchyConfig = Field(default_factory=HierarchyConfig)
    matmul: MatmulEngineConfig
    simd: SimdConfig
    buffers: BufferConfig = Field(default_factory=BufferConfig)
    memory: MemoryConfig = Field(default_factory=MemoryConfig)
    network: NetworkConfig = Field(default_factory=NetworkConfig)


class NormLinearWorkload(_Section):
    """A normalization (RMSNorm or LayerNorm) followed by one linear layer.

    ``tokens`` input vectors of ``hidden_size`` elements are normalized and
    multiplied by a ``hidden_size x out_features`` weight matrix.
    """

    kind: Literal["norm_linear"]
    norm: Literal["rmsnorm", "layernorm"] = "rmsnorm"
    hidden_size: int = Field(gt=0, description="Elements per token vector.")
    out_features: int = Field(gt=0, description="Output features of the linear layer.")
    tokens: int = Field(1, gt=0, description="Token vectors processed together.")
    bias: bool = Field(False, description="Whether the linear layer adds a bias.")


class CollectiveWorkload(_Section):
    """One collective over the interconnect, alone (no compute besides combines)."""

    kind: Literal["collective"]
    op: Literal["reduce", "broadcast", "all_reduce", "all_gather"]
    algorithm: CollectiveAlgorithm = "ring"
    bytes: int = Field(gt=0, description="Bytes per participant's contribution.")
    participants: Literal["all"] | list[int] = Field(
        "all", description="'all' cores, or a list of core ids."
    )
    root: int | None = Field(None, description="Root core (default: the first participant).")
    reduce_op: Literal["sum", "max"] = "sum"
    arity: int = Field(2, gt=0, description="Children per node of the tree algorithm.")


class ModelSpec(_Section):
    """A decoder-only transformer's shape (a preset in ``workloads/`` or inline)."""

    name: str = Field("custom", description="Label used in reports.")
    hidden_size: int = Field(gt=0, description="Model width d.")
    num_heads: int = Field(gt=0, description="Query heads H; head size is d / H.")
    num_kv_heads: int = Field(gt=0, description="Key/value heads (GQA when fewer than H).")
    ffn_size: int = Field(gt=0, description="Feed-forward inner width.")
    activation: Literal["gelu", "relu", "swiglu"]
    norm: Literal["rmsnorm", "layernorm"]
    num_layers: int = Field(gt=0, description="Decoder blocks in the model.")
    vocab_size: int = Field(gt=0, description="Vocabulary (not simulated; for weight totals).")
    bias: bool = Field(False, description="Whether the linear layers carry biases.")

    @model_validator(mode="after")
    def _heads_divide(self) -> ModelSpec:
        if self.hidden_size % self.num_heads:
            raise ValueError(
                f"num_heads ({self.num_heads}) must divide hidden_size ({self.hidden_size})"
            )
        if self.num_heads % self.num_kv_heads:
            raise ValueError(
                f"num_kv_heads ({self.num_kv_heads}) must divide num_heads ({self.num_heads})"
            )
        return self

    @property
    def head_size(self) -> int:
        """Elements per attention head."""
        return self.hidden_size // self.num_heads


class TransformerWorkload(_Section):
    """Decoder blocks of a model in one phase.

    ``prefill``: ``batch`` sequences of ``seq_len`` tokens attend causally to
    themselves. ``decode``: ``batch`` sequences add one token each, attending to
    ``kv_len`` cached tokens plus itself.
    """

    kind: Literal["transformer"]
    model: ModelSpec = Field(
        description="A preset name from workloads/ (e.g. llama-3-8b) or an inline model."
    )
    phase: Literal["prefill", "decode"] = "decode"
    batch: int = Field(1, gt=0, description="Sequences processed together.")
    seq_len: int = Field(128, gt=0, description="Prompt tokens per sequence (prefill).")
    kv_len: int = Field(1024, ge=0, description="Cached tokens per sequence (decode).")
    layers: int | None = Field(
        None, gt=0, description="Decoder blocks to simulate (default: all of the model's)."
    )
    weight_bits: int = Field(
        8, gt=0, description="Bits per stored weight (8: block floating point, 8-bit significands)."
    )
    activation_bits: int = Field(16, gt=0, description="Bits per activation element on the wire.")


class ScheduleConfig(_Section):
    """Mapping and tiling choices (machine-dependent, strategy-independent)."""

    tile_elems: int | None = Field(
        None,
        gt=0,
        description="Elements per tile of a tiled op; default: the matmul array rows "
        "(input tiles) or columns (output tiles).",
    )
    max_tiles_per_op: int = Field(
        8, gt=0, description="At most this many tiles per op on one core (coarser tiles beyond)."
    )
    cores_per_layer: int | None = Field(
        None, gt=0,
        description="Cores a transformer layer is spread over (tensor parallel); layers go to "
        "consecutive groups of this many cores, round robin. Default: one chiplet.",
    )
    gather_algorithm: CollectiveAlgorithm = Field(
        "in_network",
        description="Algorithm of the activation all-gathers the mapping inserts "
        "(in_network: gathered in the routers and multicast back, as a NoC with multicast).",
    )
    reduction_algorithm: CollectiveAlgorithm = Field(
        "tree",
        description="Algorithm of the reductions the mapping inserts: normalization "
        "statistics, softmax maxima and sums, partial P·V.",
    )
    collective_arity: int = Field(4, gt=0, description="Children per node of tree collectives.")
    linear_split: Literal["columns", "rows"] = Field(
        "columns",
        description="How a linear is cut over a layer's cores: by output columns (each core "
        "needs the whole input: an all-gather before it) or by rows (each core uses its slice "
        "of the input and makes partial sums of every output: an all-reduce after it).",
    )
    min_keys_per_core: int = Field(
        64, gt=0, description="Split a sequence's keys over cores only down to this many per core."
    )


class OutputConfig(_Section):
    """What `imcsim run` prints and writes."""

    format: Literal["table", "json"] = "table"
    dir: str | None = Field(None, description="Directory for result.json and timeline.csv.")


class RunConfig(_Section):
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


def _known_keys(loc: tuple[Any, ...]) -> list[str]:
    """The valid keys of the section at ``loc`` (for did-you-mean hints)."""
    model: Any = RunConfig
    for part in loc:
        if model is RunConfig and part == "workload":
            return []  # a union: the caller passes the chosen kind's loc
        field = model.model_fields.get(part) if isinstance(part, str) else None
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


def _workload_loc(loc: tuple[Any, ...]) -> tuple[tuple[Any, ...], type[BaseModel] | None]:
    """Drop the union tag pydantic puts after ``workload`` and name the chosen model."""
    if len(loc) >= 2 and loc[0] == "workload" and loc[1] in WORKLOAD_KINDS:
        return ("workload", *loc[2:]), WORKLOAD_KINDS[loc[1]]
    return loc, None


def _section_keys(section: tuple[Any, ...], chosen: type[BaseModel] | None) -> list[str]:
    """The valid keys at ``section`` (inside the chosen workload model, if any)."""
    if chosen is None:
        return _known_keys(section)
    sub: Any = chosen
    for part in section[1:]:
        annotation = getattr(sub.model_fields.get(part), "annotation", None)
        sub = annotation if isinstance(annotation, type) else None
        if sub is None or not issubclass(sub, BaseModel):
            return []
    return list(sub.model_fields)


def _describe(error: dict[str, Any]) -> str:
    """One pydantic error as ``key.path: problem``."""
    loc, chosen = _workload_loc(tuple(error["loc"]))
    path = ".".join(str(p) for p in loc) or "(top level)"
    kind, ctx = error["type"], error.get("ctx", {})
    if kind == "union_tag_invalid":
        return f"{path}.kind: must be one of {ctx.get('expected_tags')}, got {ctx.get('tag')!r}"
    if kind == "union_tag_not_found":
        return f"{path}.kind: required key is missing"
    keys = _section_keys(loc[:-1], chosen) if kind == "extra_forbidden" else ()
    return describe_error(error, path, keys)


WORKLOAD_KINDS: dict[str, type[BaseModel]] = {
    "norm_linear": NormLinearWorkload,
    "transformer": TransformerWorkload,
    "collective": CollectiveWorkload,
}


def model_presets() -> dict[str, Path]:
    """Bundled model presets by name (``workloads/<name>.yaml``)."""
    root = presets_root()
    if root is None:
        return {}
    return {p.stem: p for p in sorted((root / "workloads").glob("*.yaml"))}


def resolve_model_preset(tree: dict[str, Any]) -> dict[str, Any]:
    """Replace ``workload.model: NAME`` by the preset's ``model`` mapping.

    ``workload.model: {preset: NAME, ...}`` loads the preset and merges the
    given keys on top (e.g. a different ``num_layers``).
    """
    workload = tree.get("workload")
    if not isinstance(workload, dict):
        return tree
    model = workload.get("model")
    if isinstance(model, dict) and "preset" in model:
        name, extra = model["preset"], {k: v for k, v in model.items() if k != "preset"}
    elif isinstance(model, str):
        name, extra = model, {}
    else:
        return tree
    presets = model_presets()
    if name not in presets:
        choices = ", ".join(presets) or "none bundled"
        raise ConfigError(f"workload.model: unknown model {name!r} (choose from {choices})")
    base = read_yaml_mapping(presets[name]).get("model", {})
    resolved = copy.deepcopy(tree)
    resolved["workload"]["model"] = deep_merge(base, extra)
    return resolved


def parse_config(tree: dict[str, Any]) -> RunConfig:
    """Validate a merged config tree into a `RunConfig`.

    Raises
    ------
    ConfigError
        One line for the first problem, with a count of any others.
    """
    tree = resolve_model_preset(tree)
    try:
        return RunConfig.model_validate(tree)
    except ValidationError as exc:
        errors = exc.errors()
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        raise ConfigError(_describe(errors[0]) + more) from None


def load_config(
    path: str | Path,
    overrides: list[str] | tuple[str, ...] = (),
) -> RunConfig:
    """Load, merge, override and validate a run config file."""
    return parse_config(apply_overrides(resolve_model_preset(load_tree(path)), overrides))
