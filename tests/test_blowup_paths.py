"""The two configs of issue 13 that blew up, small: the collective profiles the fast
path and the mapper read (`sim.backends.collective_profile`) come from the compact
replay (`sim.network.replay`: recorded schedules, and the ring's recursion); the
reference is the same run with every profile played from its real tasks on the FIFO
engines. Every figure must be equal, and the DES latency too."""

from __future__ import annotations

import pytest

import sim.backends.collective_profile as profile_module
from sim.config import load_config
from sim.mapper import clear_cache
from sim.runner import simulate

_SMALL = ("schedule.cores_per_layer=16", "machine.hierarchy.cores_per_chiplet=16",
          "machine.memory.sram_bytes_per_core=67108864")
CASES = {
    "packets": (*_SMALL, "workload.batch=2", "machine.network.max_packet_bytes=256"),
    "ring": (*_SMALL, "schedule.gather_algorithm=ring", "schedule.reduction_algorithm=ring"),
}


def _figures(repo, overrides: tuple[str, ...], backend: str) -> tuple[int, dict[str, int]]:
    clear_cache()
    result = simulate(load_config(repo / "configs/paper/llama3_8b_decode.yaml",
                                  list(overrides)), backend=backend)
    return result.latency_cycles, dict(result.tilings)


@pytest.mark.parametrize("case", CASES)
def test_replayed_profiles_give_the_figures_of_the_real_tasks(repo, case, monkeypatch):
    overrides = CASES[case]
    fast = _figures(repo, overrides, "analytic")
    des = _figures(repo, overrides, "des")
    monkeypatch.setattr(profile_module, "replay_problem", lambda *args: None)
    assert _figures(repo, overrides, "analytic") == fast
    assert _figures(repo, overrides, "des") == des
