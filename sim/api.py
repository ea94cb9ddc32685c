"""The Python API: what the ``imcsim`` commands do, as functions (``import sim``).

=============== =====================================================================
function        what it does
=============== =====================================================================
`load`          read, override (``--set`` syntax) and validate a run config
`simulate`      run one config under one strategy on a backend (``imcsim run``)
`compare`       every strategy on the same config (``imcsim compare``)
`verify`        the numeric check: errors per strategy and format (``imcsim verify``)
`sweep`         run a sweep spec and return its result rows (``imcsim sweep``)
=============== =====================================================================

A config is a `RunConfig` or a path to its YAML; a relative path that does not
exist under the working directory is looked up among the bundled presets
(``configs/...``, `sim.config.presets.presets_root`), so the examples below run
from anywhere. Errors are the simulator's own (`sim.errors`): a `ConfigError`
names the key and the problem.

Examples
--------
>>> import sim
>>> config = sim.load("configs/flashnorm_toy.yaml")
>>> config.workload.hidden_size
512
>>> sim.simulate(config, "deferred").latency_cycles
17
>>> {name: r.latency_cycles for name, r in sim.compare(config).items()}["serialized"]
24
>>> sim.load("configs/flashnorm_toy.yaml", ["machine.simd.lanes=0"])
Traceback (most recent call last):
...
sim.errors.ConfigError: machine.simd.lanes: must be > 0, got 0
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sim.config import RunConfig, StrategyName
    from sim.results import Result

__all__ = ["compare", "load", "simulate", "sweep", "verify"]


def _path(path: str | Path) -> Path:
    """``path``, or the bundled preset of that relative path when only it exists."""
    from sim.config.presets import presets_root

    given = Path(path)
    root = presets_root()
    if not given.exists() and not given.is_absolute() and root is not None:
        bundled = root / given
        if bundled.exists():
            return bundled
    return given


def load(path: str | Path, overrides: Iterable[str] = ()) -> RunConfig:
    """Read the run config at ``path`` (its ``extends:`` chain and model preset),
    apply ``overrides`` (``"machine.simd.lanes=64"``, as ``--set``) and validate it.

    Raises
    ------
    ConfigError
        One line naming the key and the problem (a missing file included).
    """
    from sim.config import load_config

    return load_config(_path(path), list(overrides))


def _config(config: RunConfig | str | Path) -> RunConfig:
    return load(config) if isinstance(config, str | Path) else config


def _strategy(name: StrategyName | str | None) -> StrategyName | None:
    from sim.config import StrategyName
    from sim.errors import ConfigError

    if name is None or isinstance(name, StrategyName):
        return name
    try:
        return StrategyName(name)
    except ValueError:
        choices = ", ".join(s.value for s in StrategyName)
        raise ConfigError(f"strategy: unknown strategy {name!r} (choose from {choices})") from None


def simulate(config: RunConfig | str | Path, strategy: StrategyName | str | None = None,
             backend: str = "des", *, tasks: bool = False) -> Result:
    """Run ``config`` under ``strategy`` (default: the config's) on ``backend``
    (``des`` or ``analytic``); ``tasks=True`` returns the task-level result with
    its timeline (`sim.runner.simulate`).

    Raises
    ------
    ConfigError, CapacityError, GraphError
        A bad config, strategy or backend; a workload that does not fit.
    """
    from sim.runner import check_backend
    from sim.runner import simulate as run

    check_backend(backend, "backend")
    return run(_config(config), _strategy(strategy), backend=backend, tasks=tasks)


def compare(config: RunConfig | str | Path,
            strategies: Sequence[StrategyName | str] | None = None,
            backend: str = "des") -> dict[str, Result]:
    """Every strategy (or those named) on ``config``, in the order given
    (default: `StrategyName` order), sharing one interconnect: strategy name -> result.

    Raises
    ------
    As `simulate`.
    """
    from sim.config import StrategyName
    from sim.network.from_config import build_interconnect
    from sim.runner import check_backend
    from sim.runner import simulate as run

    check_backend(backend, "backend")
    cfg = _config(config)
    chosen = [_strategy(s) for s in strategies] if strategies is not None else list(StrategyName)
    net = build_interconnect(cfg.machine)
    return {str(s): run(cfg, s, net, backend) for s in chosen if s is not None}


def verify(config: RunConfig | str | Path, dtypes: Sequence[str] | None = None, seed: int = 0,
           token_offset: float | None = None,
           on_row: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Run the workload on real numbers under every strategy in each format
    (default: all) and return the errors against the fp64 reference, for the
    output and per normalization → linear block (`sim.backends.numeric.verify`
    gives the row keys). A whole-model transformer runs one decoder block
    (``layers: 1``) unless the config sets ``workload.layers``. ``token_offset``:
    the standard deviation of the inputs' per-token offset (default 4; 0: none).

    >>> rows = verify("configs/flashnorm_toy.yaml", ["fp64"])
    >>> [(r["strategy"], r["max_rel_error"] < 1e-12) for r in rows][:3]
    [('serialized', True), ('pipelined', True), ('deferred', True)]

    Raises
    ------
    ConfigError
        An unknown format (named), a workload the numeric backend does not
        run (a collective), a bad seed or offset.
    """
    from sim.backends.numeric import (  # numpy
        DEFAULT_INPUTS,
        FORMAT_NAMES,
        InputDistribution,
        number_format,
        numeric_workload,
    )
    from sim.backends.numeric import verify as numeric_verify
    from sim.config import StrategyName, TransformerWorkload
    from sim.runner import prepare

    inputs = (DEFAULT_INPUTS if token_offset is None
              else InputDistribution(token_offset_std=token_offset))
    cfg = _config(config)
    formats = list(dtypes) if dtypes is not None else list(FORMAT_NAMES)
    for name in formats:  # reject a bad format before generating any weights
        number_format(name)
    workload = cfg.workload
    if isinstance(workload, TransformerWorkload) and workload.layers is None:
        workload = workload.model_copy(update={"layers": 1})
    workload = numeric_workload(workload)
    one_layer = cfg.model_copy(update={"workload": workload})
    prepared = [prepare(one_layer, s) for s in StrategyName]  # the plans' tilings too
    return numeric_verify(workload, [(p.strategy.value, p.graph) for p in prepared], formats,
                          seed=seed, on_row=on_row, distribution=inputs,
                          tilings={p.strategy.value: p.plan.tilings for p in prepared})


def sweep(spec: str | Path, out: str | Path, *, workers: int | None = 1,
          backend: str | None = None, resume: bool = False) -> list[dict[str, Any]]:
    """Run the sweep spec ``spec`` into the directory ``out`` (``workers``
    processes; ``resume`` continues a sweep already there) and return its result
    rows sorted by point (`sim.sweep.run_sweep`, `sim.sweep.read_results`).

    >>> import tempfile
    >>> from pathlib import Path
    >>> folder = Path(tempfile.mkdtemp())
    >>> base = _path("configs/flashnorm_toy.yaml").resolve()
    >>> _ = (folder / "lanes.yaml").write_text(
    ...     f"base: {base}\\nstrategies: [serialized, deferred]\\nmode: grid\\n"
    ...     "axes:\\n  machine.simd.lanes: [64, 128]\\n")
    >>> rows = sweep(folder / "lanes.yaml", folder / "out")
    >>> sorted((r["machine.simd.lanes"], r["strategy"], r["latency_cycles"]) for r in rows)[2:]
    [(128, 'deferred', 17), (128, 'serialized', 24)]

    Raises
    ------
    ConfigError
        A bad spec or point, or a non-empty ``out`` without ``resume``.
    """
    from sim.sweep import read_results, run_sweep

    summary = run_sweep(_path(spec), workers=workers, resume=resume, out=out, backend=backend)
    return read_results(summary.out_dir)
