"""Axis values of a results table: their order and short labels, and what a plot averages.

A sweep's CSV writes a mapping-valued axis (``machine.network.noc: {values:
[{bytes_per_cycle: 32, latency_cycles: 1}, ...]}``) as its JSON text. Drawn
raw, such labels are long and ordered as text (``..16}`` before ``..4}``).
`ordered_labels` orders the values of one axis numerically where it can and
labels a mapping by the keys that differ between the values only
(``latency_cycles=4``); `condition_columns` says which columns describe a run
(and so are averaged over when a plot does not name them).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["averaged_columns", "condition_columns", "number", "ordered_labels", "sort_key"]

#: Columns that name a run's conditions although they are not dotted config keys.
_CONDITIONS = ("strategy", "backend")


def number(text: str | None) -> float | None:
    """``text`` as a finite float, else None (empty cells, words, nan, inf)."""
    if text is None or text.strip() == "":
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def sort_key(value: Any) -> tuple[int, float, str]:
    """Numbers by value first, then anything else by its text.

    >>> sorted(["16", "4", "b", "1"], key=sort_key)
    ['1', '4', '16', 'b']
    """
    parsed = number(value) if isinstance(value, str) else (
        float(value) if isinstance(value, int | float) and not isinstance(value, bool)
        else None)
    return (0, parsed, "") if parsed is not None else (1, 0.0, str(value))


def _mapping(text: str) -> dict[str, Any] | None:
    if not text.startswith("{"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _short(value: Any) -> str:
    return json.dumps(value) if isinstance(value, dict | list) else str(value)


def ordered_labels(values: Iterable[str]) -> list[tuple[str, str]]:
    """The distinct ``values`` of one axis as ``(value, label)``, in plotting order.

    Mappings (JSON objects, as a sweep writes them) are labelled ``key=value``
    by the keys whose values differ among them and ordered by those values
    (numerically where they are numbers); everything else keeps its text,
    numbers first by value.

    >>> ordered_labels(['{"bw": 32, "lat": 4}', '{"bw": 32, "lat": 1}', '{"bw": 32, "lat": 16}'])
    [('{"bw": 32, "lat": 1}', 'lat=1'), ('{"bw": 32, "lat": 4}', 'lat=4'), \
('{"bw": 32, "lat": 16}', 'lat=16')]
    >>> ordered_labels(["8", "2", "x"])
    [('2', '2'), ('8', '8'), ('x', 'x')]
    """
    distinct = sorted(set(values))
    mappings = {v: _mapping(v) for v in distinct}
    if not distinct or any(m is None for m in mappings.values()):
        return [(v, v) for v in sorted(distinct, key=sort_key)]
    keys = sorted({k for m in mappings.values() if m for k in m})
    varying = [k for k in keys
               if len({_short(m.get(k)) for m in mappings.values() if m is not None}) > 1]
    shown = varying or keys

    def label(value: str) -> str:
        m = mappings[value] or {}
        return ", ".join(f"{k}={_short(m.get(k))}" for k in shown)

    def key(value: str) -> tuple[tuple[int, float, str], ...]:
        m = mappings[value] or {}
        return tuple(sort_key(m.get(k)) for k in shown)

    return [(v, label(v)) for v in sorted(distinct, key=key)]


def condition_columns(columns: Sequence[str]) -> list[str]:
    """The columns that describe a run rather than measure it: dotted config keys
    (a sweep's axes, such as ``workload.batch``) and ``strategy``/``backend``."""
    return [c for c in columns if "." in c or c in _CONDITIONS]


def averaged_columns(columns: Sequence[str], rows: Iterable[dict[str, str]],
                     shown: Sequence[str | None]) -> list[str]:
    """The condition columns not in ``shown`` that take more than one value in
    ``rows``: what a mean per shown point averages over.

    >>> rows = [{"a.b": "1", "strategy": "x"}, {"a.b": "2", "strategy": "x"}]
    >>> averaged_columns(["a.b", "strategy", "latency_us"], rows, ["latency_us"])
    ['a.b']
    """
    listed = list(rows)
    return [c for c in condition_columns(columns) if c not in shown
            and len({row.get(c) or "" for row in listed}) > 1]
