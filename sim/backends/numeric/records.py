"""What the numeric backend's parameters are, shared by their generator and the reference.

`sim.backends.numeric.params` generates them (`NumericParameters`);
`sim.backends.numeric.reference` reads them through `ParameterSource` only, so
the textbook reference imports nothing of the generator and the generator
can calibrate the ``static`` strategy by running the reference. Also here:
ε of the normalizations, and which workloads the numeric backend runs
(`numeric_workload`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from sim.config import NormLinearWorkload, TransformerWorkload
from sim.errors import ConfigError

__all__ = [
    "NORM_EPS",
    "KVCache",
    "LinearParams",
    "NormParams",
    "NumericWorkload",
    "ParameterSource",
    "norm_eps",
    "numeric_workload",
]

#: ε of RMSNorm and LayerNorm when the workload names none (a ``norm_linear``;
#: Llama, GPT-2 and OPT use 1e-5).
NORM_EPS = 1e-5


def norm_eps(workload: object) -> float:
    """ε of the workload's normalizations: its model's ``norm_eps``, else `NORM_EPS`."""
    return workload.model.norm_eps if isinstance(workload, TransformerWorkload) else NORM_EPS

#: The workloads the numeric backend runs.
NumericWorkload = TransformerWorkload | NormLinearWorkload


def numeric_workload(workload: object) -> NumericWorkload:
    """``workload`` itself if the numeric backend runs it.

    Raises
    ------
    ConfigError
        For any other workload (a collective), naming its type.
    """
    if not isinstance(workload, TransformerWorkload | NormLinearWorkload):
        raise ConfigError(
            f"workload: the numeric backend runs transformer and norm_linear workloads, "
            f"got {type(workload).__name__}"
        )
    return workload


@dataclass(frozen=True, slots=True)
class NormParams:
    """γ of a normalization, and β for LayerNorm (None for RMSNorm)."""

    gamma: np.ndarray
    beta: np.ndarray | None


@dataclass(frozen=True, slots=True)
class LinearParams:
    """``y = x · weight + bias``; weight is ``in_features x out_features``."""

    weight: np.ndarray
    bias: np.ndarray | None


@dataclass(frozen=True, slots=True)
class KVCache:
    """Cached keys and values, ``batch x kv_heads x kv_len x head_size`` each."""

    keys: np.ndarray
    values: np.ndarray


class ParameterSource(Protocol):
    """Where the reference reads a workload's parameters and inputs
    (`NumericParameters` is one)."""

    @property
    def workload(self) -> NumericWorkload:
        """The workload the parameters belong to."""
        ...

    def inputs(self) -> np.ndarray:
        """The input activations, ``tokens x hidden``."""
        ...

    def calibration_inputs(self) -> np.ndarray:
        """The static calibration's input, shaped as `inputs`."""
        ...

    def linear(self, name: str) -> LinearParams:
        """Weight and bias of the linear layer ``name``."""
        ...

    def norm(self, name: str) -> NormParams:
        """γ (and β) of the normalization ``name``."""
        ...

    def kv_cache(self, layer: str) -> KVCache | None:
        """The KV cache of decoder block ``layer`` (None in prefill)."""
        ...
