"""The ``imcsim`` command line (also ``python -m sim``).

Every deliberate error (`SimError`, bad usage) prints one line,
``imcsim: error: <key>: <problem>``, on stderr and exits with status 2; output
files are written only after a run succeeded.

Start-up: this module imports typer and `sim.errors` only; each command
imports what it runs when it runs (the config models, the simulator, numpy,
networkx, SimPy, matplotlib), so ``imcsim --help`` and a bad command line
answer at once. Help texts therefore name no registry entry (``imcsim list``
prints the strategies; an unknown name's error lists the choices).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sim.cli_calibrate import register as register_calibrate
from sim.cli_presets import init_command, list_command
from sim.cli_run import BaselineOpt, MaxTasksOpt, run_report, with_max_tasks
from sim.cli_serving import maybe_serve as _serving
from sim.cli_serving import register as register_serving
from sim.errors import ConfigError, SimError

if TYPE_CHECKING:
    from sim.config import RunConfig, StrategyName
    from sim.results import Summary
    from sim.runner import RunResult

__all__ = ["app", "main"]

app = typer.Typer(
    name="imcsim",
    help="Cycle-level simulator of distributed in-memory-compute accelerators: "
    "collective normalization, serialized vs deferred.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click help: rich's formatter costs more than all the rest
)

ConfigArg = Annotated[
    Path, typer.Argument(help="Run config YAML, or a bundled config's name (imcsim list).",
                         show_default=False)
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a config key: --set machine.simd.lanes=64 (repeatable)."),
]
FormatOpt = Annotated[
    str | None,
    typer.Option("--format", help="table or json (default: the config's output.format)."),
]
StrategyOpt = Annotated[
    str | None,
    typer.Option("--strategy", "-s", help="A normalization strategy (imcsim list shows them; "
                 "default: the config's strategy)."),
]
BackendOpt = Annotated[
    str,
    typer.Option("--backend", help="des (every hop on its link, contention) or analytic "
                 "(closed-form collectives, no contention; quicker)."),
]
QuietOpt = Annotated[
    bool, typer.Option("--quiet", "-q", help="No progress on stderr (warnings and errors stay).")
]
WideOpt = Annotated[
    bool, typer.Option("--wide", help="One wide table instead of blocks of 100 columns.")
]
OutOpt = Annotated[
    Path | None,
    typer.Option("--out", help="Directory for result.json, timeline.csv, config.resolved.yaml."),
]


def _strategy(name: str | None) -> StrategyName | None:
    from sim.config import StrategyName

    if name is None:
        return None
    try:
        return StrategyName(name)
    except ValueError:
        choices = ", ".join(s.value for s in StrategyName)
        raise ConfigError(
            f"--strategy: unknown strategy {name!r} (choose from {choices})"
        ) from None


def _format(requested: str | None, config: RunConfig) -> str:
    chosen = requested or config.output.format
    if chosen not in ("table", "json"):
        raise ConfigError(f"--format: must be table or json, got {chosen!r}")
    return chosen


def _load(config: Path, overrides: list[str] | None) -> RunConfig:
    """Load ``config``: a file, else the bundled config of that name (`sim.config.presets`)."""
    from sim.config import load_config
    from sim.config.presets import resolve_config_name

    path = resolve_config_name(config)
    if not path.exists():
        raise ConfigError(f"{config}: no such file, nor a bundled config of that name "
                          "(imcsim list shows them)")
    return load_config(path, overrides or [])


@app.callback()
def _options(quiet: QuietOpt = False) -> None:
    """Options before the command (``imcsim --quiet verify ...``) apply to every command."""
    from sim.report.progress import set_quiet

    set_quiet(quiet)


def _check_out_dir(out: Path | None, option: str = "--out") -> None:
    """Fail before simulating if ``--out`` cannot be a writable directory."""
    from sim.output_paths import check_out_dir

    check_out_dir(out, option)


@app.command()
def run(
    config: ConfigArg,
    strategy: StrategyOpt = None,
    set_: SetOpt = None,
    format_: FormatOpt = None,
    out: OutOpt = None,
    backend: BackendOpt = "des",
    trace: Annotated[
        Path | None,
        typer.Option("--trace", help="Write a Chrome/Perfetto trace-event JSON of the run here."),
    ] = None,
    trace_max_events: Annotated[
        int,
        typer.Option("--trace-max-events", min=1,
                     help="Cap on trace events; past it the earliest are kept."),
    ] = 200_000,
    quiet: QuietOpt = False,
    baseline: BaselineOpt = True,
    max_tasks: MaxTasksOpt = None,
) -> None:
    """Simulate one config under one strategy and print its latency, per-token figures,
    breakdown and (against serialized) hidden fraction and speedup."""
    cfg = _load(config, with_max_tasks(set_, max_tasks))  # before the imports
    from sim.output import write_run_outputs
    from sim.report.progress import set_quiet
    from sim.runner import check_backend

    chosen = _strategy(strategy)
    fmt = _format(format_, cfg)
    check_backend(backend)
    out_dir = out or (Path(cfg.output.dir) if cfg.output.dir else None)
    _check_out_dir(out_dir)
    if trace is not None:
        from sim.output_paths import check_out_file
        from sim.report.trace import check_trace_path

        check_out_file(trace, "--trace")
        check_trace_path(trace)
    if quiet:
        set_quiet(True)
    if _serving(cfg, [chosen or cfg.strategy], backend, fmt, out_dir, trace):
        return
    result, document, report = run_report(cfg, chosen, backend, fmt, baseline)
    if out_dir is not None:
        write_run_outputs(out_dir, result, document)
    if trace is not None:
        from sim.report.trace import write_trace

        dropped = write_trace(trace, result, max_events=trace_max_events)
        if dropped:
            print(f"imcsim: warning: trace capped at {trace_max_events} events; dropped "
                  f"{dropped} (the latest); raise --trace-max-events to keep them",
                  file=sys.stderr)
    typer.echo(report)


@app.command()
def compare(
    config: ConfigArg,
    set_: SetOpt = None,
    format_: FormatOpt = None,
    plot: Annotated[
        Path | None,
        typer.Option("--plot", help="Directory for the Gantt, breakdown and link-utilization "
                     "figures (PNG and SVG)."),
    ] = None,
    backend: Annotated[
        str,
        typer.Option("--backend", help="des, analytic, or both: the DES table, then the "
                     "analytic latency of each strategy and its gap to the DES."),
    ] = "des",
    wide: WideOpt = False,
    quiet: QuietOpt = False,
    max_tasks: MaxTasksOpt = None,
) -> None:
    """Run every strategy on one config, side by side, with the speedup over serialized."""
    from sim.config import StrategyName
    from sim.gcpause import paused_gc
    from sim.network.from_config import build_interconnect
    from sim.report.compare_json import backend_gaps, compare_dict
    from sim.report.progress import progress_bar, set_quiet
    from sim.report.text import backend_gap_table, compare_table
    from sim.runner import RunResult, check_backend, check_fits, simulate_tasks

    cfg = _load(config, with_max_tasks(set_, max_tasks))
    fmt = _format(format_, cfg)
    check_backend(backend, also=("both",))
    _check_out_dir(plot, "--plot")
    for strategy in StrategyName:  # a model that cannot fit fails before the interconnect
        check_fits(cfg, strategy)
    if quiet:
        set_quiet(True)
    if backend != "both" and _serving(cfg, list(StrategyName), backend, fmt, plot, None):
        return
    interconnect = build_interconnect(cfg.machine)
    first = "des" if backend == "both" else backend
    phases = [first] + (["analytic"] if backend == "both" else [])
    runs: dict[str, list[RunResult | Summary]] = {}
    with paused_gc():  # a short-lived process of acyclic objects: no collection passes
        for phase in phases:
            with progress_bar(len(StrategyName), "compare", unit=f"strategies ({phase})"
                              ) as advance:
                runs[phase] = []
                for s in StrategyName:
                    result = simulate_tasks(cfg, s, interconnect, phase)
                    # without --plot only figures are kept, not six task graphs
                    runs[phase].append(result if plot is not None else result.summary())
                    advance(s.value)
    results, estimates = runs[first], (runs["analytic"] if backend == "both" else [])
    if fmt == "json":
        document = compare_dict(results)
        if estimates:
            document["analytic"] = backend_gaps(results, estimates)
        typer.echo(json.dumps(document, indent=2))
    else:
        typer.echo(compare_table(results, wide=wide))
        if estimates:
            typer.echo(backend_gap_table(results, estimates))
    if plot is not None:
        from sim.report.plots import plot_compare

        notes: list[str] = []
        runs_kept = [r for r in results if isinstance(r, RunResult)]  # all of them, plotting
        for path in plot_compare(runs_kept, plot, notes):
            print(f"wrote {path}", file=sys.stderr)
        for note in notes:
            print(f"imcsim: {note}", file=sys.stderr)


@app.command(name="plot")
def plot_(
    results: Annotated[
        Path, typer.Argument(help="Results CSV of a sweep (or its directory).",
                             show_default=False)
    ],
    x: Annotated[str, typer.Option("--x", help="Column on the x axis.", show_default=False)],
    y: Annotated[
        list[str], typer.Option("--y", help="Column to plot (repeatable: one panel each).",
                                show_default=False)
    ],
    hue: Annotated[
        str | None, typer.Option("--hue", help="Column whose values get one line (or panel) "
                                 "each (default: strategy; none: no hue).")
    ] = None,
    heatmap: Annotated[
        str | None, typer.Option("--heatmap", help="Second axis column: draw a heatmap of y "
                                 "over (x, this column) instead of lines.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Output directory (default: plots/ next to "
                                  "RESULTS).")
    ] = None,
    pareto: Annotated[bool, typer.Option("--pareto", help="Every run's (x, y) point, the "
                                         "non-dominated ones marked.")] = False,
) -> None:
    """Plot a sweep's results table: y against x per hue, a heatmap over two columns, or a
    Pareto front."""
    from sim.report.plots import plot_results

    directory = out or ((results if results.is_dir() else results.parent) / "plots")
    _check_out_dir(directory)
    for path in plot_results(results, directory, x=x, ys=y, hue=hue, heatmap=heatmap,
                             pareto=pareto):
        typer.echo(str(path))


@app.command(name="verify")
def verify_(
    config: ConfigArg,
    set_: SetOpt = None,
    format_: FormatOpt = None,
    dtype: Annotated[
        list[str] | None,
        typer.Option("--dtype", help="Number format (repeatable): fp64, fp32, bf16, fp8_e4m3, "
                     "bfp8, mxfp4, ... Default: every format."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of weights and inputs.")] = 0,
    token_offset: Annotated[
        float | None,
        typer.Option("--token-offset", help="Std of the inputs' per-token offset (0: none; "
                     "default 4)."),
    ] = None,
    quiet: QuietOpt = False,
) -> None:
    """Run the workload on real numbers under every strategy and each number format,
    and print the error against an fp64 textbook reference, for the output and
    for each normalization -> linear block."""
    from sim.api import verify as api_verify
    from sim.backends.numeric import (  # numpy
        FORMAT_NAMES,
        InputDistribution,
        number_format,
        verify_table,
    )
    from sim.config import StrategyName
    from sim.report.progress import progress_bar, set_quiet

    if quiet:
        set_quiet(True)
    dtypes = dtype or list(FORMAT_NAMES)
    for name in dtypes:  # reject a bad format or offset before reading or generating anything
        try:
            number_format(name)
        except ConfigError as exc:
            raise ConfigError(f"--dtype: {str(exc).split(': ', 1)[-1]}") from None
    if token_offset is not None:
        try:
            InputDistribution(token_offset_std=token_offset)
        except ConfigError as exc:
            raise ConfigError(f"--token-offset: {str(exc).split(': ', 1)[-1]}") from None
    cfg = _load(config, set_)
    fmt = _format(format_, cfg)
    with progress_bar(len(StrategyName) * len(dtypes), "verify") as advance:
        rows = api_verify(cfg, dtypes, seed=seed, token_offset=token_offset,
                          on_row=lambda row: advance(f"{row['strategy']} {row['dtype']}"))
    if fmt == "json":
        typer.echo(json.dumps(rows, indent=2))
    else:
        typer.echo(verify_table(rows, cfg.workload))


@app.command()
def check(config: ConfigArg, set_: SetOpt = None) -> None:
    """Validate a config and lower it under every strategy, without simulating."""
    from sim.config import StrategyName
    from sim.network.from_config import Interconnect
    from sim.report.text import mapping_summary
    from sim.runner import prepare, rewritten, weight_bytes, workload_bits

    cfg = _load(config, set_)
    interconnect: Interconnect | None = None  # built by the first prepare, once it fits
    bits = workload_bits(cfg.workload)
    counts, mappings = [], []
    for strategy in StrategyName:
        prepared = prepare(cfg, strategy, interconnect)
        interconnect = prepared.interconnect
        counts.append(f"{strategy.value} {len(prepared.emit('hops'))}")
        summary = mapping_summary(prepared.tilings(), prepared.norm_stats())
        mappings.append(f"mapping {strategy.value}: {summary}")
    graph = rewritten(cfg, StrategyName.SERIALIZED)
    m = cfg.machine
    typer.echo(
        f"ok: {config} — machine {m.name!r} ({m.hierarchy.total_cores} cores, "
        f"{m.clock_ghz} GHz), workload {cfg.workload.kind}, strategy {cfg.strategy.value}; "
        f"weights {weight_bytes(graph, bits):,} B at {bits['weight']} bits; "
        f"tasks per strategy: {', '.join(counts)}"
    )
    for line in mappings:
        typer.echo(line)


app.command(name="list")(list_command)
app.command(name="init")(init_command)
register_serving(app)
register_calibrate(app)


@app.command(name="sweep")
def sweep_(
    spec: Annotated[Path, typer.Argument(help="Sweep spec YAML (see configs/sweeps/).",
                                         show_default=False)],
    workers: Annotated[int | None, typer.Option(
        "--workers", "-j", help="Worker processes (default: all cores).")] = None,
    dask: Annotated[str | None, typer.Option(
        "--dask", help="Run on a Dask cluster: a scheduler address, or 'local'.")] = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Continue the sweep in --out, skipping finished points.")] = False,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Results directory (default: sweeps/<spec name>).")] = None,
    backend: Annotated[str | None, typer.Option(
        "--backend", help="des or analytic (default: the spec's backend, else des).")] = None,
    quiet: QuietOpt = False,
) -> None:
    """Run a sweep: every point of a space of config values (mode grid, zip, sobol,
    latin_hypercube, or search: an optuna study of objectives) under each strategy,
    in parallel; results appended as points finish (resumable)."""
    from sim.config.presets import resolve_config_name
    from sim.report.progress import set_quiet
    from sim.sweep import default_out_dir, run_sweep, sweep_figures

    if quiet:
        set_quiet(True)
    spec = resolve_config_name(spec)  # a bundled spec by name too (`imcsim list`)
    try:
        summary = run_sweep(spec, workers=workers, dask=dask, resume=resume, out=out,
                            backend=backend)
    except KeyboardInterrupt:
        where = out if out is not None else default_out_dir(spec)
        print(f"imcsim: sweep stopped; the finished points are in {where}: run the same "
              "command with --resume to finish", file=sys.stderr)
        raise
    typer.echo(summary.text())
    for path in sweep_figures(spec, summary.out_dir):
        print(f"wrote {path}", file=sys.stderr)


def _fail(message: str) -> None:
    print(f"imcsim: error: {message}", file=sys.stderr)
    sys.exit(2)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning deliberate errors into one line and exit 2."""
    command = typer.main.get_command(app)
    try:
        status = command.main(args=argv, prog_name="imcsim", standalone_mode=False)
    except SimError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        print("imcsim: interrupted", file=sys.stderr)
        sys.exit(130)
    except OSError as exc:  # writing a checked path still failed (disk full, read-only)
        if exc.filename is None:
            raise
        _fail(f"{exc.filename}: {exc.strerror or exc}")
    except Exception as exc:
        # typer's (click's) usage errors carry format_message() and exit_code.
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            _fail(" ".join(str(exc.format_message()).split()))
        raise
    sys.exit(status if isinstance(status, int) else 0)
