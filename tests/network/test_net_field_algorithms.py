"""The field's collective algorithms (``direct``, ``halving_doubling``, ``star``) on fully
connected topologies: the DES equals the closed form, the closed forms are the textbook
α–β costs (Thakur, Rabenseifner & Gropp 2005), and every link carries the bytes the
schedule sends over it."""

from __future__ import annotations

import math

import pytest

from sim.backends import run_des
from sim.network import (
    CollectiveKind,
    CollectiveOptions,
    Router,
    build_collective_graph,
    collective_latency_cycles,
    fully_connected,
    link_traffic,
    make_problem,
    ring,
)
from sim.network.collectives import collective_done_cycles
from sim.network.exactness import ClosedFormKind, closed_form_kind

KINDS = [k.value for k in CollectiveKind]
FIELD_ALGORITHMS = ("direct", "halving_doubling", "star")
OPTIONS = {
    "combine64": CollectiveOptions(),
    "free_combines_root2": CollectiveOptions(combine_bytes_per_cycle=None, root=2),
    "slow_combines_packets": CollectiveOptions(combine_bytes_per_cycle=8, max_packet_bytes=48),
}


def _waits_behind_its_own_pair(algorithm: str, kind: str, p: int,
                               options: CollectiveOptions) -> bool:
    """Whether some hop of the run waits for a link (although the closed form is exact).

    On a fully connected topology a link carries only the messages of its own pair, so
    a hop can only wait behind an earlier message of that pair, which the closed form
    counts: the packets of one message (``max_packet_bytes``: they follow each other
    back to back), or halving-doubling's reducing kinds on a non-power of two, where
    position ``j`` may send the round after next to the same partner while that link
    still carries its previous message.
    """
    folds = (algorithm == "halving_doubling" and kind in ("reduce", "all_reduce")
             and p & (p - 1) != 0)
    return folds or options.max_packet_bytes is not None


@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize("nbytes", [4, 96, 1000])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("algorithm", FIELD_ALGORITHMS)
@pytest.mark.parametrize("p", [4, 6, 8])
def test_des_equals_closed_form_on_fully_connected(run, p, algorithm, kind, nbytes, options):
    router = Router(fully_connected(p))
    got = run(router, kind, algorithm, range(p), nbytes, OPTIONS[options])
    if not _waits_behind_its_own_pair(algorithm, kind, p, OPTIONS[options]):
        assert got.link_queueing_cycles == 0, "premise: no hop waits for a link"
    assert got.done_cycles == got.timeline.latency_cycles == got.result.latency_cycles
    done = collective_done_cycles(router, kind, algorithm, range(p), nbytes,
                                  options=OPTIONS[options])
    ready = got.timeline.ready_cycles
    simulated = {core: max((ready[i] for i in tasks), default=0)
                 for core, tasks in got.result.done.items()}
    if algorithm == "halving_doubling" and kind == "all_gather":
        # the butterfly's closed form gives every core the latency, as recursive doubling's
        assert max(simulated.values()) == max(done.values())
    else:
        assert simulated == done
    root = OPTIONS[options].root
    holders = {0 if root is None else root} if kind == "reduce" else set(range(p))
    assert set(got.result.done) == holders


# --- the closed forms are the textbook α–β costs ---------------------------------------------

ROUTER_CYCLES, LINK_CYCLES, WIDTH_BYTES = 2, 3, 16
ALPHA_CYCLES = ROUTER_CYCLES + LINK_CYCLES - 1


def _log2(p: int) -> int:
    return p.bit_length() - 1


