"""Which closed forms are exact: the contention-free algorithm x topology pairs, as data.

A collective's closed form (`sim.network.collectives.collective_done_cycles`) is
*exact* when no message of its schedule ever waits for a link behind a message
of another pair of cores (messages between the same pair queue, and every
closed form counts that); then the DES equals it. Otherwise it is a *lower
bound*: the DES is slower by the link queueing. `closed_form_kind` says which,
from the request alone (no simulation), by the table `CONTENTION_FREE`, which
``tests/network/test_net_exactness.py`` holds true (DES == closed form and no
hop waiting, on every listed pair, several sizes and transport options) and the
README lists (its test compares the two).

Why each entry holds, with every core of the topology taking part:

- ``fully_connected``, any participants, any algorithm: a link joins one pair of
  cores and carries only their messages.
- ``ring``: consecutive participants' routes (segments) are link-disjoint on a
  ring, a tree of switches (cores in leaf order), a grid with an even side and a
  card whose chiplets have an even side (`sim.network.topology.grid_cycle`);
  successive steps on one segment are one pair's messages.
- ``in_network``: every link of the reduction and multicast trees carries one
  packet.
- ``hierarchical``: each message crosses one link no other uses (the routing
  tree of a mesh, chiplet anchors joined by their own die-to-die links); not on
  a tree of switches, where it is a star into the root's single link.
- broadcasts of ``recursive_doubling`` and ``halving_doubling`` (the sequential
  binomial tree: a node's sends share its first link one after another, each
  after the previous was delivered) and of ``multicast`` and ``row_column`` (one
  multicast tree), and the reduce and broadcast of ``row_column``, which are
  ``in_network``'s (it runs two phases only for all-gathers and all-reduces on a
  full rectangle of one mesh). The binomial *reduce* is not listed: its children's messages
  into a node are usually apart in time, but not always (on a card, with a
  vector cut into packets, they overlap).
- ``tree`` on a ring with ``arity`` 2: the in-order binary tree's parent and
  children are neighbours along the ring, each child on its own side.

Examples
--------
>>> from sim.network.problem import make_problem
>>> from sim.network.routing import Router
>>> from sim.network.topology import kary_tree, mesh_2d
>>> closed_form_kind(make_problem(Router(mesh_2d(4, 4)), "all_reduce", "ring", range(16), 64))
<ClosedFormKind.EXACT: 'exact'>
>>> closed_form_kind(make_problem(Router(kary_tree(16, 4)), "all_reduce", "hierarchical",
...                               range(16), 64)).value
'lower_bound'
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

import networkx as nx

from sim.network.problem import CollectiveKind, Problem, make_problem
from sim.network.routing import Router

if TYPE_CHECKING:
    from sim.config import CollectiveWorkload, MachineConfig

__all__ = [
    "CONTENTION_FREE",
    "ClosedFormKind",
    "closed_form_kind",
    "closed_form_kind_of_request",
    "contention_free_markdown",
    "contention_free_pairs",
]


class ClosedFormKind(StrEnum):
    """What a printed ``closed_form_cycles`` is."""

    EXACT = "exact"
    LOWER_BOUND = "lower_bound"


_ALL = frozenset(CollectiveKind)
_BROADCAST = frozenset({CollectiveKind.BROADCAST})
_ROOTED = frozenset({CollectiveKind.REDUCE, CollectiveKind.BROADCAST})
_FLAT = ("ring", "mesh", "torus", "tree", "card")

#: Per (algorithm, topology name), the collective kinds whose closed form is exact when
#: every core of the topology takes part (``fully_connected``: any participants), under
#: the conditions of `_condition_holds`. Pairs not listed are lower bounds.
CONTENTION_FREE: dict[tuple[str, str], frozenset[CollectiveKind]] = {
    **{(algorithm, "fully_connected"): _ALL
       for algorithm in ("direct", "tree", "ring", "recursive_doubling", "hierarchical",
                         "in_network", "star", "halving_doubling", "multicast", "row_column")},
    **{("ring", topology): _ALL for topology in _FLAT},
    **{("in_network", topology): _ALL for topology in _FLAT},
    **{("hierarchical", topology): _ALL for topology in ("ring", "mesh", "torus", "card")},
    **{(algorithm, topology): _BROADCAST for topology in _FLAT
       for algorithm in ("recursive_doubling", "halving_doubling", "multicast")},
    **{("row_column", topology): _ROOTED for topology in _FLAT},
    ("tree", "ring"): _ALL,
}


def _even_grid(graph: nx.DiGraph) -> bool:
    """Whether the grid (of a mesh or torus, or of each chiplet of a card) has an even side."""
    dims = graph.graph.get("chiplet_dims") or graph.graph.get("dims")
    return any(side % 2 == 0 for side in dims)


def _condition_holds(problem: Problem, topology: str) -> bool:
    """The side conditions of the table's entries (module docstring)."""
    if topology == "fully_connected":
        return True
    if len(problem.participants) != problem.router.core_count:
        return False
    if problem.algorithm == "ring" and topology in ("mesh", "torus", "card"):
        return _even_grid(problem.router.graph)
    if problem.algorithm == "tree":
        return problem.options.arity <= 2
    return True


