"""Config files: YAML mappings, ``extends:`` chains and ``--set`` overrides.

Unvalidated trees only; `sim.config` validates them. Any file may start with
``extends: PATH`` (or a list of paths): the named files are loaded first, in
order, and this file's keys are merged on top (mappings merge key by key, any
other value replaces). ``PATH`` is looked up next to the extending file, then
in the bundled ``configs/`` presets. ``a.b.c=VALUE`` overrides parse ``VALUE``
as YAML, so ``4`` is an integer, ``true`` a boolean and ``[1, 2]`` a list.
Every problem is a one-line `ConfigError`.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml

from sim.config.presets import presets_root
from sim.errors import ConfigError

__all__ = ["KEY_PATH", "apply_overrides", "deep_merge", "load_tree", "parse_override",
           "read_yaml_mapping"]

#: A dotted key path like ``machine.simd.lanes``.
KEY_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """Parse one YAML file that must hold a mapping (an empty file is ``{}``)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, expected a YAML file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise ConfigError(f"{path}: invalid YAML{where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    return data


def _resolve_extends(name: Any, base_dir: Path) -> Path:
    """Find the file named by an ``extends:`` entry."""
    if not isinstance(name, str) or not name:
        raise ConfigError(f"extends: must be a file path or a list of them, got {name!r}")
    candidates = [base_dir / name]
    root = presets_root()
    if root is not None:
        candidates.append(root / "configs" / name)
    for candidate in list(candidates):
        if candidate.suffix not in (".yaml", ".yml"):
            candidates.append(candidate.with_name(candidate.name + ".yaml"))
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    raise ConfigError(f"extends: cannot find {name!r} next to {base_dir} or in the presets")


def deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """Mappings merge key by key; any other value in ``top`` replaces ``base``'s."""
    merged = copy.deepcopy(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def load_tree(path: str | Path, _chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Load a YAML config with its ``extends:`` chain merged, unvalidated.

    Raises
    ------
    ConfigError
        Missing file, bad YAML, a non-mapping document, or a circular chain.
    """
    resolved = Path(path).resolve()
    if resolved in _chain:
        names = " -> ".join(p.name for p in (*_chain, resolved))
        raise ConfigError(f"extends: circular chain {names}")
    data = read_yaml_mapping(Path(path))
    parents = data.pop("extends", None)
    if parents is None:
        return data
    if isinstance(parents, str):
        parents = [parents]
    if not isinstance(parents, list):
        raise ConfigError(f"extends: must be a file path or a list of them, got {parents!r}")
    merged: dict[str, Any] = {}
    for parent in parents:
        parent_path = _resolve_extends(parent, Path(path).parent)
        merged = deep_merge(merged, load_tree(parent_path, (*_chain, resolved)))
    return deep_merge(merged, data)


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``a.b.c=VALUE`` into its key path and its YAML-parsed value.

    >>> parse_override("machine.simd.lanes=64")
    (['machine', 'simd', 'lanes'], 64)
    >>> parse_override("strategy=deferred")
    (['strategy'], 'deferred')
    """
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep:
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, e.g. machine.simd.lanes=64")
    if not KEY_PATH.match(key):
        raise ConfigError(f"--set {text!r}: {key!r} is not a dotted key path like a.b.c")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        raise ConfigError(f"--set {key}: value {raw!r} is not valid YAML") from None
    return key.split("."), value


def apply_overrides(tree: dict[str, Any], overrides: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Return a copy of ``tree`` with every ``KEY=VALUE`` override set."""
    result = copy.deepcopy(tree)
    for text in overrides:
        parts, value = parse_override(text)
        node = result
        for depth, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                where = ".".join(parts[: depth + 1])
                raise ConfigError(f"--set {'.'.join(parts)}: {where} is a value, not a section")
            node = child
        node[parts[-1]] = value
    return result
