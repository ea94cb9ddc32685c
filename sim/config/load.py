"""Reading a run config: model presets, validation, one-line errors.

`load_config` reads a file (with its ``extends:`` chain), resolves a model
preset, applies ``--set`` overrides and validates; `parse_config` validates a
tree. A pydantic error becomes one `ConfigError` line naming the key path.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from sim.config.files import apply_overrides, deep_merge, load_tree, read_yaml_mapping
from sim.config.hf_import import find_hf_config
from sim.config.presets import presets_root
from sim.config.run import RunConfig
from sim.config.validation_errors import describe_error
from sim.config.workload import WORKLOAD_KINDS
from sim.errors import ConfigError

__all__ = ["load_config", "model_presets", "parse_config", "resolve_model_preset"]


def _known_keys(loc: tuple[Any, ...]) -> list[str]:
    """The valid keys of the section at ``loc`` (for did-you-mean hints)."""
    model: Any = RunConfig
    for part in loc:
        if model is RunConfig and part == "workload":
            return []  # a union: the caller passes the chosen kind's loc
        field = model.model_fields.get(part) if isinstance(part, str) else None
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


def _workload_loc(loc: tuple[Any, ...]) -> tuple[tuple[Any, ...], type[BaseModel] | None]:
    """Drop the union tag pydantic puts after ``workload`` and name the chosen model."""
    if len(loc) >= 2 and loc[0] == "workload" and loc[1] in WORKLOAD_KINDS:
        return ("workload", *loc[2:]), WORKLOAD_KINDS[loc[1]]
    return loc, None


def _section_keys(section: tuple[Any, ...], chosen: type[BaseModel] | None) -> list[str]:
    """The valid keys at ``section`` (inside the chosen workload model, if any)."""
    if chosen is None:
        return _known_keys(section)
    sub: Any = chosen
    for part in section[1:]:
        annotation = getattr(sub.model_fields.get(part), "annotation", None)
        sub = annotation if isinstance(annotation, type) else None
        if sub is None or not issubclass(sub, BaseModel):
            return []
    return list(sub.model_fields)


def _is_branch(part: Any) -> bool:
    """Whether a loc part names a branch of a union (``literal['all']``, ``list[int]``)."""
    return isinstance(part, str) and ("[" in part or part in ("int", "float", "str"))


def _first_errors(errors: list[Any]) -> tuple[Mapping[str, Any], int]:
    """The error to report and how many key paths have errors.

    A value that matches no branch of a union (``'all'`` or a list) gets one
    error per branch; they count once, and the one of the branch that is not a
    literal (the list: what a wrong list was meant to be) is reported."""
    by_stem: dict[tuple[Any, ...], list[Any]] = {}
    for error in errors:
        loc = tuple(error["loc"])
        cut = next((i for i, part in enumerate(loc) if _is_branch(part)), len(loc))
        by_stem.setdefault(loc[:cut], []).append(error)
    first = next(iter(by_stem.values()))
    chosen = next((e for e in first if e["type"] != "literal_error"), first[0])
    return {**chosen, "loc": tuple(p for p in chosen["loc"] if not _is_branch(p))}, len(by_stem)


def _describe(error: Mapping[str, Any]) -> str:
    """One pydantic error as ``key.path: problem``."""
    loc, chosen = _workload_loc(tuple(error["loc"]))
    path = ".".join(str(p) for p in loc) or "(top level)"
    kind, ctx = error["type"], error.get("ctx", {})
    if kind == "union_tag_invalid":
        return f"{path}.kind: must be one of {ctx.get('expected_tags')}, got {ctx.get('tag')!r}"
    if kind == "union_tag_not_found":
        return f"{path}.kind: required key is missing"
    keys = _section_keys(loc[:-1], chosen) if kind == "extra_forbidden" else ()
    return describe_error(error, path, keys)


def model_presets() -> dict[str, Path]:
    """Bundled model presets by name (``workloads/<name>.yaml``)."""
    root = presets_root()
    if root is None:
        return {}
    return {p.stem: p for p in sorted((root / "workloads").glob("*.yaml"))}


def resolve_model_preset(tree: dict[str, Any], base_dir: Path | None = None) -> dict[str, Any]:
    """Replace ``workload.model: NAME`` by the preset's ``model`` mapping.

    ``workload.model: {preset: NAME, ...}`` loads the preset and merges the
    given keys on top (e.g. a different ``num_layers``). A NAME ending in
    ``.json`` is a Hugging Face ``config.json`` (`sim.config.hf_import`), looked
    up in ``base_dir`` (the YAML file's folder), the working directory, then the
    presets root.
    """
    workload = tree.get("workload")
    if not isinstance(workload, dict):
        return tree
    model = workload.get("model")
    if isinstance(model, dict) and "preset" in model:
        name, extra = model["preset"], {k: v for k, v in model.items() if k != "preset"}
    elif isinstance(model, str):
        name, extra = model, {}
    else:
        return tree
    if isinstance(name, str) and name.endswith(".json"):
        base = find_hf_config(name, base_dir)
    else:
        base = _preset_model(name)
    resolved = copy.deepcopy(tree)
    resolved["workload"]["model"] = deep_merge(base, extra)
    return resolved


def _preset_model(name: Any) -> dict[str, Any]:
    """The ``model`` mapping of the bundled preset ``name``."""
    presets = model_presets()
    if name not in presets:
        choices = ", ".join(presets) or "none bundled"
        raise ConfigError(f"workload.model: unknown model {name!r} (choose from {choices})")
    model: dict[str, Any] = read_yaml_mapping(presets[name]).get("model", {})
    return model


def parse_config(tree: dict[str, Any]) -> RunConfig:
    """Validate a merged config tree into a `RunConfig`.

    Raises
    ------
    ConfigError
        One line for the first problem, with a count of any others.
    """
    tree = resolve_model_preset(tree)
    try:
        return RunConfig.model_validate(tree)
    except ValidationError as exc:
        first, count = _first_errors(exc.errors())
        more = f" (and {count - 1} more problems)" if count > 1 else ""
        raise ConfigError(_describe(first) + more) from None


def load_config(
    path: str | Path,
    overrides: list[str] | tuple[str, ...] = (),
) -> RunConfig:
    """Load, merge, override and validate a run config file."""
    base_dir = Path(path).parent
    tree = apply_overrides(resolve_model_preset(load_tree(path), base_dir), overrides)
    return parse_config(resolve_model_preset(tree, base_dir))
