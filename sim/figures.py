"""The figures every result reports from its latency and its critical path.

`Figures` is what a run (`sim.results.RunResult`) and an array-evaluated
estimate (`sim.results.Estimate`) have in common: a latency, the
critical-path cycles of every op, what each op is for, and an event count.
From these alone come the normalization shares, the data-movement cycles and
the comparison with ``serialized`` (`versus`), so the two kinds of result
report them by one definition.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sim.config import RunConfig, StrategyName

__all__ = ["Figures", "hidden_fraction", "versus"]


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
