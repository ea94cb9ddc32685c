"""Writing a run's files: all or nothing.

Files are written to temporary names in the target directory and renamed into
place only when all of them are complete, so an interrupted or failed run
leaves no half-written result.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml

from sim.backends import timeline_csv
from sim.runner import RunResult

__all__ = ["write_files_atomically", "write_run_outputs"]


def write_files_atomically(directory: Path, files: dict[str, str]) -> list[Path]:
    """Write ``{name: text}`` into ``directory`` (created if needed); return the paths.

    Every file is first written as ``.name.tmp``; the renames happen only after
    all writes succeeded.
    """
    directory.mkdir(parents=True, exist_ok=True)
    staged: list[tuple[Path, Path]] = []
    try:
        for name, text in files.items():
            tmp = directory / f".{name}.tmp"
            tmp.write_text(text, encoding="utf-8")
            staged.append((tmp, directory / name))
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    for tmp, final in staged:
        os.replace(tmp, final)
    return [final for _, final in staged]


def write_run_outputs(directory: Path, result: RunResult,
                      document: dict[str, Any] | None = None) -> list[Path]:
    """``result.json`` (``document``, default `RunResult.to_dict`), ``timeline.csv``
    and the resolved config of one run."""
    config = result.config.model_dump(mode="json")
    config["strategy"] = result.strategy.value
    return write_files_atomically(directory, {
        "result.json": json.dumps(document or result.to_dict(), indent=2) + "\n",
        "timeline.csv": timeline_csv(result.taskgraph, result.timeline,
                                     result.breakdown.critical_path),
        "config.resolved.yaml": yaml.safe_dump(config, sort_keys=False),
    })
