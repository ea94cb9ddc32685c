"""Shared test helpers: the repository root and a runner for the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

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
