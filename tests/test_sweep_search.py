"""Sweep modes sobol, latin_hypercube and search: points in bounds, deterministic and
stratified; a search finding a known optimum and a known Pareto front; a killed study
resumed with every trial run exactly once and the same end; bad specs in one line."""

from __future__ import annotations

import csv
import math
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import REPO

from sim.errors import ConfigError
from sim.sweep import read_results, run_sweep
from sim.sweep.execute import METRICS, InlineExecutor, PointTask
from sim.sweep.spec import combinations, expand_points, load_spec, parse_spec

TOY = REPO / "configs/flashnorm_toy.yaml"
X, Y = "machine.energy.mac_8bit_pj", "machine.energy.sram_read_pj_per_byte"
SQUARE = {X: {"bounds": {"low": 0.0, "high": 1.0}}, Y: {"bounds": {"low": 0.0, "high": 1.0}}}


def _xy(task: PointTask) -> tuple[float, float]:
    energy = task.config["machine"]["energy"]
    return float(energy[X.rsplit(".", 1)[1]]), float(energy[Y.rsplit(".", 1)[1]])


class Stub:
    """A cheap point function with known optima: f1 = (x-0.3)² + (y-0.7)² as latency,
    f2 = (x-0.8)² + (y-0.7)² as energy; points with x above ``fail_above`` fail like
    a model that does not fit. Counts calls; raises KeyboardInterrupt (a kill) on
    the call after ``kill_after``."""

    def __init__(self, kill_after: int | None = None, fail_above: float = 2.0) -> None:
        self.calls: list[tuple[float, float]] = []
        self.kill_after, self.fail_above = kill_after, fail_above

    def __call__(self, task: PointTask) -> list[dict[str, Any]]:
        if self.kill_after is not None and len(self.calls) >= self.kill_after:
            raise KeyboardInterrupt
        x, y = _xy(task)
        self.calls.append((x, y))
        ok = x <= self.fail_above
        figures = {"latency_per_token_us": (x - 0.3) ** 2 + (y - 0.7) ** 2,
                   "energy_per_token_uj": (x - 0.8) ** 2 + (y - 0.7) ** 2} if ok else {}
        return [{"strategy": s, "backend": task.backend, "status": "ok" if ok else "error",
                 **dict.fromkeys(METRICS), **figures,
                 "error": None if ok else "CapacityError: does not fit"}
                for s in task.strategies]


def _spec(tmp_path: Path, search: dict[str, Any], name: str = "s.yaml",
          **top: Any) -> Path:
    data = {"base": str(TOY), "strategies": ["deferred"], "mode": "search", "axes": SQUARE,
            "search": search, **top}
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _search(spec: Path, out: Path, stub: Stub, resume: bool = False) -> Any:
    return run_sweep(spec, out=out, resume=resume, executor=InlineExecutor(), point_fn=stub)


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


# ------------------------------------------------------------------ sobol / LHS

def _quasi(mode: str, samples: int, seed: int = 1) -> list[dict[str, Any]]:
    return combinations(parse_spec({
        "base": "x", "mode": mode, "samples": samples, "seed": seed, "axes": {
            "a.f": {"bounds": {"low": 2.0, "high": 5.0}},
            "a.i": {"bounds": {"low": 1, "high": 4, "integer": True}},
            "a.l": {"bounds": {"low": 1.0, "high": 100.0, "log": True}},
            "a.c": ["p", "q"]}}))


@pytest.mark.parametrize("mode", ["sobol", "latin_hypercube"])
def test_quasi_points_in_bounds_deterministic_and_stratified(mode: str) -> None:
    n = 8
    rows = _quasi(mode, n)
    assert rows == _quasi(mode, n) and rows != _quasi(mode, n, seed=2)
    assert all(2.0 <= r["a.f"] < 5.0 and r["a.i"] in (1, 2, 3, 4) and 1.0 <= r["a.l"] < 100.0
               and r["a.c"] in ("p", "q") for r in rows)
    # One point per stratum of width 1/n on every axis (a Latin hypercube; and the 1-D
    # projections of a scrambled Sobol' net of 2^3 points): so each integer of 4, and
    # each value of 2, appears n/4 and n/2 times; the log axis is stratified in log space.
    assert sorted(int((r["a.f"] - 2.0) / 3.0 * n) for r in rows) == list(range(n))
    assert sorted(int(math.log(r["a.l"]) / math.log(100.0) * n) for r in rows) == list(range(n))
    assert sorted(r["a.i"] for r in rows) == [1, 1, 2, 2, 3, 3, 4, 4]
    assert sorted(r["a.c"] for r in rows) == ["p"] * 4 + ["q"] * 4