#: (algorithm, kind) -> (α–β cost in cycles for p, n: α in cycles, nβ = n / WIDTH_BYTES flits;
#: messages on the critical path, each rounded up to whole flits).
FORMULAS = {
    ("ring", "all_reduce"): (lambda p, n: 2 * (p - 1) * ALPHA_CYCLES
                             + 2 * (p - 1) / p * n / WIDTH_BYTES, lambda p: 2 * (p - 1)),
    ("direct", "all_reduce"): (lambda p, n: 2 * ALPHA_CYCLES + 2 * n / p / WIDTH_BYTES,
                               lambda p: 2),
    ("direct", "reduce"): (lambda p, n: 2 * ALPHA_CYCLES + 2 * n / p / WIDTH_BYTES,
                           lambda p: 2),
    ("direct", "all_gather"): (lambda p, n: ALPHA_CYCLES + n / WIDTH_BYTES, lambda p: 1),
    ("direct", "broadcast"): (lambda p, n: ALPHA_CYCLES + n / WIDTH_BYTES, lambda p: 1),
    ("halving_doubling", "all_reduce"): (lambda p, n: 2 * _log2(p) * ALPHA_CYCLES
                                         + 2 * (p - 1) / p * n / WIDTH_BYTES,
                                         lambda p: 2 * _log2(p)),
    ("halving_doubling", "reduce"): (lambda p, n: 2 * _log2(p) * ALPHA_CYCLES
                                     + 2 * (p - 1) / p * n / WIDTH_BYTES,
                                     lambda p: 2 * _log2(p)),
    ("halving_doubling", "all_gather"): (lambda p, n: _log2(p) * ALPHA_CYCLES
                                         + (p - 1) * n / WIDTH_BYTES, lambda p: _log2(p)),
    ("halving_doubling", "broadcast"): (lambda p, n: _log2(p) * (ALPHA_CYCLES
                                                                 + n / WIDTH_BYTES),
                                        lambda p: _log2(p)),
    ("recursive_doubling", "all_reduce"): (lambda p, n: _log2(p) * (ALPHA_CYCLES
                                                                    + n / WIDTH_BYTES),
                                           lambda p: _log2(p)),
    ("star", "all_reduce"): (lambda p, n: 2 * (ALPHA_CYCLES + n / WIDTH_BYTES), lambda p: 2),
}


@pytest.mark.parametrize("nbytes", ["multiple", 77, 1000, 4099])
@pytest.mark.parametrize("p", [4, 8])
@pytest.mark.parametrize(("algorithm", "kind"), FORMULAS)
def test_closed_forms_are_the_textbook_alpha_beta_costs(algorithm, kind, p, nbytes):
    """α–β costs on a fully connected network with a link per pair, no combine cost.

    Mapping to this model: a message of ``B`` bytes over one hop of router latency ``r``
    and link latency ``l``, ``w`` bytes per cycle, takes ``(r + l) + ceil(B / w) - 1``
    cycles (cut-through). So ``α = r + l - 1`` cycles (the head's latency, less the
    cycle the first flit is already counted in) and ``Bβ = ceil(B / w)`` flits
    (``β = 1 / w`` cycles per byte, rounded up to whole flits per message). Combines
    are free (``γ = 0``). When ``n`` is a multiple of ``p w`` every message's bytes are
    whole flits and the closed form equals the formula exactly. Otherwise each message
    on the critical path rounds up: its block padding (< ``p`` <= ``w`` bytes) adds at
    most one flit and the flit rounding less than one more, so the closed form is at
    least the formula and less than 2 cycles per critical message above it.
    """
    n = p * WIDTH_BYTES * 5 if nbytes == "multiple" else nbytes
    router = Router(fully_connected(p, bytes_per_cycle=WIDTH_BYTES, latency_cycles=LINK_CYCLES,
                                    router_latency_cycles=ROUTER_CYCLES))
    closed = collective_latency_cycles(router, kind, algorithm, range(p), n,
                                       options=CollectiveOptions(combine_bytes_per_cycle=None))
    formula, messages = FORMULAS[algorithm, kind]
    if nbytes == "multiple":
        assert closed == formula(p, n)
    else:
        assert formula(p, n) <= closed < formula(p, n) + 2 * messages(p)


def test_direct_beats_halving_doubling_which_beats_ring_on_small_vectors():
    router = Router(fully_connected(8))
    latency = {a: collective_latency_cycles(router, "all_reduce", a, range(8), 64)
               for a in ("direct", "halving_doubling", "ring")}
    assert latency["direct"] < latency["halving_doubling"] < latency["ring"]


# --- bytes conserved: each link carries what the schedule sends over it ----------------------


