"""What every imcsim figure shares: the Agg backend, colours, and all-or-nothing saving.

Figures are rendered to memory first (PNG at 120 dpi, SVG without a date so
the same run gives the same bytes) and written by `save_figures`: every file to
a temporary name in the target directory, then renamed into place, so a
failure leaves no half-written figure.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

from sim.errors import ConfigError

matplotlib.use("Agg")

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "CATEGORY_COLORS",
    "FORMATS",
    "NORM_COMM_COLOR",
    "render",
    "save_figures",
]

#: Output formats of every figure.
FORMATS: tuple[str, ...] = ("png", "svg")

#: Colour of each task category (matmul, SIMD, communication).
CATEGORY_COLORS: dict[str, str] = {
    "matmul": "tab:blue",
    "simd": "tab:green",
    "communication": "tab:gray",
}

#: Colour that highlights normalization collectives.
NORM_COMM_COLOR = "tab:red"


def render(fig: Figure, stem: str) -> dict[str, bytes]:
    """``{stem.png: bytes, stem.svg: bytes}`` of ``fig``; closes the figure."""
    import matplotlib.pyplot as plt

    out: dict[str, bytes] = {}
    try:
        for suffix in FORMATS:
            buffer = io.BytesIO()
            metadata = {"Date": None} if suffix == "svg" else {"Software": None}
            with matplotlib.rc_context({"svg.hashsalt": "imcsim"}):  # stable SVG ids
                fig.savefig(buffer, format=suffix, dpi=120, metadata=metadata)
            out[f"{stem}.{suffix}"] = buffer.getvalue()
    finally:
        plt.close(fig)
    return out


def save_figures(directory: Path, files: dict[str, bytes], option: str = "--out") -> list[Path]:
    """Write ``{name: bytes}`` into ``directory`` (created if needed), all or nothing.

    Returns
    -------
    list of Path
        The written files, in the order of ``files``.

    Raises
    ------
    ConfigError
        ``<option>: cannot write ...`` if the directory or a file cannot be written.
    """
    staged: list[tuple[Path, Path]] = []
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            tmp = directory / f".{name}.tmp"
            staged.append((tmp, directory / name))
            tmp.write_bytes(data)
        for tmp, final in staged:
            os.replace(tmp, final)
    except OSError as exc:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise ConfigError(f"{option}: cannot write into {directory}: {exc.strerror}") from None
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    return [final for _, final in staged]
