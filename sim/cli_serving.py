"""``imcsim serve`` and the serving side of ``run`` and ``compare``: a config with a
pipeline (``schedule.pipeline``: micro-batches or stages) is served
(`sim.serving.serve`) and reported as token interval, per-token latency,
tokens/s and bubble, not as one pass's breakdown.

Imports are made when a command runs (`sim.cli`'s start-up rule).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sim.errors import ConfigError

if TYPE_CHECKING:
    from sim.config import RunConfig, StrategyName
    from sim.serving import ServingResult

__all__ = ["maybe_serve", "parse_batches", "register", "serve_and_report"]

#: The most batches one ``serve`` call sweeps (each is a serving run per strategy).
MAX_BATCHES = 64


def parse_batches(text: str) -> list[int]:
    """``"1,16,48,64"`` as ``[1, 16, 48, 64]``.

    >>> parse_batches("1, 16,64")
    [1, 16, 64]

    Raises
    ------
    ConfigError
        Naming ``--batch`` for anything but distinct positive integers.
    """
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts or len(parts) > MAX_BATCHES or not all(p.isdigit() and len(p) <= 6
                                                        for p in parts):
        raise ConfigError(f"--batch: want up to {MAX_BATCHES} comma-separated positive "
                          f"integers, got {text[:80]!r}")
    batches = [int(p) for p in parts]
    if min(batches) < 1 or len(set(batches)) != len(batches):
        raise ConfigError(f"--batch: batches must be distinct and at least 1, got {text[:80]!r}")
    return batches


def serve_and_report(config: RunConfig, strategies: list[StrategyName], backend: str,
                     fmt: str, out: Path | None, *, mode: str = "probes",
                     batches: list[int] | None = None, micro_batches: int | None = None,
                     wide: bool = False) -> None:
    """Serve ``config`` under each strategy (and at each of ``batches``), print the
    text or JSON, and write ``serving.json`` (and the figure, over batches) to ``out``."""
    from sim.gcpause import paused_gc
    from sim.network.from_config import build_interconnect
    from sim.output import write_files_atomically
    from sim.report.progress import progress_bar
    from sim.serving import serve
    from sim.serving.report import serving_json, serving_table, serving_text
    from sim.serving.serve import at_batch

    configs = ([config] if batches is None else
               [at_batch(config, b, micro_batches or 0) for b in batches])
    net = build_interconnect(config.machine)
    results: list[ServingResult] = []
    with paused_gc(), progress_bar(len(configs) * len(strategies), "serve",
                                   unit=f"serving runs ({backend})") as advance:
        for cfg in configs:
            for strategy in strategies:
                results.append(serve(cfg, strategy, backend, mode, net))  # type: ignore[arg-type]
                advance(f"batch {cfg.workload.batch} {strategy.value}")  # type: ignore[union-attr]
    document = [serving_json(r) for r in results]
    if fmt == "json":
        typer.echo(json.dumps(document[0] if len(document) == 1 else document, indent=2))
    elif len(results) == 1:
        typer.echo(serving_text(results[0]))
    else:
        typer.echo(serving_table(results, wide=wide))
    if out is not None:
        files = {"serving.json": json.dumps(document, indent=2) + "\n"}
        written = write_files_atomically(out, files)
        if batches is not None and len(batches) > 1:
            from sim.report.plot_common import save_figures
            from sim.report.plot_serving import serving_figure

            written += save_figures(out, serving_figure(results))
        for path in written:
            print(f"wrote {path}", file=sys.stderr)


def maybe_serve(cfg: RunConfig, strategies: list[StrategyName], backend: str, fmt: str,
                out: Path | None, trace: Path | None) -> bool:
    """Serve ``cfg`` (``run``, ``compare``) if it has a pipeline; whether it did."""
    from sim.serving import is_pipelined

    if not is_pipelined(cfg):
        return False
    if trace is not None:
        raise ConfigError("--trace: a pipelined config (schedule.pipeline) is served, not "
                          "traced; trace one micro-batch with schedule.pipeline.micro_batches 1")
    serve_and_report(cfg, strategies, backend, fmt, out)
    return True


def register(app: typer.Typer) -> None:
    """Add ``imcsim serve`` to ``app``."""

    @app.command(name="serve")
    def serve_(
        config: Annotated[Path, typer.Argument(
            help="Run config YAML (a transformer), or a bundled config's name.",
            show_default=False)],
        batch: Annotated[str | None, typer.Option(
            "--batch", help="Batches to serve, comma-separated (1,16,48,64); default: the "
            "config's workload.batch.")] = None,
        micro_batches: Annotated[int, typer.Option(
            "--micro-batches", min=0, help="Micro-batches per batch with --batch; 0: the "
            "config's schedule.pipeline.micro_batches, or one per decoder stage if it has "
            "none (at most one per sequence).")] = 0,
        strategies: Annotated[str, typer.Option(
            "--strategies", help="Comma-separated strategies to serve.")
        ] = "serialized,deferred",
        mode: Annotated[str, typer.Option(
            "--mode", help="How stage times are found: probes (each kind of stage once), "
            "stages (every stage), full (every micro-batch in one simulation).")] = "probes",
        backend: Annotated[str, typer.Option(
            "--backend", help="des or analytic.")] = "des",
        set_: Annotated[list[str] | None, typer.Option(
            "--set", help="Override a config key (repeatable).")] = None,
        format_: Annotated[str | None, typer.Option(
            "--format", help="table or json.")] = None,
        out: Annotated[Path | None, typer.Option(
            "--out", help="Directory for serving.json and, over batches, serving.png/.svg."),
        ] = None,
        wide: Annotated[bool, typer.Option("--wide", help="One wide table.")] = False,
        quiet: Annotated[bool, typer.Option(
            "--quiet", "-q", help="No progress on stderr (warnings and errors stay).")] = False,
    ) -> None:
        """Serve a batch pipelined through the layer groups: token interval, latency per
        token, tokens/s, bubble; over several batches, with a figure."""
        from sim.cli import _check_out_dir, _format, _load, _strategy
        from sim.runner import check_backend
        from sim.serving import SERVING_MODES

        cfg = _load(config, set_)
        fmt = _format(format_, cfg)
        check_backend(backend)
        if mode not in SERVING_MODES:
            raise ConfigError(f"--mode: unknown serving mode {mode!r} (choose from "
                              f"{', '.join(SERVING_MODES)})")
        chosen = [s for s in (_strategy(name.strip()) for name in strategies.split(",")
                              if name.strip()) if s is not None]
        if not chosen:
            raise ConfigError("--strategies: name at least one strategy")
        batches = parse_batches(batch) if batch is not None else None
        _check_out_dir(out)
        if quiet:
            from sim.report.progress import set_quiet

            set_quiet(True)
        serve_and_report(cfg, chosen, backend, fmt, out, mode=mode, batches=batches,
                         micro_batches=micro_batches, wide=wide)