def closed_form_kind(problem: Problem) -> ClosedFormKind:
    """`ClosedFormKind.EXACT` if ``problem``'s schedule is contention-free by the
    table `CONTENTION_FREE`, else `ClosedFormKind.LOWER_BOUND`."""
    topology = str(problem.router.graph.graph.get("topology"))
    if problem.size == 1:
        return ClosedFormKind.EXACT
    kinds = CONTENTION_FREE.get((problem.algorithm, topology), frozenset())
    if problem.kind in kinds and _condition_holds(problem, topology):
        return ClosedFormKind.EXACT
    return ClosedFormKind.LOWER_BOUND


def closed_form_kind_of_request(router: Router, machine: MachineConfig,
                                workload: CollectiveWorkload) -> ClosedFormKind:
    """`closed_form_kind` of a ``collective`` workload on ``machine``'s interconnect."""
    from sim.network.from_config import collective_options  # it imports the config

    participants = (range(router.core_count) if workload.participants == "all"
                    else workload.participants)
    options = collective_options(machine, reduce_op=workload.reduce_op, root=workload.root,
                                 arity=workload.arity)
    return closed_form_kind(make_problem(router, workload.op, workload.algorithm,
                                         tuple(participants), workload.bytes, options))


def contention_free_pairs() -> dict[str, dict[str, tuple[str, ...]]]:
    """`CONTENTION_FREE` as ``{algorithm: {topology: kinds}}`` in registry and kind order
    (what the README's table lists)."""
    from sim.network.algorithms import ALGORITHMS  # the registry imports the algorithms

    order = [k for k in CollectiveKind]
    out: dict[str, dict[str, tuple[str, ...]]] = {}
    for algorithm in ALGORITHMS.names():
        row = {topology: tuple(k.value for k in order if k in kinds)
               for (name, topology), kinds in CONTENTION_FREE.items() if name == algorithm}
        if row:
            out[algorithm] = row
    return out


def contention_free_markdown() -> str:
    """The README's table of `contention_free_pairs`: one row per algorithm, the
    topologies on which its closed form is exact over all cores, and for which kinds.

    Examples
    --------
    >>> contention_free_markdown().splitlines()[0]
    '| algorithm | exact over all cores (fully connected: any participants) |'
    """
    rows = ["| algorithm | exact over all cores (fully connected: any participants) |",
            "|---|---|"]
    every = len(CollectiveKind)
    for algorithm, topologies in contention_free_pairs().items():
        cells = []
        for topology, kinds in topologies.items():
            what = "" if len(kinds) == every else f" ({', '.join(kinds)})"
            cells.append(f"`{topology}`{what}")
        rows.append(f"| `{algorithm}` | {', '.join(cells)} |")
    return "\n".join(rows)
