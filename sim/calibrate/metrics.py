"""The figures a calibration target may name, and how one run yields them.

Two kinds of run, as ``imcsim run`` makes them: a *pass* (one step of the
config, `sim.runner.simulate`) and, for a config with a pipeline
(``schedule.pipeline``), a *served* batch (`sim.serving.serve`). Each kind has
its registry of metrics (`PASS_METRICS`, `SERVING_METRICS`), each metric a
function of the result with the name and meaning it has in ``--format json``.

`run_metrics` runs a config once on a backend and returns every metric of its
kind. On the analytic backend a pass is evaluated in arrays without its energy
count (which a calibration never reads and which costs about a third of an
analytic layer), so the figures equal ``imcsim run --backend analytic``'s.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sim.registry import Registry

if TYPE_CHECKING:
    from sim.config import RunConfig, StrategyName
    from sim.figures import Figures
    from sim.network.from_config import Interconnect

__all__ = ["PASS_METRICS", "SERVING_METRICS", "metric_kind", "metrics_for", "run_metrics"]

PassMetric = Callable[["Figures"], float | None]
ServingMetric = Callable[[dict[str, Any]], float | None]

#: Metrics of a pass (``imcsim run --format json`` keys), by name.
PASS_METRICS = Registry[PassMetric]("metric")
#: Metrics of a served batch (the ``serving`` keys of its JSON), by name.
SERVING_METRICS = Registry[ServingMetric]("metric")


def _pass_key(name: str, source: str) -> PassMetric:
    def metric(result: Figures) -> float | None:
        from sim.figures import per_token_figures

        if source == "shares":
            return float(result.shares()[name])
        value = per_token_figures(result).get(name)
        return None if value is None else float(value)
    return metric


PASS_METRICS.add("latency_cycles", lambda r: float(r.latency_cycles))
PASS_METRICS.add("latency_us", lambda r: float(r.latency_us))
for _name in ("normalization_comm_share", "normalization_comm_cycles", "normalization_share",
              "normalization_cycles", "data_comm_cycles"):
    PASS_METRICS.add(_name, _pass_key(_name, "shares"))
for _name in ("latency_per_token_us", "time_to_first_token_us", "tokens_per_s", "step_cycles"):
    PASS_METRICS.add(_name, _pass_key(_name, "per_token"))



def _serving_key(name: str) -> ServingMetric:
    def metric(figures: dict[str, Any]) -> float | None:
        value = figures.get(name)
        return None if value is None else float(value)
    return metric


for _name in ("latency_per_token_us", "time_to_first_token_us", "tokens_per_s",
              "token_interval_us", "pass_us", "bubble_fraction"):
    SERVING_METRICS.add(_name, _serving_key(_name))


def metric_kind(config: RunConfig) -> str:
    """``serving`` for a config with a pipeline, else ``pass``."""
    from sim.serving import is_pipelined

    return "serving" if is_pipelined(config) else "pass"


def metrics_for(kind: str) -> Registry[Any]:
    """The metric registry of a run kind (``pass`` or ``serving``)."""
    return SERVING_METRICS if kind == "serving" else PASS_METRICS


def _pass(config: RunConfig, strategy: StrategyName | None, net: Interconnect,
          backend: str) -> Figures:
    """One pass; analytic in arrays without the energy count where the arrays serve."""
    from sim.backends.arrays import array_breakdown, evaluate, event_count, latency_cycles
    from sim.results import Estimate
    from sim.runner import prepare, simulate

    if backend == "analytic":
        prepared = prepare(config, strategy, net)
        state = evaluate(prepared.plan, config.machine, net)
        if state is not None:
            breakdown, critical = array_breakdown(state.batches)
            return Estimate(config, prepared.strategy, latency_cycles(state.batches), breakdown,
                            critical, dict(prepared.plan.purposes), event_count(state.batches),
                            state.task_count, wall_seconds=0.0)
    return simulate(config, strategy, net, backend)


def run_metrics(config: RunConfig, strategy: StrategyName | None, backend: str,
                net: Interconnect) -> dict[str, float | None]:
    """Every metric of ``config``'s kind, run once on ``backend`` (None: not defined
    for this run, e.g. a time to first token in decode).

    Raises
    ------
    CapacityError, GraphError, ConfigError
        As `sim.runner.prepare` does.
    """
    if metric_kind(config) == "serving":
        from sim.serving import serve

        figures = serve(config, strategy or config.strategy, backend, "probes", net).figures()
        return {name: fn(figures) for name, fn in SERVING_METRICS.items()}
    result = _pass(config, strategy, net, backend)
    return {name: fn(result) for name, fn in PASS_METRICS.items()}
