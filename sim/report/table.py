"""Text tables that fit a terminal, and the per-token figures the tables report.

`format_table` lays out rows in aligned columns; a table wider than the
width (100 columns by default) is wrapped into blocks of columns, each
repeating the first (key) column, unless ``wide`` is asked for.

`token_figures` gives the cells of what a user of a transformer asks first:
the latency per generated token (decode) or the time to the first token
(prefill), both over the whole model, and the throughput that follows
(defined once, in `sim.figures.per_token_figures`).
"""

from __future__ import annotations

from collections.abc import Sequence

from sim.figures import Figures, per_token_figures

__all__ = ["TABLE_WIDTH", "format_table", "token_figures"]

#: Columns a table may take before it wraps (the width of a narrow terminal).
TABLE_WIDTH = 100

_GAP = "  "


def _block(rows: Sequence[Sequence[str]], columns: Sequence[int]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in columns]
    return [_GAP.join(row[i].ljust(w) for i, w in zip(columns, widths, strict=True)).rstrip()
            for row in rows]


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]], *,
                 width: int = TABLE_WIDTH, wide: bool = False) -> list[str]:
    """The lines of ``header`` and ``rows`` in aligned columns.

    Unless ``wide``, the columns after the first are cut into consecutive
    blocks that each fit ``width`` characters with the first column repeated
    (a block holds at least one column, however wide); blocks are separated by
    an empty line.

    >>> format_table(("k", "a", "b"), [("x", "1", "22")], width=7)
    ['k  a', 'x  1', '', 'k  b', 'x  22']
    >>> format_table(("k", "a", "b"), [("x", "1", "22")], width=7, wide=True)
    ['k  a  b', 'x  1  22']
    """
    table = [tuple(header), *(tuple(r) for r in rows)]
    if any(len(row) != len(header) for row in table):
        raise ValueError("format_table: every row needs one cell per header column")
    if wide or len(header) <= 1:
        return _block(table, range(len(header)))
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    blocks: list[list[int]] = []
    used = width + 1  # forces a first block
    for i in range(1, len(header)):
        if used + len(_GAP) + widths[i] > width:
            blocks.append([0])
            used = widths[0]
        blocks[-1].append(i)
        used += len(_GAP) + widths[i]
    lines: list[str] = []
    for k, columns in enumerate(blocks):
        lines += ([""] if k else []) + _block(table, columns)
    return lines


def token_figures(result: Figures) -> dict[str, float | None]:
    """The table cells of a transformer result's per-token figures (empty otherwise):
    ``per_token_us`` (decode) or ``ttft_us`` (prefill), and ``tokens_per_s``, read
    from `sim.figures.per_token_figures` (the JSON's ``latency_per_token_us``,
    ``time_to_first_token_us`` and ``tokens_per_s``: one definition)."""
    figures = per_token_figures(result)
    if not figures:
        return {}
    if "latency_per_token_us" in figures:
        return {"per_token_us": figures["latency_per_token_us"],
                "tokens_per_s": figures["tokens_per_s"]}
    return {"ttft_us": figures["time_to_first_token_us"], "tokens_per_s": figures["tokens_per_s"]}
