"""Shared test helpers: the repository root and a runner for the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from sim.config import MachineConfig
    from sim.network.from_config import Interconnect

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def repo() -> Path:
    """The repository root (configs/ and workloads/ live here)."""
    return REPO


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m sim ARGS`` as a user would, capturing both streams."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "sim", *args],
        cwd=cwd or REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def card_machine(repo: Path, cores: int, topology: str, chiplets: int = 1) -> dict:
    """The Corsair-like card's machine section with ``chiplets`` chiplets of ``cores``
    cores on ``topology`` and SRAM lifted so that any layer fits."""
    import yaml  # only the tests that build machines need it

    machine = yaml.safe_load((repo / "configs/machines/corsair_card.yaml").read_text())["machine"]
    machine["hierarchy"] = {"cards": 1, "chiplets_per_card": chiplets, "cores_per_chiplet": cores}
    machine["network"]["topology"] = topology
    machine["memory"]["sram_bytes_per_core"] = 1 << 34
    return machine


#: Overrides that make the Corsair-like card's chiplets 64 cores (8 x 8) holding the same
#: 256 MB of SRAM each (4 MiB a core): a 7B-class layer still fits one chiplet and a
#: 70B-class layer needs four, while the mapper's search, the DES and the figures of a
#: layer take a quarter of the time or less.
SMALL_CHIPLET = ("machine.hierarchy.cores_per_chiplet=64",
                 "machine.memory.sram_bytes_per_core=4194304")
#: The same as command-line options.
SMALL_CHIPLET_SET = tuple(arg for key in SMALL_CHIPLET for arg in ("--set", key))

#: One interconnect per distinct machine (by its JSON), per test process.
_INTERCONNECTS: dict[str, Interconnect] = {}


def shared_interconnect(machine: MachineConfig) -> Interconnect:
    """The interconnect of ``machine``, built once per test process and shared by every
    test that runs on an equal machine: `sim.runner.simulate` accepts one interconnect
    for any number of runs on the same machine, and its route and collective caches
    then serve them all (their figures do not depend on what ran before)."""
    from sim.network.from_config import build_interconnect

    key = machine.model_dump_json()
    net = _INTERCONNECTS.get(key)
    if net is None:
        net = _INTERCONNECTS[key] = build_interconnect(machine)
    return net


# ----------------------------------------------------------------------------- property tests

#: Examples run per property test (by test id), shipped from xdist workers through
#: ``record_property("property_examples", n)`` and printed at the end of the run.
_PROPERTY_EXAMPLES: dict[str, int] = {}


def run_property(check, *strategies, examples: int) -> int:
    """Run ``check(*drawn)`` on ``examples`` deterministic hypothesis examples of
    ``strategies`` (no deadline, no example database); return how many ran."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    ran = [0]

    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                     HealthCheck.data_too_large])
    @given(st.tuples(*strategies))
    def run(drawn):
        ran[0] += 1
        check(*drawn)

    run()
    return ran[0]


def pytest_runtest_logreport(report) -> None:
    """Collect the example counts property tests recorded (on the xdist controller too)."""
    if report.when == "call":
        for name, value in report.user_properties:
            if name == "property_examples":
                _PROPERTY_EXAMPLES[report.nodeid] = int(value)


def pytest_terminal_summary(terminalreporter) -> None:
    """Print how many random examples each property test ran, and their total."""
    if not _PROPERTY_EXAMPLES:
        return
    terminalreporter.section("property tests (hypothesis examples)")
    for nodeid, count in sorted(_PROPERTY_EXAMPLES.items()):
        terminalreporter.write_line(f"{count:6d}  {nodeid}")
    terminalreporter.write_line(f"{sum(_PROPERTY_EXAMPLES.values()):6d}  in all")
