"""Figures of a sweep's results table (CSV with arbitrary columns).

A results table has one row per run; its columns are whatever the sweep wrote:
axis keys such as ``workload.batch``, ``strategy``, and result fields such as
``latency_us``, ``speedup_vs_serialized``, ``normalization_comm_share``. Rows
whose x or y cell is empty or not a number (failed points) are skipped.
Where several rows share an (x, hue) point, the mean of y is drawn (that is,
columns not named are averaged over, and the title says which:
`sim.report.plot_axes.averaged_columns`). Without a hue, ``strategy`` is the
hue (`default_hue`), so strategies are never averaged together silently.

Units in axis labels follow the column names: ``*_cycles`` cycles, ``*_us``
µs, ``*share*``/``*fraction*``/``*utilization*`` % (values multiplied by
100), ``speedup*`` x.
"""

from __future__ import annotations

import csv
import re
import textwrap
from collections.abc import Sequence
from pathlib import Path

from sim.errors import ConfigError
from sim.report.plot_axes import averaged_columns, number, ordered_labels
from sim.report.plot_common import render

__all__ = ["ResultsTable", "axis_label", "baseline_of", "default_hue", "heatmap_figure",
           "line_figure", "read_results"]

ResultsTable = tuple[list[str], list[dict[str, str]]]


def read_results(path: Path) -> ResultsTable:
    """The columns and rows of a results CSV (a directory means its ``results.csv``).

    Raises
    ------
    ConfigError
        If the file is missing, unreadable, or has no header.
    """
    if path.is_dir():
        path = path / "results.csv"
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            columns = list(reader.fieldnames or [])
    except OSError as exc:
        raise ConfigError(f"RESULTS: cannot read {path}: {exc.strerror}") from None
    except (csv.Error, UnicodeDecodeError) as exc:
        raise ConfigError(f"RESULTS: {path} is not a CSV file: {exc}") from None
    if not columns:
        raise ConfigError(f"RESULTS: {path} has no header row")
    return columns, rows


def _scale(column: str) -> float:
    return 100.0 if re.search(r"share|fraction|utilization", column) else 1.0


def axis_label(column: str) -> str:
    """``column`` with its unit, inferred from the name.

    >>> axis_label("latency_us"), axis_label("normalization_comm_share")
    ('latency_us (µs)', 'normalization_comm_share (%)')
    >>> axis_label("speedup_vs_serialized"), axis_label("workload.batch")
    ('speedup_vs_serialized (x)', 'workload.batch')
    >>> axis_label("tokens_per_s")
    'tokens_per_s (tokens/s)'
    """
    if column.endswith("_per_s"):
        return f"{column} ({column.rsplit('.', 1)[-1].removesuffix('_per_s')}/s)"
    if column.endswith("_cycles") or column == "cycles":
        return f"{column} (cycles)"
    if column.endswith("_us"):
        return f"{column} (µs)"
    if column.endswith("_uj"):
        return f"{column} (µJ)"
    if column.endswith("_w"):
        return f"{column} (W)"
    if column.endswith("tokens_per_joule"):
        return f"{column} (tokens/J)"
    if _scale(column) != 1.0:
        return f"{column} (%)"
    if column.startswith("speedup"):
        return f"{column} (x)"
    if column.endswith("_ghz"):
        return f"{column} (GHz)"
    if column.endswith("_bytes") or column == "bytes":
        return f"{column} (bytes)"
    return column


def _check_columns(columns: list[str], wanted: dict[str, str | None]) -> None:
    for option, column in wanted.items():
        if column is not None and column not in columns:
            raise ConfigError(f"{option}: unknown column {column!r} (available: "
                              f"{', '.join(columns)})")


def _means(rows: list[dict[str, str]], keys: Sequence[str], y: str
           ) -> dict[tuple[str, ...], float]:
    """Mean of numeric ``y`` per tuple of ``keys`` values (rows without a number skipped)."""
    sums: dict[tuple[str, ...], list[float]] = {}
    for row in rows:
        value = number(row.get(y))
        key = tuple(row.get(k) or "" for k in keys)
        if value is None or any(part == "" for part in key):
            continue
        entry = sums.setdefault(key, [0.0, 0.0])
        entry[0] += value * _scale(y)
        entry[1] += 1
    return {key: total / count for key, (total, count) in sums.items()}


