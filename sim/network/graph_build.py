"""Writing the nodes and links of a topology graph in bulk.

The builders of `sim.network.topology` make graphs of tens of thousands of cores
and over a hundred thousand links; one ``add_node`` / ``add_edge`` call per
element (argument checks, a cache clear, two dict look-ups of each end) cost more
than the rest of building the interconnect. These helpers write the graph's own
dict-of-dicts (``_node``, ``_succ``, ``_pred``: the storage networkx documents
for subclasses, the one its own algorithms read) doing exactly what those calls
do, in the same order, so the graph is the same: the same node and link
insertion order (which orders ``graph.nodes``, ``graph.edges`` and every
``successors``/``predecessors``), one fresh attribute dict per node and per link
(shared by the link's ``_succ`` and ``_pred`` entries, as ``add_edge`` does), the
same keys in the same order. Only graphs built by the topology builders are
written this way, before anyone else holds them (so no converted-graph cache of
networkx can be stale; it is cleared anyway, as the calls would).

Examples
--------
>>> g = nx.DiGraph()
>>> add_nodes(g, [(0, {"role": "core"}), (1, {"role": "core"})])
>>> add_links(g, [(0, 1), (1, 0), (0, 1)], {"bytes_per_cycle": 8, "latency_cycles": 1})
>>> list(g.edges(data="bytes_per_cycle")), g.edges[0, 1] is g.pred[1][0]
([(0, 1, 8), (1, 0, 8)], True)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import networkx as nx

__all__ = ["add_links", "add_nodes"]

#: networkx's converted-graph cache clearer (3.3 on; older versions keep no cache).
_clear_cache = getattr(nx, "_clear_cache", lambda graph: None)


def add_nodes(graph: nx.DiGraph, nodes: Iterable[tuple[int, dict[str, object]]]) -> None:
    """``graph.add_node(n, **attrs)`` for every ``(n, attrs)`` in order, for nodes
    ``graph`` does not have yet; ``attrs`` becomes the node's attribute dict itself
    (the caller hands over a fresh dict per node and keeps no reference).

    Raises
    ------
    ValueError
        If a node is already in the graph (``add_node`` would update it instead).
    """
    node_dicts, succ, pred = graph._node, graph._succ, graph._pred
    for node, attrs in nodes:
        if node in succ:
            raise ValueError(f"node {node!r} is already in the graph")
        succ[node] = {}
        pred[node] = {}
        node_dicts[node] = attrs
    _clear_cache(graph)


def add_links(graph: nx.DiGraph, links: Iterable[tuple[int, int]],
              attrs: Mapping[str, object]) -> None:
    """``graph.add_edge(u, v, **attrs)`` for every ``(u, v)`` in order, both ends
    already nodes of ``graph``: a new link gets a copy of ``attrs``; a link already
    there has its attribute dict updated in place (its position is kept).

    Raises
    ------
    KeyError
        If an end is not a node of ``graph`` (``add_edge`` would add it).
    """
    succ, pred = graph._succ, graph._pred
    template = dict(attrs)
    copy = template.copy
    for u, v in links:
        out, into = succ[u], pred[v]
        data = out.get(v)
        if data is None:
            out[v] = into[u] = copy()
        else:
            data.update(template)
    _clear_cache(graph)
