"""Start-up: quick commands import only what they need (`sim.cli` module docstring).

Each command runs in a fresh interpreter, as a user runs it; the test reads that
process's ``sys.modules`` afterwards (no timing: `benchmarks/startup.py` times).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import REPO

HEAVY = ("simpy", "matplotlib", "networkx", "numpy", "pydantic", "sim.config.run", "sim.runner",
         "sim.sweep")

PROBE = """
import json, sys
from sim.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    status = exc.code
sys.stdout.flush()
print(json.dumps({"status": status, "modules": sorted(sys.modules)}), file=sys.stderr)
"""


def _imported(*args: str) -> tuple[str, set[str]]:
    """The command's stdout and the top-level modules it left imported."""
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=REPO, capture_output=True,
                          text=True, timeout=120, check=False,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    report = json.loads(proc.stderr.strip().splitlines()[-1])
    assert report["status"] in (0, None), proc.stderr
    modules = set(report["modules"])
    return proc.stdout, {m for m in HEAVY if m in modules}


def test_help_imports_none_of_the_simulator():
    out, heavy = _imported("--help")
    assert heavy == set()
    for command in ("run", "compare", "sweep", "check", "list", "verify", "plot"):
        assert f"  {command} " in out


def test_list_loads_no_simulator_plotting_or_sweeps():
    out, heavy = _imported("list")
    assert heavy <= {"pydantic"}, heavy
    assert "strategies: serialized" in out


def test_reading_a_config_loads_pydantic_but_neither_numpy_nor_networkx():
    """Validation needs only the models: the algorithm and topology names come from
    `sim.config.network_choices`, not from their registries (so a refused file, a
    YAML alias bomb or an absurd core count, is refused before they load)."""
    probe = ("import json, sys; from sim.config import load_config; "
             "load_config('configs/flashnorm_toy.yaml'); print(json.dumps(sorted(sys.modules)))")
    proc = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True,
                          text=True, timeout=120, check=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    modules = set(json.loads(proc.stdout))
    assert {"pydantic", "sim.config.run"} <= modules
    assert not modules & {"numpy", "networkx", "simpy", "sim.runner"}
