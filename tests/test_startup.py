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
    assert heavy <= {"networkx", "numpy", "pydantic"}, heavy  # strategy names: their registries
    assert "strategies: serialized" in out
