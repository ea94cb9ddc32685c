"""The sensitivity table: one knob at a time, figures straight from the DES."""

from __future__ import annotations

from pathlib import Path

from conftest import SMALL_CHIPLET, shared_interconnect

from sim.config import StrategyName, load_config
from sim.report.sensitivity import Knob, render_sensitivity, run_sensitivity
from sim.runner import simulate_tasks

CONFIG = (Path(__file__).resolve().parent.parent / "configs/paper/llama3_8b_decode.yaml")
FIXED = ("schedule.linear_split=columns", "schedule.norm_stats=collective")  # no search: quick


def _small_chiplet_yaml() -> str:
    """conftest's SMALL_CHIPLET as a YAML machine section (64-core chiplets: quick DES)."""
    cores, sram = (key.split("=")[1] for key in SMALL_CHIPLET)
    return (f"machine: {{hierarchy: {{cores_per_chiplet: {cores}}}, "
            f"memory: {{sram_bytes_per_core: {sram}}}}}\n")


def test_rows_are_the_des_figures_and_slower_routers_never_help(tmp_path: Path) -> None:
    base = tmp_path / "fixed.yaml"
    base.write_text(f"extends: {CONFIG}\nschedule: {{linear_split: columns, "
                    f"norm_stats: collective}}\n{_small_chiplet_yaml()}")
    knob = Knob("router latency (cycles)", "machine.network.router_latency_cycles", (2, 8))
    rows = run_sensitivity(base, (knob,))
    assert [r.value for r in rows] == [2, 8]
    for row in rows:
        config = load_config(CONFIG, [*FIXED, *SMALL_CHIPLET, f"{knob.key}={row.value}"])
        net = shared_interconnect(config.machine)
        serial = simulate_tasks(config, StrategyName.SERIALIZED, net)
        deferred = simulate_tasks(config, StrategyName.DEFERRED, net)
        assert row.latency_cycles == serial.latency_cycles
        assert row.deferred_speedup == serial.latency_cycles / deferred.latency_cycles
        assert 0 < row.norm_comm_share < 1
    assert rows[1].latency_cycles is not None and rows[0].latency_cycles is not None
    assert rows[1].latency_cycles > rows[0].latency_cycles  # 6 more cycles on every hop
    text = "\n".join(render_sensitivity(rows, base))
    assert f"| router latency (cycles) | 8 | {rows[1].latency_cycles} |" in text
    assert "python -m sim.report.sensitivity" in text


def test_a_value_that_does_not_fit_is_a_row_not_a_crash(tmp_path: Path) -> None:
    knob = Knob("SRAM per core (B)", "machine.memory.sram_bytes_per_core", (1024,))
    only_sram = tmp_path / "sram_only.yaml"  # the LPDDR tier would take what SRAM cannot
    only_sram.write_text(f"extends: {CONFIG}\nmachine: {{memory: {{placement: sram_only}}}}\n")
    (row,) = run_sensitivity(only_sram, (knob,))
    assert row.latency_cycles is None
    assert "does not fit" in "\n".join(render_sensitivity([row]))
