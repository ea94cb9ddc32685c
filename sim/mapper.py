"""The auto mapper: per linear the tiling, per token norm where its statistics are
computed, chosen by the fast path's latency (``schedule.linear_split: auto``,
``schedule.norm_stats: auto``).

`sim.schedule` never computes time, so the search lives here, between the
mapping and a backend: it builds candidate plans (`sim.schedule.build_plan`
with a `MappingChoice`) and times each with the array evaluator
(`sim.backends.arrays.evaluate`; where the arrays decline, the same plan's
closed-form tasks under `sim.backends.analytic`). A candidate that does not
fit SRAM (`CapacityError`) is skipped.

The search, deterministic (fixed orders, ties to the first):

1. **Uniform splits.** For each tiling in `sim.schedule.grid.SPLITS` order
   (columns, rows, 2d), every searched linear cut that way; from each, the
   norm descent (step 3 over the norms only). The best of these is the start.
   A fixed ``linear_split`` runs exactly this with its own split, so ``auto``
   is never slower on the fast path than any fixed split.
2. **Coordinate descent** over the linears, *tied by role* (`linear_key`:
   ``qkv`` of every layer moves together), in graph order, each trying the
   other tilings in SPLITS order, then over the norms (tied the same way),
   each toggling local statistics. A change is kept only if the fast-path
   latency strictly drops; passes repeat until one changes nothing (at most
   `MAX_PASSES`).

**Two representative layers.** The roles are tied across layers, and layer L
runs on group L mod G (`sim.schedule.decisions.layer_group`): when the
workload has more than two layers and no two layers share a group, every
layer's plan is the second's on other cores, so the search times the first
two layers (the same workload with ``layers: 2``) and applies its choice to
every layer. Two, not one: the second layer's first gather starts from the
first layer's last linear on another group, as every later layer's does, and
that transfer depends on the tilings (on the 32-layer server config one layer
alone picks a 2d ``qkv`` that is 2.5% slower over 32 layers; two layers pick
what the whole graph's search does, and ``imcsim run --backend analytic`` on
it takes 80 s instead of 9 min 13 s). When layers
share a group (more layers than groups) their weights share SRAM, so the
search runs on the whole graph. The plan `sim.runner.prepare` builds from
the choice is always of the whole graph (and raises if it does not fit).

Linears named in ``schedule.linear_splits`` keep their tiling; a fixed
``linear_split`` or ``norm_stats`` takes that dimension out of the search. A
layer group of one core has nothing to choose. Choices are cached by
(config, strategy), the last `CHOICES_KEPT`: `choose` on an equal config
returns the same choice without searching again.

Cost: each candidate is one `build_plan` and one evaluation. On
``configs/paper/llama3_8b_decode.yaml`` (one layer on 256 cores, row_column
gathers, collectives profiled on their links by the fast path) the six
strategies take 11 s together on one interconnect, 0.7 to 2.8 s each (the
plans alone: 0.04 s); 2d plans carry a reduce per output slice (256 per
linear), whose per-request work dominates an evaluation. A layer group of 1024
cores (``llama3_70b_decode``) takes longer; a 32-layer model one layer per
chiplet (``llama3_8b_decode_server``) costs what its first two layers do. An equal config
is served from the cache; a fixed ``linear_split`` and ``norm_stats`` skip the
search.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from sim.backends.analytic import run_analytic
from sim.backends.arrays import evaluate, latency_cycles
from sim.backends.task_emitter import emit_tasks
from sim.config import RunConfig, StrategyName, TransformerWorkload
from sim.config.schedule import PipelineConfig
from sim.errors import CapacityError
from sim.ir import OpGraph, Role
from sim.ir.plan import LoweringPlan, MappingChoice
from sim.network.from_config import Interconnect
from sim.schedule import apply_strategy, build_plan
from sim.schedule.grid import SPLITS, linear_key
from sim.schedule.placement import layer_groups
from sim.workload import build_workload

__all__ = ["CHOICES_KEPT", "MAX_PASSES", "choose", "clear_cache", "fast_latency_cycles",
           "needs_search", "representative"]

#: Coordinate-descent passes at most (each tries every linear role and norm once).
MAX_PASSES = 2

_TOKEN_NORMS = ("rmsnorm", "layernorm")


def fast_latency_cycles(plan: LoweringPlan, config: RunConfig, net: Interconnect) -> int:
    """The fast path's latency of ``plan``: the array evaluator's, or where it
    declines the closed-form tasks' (the analytic backend's figure either way)."""
    state = evaluate(plan, config.machine, net)
    if state is not None:
        latency = latency_cycles(state.batches)
        state.batches.clear()
        return latency
    return run_analytic(emit_tasks(plan, config.machine, net, "closed_form").taskgraph
                        ).latency_cycles


def needs_search(config: RunConfig) -> bool:
    """Whether ``config`` leaves a mapping decision to `choose`."""
    schedule = config.schedule
    return schedule.linear_split == "auto" or schedule.norm_stats == "auto"


def _bits(config: RunConfig) -> dict[str, int]:
    workload = config.workload
    if isinstance(workload, TransformerWorkload):
        return {"weight": workload.weight_bits, "activation": workload.activation_bits}
    return {"weight": 8, "activation": 16}


@dataclass(frozen=True)
class _State:
    """A point of the search: tiling per linear role, the roles of local norms."""

    splits: tuple[tuple[str, str], ...]
    local: frozenset[str] = frozenset()

    def with_split(self, role: str, split: str) -> _State:
        return _State(tuple((r, split if r == role else s) for r, s in self.splits), self.local)

    def toggled(self, norm: str) -> _State:
        return _State(self.splits, self.local ^ {norm})


@dataclass(frozen=True, eq=False)
class _Search:
    """One search: the config, the rewritten graph, the interconnect; the linears
    by role and the norms by role that it may change; latencies seen so far."""

    config: RunConfig
    graph: OpGraph
    net: Interconnect
    linears: dict[str, list[str]]
    norms: dict[str, list[str]]
    norm_linears: dict[str, list[str]]  # norm role -> the linears its normalize feeds
    seen: dict[_State, int | None] = field(default_factory=dict)
    tilings: dict[_State, dict[str, str]] = field(default_factory=dict)  # effective splits
    by_plan: dict[tuple[object, ...], int] = field(default_factory=dict)

    def choice(self, state: _State) -> MappingChoice:
        splits = {name: split for role, split in state.splits for name in self.linears[role]}
        local = frozenset(name for role in state.local for name in self.norms[role])
        return MappingChoice(splits, local)

    def cost(self, state: _State) -> int | None:
        """Fast-path latency of ``state`` (None: it does not fit SRAM)."""
        if state not in self.seen:
            try:
                plan = build_plan(self.graph, self.config.machine, self.config.schedule,
                                  _bits(self.config), self.choice(state))
            except CapacityError:
                self.seen[state] = None
                return None
            tilings = self.tilings[state] = {op: t.split for op, t in plan.tilings.items()}
            # states whose plans decide the same (a 2d grid that fell back to columns,
            # say) are the same plan: timed once
            decided = (tuple(tilings.items()), tuple(plan.norm_stats.items()))
            if decided not in self.by_plan:
                self.by_plan[decided] = fast_latency_cycles(plan, self.config, self.net)
            self.seen[state] = self.by_plan[decided]
        return self.seen[state]

    def may_be_local(self, state: _State, norm: str) -> bool:
        """Whether local statistics of ``norm`` can change ``state``'s plan: every
        linear its normalize feeds is cut by columns there (`sim.schedule.decisions`)."""
        tilings = self.tilings.get(state, {})
        return norm in state.local or all(tilings.get(op) == "columns"
                                          for op in self.norm_linears[norm])

    def descend(self, start: _State, cycles: int, linears: bool) -> tuple[_State, int]:
        """Coordinate descent from ``start`` (module docstring, step 2); with
        ``linears`` False over the norms only."""
        state = start
        roles = [(True, role) for role in (self.linears if linears else ())]
        roles += [(False, norm) for norm in self.norms]
        for _ in range(MAX_PASSES):
            changed = False
            for is_linear, role in roles:
                base = state
                moves = ([base.with_split(role, split) for split in SPLITS] if is_linear
                         else [base.toggled(role)] if self.may_be_local(base, role) else [])
                for move in moves:
                    got = None if move == state else self.cost(move)
                    if got is not None and got < cycles:
                        state, cycles, changed = move, got, True
            if not changed:
                break
        return state, cycles


_Roles = dict[str, list[str]]


def _roles(config: RunConfig, graph: OpGraph) -> tuple[_Roles, _Roles, _Roles]:
    """The linears (by role) whose tiling is searched, the norms (by role) whose
    statistics placement is, in graph order, and the ops each norm's normalize feeds."""
    schedule = config.schedule
    linears: _Roles = {}
    norms: _Roles = {}
    norm_linears: _Roles = {}
    for op in graph.ops:
        if (op.role == Role.LINEAR and schedule.linear_split == "auto"
                and linear_key(op.name) not in schedule.linear_splits):
            linears.setdefault(linear_key(op.name), []).append(op.name)
        if (op.role == Role.NORM_APPLY and op.attrs.get("norm") in _TOKEN_NORMS
                and schedule.norm_stats == "auto"):
            prefix = op.name.rsplit(".", 1)[0]
            norms.setdefault(linear_key(prefix), []).append(prefix)
            norm_linears.setdefault(linear_key(prefix), []).extend(
                e.dst for e in graph.successors(op.name))
    return linears, norms, norm_linears


