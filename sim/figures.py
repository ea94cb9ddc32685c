"""The figures every result reports from its latency and its critical path.

`Figures` is what a run (`sim.results.RunResult`) and an array-evaluated
estimate (`sim.results.Estimate`) have in common: a latency, the
critical-path cycles of every op, what each op is for, and an event count.
From these alone come the normalization shares, the data-movement cycles and
the comparison with ``serialized`` (`versus`), so the two kinds of result
report them by one definition; also the per-token figures of a transformer
(`per_token_figures`), which the JSON and every table read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sim.config import RunConfig, StrategyName, TransformerWorkload

__all__ = ["Figures", "hidden_fraction", "is_block_op", "per_token_figures", "versus"]

#: A decoder block's op (``L3.qkv``, ``L0.ffn_up.lpddr``); a collective inserted
#: before an op (``CONSUMER<PRODUCER.gather``) belongs with its consumer.
_BLOCK_OP = re.compile(r"L\d+\.")


class Figures:
    """A result's latency and critical-path figures (subclasses provide the data)."""

    config: RunConfig
    strategy: StrategyName
    op_purpose: Mapping[str, str]  # op (task ``op``) -> `sim.ir.plan.Purpose`

    if TYPE_CHECKING:  # provided by each subclass, as a field or a property
        @property
        def latency_cycles(self) -> int:
            """Reference-clock cycles until the last result is visible."""

        @property
        def events(self) -> int:
            """Events the backend handled."""

    def cycles_by_op(self) -> dict[str, int]:
        """Critical-path cycles of every op on the path (task ``op``), in path order."""
        raise NotImplementedError

    @property
    def latency_us(self) -> float:
        """The latency in microseconds at the machine's reference clock."""
        return self.latency_cycles / (self.config.machine.clock_ghz * 1e3)

    def critical_cycles_by_layer(self, purposes: tuple[str, ...]) -> dict[str, int]:
        """Critical-path cycles of ops with one of ``purposes`` (see
        `sim.ir.plan.Purpose`), by layer (``L0``, ``L1``, ...; ``all`` for
        unlayered graphs)."""
        out: dict[str, int] = {}
        for op, cycles in self.cycles_by_op().items():
            if self.op_purpose.get(op) in purposes:
                layer = op.split(".", 1)[0] if op.startswith("L") else "all"
                out[layer] = out.get(layer, 0) + cycles
        return dict(sorted(out.items(), key=lambda kv: (len(kv[0]), kv[0])))

    def normalization_comm_cycles_by_layer(self) -> dict[str, int]:
        """Exposed normalization communication (collectives and their combines) by layer."""
        return self.critical_cycles_by_layer(("normalization_comm",))

    def shares(self) -> dict[str, Any]:
        """Normalization and data-movement cycles on the critical path, and their
        shares of the latency."""
        latency = max(self.latency_cycles, 1)
        by_layer = self.normalization_comm_cycles_by_layer()
        norm = sum(by_layer.values())
        norm_all = sum(self.critical_cycles_by_layer(
            ("normalization", "normalization_comm")).values())
        return {
            "normalization_comm_cycles": norm,
            "normalization_comm_share": norm / latency,
            "normalization_comm_cycles_by_layer": by_layer,
            "normalization_cycles": norm_all,
            "normalization_share": norm_all / latency,
            "data_comm_cycles": sum(self.critical_cycles_by_layer(("data_comm",)).values()),
        }


def hidden_fraction(serialized_cycles: int, strategy_cycles: int) -> float:
    """The share of serialized's exposed normalization communication a strategy removed."""
    return 1 - strategy_cycles / serialized_cycles if serialized_cycles else 0.0


def versus(result: Figures, baseline: Figures) -> dict[str, Any]:
    """``result`` against ``baseline`` (serialized): its speedup and the share of
    the baseline's exposed normalization communication it hid, in all and by layer."""
    base = baseline.normalization_comm_cycles_by_layer()
    mine = result.normalization_comm_cycles_by_layer()
    return {
        "speedup_vs_serialized": baseline.latency_cycles / max(result.latency_cycles, 1),
        "hidden_fraction": hidden_fraction(sum(base.values()), sum(mine.values())),
        "hidden_fraction_by_layer": {layer: hidden_fraction(cycles, mine.get(layer, 0))
                                     for layer, cycles in base.items()},
    }


def is_block_op(op: str) -> bool:
    """Whether task op ``op`` is part of a decoder block (``L{i}.…``, or a collective
    feeding one), rather than of the whole-model ops around the blocks.

    >>> is_block_op("L0.ffn_up"), is_block_op("L1.qkv<L0.ffn_residual.gather")
    (True, True)
    >>> is_block_op("head.lm_head<L0.ffn_residual.gather"), is_block_op("embed.lookup")
    (False, False)
    """
    return _BLOCK_OP.match(op.split("<", 1)[0]) is not None


def per_token_figures(result: Figures) -> dict[str, Any]:
    """The per-token figures of a transformer result, over the whole model
    (empty for other workloads): the one definition the JSON and the tables use.

    The critical path splits into the blocks' part (ops of ``L{i}.…``,
    `is_block_op`) and the whole-model part (``workload.whole_model``: host I/O,
    embedding, final norm, LM head, sampling; 0 without it), which runs once per
    step whatever the layer count. When ``workload.layers`` of the model's
    ``num_layers`` blocks were simulated, only the blocks' part is scaled::

        step_cycles = whole_model_cycles + (num_layers / layers) · block_cycles

    (the blocks' part is the latency less the whole-model part, so idle cycles on
    the path count as the blocks'). Assumed: every block costs what the simulated
    ones cost on average, and steps do not overlap (the simulation runs one step
    of every sequence of the batch through the blocks one after another).

    Keys: ``model``, ``phase``, ``batch``, ``layers_simulated``, ``model_layers``,
    ``whole_model_cycles``, ``block_cycles`` (simulated), ``step_cycles``;
    ``latency_per_token_us`` (decode: one step yields a token per sequence) or
    ``time_to_first_token_us`` (prefill: the step over the prompt);
    ``tokens_per_s``: ``batch / latency_per_token`` in decode, ``batch · seq_len /
    time_to_first_token`` (prompt tokens) in prefill, None for a zero latency;
    ``extrapolated_to_all_layers``.
    """
    workload = result.config.workload
    if not isinstance(workload, TransformerWorkload):
        return {}
    total = workload.model.num_layers
    simulated = workload.layers or total
    whole = (sum(c for op, c in result.cycles_by_op().items() if not is_block_op(op))
             if workload.whole_model else 0)
    blocks = result.latency_cycles - whole
    step_cycles = whole + blocks * total / simulated
    step_s = step_cycles / (result.config.machine.clock_ghz * 1e9)
    tokens = workload.batch * (workload.seq_len if workload.phase == "prefill" else 1)
    key = "latency_per_token_us" if workload.phase == "decode" else "time_to_first_token_us"
    return {
        "model": workload.model.name,
        "phase": workload.phase,
        "batch": workload.batch,
        "layers_simulated": simulated,
        "model_layers": total,
        "whole_model_cycles": whole,
        "block_cycles": blocks,
        "step_cycles": step_cycles,
        key: step_s * 1e6,
        "tokens_per_s": tokens / step_s if step_s else None,
        "extrapolated_to_all_layers": simulated != total,
    }
