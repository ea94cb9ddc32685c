"""``imcsim calibrate SPEC.yaml``: fit unpublished machine figures to published ones
(`sim.calibrate`). Imports are made when the command runs (`sim.cli`'s start-up rule).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add ``imcsim calibrate`` to ``app``."""

    @app.command(name="calibrate")
    def calibrate_(
        spec: Annotated[Path, typer.Argument(
            help="Calibration spec YAML (see configs/calibration/), or a bundled one's name.",
            show_default=False)],
        out: Annotated[Path | None, typer.Option(
            "--out", help="Folder for calibration.json, calibrated.yaml, tornado.png/.svg "
            "and the evaluation cache (default: calibrations/<spec name>).")] = None,
        resume: Annotated[bool, typer.Option(
            "--resume", help="Continue the calibration in --out from its evaluation cache."),
        ] = False,
        workers: Annotated[int | None, typer.Option(
            "--workers", "-j", min=1, max=256,
            help="Processes for the fit's batches of points (default: all cores).")] = None,
        format_: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
        quiet: Annotated[bool, typer.Option(
            "--quiet", "-q", help="No progress on stderr (warnings and errors stay).")] = False,
    ) -> None:
        """Fit free machine parameters to target figures on the fast path, check the best
        point on the DES, and report residuals, feasibility and sensitivities."""
        import json

        from sim.calibrate.report import table_text
        from sim.calibrate.run import default_out_dir, run_calibration
        from sim.config.presets import resolve_config_name
        from sim.errors import ConfigError
        from sim.output_paths import check_out_dir
        from sim.report.progress import set_quiet

        if format_ not in ("table", "json"):
            raise ConfigError(f"--format: must be table or json, got {format_!r}")
        spec = resolve_config_name(spec)
        if not spec.is_file():
            raise ConfigError(f"{spec}: no such calibration spec")
        where = out if out is not None else default_out_dir(spec)
        check_out_dir(where)
        if quiet:
            set_quiet(True)
        try:
            document = run_calibration(spec, where, resume=resume,
                                       workers=workers or os.cpu_count() or 1)
        except KeyboardInterrupt:
            print(f"imcsim: calibration stopped; its evaluations are in {where}: run the "
                  "same command with --resume to finish", file=sys.stderr)
            raise
        if format_ == "json":
            typer.echo(json.dumps(document, indent=2))
        else:
            typer.echo(table_text(document))
        for name in ("calibration.json", "calibrated.yaml", "tornado.png", "tornado.svg"):
            print(f"wrote {where / name}", file=sys.stderr)