def default_hue(columns: Sequence[str], hue: str | None, *shown: str | None) -> str | None:
    """The hue a plot uses: ``hue`` as given (``none``: no hue), else ``strategy``
    when the table has that column and no other option names it.

    >>> default_hue(["strategy", "a.b"], None, "a.b"), default_hue(["strategy"], "none")
    ('strategy', None)
    """
    if hue == "none":
        return None
    if hue is None and "strategy" in columns and "strategy" not in shown:
        return "strategy"
    return hue


#: Columns whose value for one strategy is fixed by definition, and that value:
#: serialized's speedup over itself is 1, the share of its own exposed
#: normalization communication it hides is 0.
_BY_DEFINITION: dict[str, tuple[str, float]] = {
    "speedup_vs_serialized": ("serialized", 1.0),
    "hidden_fraction": ("serialized", 0.0),
}


def baseline_of(y: str, hue: str | None) -> str | None:
    """The hue value whose ``y`` is fixed by definition (``serialized`` for
    ``speedup_vs_serialized`` and ``hidden_fraction`` by ``strategy``), whose
    line or panel is not drawn (a constant says nothing).

    >>> baseline_of("speedup_vs_serialized", "strategy"), baseline_of("latency_us", "strategy")
    ('serialized', None)
    >>> baseline_of("hidden_fraction", "strategy"), baseline_of("hidden_fraction", None)
    ('serialized', None)
    """
    if hue == "strategy" and y in _BY_DEFINITION:
        return _BY_DEFINITION[y][0]
    return None


def _defined_value(y: str) -> float:
    """What the baseline's ``y`` is by definition, on the plot's scale."""
    return _BY_DEFINITION[y][1] * _scale(y)


def _defined_text(y: str) -> str:
    return f"{_defined_value(y):g}" + ("%" if _scale(y) != 1 else "")


def _used(rows: list[dict[str, str]], y: str, keys: Sequence[str]) -> list[dict[str, str]]:
    """The rows a mean of ``y`` over ``keys`` draws on."""
    return [r for r in rows if number(r.get(y)) is not None and all(r.get(k) for k in keys)]


def _note(columns: list[str], rows: list[dict[str, str]], shown: Sequence[str | None],
          y: str, baseline: str | None, left_out: str) -> str:
    """What a panel's title must add: the columns it averaged over, the baseline
    it left out."""
    parts = []
    averaged = averaged_columns(columns, rows, shown)
    if averaged:
        parts.append("mean over " + ", ".join(averaged))
    if baseline is not None:
        parts.append(f"{baseline} = {_defined_text(y)} by definition: {left_out}")
    return textwrap.fill(" · ".join(parts), 70) if parts else ""


def line_figure(table: ResultsTable, x: str, ys: Sequence[str], hue: str | None = None,
                *, stem: str | None = None) -> dict[str, bytes]:
    """One panel per y column: y against x, one line per hue value (mean over the rest).

    A numeric x is placed by value (log scale when it spans more than a factor
    of 16 and is positive); otherwise categories in their order and with the
    short labels of `sim.report.plot_axes.ordered_labels`. A title names the
    run conditions it averaged over (`sim.report.plot_axes.averaged_columns`);
    a baseline fixed by definition (serialized's speedup 1, its hidden fraction
    0) is the reference line, not a line.

    Raises
    ------
    ConfigError
        ``--x``/``--y``/``--hue``: an unknown column (the message lists them), or
        no row with numbers in the named columns.
    """
    import matplotlib.pyplot as plt

    columns, rows = table
    _check_columns(columns, {"--x": x, "--hue": hue})
    for column in ys:
        _check_columns(columns, {"--y": column})
    fig, axes = plt.subplots(1, len(ys), figsize=(6.5 * len(ys), 4.8), squeeze=False)
    for ax, y in zip(axes[0], ys, strict=True):
        keys = (x, hue) if hue else (x,)
        means = _means(rows, keys, y)
        if not means:
            raise ConfigError(f"--y: column {y!r} has no numeric values where {x!r} is set")
        labels = ordered_labels(k[0] for k in means)
        x_values = [v for v, _ in labels]
        numbers = [number(v) for v in x_values]
        numeric = all(n is not None for n in numbers)
        position = {v: (n if numeric and n is not None else float(k))
                    for k, (v, n) in enumerate(zip(x_values, numbers, strict=True))}
        baseline = baseline_of(y, hue)
        hue_labels = ordered_labels(row.get(hue) or "" for row in rows
                                    if row.get(hue)) if hue else [("", "")]
        for k, (h, shown) in enumerate(hue_labels):  # colours by hue value: alike in all panels
            points = [(position[v], means[(v, h) if hue else (v,)]) for v in x_values
                      if ((v, h) if hue else (v,)) in means]
            if h != baseline and points:
                ax.plot([p[0] for p in points], [p[1] for p in points], marker="o",
                        color=f"C{k % 10}", label=f"{hue} = {shown}" if hue else y)
        if numeric and all(float(p).is_integer() for p in position.values()):
            ax.xaxis.get_major_locator().set_params(integer=True)
        if not numeric:
            ax.set_xticks([position[v] for v in x_values], [t for _, t in labels],
                          rotation=20, ha="right")
        elif (min(position.values()) > 0
              and max(position.values()) / min(position.values()) > 16):
            ax.set_xscale("log", base=2)
        if baseline is not None or y.startswith("speedup"):
            level = _defined_value(y) if baseline is not None else 1.0
            ax.axhline(level, color="black", linewidth=0.6,
                       label=f"{baseline} (baseline)" if baseline else None)
        ax.set_xlabel(axis_label(x))
        ax.set_ylabel(axis_label(y))
        note = _note(columns, _used(rows, y, keys), (x, hue), y, baseline, "the black line")
        ax.set_title(f"{y} vs {x}" + (f" by {hue}" if hue else "") + (f"\n{note}" if note
                                                                     else ""), fontsize=9)
        ax.grid(linewidth=0.3, alpha=0.6)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return render(fig, stem or _stem("line", x, ys, hue))


