"""Sweep points reuse the worker's interconnect (`sim.sweep.reuse`): same rows, no sharing
between machines that differ in anything the interconnect is built from.

Truth: a fresh `build_interconnect` per point (what every point did before),
and the built topologies themselves (nodes, links and their attributes).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import ValidationError

from sim.config import MachineConfig, parse_config
from sim.errors import ConfigError
from sim.network.from_config import Interconnect, build_interconnect
from sim.sweep.execute import PointTask, run_point
from sim.sweep.reuse import OPTION_FIELDS, WORKER_CACHE, InterconnectCache, interconnect_key

MACHINE: dict[str, Any] = {
    "clock_ghz": 1.0, "matmul": {"array_rows": 8, "array_cols": 8}, "simd": {"lanes": 8},
    "hierarchy": {"cards": 1, "chiplets_per_card": 2, "cores_per_chiplet": 4},
    "network": {"topology": "card"},
}
WORKLOAD = {"kind": "transformer", "model": {
    "name": "tiny", "hidden_size": 64, "num_heads": 4, "num_kv_heads": 2, "ffn_size": 96,
    "activation": "swiglu", "norm": "rmsnorm", "num_layers": 2, "vocab_size": 10},
    "phase": "decode", "batch": 2, "kv_len": 9, "layers": 2}


def _config(**network: Any) -> dict[str, Any]:
    machine = copy.deepcopy(MACHINE)
    machine["network"].update(network)
    return {"machine": machine, "workload": copy.deepcopy(WORKLOAD),
            "schedule": {"cores_per_layer": 4, "linear_split": "columns",
                         "norm_stats": "collective"}}


def _signature(net: Interconnect) -> tuple[Any, ...]:
    graph = net.graph
    return (sorted(graph.nodes(data=True)), sorted(graph.edges(data=True)),
            sorted(graph.graph.items()), tuple(e.name for e in net.engines.engines))


@pytest.mark.parametrize("backend", ["analytic", "des"])
def test_rows_are_the_same_with_the_kept_interconnect_as_with_a_fresh_one(backend):
    """Points that share an interconnect (and its router's memo) interleaved with
    points on other networks: every row as a fresh interconnect gives it."""
    points = [_config(), _config(max_packet_bytes=64), _config(noc={"bytes_per_cycle": 8,
              "latency_cycles": 3}), _config(), _config(in_network_combine_cycles=5),
              _config(topology="ring"), _config(max_packet_bytes=64)]
    points[3]["workload"]["kv_len"] = 30
    strategies = ("serialized", "in_network")
    fresh = [run_point(PointTask(p, strategies, backend, reuse_interconnect=False))
             for p in points]
    WORKER_CACHE.clear()
    kept = [run_point(PointTask(p, strategies, backend)) for p in points]
    assert kept == fresh
    assert all(row["status"] == "ok" for rows in kept for row in rows)
    # the default network, with either option value, is one entry; then noc, ring
    assert (WORKER_CACHE.misses, WORKER_CACHE.hits) == (3, 4)


def _leaves(tree: dict[str, Any], path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for key, value in tree.items():
        if isinstance(value, dict):
            out += _leaves(value, (*path, key))
        else:
            out.append((*path, key))
    return out


def _changed(value: Any) -> list[Any]:
    """Other values a config leaf may take."""
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, int | float):
        return [value + 1, value * 2 + 1]
    if value is None:
        return [2, 64]
    return {"card": ["ring", "mesh", "torus", "tree", "fully_connected"],
            "cut_through": ["store_and_forward"]}.get(value, [value + "x"])


@pytest.mark.parametrize("topology", ["card", "tree"])
def test_machines_share_an_entry_only_if_their_interconnects_are_equal(topology):
    """Every leaf of the machine section changed in turn: a machine whose key equals
    the base's has an equal interconnect, and every hierarchy and network field but
    the option fields changes the key wherever it changes the topology."""
    roomy = _config(topology=topology)
    roomy["machine"]["hierarchy"]["cores_per_chiplet"] = 8  # a 4 x 2 mesh: width 2 differs
    base_tree = parse_config(roomy).machine.model_dump(mode="json")
    base = MachineConfig.model_validate(base_tree)
    base_key, base_net = interconnect_key(base), _signature(build_interconnect(base))
    compared = differ = 0
    for leaf in _leaves(base_tree):
        for value in _changed(_get(base_tree, leaf)):
            tree = copy.deepcopy(base_tree)
            _set(tree, leaf, value)
            try:
                machine = MachineConfig.model_validate(tree)
                net = _signature(build_interconnect(machine))
            except (ConfigError, ValidationError):
                continue
            compared += 1
            if interconnect_key(machine) == base_key:
                assert net == base_net, leaf  # sharing an entry would be wrong
            else:
                differ += 1
                assert leaf[0] in ("hierarchy", "network") and leaf[1] not in OPTION_FIELDS
    assert compared > 20 and differ > 10  # the walk reached both kinds of field


def _get(tree: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        tree = tree[key]
    return tree


def _set(tree: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        tree = tree[key]
    tree[path[-1]] = value


def test_the_cache_keeps_the_most_recent_machines_only():
    cache = InterconnectCache(kept=2)
    machines = [parse_config(_config(router_latency_cycles=r)).machine for r in (1, 2, 3)]
    first = cache.get(machines[0])
    assert cache.get(machines[0]) is first
    cache.get(machines[1])
    cache.get(machines[0])  # now the most recent: machines[1] goes next
    cache.get(machines[2])
    assert len(cache) == 2
    assert cache.get(machines[0]) is first
    assert (cache.hits, cache.misses) == (3, 3)
    cache.get(machines[1])  # evicted, rebuilt
    assert cache.misses == 4
    with pytest.raises(ValueError, match="kept must be >= 1"):
        InterconnectCache(kept=0)
