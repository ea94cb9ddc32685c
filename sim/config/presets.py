"""Where the bundled presets (``configs/`` and ``workloads/``) live.

An installed wheel carries them inside the package as ``sim/_presets``; a source
checkout (editable install or ``PYTHONPATH``) has them at the repository root.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["list_presets", "presets_root"]

_PACKAGE_DIR = Path(__file__).resolve().parents[1]  # the sim package


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
