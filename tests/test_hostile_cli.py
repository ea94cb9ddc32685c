"""Hostile input, table-driven, in process: every case is one line on stderr naming the
key, exit status 2, no traceback, nothing written, and bounded work.

Each case runs `sim.cli.main` (the entry point ``imcsim`` runs, which maps errors to
exit 2) in this process. The bounds are generous guards: a case that parses an
alias bomb or builds a 10^8-core machine would take tens of seconds and gigabytes.
"""

from __future__ import annotations

import contextlib
import io
import resource
import time
from pathlib import Path

import pytest
from conftest import REPO

from sim.cli import main
from sim.config.files import MAX_YAML_BYTES

TOY = str(REPO / "configs/flashnorm_toy.yaml")
LLAMA = str(REPO / "configs/paper/llama3_8b_decode.yaml")
MESH = str(REPO / "configs/collectives/allreduce_ring_mesh8x8.yaml")
CASE_SECONDS = 20.0  # a guard: every case answers in well under a second
CASE_GROWTH_KB = 400_000  # peak RSS may not grow this much (the alias bomb took 5.4 GB)

_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8))

B = f"base: {TOY}\n"  # the first line of a sweep spec


def _axis(key: str, value: str) -> str:
    """A sweep spec of the toy config with one axis."""
    return B + f"axes:\n  {key}: {value}\n"


FILES: dict[str, str | bytes] = {
    "syntax.yaml": "machine: [\n",
    "tab.yaml": "machine:\n\tclock_ghz: 1\n",
    "list.yaml": "- 1\n- 2\n",
    "scalar.yaml": "42\n",
    "a.yaml": "extends: b.yaml\n",
    "b.yaml": "extends: a.yaml\n",
    "missing_parent.yaml": "extends: machines/nope.yaml\n",
    "bad_extends.yaml": "extends: {a: 1}\n",
    "extends_list_bad.yaml": "extends: [3]\n",
    "bomb.yaml": _BOMB,
    "recursive.yaml": "a: &a [1, *a]\n",
    "deep.yaml": "a: " + "[" * 200 + "]" * 200 + "\n",
    "big.yaml": "# " + "x" * MAX_YAML_BYTES + "\n",
    "dup_top.yaml": f"extends: {TOY}\nstrategy: deferred\nstrategy: serialized\n",
    "dup_nested.yaml": f"extends: {TOY}\nmachine:\n  simd: {{lanes: 8}}\n  simd: {{lanes: 4}}\n",
    "latin1.yaml": b"machine: {name: \xe9}\n",
    "no_workload.yaml": f"extends: {REPO / 'configs/machines/flashnorm_toy.yaml'}\n",
    "undefined_alias.yaml": "a: *nope\n",
    "two_docs.yaml": "a: 1\n---\nb: 2\n",
    "afile": "not a folder\n",
    # sweep specs
    "sw_syntax.yaml": "base: [\n",
    "sw_unknown.yaml": B + "axis: {}\n",
    "sw_nobase.yaml": "axes: {workload.tokens: [1]}\n",
    "sw_base404.yaml": "base: nope.yaml\n",
    "sw_empty_axis.yaml": _axis("workload.tokens", "[]"),
    "sw_step0.yaml": _axis("workload.tokens", "{range: {start: 1, stop: 4, step: 0}}"),
    "sw_range_empty.yaml": _axis("workload.tokens", "{range: {start: 4, stop: 1}}"),
    "sw_range_inf.yaml": _axis("workload.tokens", "{range: {start: 1, stop: .inf}}"),
    "sw_range_huge.yaml": _axis("workload.tokens", "{range: {start: 1, stop: 100000000000}}"),
    "sw_random_order.yaml": _axis("machine.simd.lanes",
                                  "{random: {low: 9, high: 2, count: 2, seed: 0, integer: true}}"),
    "sw_random_count.yaml": _axis("machine.simd.lanes",
                                  "{random: {low: 1, high: 2, count: 0, seed: 0}}"),
    "sw_random_nan.yaml": _axis("machine.clock_ghz",
                                "{random: {low: .nan, high: 2, count: 2, seed: 0}}"),
    "sw_axis_two_kinds.yaml": _axis("workload.tokens", "{values: [1], range: {start: 1, stop: 2}}"),
    "sw_axis_scalar.yaml": _axis("workload.tokens", "3"),
    "sw_axis_key.yaml": _axis("'workload..tokens'", "[1]"),
    "sw_strategy_axis.yaml": _axis("strategy", "[deferred]"),
    "sw_bad_strategy.yaml": B + "strategies: [fastest]\n",
    "sw_dup_strategy.yaml": B + "strategies: [deferred, deferred]\n",
    "sw_no_strategy.yaml": B + "strategies: []\n",
    "sw_mode.yaml": B + "mode: diagonal\n",
    "sw_backend.yaml": B + "backend: quantum\n",
    "sw_zip.yaml": B + "mode: zip\naxes: {workload.tokens: [1, 2], machine.simd.lanes: [4]}\n",
    "sw_grid_huge.yaml": B + "axes:\n  workload.tokens: {range: {start: 1, stop: 1001}}\n"
                         "  machine.simd.lanes: {range: {start: 1, stop: 1001}}\n"
                         "  workload.hidden_size: {range: {start: 1, stop: 3}}\n",
    "sw_override.yaml": B + "overrides: [lanes]\n",
    "sw_point_bad.yaml": _axis("machine.simd.lanes", "[4, -4]"),
    "sw_point_cores.yaml": _axis("machine.hierarchy.cores_per_chiplet", "[1, 100000000]"),
    "sw_axis_in_value.yaml": _axis("machine.simd.lanes.x", "[1]"),
    "sw_bomb.yaml": B + _BOMB,
    "sw_dup.yaml": B + B,
    "sw_ok.yaml": B + "strategies: [deferred]\n",
}

