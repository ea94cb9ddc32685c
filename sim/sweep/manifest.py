"""A sweep folder's manifest: which spec it holds, so ``--resume`` cannot mix two.

``sweep.manifest.json`` records the sweep's identity (`identity`: strategies,
mode, backend, overrides, every axis's values, and a hash of the resolved
points, which also covers the base config's contents) and its ``spec_hash``.
`check_resume` refuses, before anything is written, a ``--resume`` into a
folder whose manifest names another spec, naming the first difference, or
into a non-empty folder that holds no sweep at all. The base config's path is
recorded but not compared: a moved checkout resumes as long as the points are
the same.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from sim.errors import ConfigError
from sim.sweep.spec import (
    SweepPoint,
    SweepSpec,
    axis_identity,
    axis_values,
    combinations,
    short_hash,
)
from sim.sweep.spec_modes import QUASI_MODES

__all__ = ["MANIFEST_NAME", "check_resume", "identity", "manifest_text", "resolved_spec_yaml"]

MANIFEST_NAME = "sweep.manifest.json"
_RESULTS_NAME = "results.jsonl"  # a folder from before manifests: its rows are checked


def identity(spec: SweepSpec, points: list[SweepPoint]) -> dict[str, Any]:
    """What makes two sweeps the same sweep (JSON data)."""
    return {
        "strategies": [s.value for s in spec.strategies],
        "mode": spec.mode,
        "backend": spec.backend,
        "overrides": list(spec.overrides),
        "axes": {k: axis_identity(a, k) for k, a in spec.axes.items()},
        "points": short_hash(sorted(p.config_id for p in points)),
        # the sampling and search modes' own keys, only when set (older manifests match)
        **{k: v for k, v in (("samples", spec.samples), ("seed", spec.seed)) if v is not None},
        **({"search": spec.search.model_dump()} if spec.search is not None else {}),
    }


def resolved_spec_yaml(spec: SweepSpec, base: Path) -> str:
    """The spec with its base made absolute and every axis as its list of values
    (a sobol / latin_hypercube sweep as the equal ``zip`` of its points' values; a
    search keeps its bounds and its search section)."""
    data: dict[str, Any] = {
        "base": str(base),
        "strategies": [s.value for s in spec.strategies],
        "mode": "zip" if spec.mode in QUASI_MODES else spec.mode,
        "backend": spec.backend,
        "overrides": list(spec.overrides),
    }
    if spec.mode in QUASI_MODES:
        rows = combinations(spec)
        data["axes"] = {k: {"values": [r[k] for r in rows]} for k in spec.axes}
    elif spec.search is not None:
        data["axes"] = {k: a.model_dump(exclude_none=True) for k, a in spec.axes.items()}
        data["search"] = spec.search.model_dump(exclude_none=True)
    else:
        data["axes"] = {k: {"values": axis_values(a, k)} for k, a in spec.axes.items()}
    return yaml.safe_dump(data, sort_keys=False)


def manifest_text(ident: dict[str, Any], base: Path) -> str:
    """The manifest file's text."""
    return json.dumps({"spec_hash": short_hash(ident), "base": str(base), "identity": ident},
                      indent=2) + "\n"


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _difference(there: dict[str, Any], here: dict[str, Any]) -> str:
    """The first key where two identities differ, as ``key: A there, B here``."""
    for key in ("strategies", "mode", "backend", "overrides", "samples", "seed", "search"):
        if there.get(key) != here.get(key):
            return f"{key}: {_short(there.get(key))} there, {_short(here.get(key))} here"
    axes_there, axes_here = there.get("axes") or {}, here.get("axes") or {}
    for key in sorted({*axes_there, *axes_here}):
        if key not in axes_here:
            return f"axes.{key}: an axis there, not here"
        if key not in axes_there:
            return f"axes.{key}: an axis here, not there"
        if axes_there[key] != axes_here[key]:
            return f"axes.{key}: {_short(axes_there[key])} there, {_short(axes_here[key])} here"
    return "the base config resolves to other points (was it edited?)"


def check_resume(out_dir: Path, resume: bool, ident: dict[str, Any]) -> None:
    """Refuse ``--resume`` into a folder that holds another sweep or none.

    Raises
    ------
    ConfigError
        ``--resume: FOLDER holds ...`` naming the first difference.
    """
    if not resume or not out_dir.is_dir() or not any(out_dir.iterdir()):
        return
    path = out_dir / MANIFEST_NAME
    if not path.exists():
        if (out_dir / _RESULTS_NAME).exists():
            return  # written before manifests: the result store checks its rows
        raise ConfigError(f"--resume: {out_dir} holds no sweep (no {MANIFEST_NAME} or "
                          f"{_RESULTS_NAME}); choose another --out")
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
        there = stored["identity"]
        recorded_hash = stored["spec_hash"]
    except (OSError, ValueError, KeyError, TypeError):
        raise ConfigError(f"--resume: {path} is not a sweep manifest; choose another "
                          "--out") from None
    if recorded_hash == short_hash(ident) and there == ident:
        return
    raise ConfigError(f"--resume: {out_dir} holds a sweep of another spec "
                      f"({_difference(there, ident)}); choose another --out")