def test_sobol_other_counts_are_a_prefix_without_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scipy warns on Sobol.random(5): not used
        assert _quasi("sobol", 5) == _quasi("sobol", 8)[:5]


def test_lhs_sweep_runs_real_points_and_resolves_to_an_equal_zip(tmp_path: Path) -> None:
    spec = tmp_path / "lhs.yaml"
    spec.write_text(yaml.safe_dump({
        "base": str(TOY), "strategies": ["serialized", "deferred"], "mode": "latin_hypercube",
        "samples": 3, "seed": 4, "backend": "analytic",
        "axes": {"machine.simd.lanes": {"bounds": {"low": 32, "high": 127, "integer": True}}}}))
    out = tmp_path / "out"
    summary = run_sweep(spec, out=out, executor=InlineExecutor())
    rows = read_results(out)
    lanes = sorted({r["machine.simd.lanes"] for r in rows})
    assert summary.ran == 3 and len(rows) == 6 and {r["status"] for r in rows} == {"ok"}
    assert [int((v - 32) / 96 * 3) for v in lanes] == [0, 1, 2]  # one per third
    # The recorded resolved spec (mode zip of the drawn values) expands to the same points.
    resolved = yaml.safe_load((out / "sweep.resolved.yaml").read_text())
    assert resolved["mode"] == "zip"
    again = tmp_path / "again.yaml"
    again.write_text(yaml.safe_dump(resolved))
    assert [p.config_id for p in expand_points(*load_spec(again))[0]] == [
        p.config_id for p in expand_points(*load_spec(spec))[0]]
    # The toy's closed form: the RMS pass takes ceil(n / lanes) vector cycles, so the
    # serialized latency falls as the lanes grow.
    serial = sorted((r["machine.simd.lanes"], r["latency_cycles"]) for r in rows
                    if r["strategy"] == "serialized")
    assert [c for _, c in serial] == sorted((c for _, c in serial), reverse=True)


# ----------------------------------------------------------------------- search

def test_tpe_finds_a_known_optimum_within_the_budget(tmp_path: Path) -> None:
    stub = Stub()
    summary = _search(_spec(tmp_path, {"objectives": [{"column": "latency_per_token_us"}],
                                       "trials": 60, "batch": 4, "seed": 3}),
                      tmp_path / "out", stub)
    assert summary.ran == len(stub.calls) == len(set(stub.calls))  # no point twice
    best = _csv(tmp_path / "out/pareto.csv")
    assert len(best) == 1
    x, y = float(best[0][X]), float(best[0][Y])
    assert abs(x - 0.3) < 0.05 and abs(y - 0.7) < 0.05  # the minimum of f1
    values = [r["latency_per_token_us"] for r in read_results(tmp_path / "out")]
    assert float(best[0]["latency_per_token_us"]) == min(values)
    # Better than its own first (random) trials: the sampler learned.
    assert min(values) < 0.1 * min((x - 0.3) ** 2 + (y - 0.7) ** 2 for x, y in stub.calls[:8])


def _dominates(a: list[float], b: list[float]) -> bool:
    return all(p <= q for p, q in zip(a, b, strict=True)) and a != b