D = "{d}"  # the folder of FILES
R = f"{D}/r"  # a results folder that must not appear
T = [TOY, "--out", R]  # a valid run that must fail on the option that follows


def _set(*pairs: str, config: str = TOY) -> list[str]:
    args = ["run", config, "--out", R]
    for pair in pairs:
        args += ["--set", pair]
    return args


# (arguments, a fragment the one error line must contain)
CASES: list[tuple[list[str], str]] = [
    # -- files and YAML syntax
    (["run", f"{D}/syntax.yaml"], "invalid YAML at line 2"),
    (["run", f"{D}/tab.yaml"], "invalid YAML"),
    (["run", f"{D}/list.yaml"], "top level must be a mapping, got list"),
    (["run", f"{D}/scalar.yaml"], "top level must be a mapping, got int"),
    (["run", f"{D}/a.yaml"], "extends: circular chain a.yaml -> b.yaml -> a.yaml"),
    (["run", f"{D}/missing_parent.yaml"], "extends: cannot find 'machines/nope.yaml'"),
    (["run", f"{D}/bad_extends.yaml"], "extends: must be a file path"),
    (["run", f"{D}/extends_list_bad.yaml"], "extends: must be a file path"),
    (["run", f"{D}/nope.yaml"], "nope.yaml: no such file"),
    (["run", D], "is a directory, expected a YAML file"),
    (["run", f"{D}/latin1.yaml"], "not UTF-8"),
    (["run", f"{D}/no_workload.yaml"], "workload: required key is missing"),
    (["run", f"{D}/undefined_alias.yaml"], "invalid YAML at line 1"),
    (["run", f"{D}/two_docs.yaml"], "invalid YAML"),
    (["check", f"{D}/a.yaml"], "circular chain"),
    (["compare", f"{D}/syntax.yaml"], "invalid YAML"),
    # -- hostile sizes and shapes
    (["run", f"{D}/bomb.yaml"], "aliases expand to more than"),
    (["run", f"{D}/recursive.yaml"], "alias *a inside its own anchor"),
    (["run", f"{D}/deep.yaml"], "nested deeper than 64 levels"),
    (["run", f"{D}/big.yaml"], f"larger than {MAX_YAML_BYTES} bytes"),
    (["run", "/dev/zero"], f"larger than {MAX_YAML_BYTES} bytes"),
    (["run", f"{D}/dup_top.yaml"], "line 3, column 1: duplicate key 'strategy'"),
    (["run", f"{D}/dup_nested.yaml"], "line 4, column 3: duplicate key 'simd'"),
    (_set("machine.hierarchy.cores_per_chiplet=100000000"),
     "machine.hierarchy.cores_per_chiplet: must be <= 65536, got 100000000"),
    (_set("machine.hierarchy.cards=4096", "machine.hierarchy.chiplets_per_card=4096"),
     "machine.hierarchy: 16777216 cores"),
    (_set("machine.simd.lanes=1000000000000"), "machine.simd.lanes: must be <= 65536"),
    (_set("machine.matmul.array_rows=100000000"), "machine.matmul.array_rows: must be <= 65536"),
    (_set("machine.matmul.array_cols=100000000"), "machine.matmul.array_cols: must be <= 65536"),
    (_set("workload.layers=33", config=LLAMA),
     "workload.layers: must be <= the model's num_layers 32"),
    (_set("workload.layers=1000000000", config=LLAMA), "workload.layers: must be <="),
    (_set("workload.weight_bits=1000", config=LLAMA), "workload.weight_bits: must be <= 64"),
    (_set("workload.activation_bits=65", config=LLAMA), "workload.activation_bits: must be <= 64"),
    (_set("schedule.max_tiles_per_op=100000000"), "schedule.max_tiles_per_op: must be <= 65536"),
    (_set("machine.network.tree_arity=100000000"), "machine.network.tree_arity: must be <="),
    (_set("machine.simd.lanes=&a [*a]"), "--set machine.simd.lanes: value refused"),
    # -- non-finite numbers
    (_set("machine.clock_ghz=.inf"), "machine.clock_ghz: must be a finite number, got inf"),
    (_set("machine.clock_ghz=-.inf"), "machine.clock_ghz: must be a finite number"),
    (_set("machine.clock_ghz=.nan"), "machine.clock_ghz: must be a finite number, got nan"),
    (_set("machine.network.noc.bytes_per_cycle=.inf", config=LLAMA),
     "noc.bytes_per_cycle: must be a finite"),
    (_set("machine.network.d2d.bytes_per_cycle=.nan", config=LLAMA),
     "d2d.bytes_per_cycle: must be a finite"),
    (_set("workload.model.norm_eps=.nan", config=LLAMA),
     "workload.model.norm_eps: must be a finite"),
    # -- types
    (_set("machine.clock_ghz=fast"), "machine.clock_ghz: must be a number, got 'fast'"),
    (_set("machine.hierarchy.cards=1.5"), "machine.hierarchy.cards: must be an integer, got 1.5"),
    (_set("machine.hierarchy.cards='2'"), "machine.hierarchy.cards: must be an integer, got '2'"),
    (_set("machine.simd.lanes=true"), "machine.simd.lanes: must be an integer, got True"),
    (_set("machine.simd.lanes=[4]"), "machine.simd.lanes: must be an integer"),
    (_set("machine.simd=3"), "machine.simd: must be a mapping"),
    (_set("machine.hierarchy=[1]"), "machine.hierarchy: must be a mapping"),
    (_set("machine=cold"), "machine: must be a mapping"),
    (_set("workload.bias=maybe"), "workload.bias: must be true or false"),
    (_set("workload.norm=batchnorm"), "workload.norm: must be one of"),
    (_set("workload.kind=quantum"), "workload.kind: must be one of"),
    (_set("machine.network.topology=hypercube"), "machine.network.topology"),
    (_set("machine.network.switching=wormhole"), "machine.network.switching: must be one of"),
    (_set("schedule.linear_split=diagonal"), "schedule.linear_split: must be one of"),
    (_set("schedule.linear_splits={qkv: sideways}"), "schedule.linear_splits.qkv: must be one of"),
    (_set("output.format=xml"), "output.format: must be one of"),
    (_set("strategy=fastest"), "strategy: must be one of"),
    (_set("machine.name=[1]"), "machine.name: must be a string"),
    (_set("workload.participants=[]", config=MESH), "workload.participants: must be a non-empty"),
    (_set("workload.participants=some", config=MESH), "workload.participants: must be a list"),
    (_set("workload.participants=[a]", config=MESH), "workload.participants.0: must be an integer"),
    (_set("workload.op=scatter", config=MESH), "workload.op: must be one of"),
    # -- ranges
    (_set("machine.simd.lanes=0"), "machine.simd.lanes: must be > 0, got 0"),
    (_set("machine.simd.lanes=-4"), "machine.simd.lanes: must be > 0, got -4"),
    (_set("machine.clock_ghz=0"), "machine.clock_ghz: must be > 0"),
    (_set("machine.hierarchy.cards=0"), "machine.hierarchy.cards: must be > 0"),
    (_set("machine.matmul.clock_divider=0"), "machine.matmul.clock_divider: must be > 0"),
    (_set("machine.matmul.pipeline_latency_engine_cycles=-1"), "pipeline_latency_engine_cycles"),
    (_set("machine.simd.op_cycles.exp=-1"), "machine.simd.op_cycles.exp: must be >= 0"),
    (_set("machine.memory.sram_bytes_per_core=0"),
     "machine.memory.sram_bytes_per_core: must be > 0"),
    (_set("machine.network.noc.latency_cycles=-1", config=LLAMA),
     "machine.network.noc.latency_cycles: must be >= 0"),
    (_set("machine.network.tree_arity=1"), "machine.network.tree_arity: must be > 1"),
    (_set("workload.hidden_size=-512"), "workload.hidden_size: must be > 0"),
    (_set("workload.tokens=0"), "workload.tokens: must be > 0"),
    (_set("workload.batch=0", config=LLAMA), "workload.batch: must be > 0"),
    (_set("workload.kv_len=-1", config=LLAMA), "workload.kv_len: must be >= 0"),
    (_set("workload.model.num_heads=7", config=LLAMA), "workload.model: num_heads (7) must divide"),
    (_set("workload.bytes=0", config=MESH), "workload.bytes: must be > 0"),
    (_set("schedule.cores_per_layer=0"), "schedule.cores_per_layer: must be > 0"),
    # -- unknown keys at every level
    (_set("machnie={}"), "machnie: unknown key (did you mean 'machine'?)"),
    (_set("machine.clock=1"), "machine.clock: unknown key (did you mean 'clock_ghz'?)"),
    (_set("machine.hierarchy.card=1"),
     "machine.hierarchy.card: unknown key (did you mean 'cards'?)"),
    (_set("machine.matmul.rows=1"), "machine.matmul.rows: unknown key"),
    (_set("machine.simd.lane=4"), "machine.simd.lane: unknown key (did you mean 'lanes'?)"),
    (_set("machine.simd.op_cycles.sqrt=1"), "machine.simd.op_cycles.sqrt: unknown key"),
    (_set("machine.buffers.size=1"), "machine.buffers.size: unknown key"),
    (_set("machine.memory.dram=1"), "machine.memory.dram: unknown key"),
    (_set("machine.network.latency=1"), "machine.network.latency: unknown key"),
    (_set("machine.network.noc.width=1", config=LLAMA), "machine.network.noc.width: unknown key"),
    (_set("machine.network.c2c.hops=1", config=LLAMA), "machine.network.c2c.hops: unknown key"),
    (_set("workload.size=1"), "workload.size: unknown key"),
    (_set("workload.heads=1", config=LLAMA), "workload.heads: unknown key"),
    (_set("workload.model.layers=1", config=LLAMA), "workload.model.layers: unknown key"),
    (_set("workload.bytez=1", config=MESH), "workload.bytez: unknown key (did you mean 'bytes'?)"),
    (_set("schedule.tile=1"), "schedule.tile: unknown key"),
    (_set("output.file=x"), "output.file: unknown key"),
    (_set("workload.model=gpt-17", config=LLAMA), "workload.model: unknown model 'gpt-17'"),
    # -- overrides and command line
    (_set("lanes"), "expected KEY=VALUE"),
    (_set("=3"), "is not a dotted key path"),
    (_set("machine..simd=3"), "is not a dotted key path"),
    (_set("machine.simd.lanes=[1"), "is not valid YAML"),
    (_set("machine.simd.lanes.x=3"), "machine.simd.lanes is a value, not a section"),
    ([*["run"], *T, "--strategy", "fastest"], "--strategy: unknown strategy 'fastest'"),
    ([*["run"], *T, "--format", "xml"], "--format: must be table or json, got 'xml'"),
    ([*["run"], *T, "--backend", "quantum"], "backend"),
    ([*["run"], *T, "--trace-max-events", "0"], "--trace-max-events"),
    ([*["run"], *T, "--max-tasks", "0"], "--max-tasks"),
    ([*["run"], *T, "--max-tasks", "10"], "limits.max_tasks: this run would emit about 11 tasks"),
    (["compare", TOY, "--max-tasks", "5"], "above the limit of 5; op tiles grow with"),
    (_set("limits.max_tasks=-5"), "limits.max_tasks"),
    (_set("limits.tasks=5"), "limits.tasks"),
    ([*["run"], *T, "--no-such-flag"], "No such option"),
    (["run"], "Missing argument"),
    (["frobnicate"], "No such command"),
    (["verify", TOY, "--dtype", "fp7"], "--dtype"),
    (["compare", TOY, "--backend", "quantum"], "backend"),
    # -- output paths
    (["run", TOY, "--out", "/proc/imcsim-results"], "--out: /proc/imcsim-results is on the kernel"),
    (["run", TOY, "--out", "/sys/imcsim"], "--out: /sys/imcsim is on the kernel file system /sys"),
    (["run", TOY, "--out", "/dev/null"], "--out: /dev/null is on the kernel file system /dev"),
    (["run", TOY, "--out", f"{D}/afile"], "exists and is not a directory"),
    (["run", TOY, "--out", f"{D}/afile/sub/dir"], "is a file, so"),
    (["run", TOY, "--trace", D], "--trace:"),
    (["run", TOY, "--trace", f"{D}/nodir/t.json"], "--trace: directory"),
    (["run", TOY, "--trace", f"{D}/afile/t.json"], "--trace:"),
    (["run", TOY, "--trace", "/proc/t.json"], "--trace: /proc/t.json is on the kernel"),
    (["compare", TOY, "--plot", f"{D}/afile"], "--plot: "),
    (["compare", TOY, "--plot", "/sys/plots"], "--plot: /sys/plots is on the kernel"),
    (["plot", f"{D}/sw_ok.yaml", "--x", "a", "--y", "b", "--out", f"{D}/afile"], "--out: "),
    (["sweep", f"{D}/sw_ok.yaml", "--out", "/proc/sweep"], "--out: /proc/sweep is on the kernel"),
    (["sweep", f"{D}/sw_ok.yaml", "--out", f"{D}/afile"], "--out: "),
    (["sweep", f"{D}/sw_ok.yaml", "--out", f"{D}/afile/x"], "--out: "),
    (["sweep", f"{D}/sw_ok.yaml", "--out", D], "is not empty; pass --resume"),
    (["sweep", f"{D}/sw_ok.yaml", "--resume", "--out", D], "--resume: "),
    (["sweep", f"{D}/sw_ok.yaml", "--out", R, "--workers", "0"], "--workers: must be >= 1"),
    (["sweep", f"{D}/sw_ok.yaml", "--out", R, "--backend", "quantum"], "backend"),
    # -- sweep specs
    (["sweep", f"{D}/sw_syntax.yaml", "--out", R], "invalid YAML"),
    (["sweep", f"{D}/sw_unknown.yaml", "--out", R], "axis: unknown key (did you mean 'axes'?)"),
    (["sweep", f"{D}/sw_nobase.yaml", "--out", R], "base: required key is missing"),
    (["sweep", f"{D}/sw_base404.yaml", "--out", R], "base: cannot find 'nope.yaml'"),
    (["sweep", f"{D}/sw_empty_axis.yaml", "--out", R],
     "axes.workload.tokens.values: must be a non-empty"),
    (["sweep", f"{D}/sw_step0.yaml", "--out", R], "step: must not be 0"),
    (["sweep", f"{D}/sw_range_empty.yaml", "--out", R], "is empty"),
    (["sweep", f"{D}/sw_range_inf.yaml", "--out", R], "range.stop: must be a finite number"),
    (["sweep", f"{D}/sw_range_huge.yaml", "--out", R], "more than 1000000"),
    (["sweep", f"{D}/sw_random_order.yaml", "--out", R], "high (2) must be above low (9)"),
    (["sweep", f"{D}/sw_random_count.yaml", "--out", R], "random.count: must be > 0"),
    (["sweep", f"{D}/sw_random_nan.yaml", "--out", R], "random.low: must be a finite number"),
    (["sweep", f"{D}/sw_axis_two_kinds.yaml", "--out", R],
     "needs exactly one of values, range, random"),
    (["sweep", f"{D}/sw_axis_scalar.yaml", "--out", R], "axes.workload.tokens: must be a list"),
    (["sweep", f"{D}/sw_axis_key.yaml", "--out", R], "is not a dotted config key"),
    (["sweep", f"{D}/sw_strategy_axis.yaml", "--out", R], "list strategies under strategies:"),
    (["sweep", f"{D}/sw_bad_strategy.yaml", "--out", R], "unknown strategy 'fastest'"),
    (["sweep", f"{D}/sw_dup_strategy.yaml", "--out", R], "each strategy may appear once"),
    (["sweep", f"{D}/sw_no_strategy.yaml", "--out", R], "strategies: must be a non-empty list"),
    (["sweep", f"{D}/sw_mode.yaml", "--out", R], "mode: must be one of"),
    (["sweep", f"{D}/sw_backend.yaml", "--out", R], "unknown backend 'quantum'"),
    (["sweep", f"{D}/sw_zip.yaml", "--out", R], "mode zip needs axes of one length"),
    (["sweep", f"{D}/sw_grid_huge.yaml", "--out", R], "axes: 2000000 points, more than 1000000"),
    (["sweep", f"{D}/sw_override.yaml", "--out", R], "overrides: 'lanes': expected KEY=VALUE"),
    (["sweep", f"{D}/sw_point_bad.yaml", "--out", R],
     "machine.simd.lanes: must be > 0, got -4 (at point machine.simd.lanes=-4)"),
    (["sweep", f"{D}/sw_point_cores.yaml", "--out", R], "cores_per_chiplet: must be <= 65536"),
    (["sweep", f"{D}/sw_axis_in_value.yaml", "--out", R], "machine.simd.lanes is a value"),
    (["sweep", f"{D}/sw_bomb.yaml", "--out", R], "aliases expand to more than"),
    (["sweep", f"{D}/sw_dup.yaml", "--out", R], "duplicate key 'base'"),
    (["sweep", f"{D}/nope.yaml", "--out", R], "nope.yaml: no such file"),
]


