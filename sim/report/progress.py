"""Progress of long work, on stderr only (stdout stays the report or its JSON).

On a terminal, `progress_bar` draws a rich bar with rate and time left that
disappears when the phase ends; elsewhere (logs, CI, pipes) it prints one
line per finished phase, ``imcsim: LABEL: N of TOTAL UNIT in S s``. Quiet
(`set_quiet`, the commands' ``--quiet``) silences both; warnings and errors
are printed by their callers regardless. A phase that raises prints nothing
(its error is the one line).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["UNITS", "is_quiet", "progress_bar", "set_quiet"]

_state = {"quiet": False}

#: What the items of a phase are, by its label, when its caller does not say.
UNITS: dict[str, str] = {"sweep": "points", "verify": "strategy x format runs"}


def set_quiet(quiet: bool) -> None:
    """Silence (``True``) or restore (``False``) progress for this process."""
    _state["quiet"] = bool(quiet)


def is_quiet() -> bool:
    """Whether progress is silenced."""
    return _state["quiet"]


@contextmanager
def _summary_line(total: int, label: str, unit: str) -> Iterator[Callable[[str], None]]:
    """Count ``advance`` calls; print one summary line when the phase completes."""
    began, done = time.perf_counter(), [0]

    def advance(description: str) -> None:
        done[0] += 1

    yield advance
    print(f"imcsim: {label}: {done[0]} of {total} {unit} in "
          f"{time.perf_counter() - began:.1f} s", file=sys.stderr, flush=True)


@contextmanager
def progress_bar(total: int, label: str, unit: str | None = None
                 ) -> Iterator[Callable[[str], None]]:
    """Yield ``advance(description)``, to call once per finished item of ``total``.

    A rich bar on a terminal, a summary line per phase otherwise, nothing when
    quiet (see the module docstring). ``unit`` names the items in the summary
    (``strategies (des)``; default: `UNITS` of the label, else ``steps``).
    """
    unit = unit or UNITS.get(label, "steps")
    if is_quiet():
        yield lambda description: None
        return
    if not sys.stderr.isatty():
        with _summary_line(total, label, unit) as advance:
            yield advance
        return
    from rich.console import Console  # loaded on first use: a short run never needs it
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    progress = Progress(
        TextColumn("[bold]{task.fields[label]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    with progress:
        task = progress.add_task(unit, total=total, label=label)

        def advance_bar(description: str) -> None:
            progress.update(task, advance=1, description=description)

        yield advance_bar
