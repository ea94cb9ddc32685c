"""Output paths checked before anything runs: one `ConfigError` line, or nothing.

Every command that writes (``--out``, ``--plot``, ``--trace``, a sweep's
folder) calls `check_out_dir` or `check_out_file` before it simulates, so a
path it could not write is refused at once with one line naming the option,
instead of a traceback after the run. A folder's missing parents are created
when it is written (``mkdir -p``), so for a folder the nearest existing
ancestor must be a writable directory; a file's folder must exist.

Refused:

- a path under a kernel file system (`SPECIAL_ROOTS`: ``/proc``, ``/sys``,
  ``/dev``), which holds no results (``/dev/null`` too: a results folder or
  file there would vanish), except ``/dev/shm`` (ordinary tmpfs storage);
- a folder that is a file, or whose nearest existing ancestor is a file;
- a file that is a folder, or whose folder does not exist;
- a path whose directory is not writable (`os.access`; root passes that check
  except on read-only mounts, and then the write itself fails with one line:
  the CLI maps an `OSError` while writing to exit status 2).

Examples
--------
>>> check_out_dir(Path("/proc/x"), "--out")
Traceback (most recent call last):
...
sim.errors.ConfigError: --out: /proc/x is on the kernel file system /proc, not a place for results
"""

from __future__ import annotations

import os
from pathlib import Path

from sim.errors import ConfigError

__all__ = ["ORDINARY_UNDER_SPECIAL", "SPECIAL_ROOTS", "check_out_dir", "check_out_file"]

#: Kernel file systems: no results may be written under them.
SPECIAL_ROOTS = (Path("/proc"), Path("/sys"), Path("/dev"))
#: Folders under `SPECIAL_ROOTS` that are ordinary writable storage (tmpfs).
ORDINARY_UNDER_SPECIAL = (Path("/dev/shm"),)


def _absolute(path: Path) -> Path:
    """``path`` made absolute with ``..`` and symlinks resolved as far as they exist."""
    return Path(os.path.realpath(path))


def _check_special(path: Path, option: str) -> None:
    absolute = _absolute(path)
    if any(absolute == ok or ok in absolute.parents for ok in ORDINARY_UNDER_SPECIAL):
        return
    for root in SPECIAL_ROOTS:
        if absolute == root or root in absolute.parents:
            raise ConfigError(f"{option}: {path} is on the kernel file system {root}, "
                              "not a place for results")


def _nearest_existing(path: Path) -> Path:
    """``path`` itself or its closest ancestor that exists."""
    absolute = Path(os.path.abspath(path))
    for candidate in (absolute, *absolute.parents):
        if candidate.exists():
            return candidate
    return Path(absolute.anchor)


def _check_writable_dir(directory: Path, option: str, path: Path) -> None:
    if not directory.is_dir():
        raise ConfigError(f"{option}: {directory} is a file, so {path} cannot be created "
                          "under it")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ConfigError(f"{option}: directory {directory} is not writable")


def check_out_dir(path: Path | None, option: str = "--out") -> None:
    """Refuse a results folder that could not be created or written (see the module).

    Raises
    ------
    ConfigError
        ``OPTION: PATH ...`` naming the problem; nothing is created.
    """
    if path is None:
        return
    _check_special(path, option)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{option}: {path} exists and is not a directory")
    _check_writable_dir(_nearest_existing(path), option, path)


def check_out_file(path: Path | None, option: str) -> None:
    """Refuse an output file whose folder is missing or not writable, or that is a
    folder (see the module).

    Raises
    ------
    ConfigError
        ``OPTION: PATH ...`` naming the problem; nothing is created.
    """
    if path is None:
        return
    _check_special(path, option)
    if path.is_dir():
        raise ConfigError(f"{option}: {path} is a directory")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.exists():
        raise ConfigError(f"{option}: directory {parent} does not exist")
    _check_writable_dir(parent, option, path)
    if path.exists() and not os.access(path, os.W_OK):
        raise ConfigError(f"{option}: {path} is not writable")
