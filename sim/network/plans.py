"""Tree shapes over the participants, shared by the tree-shaped algorithms.

A `TreePlan` is a rooted tree over the participants. The collectives walk it:
reduce and gather up (every node sends to its parent once its own subtree is
done), broadcast down. Which tree:

- ``star`` (`star_plan`): every participant is a child of the root.
- ``tree`` (`kary_plan`): a k-ary tree laid out in order along the
  topology: participants in ring order, rotated so that the root is in the
  middle; every node takes the middle of its block and splits the rest into
  ``arity`` contiguous sub-blocks (larger first), whose middles are its
  children. Subtrees are contiguous stretches of the ring order, so parents
  and children are near each other.
- ``recursive_doubling`` for reduce and broadcast (`binomial_plan`): the
  binomial tree over positions ``0 .. p-1`` in ring order rotated to start at
  the root: ``i + 2^k`` is a child of ``i`` for every ``2^k`` below the lowest
  set bit of ``i``. Its broadcast is *sequential*: a node sends to its children
  one at a time, farthest first, each after the previous was delivered (one
  message per node per round).
- ``hierarchical`` (`hierarchical_plan`): inside each chiplet, the routing tree
  (`topology_children`) toward the chiplet's anchor (the root in the root's
  chiplet, else the participant nearest the chiplet gateway); across chiplets
  of a card, the anchors of the other chiplets are children of the card hub
  (the participant nearest the gateway of the root's chiplet on the root's
  card, the anchor of the card gateway's chiplet elsewhere); across cards,
  the other card hubs are children of the participant nearest the root card's
  card gateway. With every core participating on a `card_hierarchy`, each
  message crosses exactly one link.

Examples
--------
>>> from sim.network.problem import make_problem
>>> from sim.network.routing import Router
>>> from sim.network.topology import ring
>>> router = Router(ring(8))
>>> kary_plan(make_problem(router, "reduce", "tree", list(range(7)), 4)).children[0]
(5, 2)
>>> binomial_plan(make_problem(router, "reduce", "recursive_doubling", list(range(6)), 4)).children
{0: (4, 2, 1), 1: (), 2: (3,), 3: (), 4: (5,), 5: ()}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sim.network.problem import Problem
from sim.network.routing import Router

__all__ = [
    "TreePlan",
    "binomial_plan",
    "hierarchical_plan",
    "kary_plan",
    "rotated",
    "star_plan",
    "topology_children",
]


@dataclass(frozen=True)
class TreePlan:
    """A rooted tree over the participants.

    Attributes
    ----------
    root : int
    children : mapping of int to tuple of int
        Every member is a key; children in send order.
    sequential_broadcast : bool
        Whether a node sends to its children one at a time (each after the
        previous delivery) rather than all at once.
    """

    root: int
    children: Mapping[int, tuple[int, ...]]
    sequential_broadcast: bool = False
    _parent: dict[int, int] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for node, kids in self.children.items():
            for kid in kids:
                self._parent[kid] = node

    def parent(self, node: int) -> int:
        """The parent of a non-root member."""
        return self._parent[node]

    def pre_order(self) -> list[int]:
        """Members, every parent before its children (children in send order)."""
        out, stack = [], [self.root]
        while stack:
            node = stack.pop()
            out.append(node)
            stack.extend(reversed(self.children[node]))
        return out

    def post_order(self) -> list[int]:
        """Members, every child before its parent."""
        return list(reversed(self.pre_order()))

    def subtree_sizes(self) -> dict[int, int]:
        """Members in each node's subtree (itself included)."""
        sizes: dict[int, int] = {}
        for node in self.post_order():
            sizes[node] = 1 + sum(sizes[k] for k in self.children[node])
        return sizes


def rotated(order: Sequence[int], first: int, index: int = 0) -> tuple[int, ...]:
    """``order`` rotated cyclically so that ``first`` sits at ``index``.

    Examples
    --------
    >>> rotated([0, 1, 2, 3, 4], 3), rotated([0, 1, 2, 3, 4], 0, 2)
    ((3, 4, 0, 1, 2), (3, 4, 0, 1, 2))
    """
    at = list(order).index(first)
    shift = (at - index) % len(order)
    return tuple(order[shift:]) + tuple(order[:shift])


def star_plan(problem: Problem) -> TreePlan:
    """Every participant a child of the root (children in ring order after the root).

    The ``star`` algorithm. On a fully connected network with a link per pair, in the
    α–β notation of Thakur, Rabenseifner & Gropp (2005) (our derivation): reduce
    ``α + nβ + (p - 1) nγ`` (the root combines one vector after another), broadcast
    ``α + nβ``, all-reduce ``2 (α + nβ) + (p - 1) nγ``, all-gather ``2α + (p + 1) nβ``.
    """
    order = rotated(problem.ranked(), problem.root)
    children: dict[int, tuple[int, ...]] = {core: () for core in order}
    children[problem.root] = order[1:]
    return TreePlan(problem.root, children)


def _split(items: Sequence[int], parts: int) -> list[Sequence[int]]:
    size, extra = divmod(len(items), parts)
    out, start = [], 0
    for part in range(parts):
        length = size + (1 if part < extra else 0)
        if length:
            out.append(items[start:start + length])
        start += length
    return out


