"""The scripts in examples/ run and print what they say (in process, from another
directory, as `python examples/NAME.py` would run them)."""

from __future__ import annotations

import contextlib
import io
import os
import runpy
import sys

import pytest
from conftest import REPO

EXAMPLES = sorted(p.name for p in (REPO / "examples").glob("*.py"))


def _run(name: str, tmp_path) -> str:
    out = io.StringIO()
    argv, cwd = sys.argv, os.getcwd()
    try:
        sys.argv = [str(REPO / "examples" / name)]
        os.chdir(tmp_path)  # bundled configs are found from anywhere
        with contextlib.redirect_stdout(out):
            runpy.run_path(sys.argv[0], run_name="__main__")
    finally:
        sys.argv = argv
        os.chdir(cwd)
    return out.getvalue()


def test_there_are_three_to_five_examples() -> None:
    assert 3 <= len(EXAMPLES) <= 5


@pytest.mark.parametrize("name, expected", [
    # the FlashNorm toy's worked example: 24 / 21 / 17 cycles (README)
    ("run_config.py", ["flashnorm-toy: 17 cycles under deferred"]),
    ("compare_strategies.py", ["serialized             24 cycles",
                               "pipelined              21 cycles",
                               "deferred               17 cycles   1.41x vs serialized"]),
    ("small_sweep.py", ["lanes  128  deferred       17 cycles",
                        "lanes  128  serialized     24 cycles"]),
    ("import_hf.py", ["gpt2: d=768, 12 heads (12 KV), ffn 3072, layernorm, gelu",
                      "gives the same latency: True"]),
])
def test_example_prints_its_figures(name: str, expected: list[str], tmp_path) -> None:
    out = _run(name, tmp_path)
    for line in expected:
        assert line in out, out


def test_verify_example_shows_deferred_worse_only_with_offsets(tmp_path) -> None:
    out = _run("verify_numerics.py", tmp_path)
    with_offsets, without = out.split("per-token offsets of std 0.0:")
    ratio = {}
    for part, text in (("offsets", with_offsets), ("none", without)):
        for line in text.splitlines():
            if line.strip().startswith("deferred"):
                ratio[part, line.split()[1]] = float(line.split()[-2].rstrip("x"))
    assert ratio["offsets", "bf16"] > 1.5 and ratio["offsets", "bfp8"] > 1.1
    assert 0.9 < ratio["none", "bf16"] < 1.1 and 0.9 < ratio["none", "bfp8"] < 1.1
