"""One pydantic validation error as one line: ``key.path: problem``.

Shared by the run config (`sim.config`) and the sweep spec (`sim.sweep.spec`);
each handles its own special cases (union tags, axis shorthands) first.

Examples
--------
>>> describe_error({"type": "greater_than", "loc": ("lanes",), "msg": "",
...                 "input": -4, "ctx": {"gt": 0}}, "machine.simd.lanes")
'machine.simd.lanes: must be > 0, got -4'
>>> describe_error({"type": "extra_forbidden", "loc": ("lane",), "msg": "", "input": 1},
...                "machine.simd.lane", ["lanes", "op_cycles"])
"machine.simd.lane: unknown key (did you mean 'lanes'?)"
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["describe_error"]

_BOUNDS = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<",
           "less_than_equal": "<="}
_EXPECTED = {"int": "an integer", "float": "a number", "bool": "true or false",
             "string": "a string", "model": "a mapping", "dict": "a mapping", "list": "a list"}


def describe_error(error: Mapping[str, Any], path: str, known_keys: Sequence[str] = ()) -> str:
    """``path: problem`` for one entry of ``ValidationError.errors()``.

    ``path`` is the dotted key the caller derived from ``error["loc"]``;
    ``known_keys`` are the valid keys of the section, for a did-you-mean hint
    on an unknown key.
    """
    kind, ctx, got = error["type"], error.get("ctx", {}), error.get("input")
    msg = str(error["msg"]).removeprefix("Value error, ")
    if kind == "extra_forbidden":
        hint = difflib.get_close_matches(str(error["loc"][-1]), list(known_keys), n=1)
        return f"{path}: unknown key" + (f" (did you mean {hint[0]!r}?)" if hint else "")
    if kind == "missing":
        return f"{path}: required key is missing"
    if kind == "finite_number":
        return f"{path}: must be a finite number, got {got!r}"
    if kind == "too_short":
        return f"{path}: must be a non-empty list"
    if kind == "value_error":
        return f"{path}: {msg}"
    if kind in _BOUNDS:
        return f"{path}: must be {_BOUNDS[kind]} {next(iter(ctx.values()))}, got {got!r}"
    if kind in ("enum", "literal_error"):
        return f"{path}: must be one of {ctx.get('expected')}, got {got!r}"
    family = kind.split("_")[0]
    if family in _EXPECTED:
        return f"{path}: must be {_EXPECTED[family]}, got {got!r}"
    return f"{path}: {msg[:1].lower()}{msg[1:]}, got {got!r}"