def heatmap_figure(table: ResultsTable, x: str, y: str, value: str, hue: str | None = None,
                   *, stem: str | None = None) -> dict[str, bytes]:
    """A heatmap of ``value`` over (x, y), averaged over other columns; one panel per hue.

    Cells without data are blank; every cell with data shows its number. Axes
    are ordered and labelled as in `line_figure`; the titles name what was
    averaged over; a baseline hue fixed by definition (`baseline_of`) gets no panel.

    Raises
    ------
    ConfigError
        An unknown column (the message lists them), or no numeric values.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    columns, rows = table
    _check_columns(columns, {"--x": x, "--heatmap": y, "--y": value, "--hue": hue})
    keys = (x, y, hue) if hue else (x, y)
    baseline = baseline_of(value, hue)
    means = {k: v for k, v in _means(rows, keys, value).items()
             if baseline is None or k[2] != baseline}
    if not means:
        raise ConfigError(f"--y: column {value!r} has no numeric values where {x!r} and "
                          f"{y!r} are set")
    x_labels = ordered_labels(k[0] for k in means)
    y_labels = ordered_labels(k[1] for k in means)
    hues = ordered_labels(k[2] for k in means) if hue else [("", "")]
    low, high = min(means.values()), max(means.values())
    fig, axes = plt.subplots(1, len(hues), figsize=(2.0 + 5.5 * len(hues), 5.2),
                             squeeze=False, layout="constrained")
    note = _note(columns, _used(rows, value, keys), keys, value, baseline, "no panel")
    images = []
    for ax, (h, shown) in zip(axes[0], hues, strict=True):
        grid = np.full((len(y_labels), len(x_labels)), np.nan)
        for (i, (yv, _)) in enumerate(y_labels):
            for (j, (xv, _)) in enumerate(x_labels):
                key = (xv, yv, h) if hue else (xv, yv)
                if key in means:
                    grid[i, j] = means[key]
                    ax.text(j, i, f"{means[key]:.3g}", ha="center", va="center", fontsize=7,
                            color="white" if means[key] < (low + high) / 2 else "black")
        images.append(ax.imshow(grid, origin="lower", aspect="auto", cmap="viridis", vmin=low,
                                vmax=high if high > low else low + 1e-9))
        ax.set_xticks(range(len(x_labels)), [t for _, t in x_labels], rotation=20, ha="right")
        ax.set_yticks(range(len(y_labels)), [t for _, t in y_labels])
        ax.set_xlabel(axis_label(x))
        ax.set_ylabel(axis_label(y))
        ax.set_title(f"{value}" + (f" · {hue} = {shown}" if hue else ""), fontsize=10)
    if note:
        fig.suptitle(note, fontsize=9)
    bar = fig.colorbar(images[-1], ax=list(axes[0]), shrink=0.9)  # hues: never empty
    bar.set_label(axis_label(value))
    return render(fig, stem or _stem("heatmap", x, [value], hue, y))


def _stem(kind: str, x: str, ys: Sequence[str], hue: str | None, other: str | None = None
          ) -> str:
    """A file-name stem from the plotted columns (unsafe characters become ``-``)."""
    parts = [kind, "_".join(ys), "vs", x] + ([other] if other else []) + (
        ["by", hue] if hue else [])
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", "_".join(parts))[:150]