def test_nsga2_front_is_non_dominated_and_near_the_true_front(tmp_path: Path) -> None:
    objectives = [{"column": "latency_per_token_us"}, {"column": "energy_per_token_uj"}]
    out = tmp_path / "out"
    stub = Stub(fail_above=0.7)  # the true front needs x in [0.3, 0.8]: only [0.3, 0.7] fits
    _search(_spec(tmp_path, {"objectives": objectives, "trials": 80, "batch": 10,
                             "seed": 5}), out, stub)
    cols = ["latency_per_token_us", "energy_per_token_uj"]
    front = [[float(r[c]) for c in cols] for r in _csv(out / "pareto.csv")]
    ok = [[r[c] for c in cols] for r in read_results(out) if r["status"] == "ok"]
    assert len(front) >= 5
    assert not any(_dominates(a, b) for a in ok for b in front)  # nothing beats the front
    assert all(any(_dominates(b, a) or a == b for b in front) for a in ok)  # it covers all
    assert all(float(r[X]) <= 0.7 for r in _csv(out / "pareto.csv"))  # failed: never kept
    # Closed form: on the true front (y = 0.7, 0.3 <= x <= 0.8) f2 = (0.5 - sqrt(f1))^2.
    gaps = sorted(f2 - (0.5 - math.sqrt(f1)) ** 2 for f1, f2 in front)
    assert gaps[len(gaps) // 2] < 0.02 and gaps[0] > -1e-9


@pytest.mark.parametrize("sampler, extra", [
    ("tpe", {"constraints": [{"column": "energy_per_token_uj", "max": 0.2}]}),
    ("nsga2", {}),
])
def test_a_killed_study_resumes_running_each_trial_once(tmp_path: Path, sampler: str,
                                                         extra: dict[str, Any]) -> None:
    objectives = [{"column": "latency_per_token_us"}]
    if sampler == "nsga2":
        objectives.append({"column": "energy_per_token_uj"})
    search = {"objectives": objectives, "trials": 18, "batch": 4, "seed": 7,
              "sampler": sampler, **extra}
    spec = _spec(tmp_path, search)
    whole = Stub(fail_above=0.9)
    _search(spec, tmp_path / "whole", whole)
    killed = Stub(kill_after=7, fail_above=0.9)  # in the middle of the second batch
    with pytest.raises(KeyboardInterrupt):
        _search(spec, tmp_path / "cut", killed)
    assert len(read_results(tmp_path / "cut")) == 7
    rest = Stub(fail_above=0.9)
    summary = _search(spec, tmp_path / "cut", rest, resume=True)
    assert summary.skipped == 7 and summary.ran == len(rest.calls)
    assert killed.calls + rest.calls == whole.calls  # each point once, in the same order
    assert read_results(tmp_path / "cut") == read_results(tmp_path / "whole")
    assert (tmp_path / "cut/pareto.csv").read_text() == (tmp_path / "whole/pareto.csv").read_text()
    if extra:  # the constraint holds on the front
        assert all(float(r["energy_per_token_uj"]) <= 0.2
                   for r in _csv(tmp_path / "whole/pareto.csv"))
    # Resuming a finished study runs nothing.
    idle = Stub()
    assert _search(spec, tmp_path / "cut", idle, resume=True).ran == 0 and not idle.calls
    # Another seed is another study: refused, naming the difference.
    other = _spec(tmp_path, {**search, "seed": 8}, name="other.yaml")
    with pytest.raises(ConfigError, match=r"^--resume: .* another spec \(search: "):
        _search(other, tmp_path / "cut", Stub(), resume=True)


# --------------------------------------------------------------------- bad input

OBJ = {"objectives": [{"column": "latency_us"}], "trials": 4}


@pytest.mark.parametrize("spec, message", [
    ({"mode": "sobol", "samples": 4, "axes": {"a.b": {"bounds": {"low": 2, "high": 1}}}},
     "axes.a.b.bounds: is empty: high (1) must be above low (2)"),
    ({"mode": "sobol", "samples": 4, "axes": {"a.b": {"bounds": {"low": 1.5, "high": 1.5}}}},
     "axes.a.b.bounds: is empty: high (1.5) must be above low (1.5)"),
    ({"mode": "search", "search": OBJ,
      "axes": {"a.b": {"bounds": {"low": 0.0, "high": 1.0, "log": True}}}},
     "axes.a.b.bounds.low: must be above 0 when log is true"),
    ({"mode": "latin_hypercube", "axes": {"a.b": {"bounds": {"low": 0, "high": 1}}}},
     "samples: mode latin_hypercube needs samples"),
    ({"samples": 4, "axes": {"a.b": [1]}}, "samples: only for modes sobol and latin_hypercube"),
    ({"axes": {"a.b": {"bounds": {"low": 0, "high": 1}}}},
     "axes: a.b: bounds only for modes sobol, latin_hypercube, search"),
    ({"mode": "sobol", "samples": 2, "axes": {"a.b": {"range": {"start": 0, "stop": 2}}}},
     "axes: a.b: mode sobol takes bounds or values, not range"),
    ({"mode": "search", "axes": {"a.b": [1]}}, "search: mode search needs a search: section"),
    ({"mode": "search", "axes": {"a.b": [1]},
      "search": {**OBJ, "objectives": [{"column": "latency"}]}},
     "search.objectives.0.column: unknown column 'latency' (choose from latency_cycles, "),
    ({"mode": "search", "axes": {"a.b": [1]}, "search": {**OBJ, "trials": 0}},
     "search.trials: "),
    ({"mode": "search", "axes": {"a.b": [1]}, "search": {**OBJ, "sampler": "cma"}},
     "search.sampler: "),
    ({"mode": "search", "axes": {"a.b": [1]}, "search": {**OBJ, "budget": 3}},
     "search.budget: unknown key"),
    ({"mode": "search", "axes": {"a.b": [1]}, "strategies": ["deferred"],
      "search": {**OBJ, "strategy": "serialized"}},
     "search: strategy 'serialized' is not among the strategies (deferred)"),
    ({"mode": "search", "axes": {"a.b": [1]},
      "search": {**OBJ, "constraints": [{"column": "power_w", "min": 3, "max": 1}]}},
     "search.constraints.0: is empty: max (1) must not be below min (3)"),
])
def test_bad_specs_name_the_key(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_spec({"base": "x", **spec})
    text = str(info.value)
    assert text.startswith(message) and "\n" not in text, text


def test_cli_bad_bounds_and_a_missing_extra_give_one_line_and_exit_2(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from sim.cli import main

    bad = tmp_path / "bad.yaml"
    bad.write_text(f"base: {TOY}\nmode: sobol\nsamples: 4\n"
                   "axes: {machine.simd.lanes: {bounds: {low: 64, high: 8, integer: true}}}\n")
    for module, spec, mode in [
        (None, bad, "sobol"),
        ("optuna", _spec(tmp_path, OBJ), "search"),
        ("scipy.stats.qmc", _spec(tmp_path, None, name="q.yaml", mode="sobol", samples=2),
         "sobol"),
    ]:
        if module is not None:
            monkeypatch.setitem(sys.modules, module, None)  # import fails: not installed
        with pytest.raises(SystemExit) as info:
            main(["sweep", str(spec), "--out", str(tmp_path / f"o-{mode}"), "--quiet"])
        err = capsys.readouterr().err
        assert info.value.code == 2 and err.count("\n") == 1 and "Traceback" not in err
        expected = ("axes.machine.simd.lanes.bounds: is empty" if module is None else
                    f"mode {mode} needs the search extra: pip install 'imcsim[search]'")
        assert err.startswith(f"imcsim: error: {expected}"), err
        assert not (tmp_path / f"o-{mode}").exists()
        monkeypatch.undo()


def test_help_names_the_modes_and_the_bundled_search_is_valid(
        capsys: pytest.CaptureFixture[str]) -> None:
    from sim.cli import main

    with pytest.raises(SystemExit):
        main(["sweep", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert all(m in text for m in ("grid", "zip", "sobol", "latin_hypercube", "search"))
    spec, base = load_spec(REPO / "configs/sweeps/search_latency_energy.yaml")
    corners, _ = expand_points(spec, base)  # both corners of the space are valid configs
    assert spec.mode == "search" and len(corners) == 2
    assert [o.column for o in spec.search.objectives] == ["latency_per_token_us",
                                                           "energy_per_token_uj"]
