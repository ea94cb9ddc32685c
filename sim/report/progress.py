"""Progress on stderr for long work (a rich bar when stderr is a terminal)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["progress_bar"]


@contextmanager
def progress_bar(total: int, label: str) -> Iterator[Callable[[str], None]]:
    """Yield ``advance(description)``; shows a bar with rate and time left on a
    terminal, and nothing when stderr is not one (logs, CI, pipes)."""
    from rich.console import Console  # loaded on first use: a short run never needs it
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True)
    progress = Progress(
        TextColumn("[bold]{task.fields[label]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not sys.stderr.isatty(),
    )
    with progress:
        task = progress.add_task("", total=total, label=label)

        def advance(description: str) -> None:
            progress.update(task, advance=1, description=description)

        yield advance