def kary_plan(problem: Problem) -> TreePlan:
    """The in-order k-ary tree (``arity`` from the options; see the module docstring)."""
    order = rotated(problem.ranked(), problem.root, problem.size // 2)
    children: dict[int, tuple[int, ...]] = {}
    stack: list[Sequence[int]] = [order]
    while stack:
        block = stack.pop()
        mid = len(block) // 2
        rest = tuple(block[:mid]) + tuple(block[mid + 1:])
        chunks = _split(rest, problem.options.arity)
        children[block[mid]] = tuple(chunk[len(chunk) // 2] for chunk in chunks)
        stack.extend(chunks)
    return TreePlan(problem.root, children)


def binomial_plan(problem: Problem) -> TreePlan:
    """The binomial tree rooted at position 0 (see the module docstring)."""
    order = rotated(problem.ranked(), problem.root)
    p = len(order)
    children: dict[int, tuple[int, ...]] = {}
    for i, core in enumerate(order):
        kids = []
        step = 1
        while step < p and (i == 0 or step < (i & -i)):
            if i + step < p:
                kids.append(order[i + step])
            step *= 2
        children[core] = tuple(reversed(kids))
    return TreePlan(problem.root, children, sequential_broadcast=True)


def topology_children(router: Router, members: Sequence[int], anchor: int,
                      rank: Mapping[int, int]) -> dict[int, tuple[int, ...]]:
    """The routing tree of ``members`` toward ``anchor``.

    Every member's parent is the first member on its route to ``anchor``;
    children are sorted by ``rank``. With every core of a mesh a member, each
    child is a neighbour of its parent.

    Examples
    --------
    >>> from sim.network.topology import mesh_2d
    >>> topology_children(Router(mesh_2d(3, 1)), [0, 1, 2], 0, {0: 0, 1: 1, 2: 2})
    {0: (1,), 1: (2,), 2: ()}
    """
    inside = set(members)
    children: dict[int, list[int]] = {m: [] for m in members}
    for member in members:
        if member == anchor:
            continue
        for node in router.route(member, anchor).nodes[1:]:
            if node in inside:
                children[node].append(member)
                break
    return {m: tuple(sorted(kids, key=lambda c: (rank[c], c))) for m, kids in children.items()}


def _nearest(router: Router, members: Sequence[int], target: int | None) -> int:
    """The member with the fastest route to ``target`` (ties: lowest id); the
    first member if there is no target."""
    if target is None:
        return members[0]
    return min(members, key=lambda m: (router.route(m, target).head_latency_cycles, m))


def hierarchical_plan(problem: Problem) -> TreePlan:
    """Chiplet routing trees joined through gateways (see the module docstring).

    Cores are grouped by their ``card`` and ``chiplet`` node attributes (0 when
    absent); gateways come from the graph's ``chiplet_gateways`` and
    ``card_gateways`` (none on flat topologies, where this is the routing tree
    toward the root).
    """
    graph = problem.router.graph
    router, root = problem.router, problem.root
    chiplet_gates = graph.graph.get("chiplet_gateways")
    card_gates = graph.graph.get("card_gateways")
    order = problem.ranked()
    rank = {core: i for i, core in enumerate(order)}
    chiplets: dict[int, list[int]] = {}
    card_of: dict[int, int] = {}
    for core in order:
        chiplet = graph.nodes[core].get("chiplet", 0)
        chiplets.setdefault(chiplet, []).append(core)
        card_of[chiplet] = graph.nodes[core].get("card", 0)
    root_chiplet = graph.nodes[root].get("chiplet", 0)
    root_card = card_of[root_chiplet]
    children: dict[int, list[int]] = {}
    anchors: dict[int, int] = {}
    for chiplet, members in chiplets.items():
        gate = chiplet_gates[chiplet] if chiplet_gates else None
        anchor = root if chiplet == root_chiplet else _nearest(router, members, gate)
        anchors[chiplet] = anchor
        for node, kids in topology_children(router, members, anchor, rank).items():
            children[node] = list(kids)
    hubs: dict[int, int] = {}
    for card in sorted(set(card_of.values())):
        in_card = [c for c in sorted(chiplets) if card_of[c] == card]
        if card == root_card:
            hub_chiplet = root_chiplet
            gate = chiplet_gates[root_chiplet] if chiplet_gates else None
            hub = _nearest(router, chiplets[root_chiplet], gate)
        else:
            gate_chiplet = graph.nodes[card_gates[card]]["chiplet"] if card_gates else None
            hub_chiplet = gate_chiplet if gate_chiplet in in_card else in_card[0]
            hub = anchors[hub_chiplet]
        hubs[card] = hub
        children[hub].extend(anchors[c] for c in in_card if c != hub_chiplet)
    root_card_members = [c for c in order if card_of[graph.nodes[c].get("chiplet", 0)] == root_card]
    system = _nearest(router, root_card_members, card_gates[root_card] if card_gates else None)
    children[system].extend(hubs[k] for k in sorted(hubs) if k != root_card)
    return TreePlan(root, {node: tuple(kids) for node, kids in children.items()})
