"""`sim.workload.WORKLOADS`: one builder per config workload kind, duplicates rejected,
unknown kinds named with the valid ones."""

from __future__ import annotations

import typing

import pytest

from sim.config import RunConfig, parse_config
from sim.errors import ConfigError
from sim.ir import OpGraph
from sim.registry import RegistryError
from sim.workload import WORKLOADS, build_workload


def config_kinds() -> tuple[str, ...]:
    """The ``kind`` literal of every workload section the config accepts, in its order."""
    sections = typing.get_args(RunConfig.model_fields["workload"].annotation)
    return tuple(typing.get_args(s.model_fields["kind"].annotation)[0] for s in sections)


def test_workload_kinds_are_the_config_sections_in_their_order():
    assert WORKLOADS.names() == config_kinds()


@pytest.mark.parametrize(("section", "kind"), [
    ({"kind": "norm_linear", "hidden_size": 8, "out_features": 8}, "norm_linear"),
    ({"kind": "collective", "op": "all_reduce", "bytes": 64}, "collective"),
    ({"kind": "transformer", "model": "gpt2", "layers": 1}, "transformer"),
])
def test_build_workload_uses_the_builder_of_the_workload_kind(section, kind):
    workload = parse_config({
        "machine": {"clock_ghz": 1.0, "matmul": {"array_rows": 4, "array_cols": 4},
                    "simd": {"lanes": 4}},
        "workload": section,
    }).workload
    graph = build_workload(workload)
    assert isinstance(graph, OpGraph)
    assert graph == WORKLOADS.get(kind)(workload)


def test_an_unknown_kind_names_the_key_and_lists_the_kinds():
    with pytest.raises(ConfigError, match=r"^workload\.kind: unknown workload 'moe' "
                                          r"\(choose from norm_linear, transformer, collective\)$"):
        WORKLOADS.get("moe", key="workload.kind")


def test_a_second_builder_of_one_kind_is_rejected():
    first = WORKLOADS.get("collective")
    with pytest.raises(RegistryError, match="workload 'collective' is registered twice"):
        WORKLOADS.add("collective", first)
    assert WORKLOADS.names() == config_kinds()