def _link_bytes(p: int, kind: str, algorithm: str, nbytes: int,
                options: CollectiveOptions | None = None) -> dict[tuple[int, int], int]:
    graph, _ = build_collective_graph(Router(fully_connected(p)), kind, algorithm, range(p),
                                      nbytes, options=options)
    out = {}
    for name, traffic in link_traffic(graph, run_des(graph)).items():
        if traffic.hops:
            u, v = name.removeprefix("link.").split("->")
            out[int(u), int(v)] = traffic.bytes
    return out


def _pairs(p: int) -> list[tuple[int, int]]:
    return [(u, v) for u in range(p) for v in range(p) if u != v]


@pytest.mark.parametrize("packets", [None, 48])
@pytest.mark.parametrize("p", [4, 6, 8])
def test_direct_sends_each_pair_its_blocks(p, packets):
    n = 1000
    block = math.ceil(n / p)
    options = CollectiveOptions(max_packet_bytes=packets, root=1)
    pairs = _pairs(p)
    assert _link_bytes(p, "all_reduce", "direct", n, options) == dict.fromkeys(pairs, 2 * block)
    assert _link_bytes(p, "all_gather", "direct", n, options) == dict.fromkeys(pairs, n)
    assert _link_bytes(p, "broadcast", "direct", n, options) == {
        (1, v): n for v in range(p) if v != 1}
    assert _link_bytes(p, "reduce", "direct", n, options) == {
        (u, v): block * (2 if v == 1 else 1) for u, v in pairs}


@pytest.mark.parametrize("p", [4, 8])
def test_halving_doubling_all_reduce_sends_each_partner_two_halvings(p):
    """Round at distance ``d``: ``i`` and ``i ^ d`` swap ``q / 2d`` blocks twice (once
    reduce-scattering, once gathering); each core sends ``2 (p - 1)/p n`` bytes."""
    n = 1000
    block = math.ceil(n / p)
    expected = {}
    d = 1
    while d < p:
        for i in range(p):
            expected[i, i ^ d] = 2 * block * p // (2 * d)
        d *= 2
    got = _link_bytes(p, "all_reduce", "halving_doubling", n)
    assert got == expected
    assert all(sum(b for (u, _), b in got.items() if u == core) == 2 * (p - 1) * block
               for core in range(p))


def test_halving_doubling_folds_a_non_power_of_two_in_and_out():
    # p = 6: q = 4, positions 4 and 5 fold into 0 and 1 (1000 B each way)
    n, q = 1000, 4
    block = math.ceil(n / q)
    expected = {(4, 0): n, (0, 4): n, (5, 1): n, (1, 5): n}
    for d in (1, 2):
        for i in range(q):
            expected[i, i ^ d] = 2 * block * q // (2 * d)
    assert _link_bytes(6, "all_reduce", "halving_doubling", n) == expected
    # reduce: the fold in, the halvings, then the blocks gathered toward the root (0)
    reduce = {(4, 0): n, (5, 1): n, (2, 0): block + block, (3, 1): block + block,
              (1, 0): 2 * block + 2 * block, (0, 1): 2 * block, (0, 2): block, (1, 3): block,
              (2, 3): 2 * block, (3, 2): 2 * block}
    assert _link_bytes(6, "reduce", "halving_doubling", n) == reduce


@pytest.mark.parametrize("kind", KINDS)
def test_star_sends_everything_through_the_root(kind):
    p, n = 6, 100
    got = _link_bytes(p, kind, "star", n)
    up = {(v, 0): n for v in range(1, p)}
    down = {(0, v): n * (p if kind == "all_gather" else 1) for v in range(1, p)}
    expected = {"reduce": up, "broadcast": down}.get(kind, {**up, **down})
    assert got == expected


# --- the acceptance case: 500 cycles per hop, 53.687 bytes per cycle -----------------

ACCEPT_HOP_CYCLES, ACCEPT_WIDTH = 500, 53.687  # at 1 GHz: 500 ns per hop, 53.687 GB/s links
ACCEPT_TOPOLOGIES = {"ring": ring, "fully_connected": fully_connected}
FREE_COMBINES = CollectiveOptions(combine_bytes_per_cycle=None)


