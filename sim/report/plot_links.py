"""Link utilization of one run drawn on the machine's topology graph.

Layout: on a card, every core sits at its chiplet-local grid ``pos``, chiplets
are offset on a grid (cards side by side); on a flat mesh or torus at ``pos``;
a ring on a circle; anything else (trees with switches, fully connected) by a
seeded spring layout. The two directions of a link are drawn side by side,
each with width and colour by its utilization: busy cycles over the run's
latency, in %.
"""

from __future__ import annotations

import math

import networkx as nx

from sim.report.plot_common import render
from sim.report.trace import link_endpoints, run_topology
from sim.runner import RunResult

__all__ = ["link_utilization_figure", "topology_layout"]


def topology_layout(topology: nx.DiGraph) -> dict[int, tuple[float, float]]:
    """Drawing coordinates of every node of ``topology`` (see the module docstring).

    Examples
    --------
    >>> from sim.network.topology import card_hierarchy
    >>> pos = topology_layout(card_hierarchy(chiplets_per_card=2, chiplet_width=2,
    ...                                      chiplet_height=1))
    >>> pos[0], pos[2]
    ((0.0, -0.0), (3.0, -0.0))
    """
    nodes = topology.nodes
    kind = topology.graph.get("topology")
    if kind == "card":
        width, height = topology.graph["chiplet_dims"]
        per_card = topology.graph["chiplets_per_card"]
        columns = math.ceil(math.sqrt(per_card))
        out = {}
        for node, attrs in nodes(data=True):
            x, y = attrs["pos"]
            local = attrs["chiplet"] - attrs["card"] * per_card
            cx = (local % columns) + attrs["card"] * (columns + 0.5)
            cy = local // columns
            out[node] = (float(cx * (width + 1) + x), -float(cy * (height + 1) + y))
        return out
    if kind in ("mesh", "torus") and all(len(a.get("pos", ())) == 2 for _, a in nodes(data=True)):
        return {n: (float(a["pos"][0]), -float(a["pos"][1])) for n, a in nodes(data=True)}
    if kind in ("ring", "fully_connected"):
        circle: nx.Graph = nx.Graph()  # the nodes alone, in id order around the circle
        circle.add_nodes_from(sorted(topology.nodes))
        return {n: (float(x), float(y)) for n, (x, y) in nx.circular_layout(circle).items()}
    layout = nx.spring_layout(topology.to_undirected(), seed=0)
    return {n: (float(x), float(y)) for n, (x, y) in sorted(layout.items())}


def link_utilization_figure(result: RunResult, *, topology: nx.DiGraph | None = None,
                            stem: str = "links") -> dict[str, bytes]:
    """The topology with each directed link drawn by its utilization (%) in ``result``.

    Idle links are thin and light grey; busy ones wider and coloured (viridis)
    by ``busy_cycles / latency_cycles``, with a colour bar in %. Core nodes are
    dots (filled when the core computed something), switches squares.
    """
    import matplotlib.pyplot as plt
    from matplotlib import colormaps
    from matplotlib.collections import LineCollection
    from matplotlib.colors import Normalize

    topo = run_topology(result, topology)
    pos = topology_layout(topo)
    latency = max(result.latency_cycles, 1)
    traffic = result.link_traffic()
    util: dict[tuple[int, int], float] = {}
    for name, t in traffic.items():
        ends = link_endpoints(name)
        if ends is not None:
            util[ends] = 100.0 * t.busy_cycles / latency
    xs = [p[0] for p in pos.values()] or [0.0]
    ys = [p[1] for p in pos.values()] or [0.0]
    span = max(max(xs) - min(xs), max(ys) - min(ys), 1.0)
    shift = span * 0.004
    idle, busy, busy_values = [], [], []
    for u, v in sorted(topo.edges):
        (x0, y0), (x1, y1) = pos[u], pos[v]
        length = math.hypot(x1 - x0, y1 - y0) or 1.0
        dx, dy = -(y1 - y0) / length * shift, (x1 - x0) / length * shift  # left of u->v
        segment = [(x0 + dx, y0 + dy), (x1 + dx, y1 + dy)]
        if (u, v) in util:
            busy.append(segment)
            busy_values.append(util[u, v])
        else:
            idle.append(segment)
    size = 11.0
    fig, ax = plt.subplots(figsize=(size, size * 0.75))
    ax.add_collection(LineCollection(idle, colors="lightgrey", linewidths=0.3, zorder=1))
    peak = max(busy_values, default=0.0)
    norm = Normalize(vmin=0.0, vmax=max(peak, 1e-9))
    cmap = colormaps["viridis"]
    if busy:
        order = sorted(range(len(busy)), key=lambda k: busy_values[k])  # busiest on top
        ax.add_collection(LineCollection(
            [busy[k] for k in order], colors=[cmap(norm(busy_values[k])) for k in order],
            linewidths=[0.6 + 3.0 * busy_values[k] / max(peak, 1e-9) for k in order],
            zorder=2))
    computing = {result.taskgraph.engines[t.engine].core for t in result.taskgraph.tasks
                 if t.duration_cycles > 0} - {None}
    cores = [n for n, a in topo.nodes(data=True) if a.get("role", "core") == "core"]
    switches = [n for n, a in topo.nodes(data=True) if a.get("role") == "switch"]
    dot = max(1.0, min(20.0, 4000.0 / max(len(pos), 1)))
    for group, filled in ((sorted(set(cores) - computing), False),
                          (sorted(set(cores) & computing), True)):
        if group:
            ax.scatter([pos[n][0] for n in group], [pos[n][1] for n in group], s=dot,
                       facecolors="black" if filled else "white", edgecolors="black",
                       linewidths=0.3, zorder=3,
                       label="core that computed" if filled else "idle core")
    if switches:
        ax.scatter([pos[n][0] for n in switches], [pos[n][1] for n in switches], s=dot * 2,
                   marker="s", color="tab:orange", zorder=3, label="switch")
    ax.autoscale()
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    bar = fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, shrink=0.8)
    bar.set_label("link utilization (% of the run's latency busy)")
    ax.legend(loc="upper left", bbox_to_anchor=(0, -0.01), ncol=3, frameon=False, fontsize=8)
    note = "" if busy else " · no link carried traffic"
    ax.set_title(f"Link utilization · {result.config.machine.name} · {result.strategy.value} · "
                 f"latency {result.latency_cycles} cycles ({result.latency_us:.3f} µs) · "
                 f"{len(busy)} of {topo.number_of_edges()} links busy, peak {peak:.1f} %{note}",
                 fontsize=9)
    fig.tight_layout()
    return render(fig, stem)