@pytest.fixture(scope="module")
def hostile_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hostile")
    for name, content in FILES.items():
        if isinstance(content, bytes):
            (folder / name).write_bytes(content)
        else:
            (folder / name).write_text(content, encoding="utf-8")
    return folder


def _tree(folder: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``folder`` with its size and modification time."""
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def _invoke(argv: list[str]) -> tuple[int, str, str]:
    """Run the ``imcsim`` entry point in this process: exit status, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    status = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(argv)
        except SystemExit as exc:
            status = exc.code if isinstance(exc.code, int) else 1
    return status, out.getvalue(), err.getvalue()


def test_the_table_is_large() -> None:
    assert len(CASES) >= 100
    assert len({" ".join(a) for a, _ in CASES}) == len(CASES)  # no case twice


@pytest.mark.parametrize(("args", "fragment"), CASES, ids=[" ".join(a)[:70] for a, _ in CASES])
def test_hostile_input_is_one_line_exit_2_nothing_written(
        args: list[str], fragment: str, hostile_dir: Path) -> None:
    argv = [a.replace(D, str(hostile_dir)) for a in args]
    before = _tree(hostile_dir)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    began = time.monotonic()
    status, stdout, stderr = _invoke(argv)
    seconds = time.monotonic() - began
    assert status == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("imcsim: error: "), stderr
    assert fragment in lines[0], lines[0]
    assert "Traceback" not in stderr
    assert stdout == ""
    assert _tree(hostile_dir) == before  # no file created, none changed
    assert seconds < CASE_SECONDS
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_kb < CASE_GROWTH_KB


def test_an_unwritable_folder_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder without write permission (root passes `os.access`, so it is faked here)."""
    import os

    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: Path(p) != locked and real_access(p, mode))
    for argv, option in ((["run", TOY, "--out", f"{locked}/r"], "--out"),
                         (["run", TOY, "--trace", f"{locked}/t.json"], "--trace"),
                         (["compare", TOY, "--plot", f"{locked}/p"], "--plot")):
        status, stdout, stderr = _invoke(argv)
        assert (status, stdout) == (2, "")
        assert stderr == f"imcsim: error: {option}: directory {locked} is not writable\n"
    assert list(locked.iterdir()) == []


def test_a_failing_write_after_the_run_is_one_line(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A checked folder whose write still fails (a full disk) is one line, exit 2."""
    import errno

    import sim.output

    target = tmp_path / "r"

    def full_disk(directory: Path, *_: object) -> list[Path]:
        raise OSError(errno.ENOSPC, "No space left on device", str(directory / "result.json"))

    monkeypatch.setattr(sim.output, "write_run_outputs", full_disk)
    # --quiet: no progress line before the error (progress is on stderr when not a terminal)
    status, stdout, stderr = _invoke(["run", TOY, "--out", str(target), "--quiet"])
    assert (status, stdout) == (2, "")
    assert stderr == f"imcsim: error: {target / 'result.json'}: No space left on device\n"
