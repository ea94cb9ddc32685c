"""Energy counted from the executed events (`sim.energy`), against hand counts."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import REPO, SMALL_CHIPLET, run_cli, shared_interconnect

from sim.config import StrategyName
from sim.config.files import apply_overrides, load_tree
from sim.config.load import parse_config
from sim.energy import energy_figures, static_power_w
from sim.energy.events import EVENTS, SIMD_KINDS
from sim.runner import simulate

TOY = "configs/flashnorm_toy.yaml"
RING = "configs/collectives/allreduce_ring_mesh8x8.yaml"

#: Every price key of ``machine.energy`` (nested SIMD ones dotted), none static.
_PRICES = ("mac_8bit_pj", "mac_4bit_pj", "array_write_pj_per_byte", "sram_read_pj_per_byte",
           "sram_write_pj_per_byte", "output_buffer_pj_per_byte", "noc_link_pj_per_byte",
           "noc_router_pj_per_byte", "in_network_combine_pj_per_byte", "d2d_pj_per_byte",
           "c2c_pj_per_byte", "host_pj_per_byte", "lpddr_pj_per_byte",
           *(f"simd_pj_per_lane.{k}" for k in SIMD_KINDS))
_STATIC = ("core_static_w", "chiplet_static_w", "card_static_w")


def _config(path: str, table: dict[str, float], *more: str):
    """``path`` with ``machine.energy`` all zero but ``table``."""
    sets = [f"machine.energy.{k}={table.get(k, 0.0)}" for k in (*_PRICES, *_STATIC)]
    return parse_config(apply_overrides(load_tree(path), [*sets, *more]))


def _uj(path: str, table: dict[str, float], strategy: str | None = None, *more: str) -> float:
    result = simulate(_config(path, table, *more), StrategyName(strategy) if strategy else None)
    return energy_figures(result)["energy_uj"]


def test_toy_energy_is_the_hand_counted_events_times_the_table():
    # RMSNorm of n = 512 then a 512 x 512 linear, m = 128 lanes and a 128 x 128 array,
    # 16-bit activations, fp32 (4 B) on the SIMD unit. Prices: distinct powers of two.
    n, m = 512, 128
    table = {"mac_8bit_pj": 1.0, "simd_pj_per_lane.fma": 2.0, "simd_pj_per_lane.rsqrt": 4.0,
             "simd_pj_per_lane.mul": 8.0, "sram_read_pj_per_byte": 16.0,
             "sram_write_pj_per_byte": 32.0, "output_buffer_pj_per_byte": 64.0,
             "noc_link_pj_per_byte": 1e6, "lpddr_pj_per_byte": 1e6}  # nothing moves: unused
    macs = n * n  # (n/m)^2 array visits of m^2 MACs
    fma = n  # sum of squares: n/m vectors of m lanes
    rsqrt = m  # one row scalar: one vector of m lanes
    mul = n  # normalize: n/m vectors
    sram_read = 4 * n + 4 + 4 * n + 2 * n  # stats, scalar, normalize (fp32); the linear's input
    sram_write = 4 + 4 + 4 * n  # the sum, the scalar, the normalized vector
    out_buffer = (n // m) ** 2 * m * 4  # every visit accumulates m fp32 partial sums
    expected_pj = (macs * 1 + fma * 2 + rsqrt * 4 + mul * 8 + sram_read * 16 + sram_write * 32
                   + out_buffer * 64)
    assert _uj(TOY, table, "serialized") * 1e6 == pytest.approx(expected_pj, rel=1e-12)


def test_ring_allreduce_energy_is_its_bytes_and_combines():
    # ring all-reduce of n = 4096 B over p = 64 cores of an 8 x 8 mesh (a Hamiltonian ring:
    # every step one hop): 2(p-1) steps of n/p bytes from every core, (p-1) n/p bytes
    # combined per core in fp32 adds.
    p, n = 64, 4096
    hop_bytes = 2 * (p - 1) * p * (n // p)
    adds = (p - 1) * n // 4
    table = {"noc_link_pj_per_byte": 3.0, "noc_router_pj_per_byte": 5.0,
             "simd_pj_per_lane.add": 7.0}
    assert _uj(RING, table) * 1e6 == pytest.approx(hop_bytes * (3 + 5) + adds * 7, rel=1e-12)
    result = simulate(_config(RING, table))
    assert sum(t.bytes for t in result.link_traffic().values()) == hop_bytes  # independent


def test_units_static_energy_is_power_times_latency():
    static = {"core_static_w": 0.5, "chiplet_static_w": 3.0, "card_static_w": 7.0}
    cfg = _config(TOY, static)  # one core, one chiplet, one card at 1 GHz
    assert static_power_w(cfg.machine) == 10.5
    runs = {s: simulate(cfg, StrategyName(s)) for s in ("serialized", "deferred")}
    for result in runs.values():
        figures = energy_figures(result)
        seconds = result.latency_cycles / (cfg.machine.clock_ghz * 1e9)
        assert figures["energy_uj"] == pytest.approx(10.5 * seconds * 1e6, rel=1e-12)
        assert figures["power_w"] == pytest.approx(10.5, rel=1e-12)
        assert figures["energy_breakdown_uj"]["static"] == pytest.approx(
            figures["energy_uj"], rel=1e-12)
    ratio = energy_figures(runs["serialized"])["energy_uj"] / energy_figures(
        runs["deferred"])["energy_uj"]
    assert ratio == pytest.approx(24 / 17, rel=1e-12)  # static energy follows the latency


def test_a_zero_table_gives_zero_energy():
    figures = energy_figures(simulate(_config(RING, {})))
    assert figures["energy_uj"] == 0.0
    assert set(figures["energy_breakdown_uj"].values()) == {0.0}


def test_analytic_and_des_count_the_same_dynamic_events(repo):
    tree = apply_overrides(load_tree(repo / "configs/paper/llama3_8b_decode.yaml"),
                           [*SMALL_CHIPLET, "workload.layers=1"])
    cfg = parse_config(tree)
    net = shared_interconnect(cfg.machine)
    for strategy in (StrategyName.SERIALIZED, StrategyName.IN_NETWORK):
        des = simulate(cfg, strategy, net, "des")
        fast = simulate(cfg, strategy, net, "analytic")
        assert des.energy is not None and fast.energy is not None
        want = dict(zip(des.energy.ops, des.energy.counts.tolist(), strict=True))
        assert dict(zip(fast.energy.ops, fast.energy.counts.tolist(), strict=True)) == want
        if strategy is StrategyName.SERIALIZED:  # the analytic backend task by task too
            tasks = simulate(cfg, strategy, net, "analytic", tasks=True)
            assert tasks.energy is not None
            assert np.array_equal(tasks.energy.total(), des.energy.total())
        moved = EVENTS.index("noc_link_bytes")
        assert des.energy.total()[moved] == sum(t.bytes for t in des.link_traffic().values())
        if strategy is StrategyName.IN_NETWORK:
            assert des.energy.total()[EVENTS.index("in_network_combine_bytes")] > 0


def test_negative_energy_is_one_line_exit_2():
    got = run_cli("run", TOY, "--set", "machine.energy.simd_pj_per_lane.exp=-1")
    assert got.returncode == 2
    assert got.stderr.strip().splitlines() == [
        "imcsim: error: machine.energy.simd_pj_per_lane.exp: must be >= 0.0, got -1"]
    got = run_cli("run", TOY, "--set", "machine.energy.card_static_w=-0.5")
    assert got.returncode == 2 and "machine.energy.card_static_w: must be >= 0" in got.stderr


def test_compare_json_carries_energy_for_every_strategy():
    got = run_cli("compare", TOY, "--format", "json")
    assert got.returncode == 0, got.stderr
    results = json.loads(got.stdout)["results"]
    assert {r["strategy"] for r in results} == {s.value for s in StrategyName}
    for row in results:
        parts = row["energy_breakdown_uj"]
        assert parts["matmul"] > 0 and parts["static"] > 0
        assert sum(parts.values()) == pytest.approx(row["energy_uj"], rel=1e-9)
        assert row["power_w"] > row["static_power_w"]


def test_transformer_energy_per_token_scales_blocks_like_the_cycles(repo):
    tree = apply_overrides(load_tree(repo / "configs/paper/llama3_8b_decode.yaml"),
                           [*SMALL_CHIPLET, "workload.layers=1", "workload.batch=2"])
    cfg = parse_config(tree)
    result = simulate(cfg, StrategyName.DEFERRED, shared_interconnect(cfg.machine), "analytic")
    f = energy_figures(result)
    layers = cfg.workload.model.num_layers
    dynamic_uj = f["energy_uj"] - static_power_w(cfg.machine) * result.latency_us
    step_us = result.latency_us * layers  # no whole-model ops: every cycle is a block's
    want = (dynamic_uj * layers + static_power_w(cfg.machine) * step_us) / 2
    assert f["energy_per_token_uj"] == pytest.approx(want, rel=1e-9)
    assert f["tokens_per_joule"] == pytest.approx(1e6 / want, rel=1e-9)
    assert sum(f["energy_breakdown_uj"].values()) == pytest.approx(want, rel=1e-9)


def test_four_bit_weights_use_the_four_bit_mac(repo):
    tree = apply_overrides(load_tree(repo / "configs/paper/llama3_8b_decode.yaml"),
                           [*SMALL_CHIPLET, "workload.layers=1", "workload.weight_bits=4"])
    cfg = parse_config(tree)
    counts = simulate(cfg, None, shared_interconnect(cfg.machine), "analytic").energy
    assert counts is not None
    total = counts.total()
    assert total[EVENTS.index("mac_8bit")] == 0 < total[EVENTS.index("mac_4bit")]


# ----------------------------------------------------------------------------- figures

def _catch(monkeypatch: pytest.MonkeyPatch, *modules: object) -> dict[str, object]:
    """Stem -> the matplotlib figure each of ``modules``' ``render`` was given."""
    caught: dict[str, object] = {}

    def catch(fig: object, stem: str) -> dict[str, bytes]:
        caught[stem] = fig
        return {}

    for module in modules:
        monkeypatch.setattr(module, "render", catch)
    return caught


