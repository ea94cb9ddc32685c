"""A collective's closed-form shape, kept on its profile, is the shape computed
afresh from the profile's arrivals and combines, for every extra delay."""

from __future__ import annotations

import numpy as np
import pytest

from sim.backends.collective_profile import closed_form_shape, collective_profile
from sim.network.problem import CollectiveOptions
from sim.network.routing import Router
from sim.network.topology import torus_2d
from sim.network.transport import build_engines


def _fresh(done: dict[int, int], first: np.ndarray, combine: np.ndarray,
           extra: int) -> tuple[list[int], list[int], list[int]]:
    """Arrival cycles per core and the combine tails, from the definitions."""
    arrivals = sorted({t + extra for t in done.values()})
    which = [arrivals.index(done[c] + extra) for c in done]
    tails = [max(arrivals[0] - int(f) - int(c), 0) for f, c in zip(first, combine, strict=True)]
    return arrivals, which, tails


@pytest.mark.parametrize("algorithm", ["star", "tree", "ring"])
def test_the_kept_shape_is_the_fresh_one(algorithm: str) -> None:
    topology = torus_2d(4, 4)
    router = Router(topology)
    profile = collective_profile(router, build_engines(topology), "all_reduce", algorithm,
                                 tuple(range(8)), 512, CollectiveOptions())
    for extra in (0, 7, 0, 7, 3):
        shape = closed_form_shape(profile, extra)
        assert closed_form_shape(profile, extra) is shape  # kept
        arrivals, which, tails = _fresh(profile.done_cycles, profile.combine_first_cycles,
                                        profile.combine_cycles, extra)
        assert shape.cores.tolist() == list(profile.done_cycles)
        assert shape.cycles.tolist() == arrivals
        assert shape.which.tolist() == which
        assert shape.tails.tolist() == tails
        with pytest.raises(ValueError):
            shape.cycles[0] = 0  # shared: read-only
