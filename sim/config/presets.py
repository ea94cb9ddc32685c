"""Where the bundled presets (``configs/`` and ``workloads/``) live, and naming them.

An installed wheel carries them inside the package as ``sim/_presets``; a source
checkout (editable install or ``PYTHONPATH``) has them at the repository root.

A bundled config is named by its path under ``configs/`` without ``.yaml``
(``paper/llama3_8b_decode``, ``flashnorm_toy``); the path ``imcsim list``
prints (``configs/flashnorm_toy.yaml``) names it too. `resolve_config_name`
turns such a name into the installed file when no file of that name exists
locally (a local file always wins), and `copy_preset` (``imcsim init``) copies
one into a folder to edit, with its ``extends:`` (or a sweep's ``base:``)
rewritten so that the copy still finds its parents from there.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from sim.errors import ConfigError

__all__ = ["copy_preset", "list_presets", "preset_name", "presets_root",
           "resolve_config_name"]

_PACKAGE_DIR = Path(__file__).resolve().parents[1]  # the sim package

#: ``extends: VALUE`` or ``base: VALUE`` at the top level of a YAML file
#: (a scalar or a flow list ``[a, b]``), with any trailing comment.
_PARENT_LINE = re.compile(r"^(?P<key>extends|base):(?P<space>\s*)(?P<value>[^#\n]*?)"
                          r"(?P<rest>\s*(#.*)?)$", re.M)


def presets_root() -> Path | None:
    """The directory that holds ``configs/`` (and ``workloads/``), or None."""
    for root in (_PACKAGE_DIR / "_presets", _PACKAGE_DIR.parent):
        if (root / "configs").is_dir():
            return root
    return None


def _first_comment(path: Path) -> str:
    """The text of the file's first ``#`` comment line, the preset's description."""
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            return stripped.lstrip("#").strip()
        if stripped:
            break
    return ""


def list_presets() -> list[tuple[str, str]]:
    """Every bundled YAML preset as ``(path relative to the presets root, description)``,
    sorted by path."""
    root = presets_root()
    if root is None:
        return []
    found = []
    for folder in ("configs", "workloads"):
        for path in sorted((root / folder).rglob("*.yaml")):
            found.append((path.relative_to(root).as_posix(), _first_comment(path)))
    return found


def preset_name(relative: str) -> str:
    """The short name of a bundled preset from its `list_presets` path.

    >>> preset_name("configs/paper/llama3_8b_decode.yaml"), preset_name("workloads/gpt2.yaml")
    ('paper/llama3_8b_decode', 'gpt2')
    """
    stem = relative.removesuffix(".yaml")
    for folder in ("configs/", "workloads/"):
        if stem.startswith(folder):
            return stem[len(folder):]
    return stem


def _bundled(name: str) -> Path | None:
    """The bundled file ``name`` denotes (``configs/``-relative or root-relative,
    ``.yaml`` optional), or None."""
    root = presets_root()
    if root is None or not name or Path(name).is_absolute():
        return None
    for base in (root / "configs", root):
        candidate = base / name
        for path in (candidate, candidate.with_name(candidate.name + ".yaml")):
            if path.suffix in (".yaml", ".yml") and path.is_file():
                return path.resolve()
    return None


def resolve_config_name(config: Path) -> Path:
    """``config`` itself when it exists (or names no bundled preset); otherwise the
    bundled preset it names.

    >>> resolve_config_name(Path("flashnorm_toy")).as_posix().endswith("configs/flashnorm_toy.yaml")
    True
    """
    if config.exists():
        return config
    return _bundled(config.as_posix()) or config


def _rewrite_parents(text: str, source: Path, root: Path) -> str:
    """``text`` of ``source`` with every ``extends:``/``base:`` entry made to work
    from any folder: a bundled config as its ``configs/``-relative path (which
    `sim.config.files` finds in the presets), anything else as an absolute path."""
    configs = (root / "configs").resolve()

    def portable(entry: str, key: str) -> str:
        target = (source.parent / entry).resolve()
        if key == "extends" and target.is_relative_to(configs):
            return target.relative_to(configs).as_posix()
        return target.as_posix()

    def line(match: re.Match[str]) -> str:
        value = match["value"].strip()
        if value.startswith("[") and value.endswith("]"):
            entries = [e.strip().strip("'\"") for e in value[1:-1].split(",") if e.strip()]
            new = "[" + ", ".join(portable(e, match["key"]) for e in entries) + "]"
        elif value:
            new = portable(value.strip("'\""), match["key"])
        else:
            return match[0]
        return f"{match['key']}:{match['space'] or ' '}{new}{match['rest']}"

    return _PARENT_LINE.sub(line, text)


def copy_preset(name: str, dest: Path) -> Path:
    """Copy the bundled preset ``name`` to ``dest`` (a folder: its file name kept).

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    ConfigError
        ``NAME: ...`` for a name that is no bundled preset (the message says
        where to find them), ``DEST: ...`` if the file exists (never
        overwritten) or cannot be written.
    """
    root = presets_root()
    source = _bundled(name)
    if source is None or root is None or not source.is_relative_to(root.resolve()):
        raise ConfigError(f"NAME: no bundled config {name!r} (imcsim list shows the names)")
    target = dest / source.name if dest.is_dir() else dest
    text = _rewrite_parents(source.read_text(encoding="utf-8"), source, root.resolve())
    try:
        handle = target.open("x", encoding="utf-8")  # "x": refuse to overwrite
    except FileExistsError:
        raise ConfigError(f"DEST: {target} exists; not overwritten (remove it or name "
                          "another file)") from None
    except OSError as exc:
        raise ConfigError(f"DEST: cannot write {target}: {exc.strerror}") from None
    try:
        with handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException as exc:  # nothing half-written
        target.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise ConfigError(f"DEST: cannot write {target}: {exc.strerror}") from None
        raise
    return target