def test_compare_plot_draws_the_energy_breakdown(monkeypatch, tmp_path):
    from sim.report import plot_energy

    caught = _catch(monkeypatch, plot_energy)
    results = [simulate(_config(TOY, {"mac_8bit_pj": 1.0, "core_static_w": 1.0}),
                        StrategyName(s)) for s in ("serialized", "deferred")]
    plot_energy.energy_figure(results)
    (ax,) = caught["energy"].axes[:1]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["serialized", "deferred"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["matmul", "static"]
    tops = [p.get_y() + p.get_height() for p in ax.patches]
    want = [energy_figures(r)["energy_uj"] for r in results]
    assert tops[len(results):] == pytest.approx(want, rel=1e-12)  # static stacked on matmul
    assert ax.get_ylabel() == "energy per run (µJ)"


def test_a_two_parameter_sweep_gives_a_pareto_figure(monkeypatch, tmp_path):
    import csv

    from sim.report import plot_pareto

    spec = tmp_path / "s.yaml"
    spec.write_text(f"base: {(REPO / TOY).as_posix()}\nstrategies: [serialized]\n"
                    "axes:\n  machine.simd.lanes: [64, 128]\n"
                    "  machine.matmul.array_rows: [64, 128]\n")
    out = tmp_path / "out"
    assert run_cli("sweep", str(spec), "--out", str(out)).returncode == 0
    with (out / "results.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    points = np.asarray([(float(r["latency_us"]), float(r["energy_uj"])) for r in rows])
    assert len(points) == 4
    caught = _catch(monkeypatch, plot_pareto)
    from sim.report.plots import plot_results

    assert plot_results(out, tmp_path / "plots", x="latency_us", ys=["energy_uj"],
                        pareto=True) == []  # rendering caught: no file
    (ax,) = caught["pareto_energy_uj_vs_latency_us"].axes
    front = [(a, b) for a, b in points if not any(
        c <= a and d <= b and (c < a or d < b) for c, d in points)]  # dominated by none
    (line,) = ax.get_lines()
    assert sorted(zip(line.get_xdata(), line.get_ydata(), strict=True)) == sorted(front)
    assert line.get_label() == f"non-dominated ({len(front)} of 4)"
    assert ax.get_xlabel() == "latency_us (µs)" and ax.get_ylabel() == "energy_uj (µJ)"
