"""``imcsim calibrate``: recovery of known parameters, infeasible targets, resume after
an interruption, bad input, and the calibrated config reproducing the fit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sim.calibrate.fit import fit
from sim.calibrate.spec import Parameter, Target

TINY = """\
machine:
  name: tiny
  clock_ghz: 1.0
  hierarchy: {cards: 1, chiplets_per_card: 1, cores_per_chiplet: 16}
  matmul: {array_rows: 32, array_cols: 32}
  simd: {lanes: 32}
  network: {router_latency_cycles: 2, noc: {bytes_per_cycle: 16, latency_cycles: 1}}
workload: {kind: norm_linear, norm: rmsnorm, hidden_size: 512, out_features: 512, tokens: 1}
schedule: {norm_stats: collective, linear_split: rows}
strategy: serialized
"""
ROUTER, NOC = "machine.network.router_latency_cycles", "machine.network.noc.bytes_per_cycle"


def _target(name: str, metric: str, value: float, tolerance: float) -> Target:
    return Target(name, metric, value, tolerance, Path("x.yaml"), (), None, "pass")


def _closed_form(point: dict[str, Any]) -> dict[str, float]:
    """A stand-in model: latency grows with router latency, falls with link width."""
    a, b = point[ROUTER], point[NOC]
    return {"lat": 100.0 + 25.0 * a + 4096.0 / b, "share": 25.0 * a / (100.0 + 25.0 * a)}


def _params() -> tuple[Parameter, ...]:
    return (Parameter(ROUTER, 1, 8, True, 2), Parameter(NOC, 8, 64, False, 16.0))


def _records(model: Any, names: dict[str, str]) -> Any:
    def evaluate(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{"metrics": {t: model(p)[m] for t, m in names.items()}, "error": None}
                for p in points]
    return evaluate


def test_fit_recovers_known_closed_form_parameters() -> None:
    truth = {ROUTER: 5, NOC: 40.0}
    want = _closed_form(truth)
    targets = (_target("lat", "lat", want["lat"], 0.005 * want["lat"]),
               _target("share", "share", want["share"], 0.005))
    result = fit(_params(), targets, _records(_closed_form, {"lat": "lat", "share": "share"}),
                 evaluations=80, starts=3, seed=0)
    assert result.met()
    best = result.best_point()
    assert best[ROUTER] == truth[ROUTER]
    assert best[NOC] == pytest.approx(truth[NOC], rel=0.1)


def test_infeasible_pair_is_reported_with_the_best_compromise() -> None:
    """Two targets on one metric, 100 and 200 apart by 20 tolerances: never met
    together; the compromise splits the difference (each residual about ±10)."""
    targets = (_target("low", "lat", 250.0, 5.0), _target("high", "lat", 350.0, 5.0))
    model = _records(_closed_form, {"low": "lat", "high": "lat"})
    result = fit(_params(), targets, model, evaluations=60, starts=2, seed=1)
    assert not result.met()
    r = result.residuals[result.best]
    assert abs(r[0] + r[1]) <= 2.0  # the sum of squares is least where both are ~10 off
    assert min(abs(r)) > 1.0


def _spec(tmp: Path, extra: str = "", parameters: str = "", targets: str = "") -> Path:
    (tmp / "tiny.yaml").write_text(TINY)
    text = ("base: tiny.yaml\nverify_backend: analytic\n"
            + (targets or "targets:\n  - {name: lat, metric: latency_cycles, value: 420, "
               "tolerance: 5}\n  - {name: share, metric: normalization_comm_share, "
               "value: 0.18, tolerance: 0.01}\n")
            + (parameters or f"parameters:\n  {ROUTER}: {{}}\n  {NOC}: {{}}\n") + extra)
    path = tmp / "spec.yaml"
    path.write_text(text)
    return path


class _Counting:
    """An injected evaluator (closed form on the spec's targets) that counts points and
    can fail after ``fail_after`` of them, as a kill would."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.points: list[dict[str, Any]] = []
        self.fail_after = fail_after

    def __call__(self, calibration: Any, backend: str, workers: int) -> Any:
        def evaluate(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
            out = []
            for p in points:
                if self.fail_after is not None and len(self.points) >= self.fail_after:
                    raise KeyboardInterrupt
                self.points.append(p)
                m = _closed_form(p)
                out.append({"metrics": {"lat": m["lat"], "share": m["share"]}, "error": None})
            return out
        return evaluate


def test_resume_recomputes_nothing_and_ends_identical(tmp_path: Path) -> None:
    from sim.calibrate.run import run_calibration

    spec = _spec(tmp_path, "budget: {evaluations: 40, starts: 3}\n")
    whole = _Counting()
    run_calibration(spec, tmp_path / "whole", evaluator=whole)
    killed = _Counting(fail_after=17)
    with pytest.raises(KeyboardInterrupt):
        run_calibration(spec, tmp_path / "cut", evaluator=killed)
    with (tmp_path / "cut/evaluations.jsonl").open("a") as f:
        f.write('{"point_id": "torn')  # a write cut short by the kill
    rest = _Counting()
    document = run_calibration(spec, tmp_path / "cut", resume=True, evaluator=rest)
    assert len(killed.points) == 17
    assert len(killed.points) + len(rest.points) == len(whole.points)
    assert not any(p in killed.points for p in rest.points)  # nothing cached recomputed
    assert document["evaluations_reused"] >= 17
    for name in ("calibration.json", "calibrated.yaml", "tornado.svg"):
        assert (tmp_path / "cut" / name).read_bytes() == (tmp_path / "whole" / name
                                                           ).read_bytes()


def test_real_fit_recovers_known_values_and_calibrated_yaml_reproduces_them(
        tmp_path: Path) -> None:
    """Targets from the simulator at router latency 5 and 40 B/cycle links: the fit on the
    fast path meets them, the DES check runs, calibrated.yaml reproduces the fit."""
    from sim.calibrate.evaluate import evaluate_point
    from sim.calibrate.run import run_calibration
    from sim.calibrate.spec import load_calibration
    from sim.config import load_config
    from sim.runner import simulate

    probe = _spec(tmp_path)
    truth = {ROUTER: 5, NOC: 40.0}
    got = evaluate_point(load_calibration(probe).targets, truth, "analytic")["metrics"]
    spec = _spec(tmp_path, "verify_backend: des\nbudget: {evaluations: 24, starts: 2}\n"
                 "sensitivity: {step: 0.1}\n", targets=(
                     "targets:\n"
                     f"  - {{name: lat, metric: latency_cycles, value: {got['lat']}, "
                     f"tolerance: {0.01 * got['lat']}}}\n"
                     f"  - {{name: share, metric: normalization_comm_share, "
                     f"value: {got['share']}, tolerance: 0.01}}\n"))
    spec.write_text(spec.read_text().replace("verify_backend: analytic\n", ""))
    document = run_calibration(spec, tmp_path / "out")
    assert document["met_together"]
    fitted = {p["key"]: p["fitted"] for p in document["parameters"]}
    assert abs(fitted[ROUTER] - truth[ROUTER]) <= 1
    assert fitted[NOC] == pytest.approx(truth[NOC], rel=0.25)
    assert document["verify"]["backend"] == "des"
    assert set(document["verify"]["targets"]) == {"lat", "share"}
    assert len(document["sensitivity"]) == 4
    assert (tmp_path / "out/tornado.png").stat().st_size > 0
    calibrated = load_config(tmp_path / "out/calibrated.yaml")
    again = simulate(calibrated, None, None, "analytic")
    fit_lat = next(t["fit"] for t in document["targets"] if t["name"] == "lat")
    assert again.latency_cycles == fit_lat
    written = json.loads((tmp_path / "out/calibration.json").read_text())
    assert written["targets"][0]["fit"] == fit_lat


BAD = [
    ("targets:\n  - {metric: latency_cyclez, value: 1, tolerance: 1}\n", "",
     "targets[0].metric: unknown metric 'latency_cyclez' for a pass run (choose from "
     "latency_cycles, latency_us"),
    ("", f"parameters:\n  {ROUTER}: {{low: 4, high: 4}}\n",
     f"parameters.{ROUTER}: empty or inverted range (low 4 must be below high 4)"),
    ("", f"parameters:\n  {NOC}: {{low: 64, high: 8}}\n",
     f"parameters.{NOC}: empty or inverted range (low 64 must be below high 8)"),
    ("", "parameters:\n  machine.network.router_latency: {low: 1, high: 4}\n",
     "parameters.machine.network.router_latency: not a key of the base config"),
    ("", "parameters:\n  machine.simd.lanes_x: {}\n",
     "parameters.machine.simd.lanes_x: not a key of the base config"),
    ("", f"parameters:\n  {ROUTER}: {{low: 1}}\n", "give both low and high"),
    ("", "parameters:\n  machine.clock_ghz: {}\n", "no documented range; give low and high"),
    ("targets:\n  - {metric: latency_cycles, value: 1, tolerance: 0}\n", "",
     "targets[0].tolerance: must be > 0, got 0"),
    ("targets:\n  - {metric: latency_cycles, value: 1, tolerance: 1, colour: red}\n", "",
     "targets[0].colour: unknown key"),
]


@pytest.mark.parametrize(("targets", "parameters", "message"), BAD)
def test_bad_input_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      targets: str, parameters: str, message: str) -> None:
    from sim.cli import main

    spec = _spec(tmp_path, targets=targets, parameters=parameters)
    with pytest.raises(SystemExit) as exit_info:
        main(["calibrate", str(spec), "--out", str(tmp_path / "out"), "-q"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert message in err, err
    assert not (tmp_path / "out").exists()


def test_resume_into_a_folder_of_another_spec_is_refused(tmp_path: Path) -> None:
    from sim.calibrate.run import run_calibration
    from sim.errors import ConfigError

    spec = _spec(tmp_path, "budget: {evaluations: 6, starts: 1}\n")
    run_calibration(spec, tmp_path / "out", evaluator=_Counting())
    with pytest.raises(ConfigError, match="pass --resume"):
        run_calibration(spec, tmp_path / "out", evaluator=_Counting())
    spec.write_text(spec.read_text().replace("value: 420", "value: 421"))
    with pytest.raises(ConfigError, match="another spec"):
        run_calibration(spec, tmp_path / "out", resume=True, evaluator=_Counting())