#: Choices already made, by strategy and config JSON, oldest first (at most
#: `CHOICES_KEPT`). Only the choice is kept: a graph and an interconnect are
#: derived from the config, and keeping them would keep every machine's routes.
_CHOICES: OrderedDict[str, MappingChoice] = OrderedDict()
CHOICES_KEPT = 256


def clear_cache() -> None:
    """Forget every choice made (the next `choose` searches again)."""
    _CHOICES.clear()


def representative(config: RunConfig) -> RunConfig | None:
    """``config`` cut to its first two layers when their choice stands for
    every layer (module docstring, "Two representative layers"); else None.
    A pipeline (``schedule.pipeline``) is dropped from the cut: with no more
    layers than groups its stages are one layer per group, as without it."""
    workload = config.workload
    if not isinstance(workload, TransformerWorkload):
        return None
    layers = workload.layers or workload.model.num_layers
    if layers <= 2 or layers > len(layer_groups(config.machine, config.schedule)):
        return None
    schedule = config.schedule.model_copy(update={"pipeline": PipelineConfig()})
    return config.model_copy(update={"workload": workload.model_copy(update={"layers": 2}),
                                     "schedule": schedule})


def _search(config: RunConfig, strategy: StrategyName, graph: OpGraph,
            net: Interconnect) -> MappingChoice:
    linears, norms, norm_linears = _roles(config, graph)
    group = config.schedule.cores_per_layer or config.machine.hierarchy.cores_per_chiplet
    if group == 1 or not (linears or norms):
        return MappingChoice()
    searched_config, searched_graph = config, graph
    cut = representative(config)
    if cut is not None:
        searched_config = cut
        searched_graph = apply_strategy(build_workload(cut.workload), strategy).graph
    search = _Search(searched_config, searched_graph, net,
                     *_roles(searched_config, searched_graph))
    state = _best_state(search)
    # the chosen roles, applied to every layer's linears and norms of the whole graph
    return _Search(config, graph, net, linears, norms, norm_linears).choice(state)


