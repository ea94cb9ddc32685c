"""What sweep points share: the interconnect, kept per worker process.

Building a machine's interconnect (`sim.network.from_config.build_interconnect`:
the topology graph, its router and engines) costs tens of milliseconds on a
card, and its router then learns routes, trees and the analytic backend's
collective profiles (`sim.backends.collective_profile`), which cost more than
the rest of an analytic point. Points of a sweep that change neither the core
hierarchy nor the network reuse all of it.

The key is what `build_interconnect` reads: the whole ``machine.hierarchy``
and ``machine.network`` sections except `OPTION_FIELDS`, which it does not
read (they reach the collectives through `collective_options` and are part of
every key the router remembers a collective under, so one interconnect serves
any of their values). A field added to either section later is in the key
unless it is added to `OPTION_FIELDS`: a new field can cost reuse, never
correctness. The other sections (engines, memory, clock, workload, schedule)
never reach the interconnect.

One `InterconnectCache` per worker process (`WORKER_CACHE`; a Dask worker keeps
its own the same way), bounded: the last `InterconnectCache.kept` machines,
least recently used first out. Reuse changes no figure (tests compare every
row with and without it): a router's memo holds pure functions of its keys.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sim.config import MachineConfig
    from sim.network.from_config import Interconnect

__all__ = ["OPTION_FIELDS", "WORKER_CACHE", "InterconnectCache", "interconnect_key"]

#: ``machine.network`` fields `build_interconnect` does not read (module docstring).
OPTION_FIELDS = frozenset({"max_packet_bytes", "in_network_combine_cycles"})


def interconnect_key(machine: MachineConfig) -> str:
    """The part of ``machine`` its interconnect is built from, as canonical JSON:
    equal for machines whose `build_interconnect` results are equal."""
    return json.dumps({
        "hierarchy": machine.hierarchy.model_dump(mode="json"),
        "network": machine.network.model_dump(mode="json", exclude=set(OPTION_FIELDS)),
    }, sort_keys=True)


class InterconnectCache:
    """The interconnects of the last ``kept`` machines, by `interconnect_key`.

    A sweep's points vary a few keys, so a handful covers a grid's inner axes
    (points cycling through three link latencies reuse all three); each entry
    holds a topology and its router's memo (up to
    `sim.network.routing.Router.MEMO_KEPT` structures), hence the small bound:
    measured, a 2048-core card's interconnect takes 7 MB when built, the
    32768-core rack's 120 MB.
    """

    def __init__(self, kept: int = 4) -> None:
        if kept < 1:
            raise ValueError(f"kept must be >= 1, got {kept}")
        self.kept = kept
        self._entries: OrderedDict[str, Interconnect] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, machine: MachineConfig) -> Interconnect:
        """``machine``'s interconnect: the kept one if an equal key was built, else
        a new one (kept, evicting the least recently used past ``kept``).

        Raises
        ------
        ConfigError
            As `build_interconnect` does (nothing is kept then).
        """
        key = interconnect_key(machine)
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
            self.hits += 1
            return found
        from sim.network.from_config import build_interconnect  # networkx: on first use

        built = build_interconnect(machine)
        self.misses += 1
        self._entries[key] = built
        if len(self._entries) > self.kept:
            self._entries.popitem(last=False)
        return built

    def clear(self) -> None:
        """Forget every interconnect (and the counts)."""
        self._entries.clear()
        self.hits = self.misses = 0


#: This process's cache: what `sim.sweep.execute.run_point` reuses between points.
WORKER_CACHE = InterconnectCache()
