"""The ``imcsim list`` and ``imcsim init`` commands: the bundled presets by name.

Registered on the app by `sim.cli`; like it, this module imports typer only,
and each command imports what it needs when it runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["init_command", "list_command"]

#: Columns a listing line may take (descriptions are cut to fit).
_WIDTH = 100

#: How each folder of presets is used, in the order `list` shows them.
_GROUPS = (
    ("configs/paper/", "run configs: a model layer (or more) on a machine"),
    ("configs/collectives/", "run configs: one collective on an interconnect"),
    ("configs/sweeps/", "sweep specs (imcsim sweep FILE)"),
    ("configs/calibration/", "calibration specs (imcsim calibrate FILE) and their run configs"),
    ("configs/machines/", "machines (extends: machines/NAME)"),
    ("configs/", "run configs"),
    ("workloads/", "models (workload.model: NAME)"),
)


def list_command() -> None:
    """List the bundled presets (run configs, sweeps, machines, models) by name, and
    the strategies."""
    from sim.config.names import StrategyName
    from sim.config.presets import list_presets, preset_name

    presets = list_presets()
    width = max((len(preset_name(path)) for path, _ in presets), default=0)
    typer.echo("Bundled presets, by name. Run one from any folder: imcsim run NAME (or compare,\n"
               "verify, check); copy one here to edit: imcsim init NAME [DEST].")
    for prefix, heading in _GROUPS:
        group = [(p, d) for p, d in presets if p.startswith(prefix)
                 and not any(p.startswith(q) for q, _ in _GROUPS if len(q) > len(prefix)
                             and q.startswith(prefix))]
        if not group:
            continue
        typer.echo(f"\n{heading}:")
        room = max(_WIDTH - width - 4, 20)
        for path, description in group:
            text = description if len(description) <= room else description[:room - 1] + "…"
            typer.echo(f"  {preset_name(path):<{width}}  {text}")
    typer.echo("")
    typer.echo("strategies: " + ", ".join(s.value for s in StrategyName))


def init_command(
    name: Annotated[str, typer.Argument(help="A bundled config's name (imcsim list).",
                                        show_default=False)],
    dest: Annotated[Path, typer.Argument(help="Folder or file to write (default: here).")
                    ] = Path("."),
) -> None:
    """Copy a bundled config into a folder to edit (never overwriting a file); its
    extends: still finds the bundled machines from there."""
    from sim.config.presets import copy_preset

    path = copy_preset(name, dest)
    folder = name.removeprefix("configs/").split("/", 1)[0]
    use = {"sweeps": f"imcsim sweep {path}",
           "machines": f"extends: {path} in a run config"}.get(folder, f"imcsim run {path}")
    typer.echo(f"wrote {path}; edit it, then: {use}")