def _best_state(search: _Search) -> _State:
    """Steps 1 and 2 of the module docstring on ``search``.

    Raises
    ------
    CapacityError
        If no uniform split fits (the column split's error).
    """
    config, graph, linears = search.config, search.graph, search.linears
    best: tuple[int, _State] | None = None
    for split in SPLITS if linears else ("",):
        start = _State(tuple((role, split) for role in linears))
        cycles = search.cost(start)
        if cycles is None:
            continue
        state, cycles = search.descend(start, cycles, linears=False)
        if best is None or cycles < best[0]:
            best = (cycles, state)
    if best is None:  # nothing fits: the column split's own error says by how much
        try:
            build_plan(graph, config.machine, config.schedule, _bits(config),
                       search.choice(_State(tuple((role, SPLITS[0]) for role in linears))))
        except CapacityError as exc:
            if not linears:
                raise
            raise CapacityError(f"{exc} (schedule.linear_split auto: no tiling fits)") from None
        raise CapacityError("schedule.linear_split auto: no tiling fits")  # pragma: no cover
    state, _ = search.descend(best[1], best[0], linears=bool(linears))
    return state


def choose(config: RunConfig, strategy: StrategyName, graph: OpGraph,
           net: Interconnect) -> MappingChoice:
    """The mapping decisions ``config`` leaves to the search, for ``graph`` (the
    workload rewritten by ``strategy``) on ``net`` (module docstring).

    Raises
    ------
    CapacityError
        If no candidate fits SRAM (the column split's error, naming the linear,
        the core and the bytes).
    """
    key = f"{strategy.value}\n{config.model_dump_json()}"
    if key not in _CHOICES:
        _CHOICES[key] = _search(config, strategy, graph, net)
        while len(_CHOICES) > CHOICES_KEPT:
            _CHOICES.popitem(last=False)
    _CHOICES.move_to_end(key)
    return _CHOICES[key]
