"""The three configs that used to blow up, each next to its reference, in one invocation.

Issue 13 lists three valid configs whose cost exploded: the DES with
``machine.network.max_packet_bytes: 256`` (a chiplet's 256 cores, batch 8),
``schedule.gather_algorithm: ring`` on 1024 cores, and the ``fully_connected``
topology (growing much faster than its link count from 128 to 512 cores). Each
case runs ``imcsim run``'s pipeline (`sim.runner.simulate`, DES, the config's
strategy) in a subprocess of its own, which reports its wall time and its peak
resident memory (``resource.getrusage(RUSAGE_SELF).ru_maxrss``); the table shows
each case next to its reference (the same config without the change) and the
ratios. Acceptance (issue 13): every case under 1.5 GB and within 10x of its
reference's time; the fully connected topology growing no faster than its link
count (p(p-1) directed links).

A child's address space is capped (``--limit-mb``, default 4000) and its run
time too (``--timeout``, default 300 s), so a regression fails its case, not the
machine.

Usage, from the repository root::

    python benchmarks/blowups.py            # every case
    python benchmarks/blowups.py --only packets ring
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LAYER = "configs/paper/llama3_8b_decode.yaml"
#: One chiplet of N cores holding the whole machine: a flat topology joins them all.
_ONE_CHIPLET = ("machine.hierarchy.chiplets_per_card=1", "machine.hierarchy.cards=1")
#: SRAM lifted so that a layer fits on fewer cores than a chiplet of 256.
_SRAM = "machine.memory.sram_bytes_per_core=4194304"


@dataclass(frozen=True)
class Case:
    """One run: a config and its overrides."""

    name: str
    overrides: tuple[str, ...]
    config: str = LAYER


def _chiplet(cores: int, topology: str) -> tuple[str, ...]:
    return (*_ONE_CHIPLET, f"machine.hierarchy.cores_per_chiplet={cores}", _SRAM,
            f"machine.network.topology={topology}", f"schedule.cores_per_layer={cores}")


#: Core counts of the fully connected cases (its links: p(p-1)).
FULLY_CONNECTED_CORES = (128, 256, 512)
_PACKETS_BASE = ("workload.batch=8", "schedule.cores_per_layer=256")
_RING_BASE = ("schedule.cores_per_layer=1024",)
#: (group, case, its reference); the fully connected group's cases also fit a growth exponent.
CASES: tuple[tuple[str, Case, Case], ...] = (
    ("packets", Case("max_packet_bytes=256", (*_PACKETS_BASE,
                                              "machine.network.max_packet_bytes=256")),
     Case("no packet limit", _PACKETS_BASE)),
    ("ring", Case("gather ring, 1024 cores", (*_RING_BASE, "schedule.gather_algorithm=ring")),
     Case("gather default, 1024 cores", _RING_BASE)),
    *(("fully_connected", Case(f"fully_connected {p}", _chiplet(p, "fully_connected")),
       Case(f"mesh {p}", _chiplet(p, "mesh"))) for p in FULLY_CONNECTED_CORES),
)


def _child(config: str, overrides: list[str]) -> None:
    """Run one case and print its figures and cost as one JSON line."""
    began = time.perf_counter()
    from sim.config import load_config
    from sim.runner import simulate

    result = simulate(load_config(REPO / config, overrides), backend="des")
    wall = time.perf_counter() - began
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    print(json.dumps({"wall_s": wall, "peak_mb": peak_mb, "latency_cycles": result.latency_cycles,
                      "events": result.events}))


def _limit(limit_mb: int) -> None:
    size = limit_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (size, size))


def run_case(case: Case, limit_mb: int, timeout_s: float) -> dict[str, object]:
    """The child's figures, or ``{"error": ...}`` if it failed or ran out of time."""
    began = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, __file__, "--child", case.config, *case.overrides],
            capture_output=True, text=True, timeout=timeout_s, cwd=REPO,
            preexec_fn=lambda: _limit(limit_mb), check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {timeout_s:.0f} s"}
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return {"error": f"exit {done.returncode} after {time.perf_counter() - began:.0f} s: "
                         f"{last[:80]}"}
    figures: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def _cell(got: dict[str, object]) -> str:
    if "error" in got:
        return str(got["error"])
    return f"{got['wall_s']:8.2f} s {got['peak_mb']:7.0f} MB"


def _growth(walls: list[float]) -> bool:
    """Print how the fully connected time grows with p next to its link count's
    (exponents between the smallest and largest p); whether it grows no faster."""
    lo, hi = FULLY_CONNECTED_CORES[0], FULLY_CONNECTED_CORES[-1]
    span = math.log(hi / lo)
    time_exponent = math.log(walls[-1] / walls[0]) / span
    link_exponent = math.log(hi * (hi - 1) / (lo * (lo - 1))) / span
    print(f"fully_connected {lo} -> {hi} cores: time grows as p^{time_exponent:.2f}, "
          f"links as p^{link_exponent:.2f}")
    return time_exponent <= link_exponent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=None, help="groups to run")
    parser.add_argument("--limit-mb", type=int, default=4000)
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args(argv)
    rows = [(g, c, r) for g, c, r in CASES if args.only is None or g in args.only]
    print(f"{'case':28} {'time, peak':>20}   {'reference':28} {'time, peak':>20}  ratio  same")
    ok = True
    walls: list[float] = []  # the fully connected cases', in FULLY_CONNECTED_CORES order
    for group, case, reference in rows:
        got = run_case(case, args.limit_mb, args.timeout)
        ref = run_case(reference, args.limit_mb, args.timeout)
        if group == "fully_connected" and "error" not in got:
            walls.append(float(got["wall_s"]))  # type: ignore[arg-type]
        ratio = "-"
        if "error" not in got and "error" not in ref:
            value = float(got["wall_s"]) / float(ref["wall_s"])  # type: ignore[arg-type]
            ratio = f"{value:5.1f}x"
            ok = ok and value <= 10 and float(got["peak_mb"]) < 1536  # type: ignore[arg-type]
        else:
            ok = False
        print(f"{case.name:28} {_cell(got):>20}   {reference.name:28} {_cell(ref):>20}  "
              f"{ratio:>6}  {group}", flush=True)
    if len(walls) == len(FULLY_CONNECTED_CORES):
        ok = _growth(walls) and ok
    print("acceptance (every case < 1.5 GB and <= 10x its reference):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3:])
    else:
        sys.exit(main())
