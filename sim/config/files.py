"""Config files: YAML mappings, ``extends:`` chains and ``--set`` overrides.

Unvalidated trees only; `sim.config` validates them. Any file may start with
``extends: PATH`` (or a list of paths): the named files are loaded first, in
order, and this file's keys are merged on top (mappings merge key by key, any
other value replaces). ``PATH`` is looked up next to the extending file, then
in the bundled ``configs/`` presets. ``a.b.c=VALUE`` overrides parse ``VALUE``
as YAML, so ``4`` is an integer, ``true`` a boolean and ``[1, 2]`` a list.
Every problem is a one-line `ConfigError`.

Parsing is bounded (`load_yaml_text`): a file above `MAX_YAML_BYTES` is refused
before it is parsed; aliases may bring in at most `MAX_ALIAS_NODES` nodes in
all (an "alias bomb" of nested anchors is refused while it is read, not after
it was expanded), an alias inside its own anchor is refused, nesting deeper
than `MAX_YAML_DEPTH` is refused, and a key that appears twice in one mapping
is an error naming the key and its line (a ``<<:`` merge may still be
overridden by the mapping's own keys).
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml

from sim.config.presets import presets_root
from sim.errors import ConfigError

__all__ = ["KEY_PATH", "MAX_ALIAS_NODES", "MAX_YAML_BYTES", "MAX_YAML_DEPTH", "apply_overrides",
           "deep_merge", "load_tree", "load_yaml_text", "parse_override", "read_yaml_mapping"]

#: A dotted key path like ``machine.simd.lanes``.
KEY_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


#: Largest config or spec file read (bytes); the bundled ones are a few kB.
MAX_YAML_BYTES = 1 << 20
#: Nodes that all aliases of one document may bring in together (an alias of a
#: 3-element list costs 4: the list and its elements).
MAX_ALIAS_NODES = 10_000
#: Deepest nesting of sequences and mappings in one document.
MAX_YAML_DEPTH = 64

_MERGE_TAG = "tag:yaml.org,2002:merge"


class _Refused(yaml.YAMLError):
    """A document the bounded loader will not build (``problem`` says why)."""

    def __init__(self, problem: str, mark: Any) -> None:
        super().__init__(problem)
        self.problem, self.problem_mark = problem, mark


def _expanded_nodes(node: yaml.Node, sizes: dict[int, int]) -> int:
    """Nodes in ``node`` with every alias expanded (memoized by node identity)."""
    known = sizes.get(id(node))
    if known is not None:
        return known
    if isinstance(node, yaml.SequenceNode):
        total = 1 + sum(_expanded_nodes(child, sizes) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        total = 1 + sum(_expanded_nodes(k, sizes) + _expanded_nodes(v, sizes)
                        for k, v in node.value)
    else:
        total = 1
    sizes[id(node)] = total
    return total


class _BoundedLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` with bounded aliases and nesting and no duplicate keys."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._alias_nodes = 0
        self._depth = 0
        self._open_anchors: set[str] = set()
        self._sizes: dict[int, int] = {}

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        anchor = getattr(event, "anchor", None)
        if isinstance(event, yaml.AliasEvent):
            if anchor in self._open_anchors:
                raise _Refused(f"alias *{anchor} inside its own anchor", event.start_mark)
            node = self.anchors.get(anchor) if anchor is not None else None
            if node is not None:
                self._alias_nodes += _expanded_nodes(node, self._sizes)
                if self._alias_nodes > MAX_ALIAS_NODES:
                    raise _Refused(f"aliases expand to more than {MAX_ALIAS_NODES} nodes; "
                                   "write the values out", event.start_mark)
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > MAX_YAML_DEPTH:
            raise _Refused(f"nested deeper than {MAX_YAML_DEPTH} levels", event.start_mark)
        if anchor is not None:
            self._open_anchors.add(anchor)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1
            self._open_anchors.discard(anchor or "")

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == _MERGE_TAG:
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                except TypeError:  # an unhashable key: the base class reports it
                    continue
                if duplicate:
                    raise _Refused(f"duplicate key {key!r}", key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_yaml_text(text: str) -> Any:
    """Parse one YAML document with the bounds of the module docstring.

    Raises
    ------
    yaml.YAMLError
        Bad syntax, or a document past a bound (its ``problem`` and
        ``problem_mark`` say which and where).
    """
    loader = _BoundedLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """`` at line L, column C: problem`` of a YAML error."""
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = getattr(exc, "problem", None) or "syntax error"
    return f"{where}: {problem}"


def _read_bounded(path: Path) -> str:
    """The text of ``path``, refused past `MAX_YAML_BYTES` before it is parsed
    (read with a limit, so ``/dev/zero`` is refused too)."""
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_YAML_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, expected a YAML file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {' '.join(str(exc).split())}") from None
    if len(data) > MAX_YAML_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_YAML_BYTES} bytes, the most a config "
                          "file may hold")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: cannot read: not UTF-8 text ({exc.reason} at byte "
                          f"{exc.start})") from None


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """Parse one YAML file that must hold a mapping (an empty file is ``{}``),
    within the bounds of the module docstring."""
    text = _read_bounded(path)
    try:
        data = load_yaml_text(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML{_yaml_problem(exc)}") from None
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
    if len(raw) > MAX_YAML_BYTES:
        raise ConfigError(f"--set {key}: value longer than {MAX_YAML_BYTES} bytes")
    try:
        value = load_yaml_text(raw) if raw.strip() else ""
    except _Refused as exc:
        raise ConfigError(f"--set {key}: value refused: {exc.problem}") from None
    except yaml.YAMLError:
        raise ConfigError(f"--set {key}: value {raw[:80]!r} is not valid YAML") from None
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