def _accept_flits(nbytes: int) -> int:
    """Flits of a message: whole link cycles, ``ceil(B / 53.687)`` (computed independently
    of `sim.network.transport.flits_for`)."""
    return math.ceil(nbytes / ACCEPT_WIDTH)


def _per_message_cost(algorithm: str, p: int, n: int) -> int:
    """The α–β cost with every message rounded to whole flits: α = 499 cycles (a hop's
    500, less the cycle its first flit is counted in), ``Bβ`` = its flits. Ring:
    ``2(p-1)`` messages of ``ceil(n/p)``; direct: 2 of ``ceil(n/p)``; halving-doubling:
    ``2 log2 p`` of ``ceil(n/p) p / 2^(k+1)``, ``k = 0 .. log2 p - 1``."""
    alpha, block = ACCEPT_HOP_CYCLES - 1, math.ceil(n / p)
    if algorithm == "ring":
        return 2 * (p - 1) * (alpha + _accept_flits(block))
    if algorithm == "direct":
        return 2 * (alpha + _accept_flits(block))
    rounds = [block * p >> (k + 1) for k in range(_log2(p))]
    return 2 * sum(alpha + _accept_flits(size) for size in rounds)


def _textbook(algorithm: str, p: int, n: int) -> float:
    """Thakur, Rabenseifner & Gropp (2005), α = 499 cycles, β = 1 / 53.687 cycles per byte:
    ring ``2(p-1)α + 2(p-1)/p nβ``, direct (a link per pair) ``2α + 2(n/p)β``,
    Rabenseifner ``2 log2(p) α + 2(p-1)/p nβ``."""
    alpha, beta = ACCEPT_HOP_CYCLES - 1, 1 / ACCEPT_WIDTH
    return {"ring": 2 * (p - 1) * alpha + 2 * (p - 1) / p * n * beta,
            "direct": 2 * alpha + 2 * n / p * beta,
            "halving_doubling": 2 * _log2(p) * alpha + 2 * (p - 1) / p * n * beta}[algorithm]


@pytest.mark.parametrize("nbytes", [1 << 10, 64 << 10, 1 << 20])
@pytest.mark.parametrize("p", [8, 16])
@pytest.mark.parametrize("topology", ACCEPT_TOPOLOGIES)
@pytest.mark.parametrize("algorithm", ["ring", "direct", "halving_doubling"])
def test_acceptance_all_reduce_500_cycles_per_hop_non_integer_width(run, algorithm, topology,
                                                                    p, nbytes):
    """The DES equals the closed form where the table calls the pair contention-free (ring
    on both topologies, all three fully connected) and is never faster elsewhere; on the fully
    connected topology the closed form is the textbook cost, message by message."""
    router = Router(ACCEPT_TOPOLOGIES[topology](p, bytes_per_cycle=ACCEPT_WIDTH,
                                                latency_cycles=ACCEPT_HOP_CYCLES,
                                                router_latency_cycles=0))
    got = run(router, "all_reduce", algorithm, range(p), nbytes, FREE_COMBINES)
    exact = closed_form_kind(make_problem(router, "all_reduce", algorithm, range(p), nbytes,
                                          FREE_COMBINES)) is ClosedFormKind.EXACT
    assert exact == (algorithm == "ring" or topology == "fully_connected")
    if exact:
        assert got.link_queueing_cycles == 0
        assert got.done_cycles == got.result.latency_cycles
    else:  # a lower bound: equal where no message happened to wait, else the DES is slower
        assert (got.done_cycles == got.result.latency_cycles) == (got.link_queueing_cycles == 0)
        assert got.done_cycles >= got.result.latency_cycles
    if topology == "fully_connected":
        closed = got.result.latency_cycles
        assert closed == _per_message_cost(algorithm, p, nbytes)
        # rounding: each critical message pads its block (< p bytes) and rounds up a flit
        messages = {"ring": 2 * (p - 1), "direct": 2, "halving_doubling": 2 * _log2(p)}
        assert _textbook(algorithm, p, nbytes) <= closed \
            < _textbook(algorithm, p, nbytes) + 2 * messages[algorithm]

