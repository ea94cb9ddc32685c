"""Bad input: one line naming the key and the problem, exit 2, no traceback,
and no output files."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import REPO, run_cli

TOY = str(REPO / "configs/flashnorm_toy.yaml")

FILES = {
    "syntax.yaml": "machine: [\n",
    "list.yaml": "- 1\n- 2\n",
    "a.yaml": "extends: b.yaml\n",
    "b.yaml": "extends: a.yaml\n",
    "self.yaml": "extends: self.yaml\n",
    "missing_parent.yaml": "extends: machines/nope.yaml\n",
    "tab.yaml": "machine:\n\tclock_ghz: 1\n",
    "unknown_top.yaml": f"extends: {TOY}\nmachnie: {{}}\n",
    "no_workload.yaml": f"extends: {REPO / 'configs/machines/flashnorm_toy.yaml'}\n",
    "bad_extends_type.yaml": "extends: {a: 1}\n",
}

# (arguments, a fragment the one error line must contain); {d} is the temp dir.
CASES = [
    (["run", "{d}/syntax.yaml"], "invalid YAML at line 2"),
    (["run", "{d}/tab.yaml"], "invalid YAML"),
    (["run", "{d}/list.yaml"], "top level must be a mapping"),
    (["run", "{d}/a.yaml"], "extends: circular chain a.yaml -> b.yaml -> a.yaml"),
    (["run", "{d}/self.yaml"], "extends: circular chain self.yaml -> self.yaml"),
    (["run", "{d}/missing_parent.yaml"], "extends: cannot find 'machines/nope.yaml'"),
    (["run", "{d}/bad_extends_type.yaml"], "extends: must be a file path"),
    (["run", "{d}/nope.yaml"], "nope.yaml: no such file"),
    (["run", "{d}/unknown_top.yaml"], "machnie: unknown key (did you mean 'machine'?)"),
    (["run", "{d}/no_workload.yaml"], "workload: required key is missing"),
    (["run", TOY, "--set", "machine.simd.lanes=-4"], "machine.simd.lanes: must be > 0, got -4"),
    (["run", TOY, "--set", "machine.simd.lanes=0"], "machine.simd.lanes: must be > 0, got 0"),
    (["run", TOY, "--set", "workload.hidden_size=-512"], "workload.hidden_size: must be > 0"),
    (["run", TOY, "--set", "machine.clock_ghz=0"], "machine.clock_ghz: must be > 0"),
    (["run", TOY, "--set", "machine.matmul.clock_divider=0"], "machine.matmul.clock_divider"),
    (["run", TOY, "--set", "machine.simd.op_cycles.exp=-1"], "op_cycles.exp: must be >= 0"),
    (["run", TOY, "--set", "machine.simd.lanes=4.5"], "lanes: must be an integer, got 4.5"),
    (["run", TOY, "--set", "machine.simd.lanes=wide"], "lanes: must be an integer, got 'wide'"),
    (["run", TOY, "--set", "machine.simd=3"], "machine.simd: must be a mapping"),
    (["run", TOY, "--set", "machine.simd.lane=4"], "machine.simd.lane: unknown key"),
    (["run", TOY, "--set", "workload.norm=batchnorm"], "workload.norm: must be one of"),
    (["run", TOY, "--set", "workload.bias=maybe"], "workload.bias: must be true or false"),
    (["run", TOY, "--set", "lanes"], "expected KEY=VALUE"),
    (["run", TOY, "--set", "=3"], "is not a dotted key path"),
    (["run", TOY, "--set", "machine..simd=3"], "is not a dotted key path"),
    (["run", TOY, "--set", "machine.simd.lanes=[1"], "is not valid YAML"),
    (["run", TOY, "--set", "machine.simd.lanes.x=3"], "machine.simd.lanes is a value"),
    (["run", TOY, "--strategy", "fastest"], "--strategy: unknown strategy 'fastest'"),
    (["run", TOY, "--set", "strategy=fastest"], "strategy: must be one of"),
    (["run", TOY, "--format", "xml"], "--format: must be table or json, got 'xml'"),
    (["run", TOY, "--no-such-flag"], "No such option"),
    (["run"], "Missing argument"),
    (["frobnicate"], "No such command"),
    (["compare", TOY, "--set", "workload.tokens=0"], "workload.tokens: must be > 0"),
    (["check", "{d}/a.yaml"], "circular chain"),
    (["run", "{d}"], "is a directory"),
]


@pytest.fixture(scope="module")
def bad_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("bad")
    for name, text in FILES.items():
        (d / name).write_text(text)
    return d


@pytest.mark.parametrize(("args", "fragment"), CASES, ids=[" ".join(c[0])[:60] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(args, fragment, bad_dir, tmp_path):
    out = tmp_path / "out"
    argv = [a.format(d=bad_dir) for a in args]
    if argv[0] in ("run",) and len(argv) > 1:
        argv += ["--out", str(out)]
    proc = run_cli(*argv)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("imcsim: error: ")
    assert fragment in lines[0]
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""
    assert not out.exists()


def test_out_path_that_is_a_file_is_rejected_before_running(tmp_path):
    target = tmp_path / "taken"
    target.write_text("keep me")
    proc = run_cli("run", TOY, "--out", str(target))
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"imcsim: error: --out: {target} exists and is not a directory"
    assert target.read_text() == "keep me"
