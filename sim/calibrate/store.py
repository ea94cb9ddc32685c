"""A calibration folder's evaluation cache, so a killed calibration resumes.

Every evaluation (a backend and a parameter point -> the targets' metrics) is
appended to ``evaluations.jsonl`` in one ``write`` and fsync'd, keyed by
``point_id`` (a hash of the backend and the point). ``--resume`` replays the
same deterministic optimiser and serves every point it asks for from this
cache, so nothing already evaluated is recomputed and the result is the one an
uninterrupted run gives. A kill can leave at most a torn last line, which is
dropped (its point is evaluated again).

``calibration.manifest.json`` records the spec's identity and its hash
(`sim.calibrate.spec.Calibration.identity`: targets with their configs'
contents, parameters and ranges, budget, seed, backends): ``--resume`` into a
folder of another spec is refused with one line, and so is a fresh run into a
folder that already holds evaluations (without ``--resume``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from sim.errors import ConfigError
from sim.sweep.spec import short_hash
from sim.sweep.store import read_jsonl

__all__ = ["CACHE_NAME", "MANIFEST_NAME", "EvaluationCache", "point_id"]

CACHE_NAME = "evaluations.jsonl"
MANIFEST_NAME = "calibration.manifest.json"


def point_id(backend: str, point: dict[str, Any]) -> str:
    """The cache key of ``point`` on ``backend``.

    >>> point_id("analytic", {"a": 1}) == point_id("analytic", {"a": 1})
    True
    >>> point_id("analytic", {"a": 1}) == point_id("des", {"a": 1})
    False
    """
    return short_hash({"backend": backend, "point": point})


class EvaluationCache:
    """The evaluations of one calibration folder (read on open, appended as they come).

    Parameters
    ----------
    out_dir : Path
        The calibration's folder (created if needed).
    identity : dict
        The spec's identity (`Calibration.identity`).
    resume : bool
        Whether evaluations already in the folder may be reused.

    Raises
    ------
    ConfigError
        A folder of another spec, evaluations without ``--resume``, or a
        ``--resume`` into a non-empty folder that holds no calibration.
    """

    def __init__(self, out_dir: Path, identity: dict[str, Any], resume: bool) -> None:
        self.path = out_dir / CACHE_NAME
        manifest = out_dir / MANIFEST_NAME
        spec_hash = short_hash(identity)
        if out_dir.is_dir() and any(out_dir.iterdir()):
            self._check(out_dir, manifest, spec_hash, resume)
        out_dir.mkdir(parents=True, exist_ok=True)
        if not manifest.exists():
            manifest.write_text(json.dumps({"spec_hash": spec_hash, "identity": identity},
                                           indent=2, sort_keys=True, default=str) + "\n",
                                encoding="utf-8")
        rows, clean = read_jsonl(self.path)
        self.entries: dict[str, dict[str, Any]] = {r["point_id"]: r for r in rows}
        if not clean:  # rewrite without the torn line before appending after it
            text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows)
            tmp = self.path.with_name(f".{CACHE_NAME}.tmp")
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, self.path)
        self.reused = 0  # evaluations served from the folder this run
        self.computed = 0

    @staticmethod
    def _check(out_dir: Path, manifest: Path, spec_hash: str, resume: bool) -> None:
        if not manifest.exists():
            if resume:
                raise ConfigError(f"--resume: {out_dir} holds no calibration (no "
                                  f"{MANIFEST_NAME}); choose another --out")
            return
        try:
            recorded = json.loads(manifest.read_text(encoding="utf-8"))["spec_hash"]
        except (OSError, ValueError, KeyError, TypeError):
            raise ConfigError(f"--out: {manifest} is not a calibration manifest; choose "
                              "another --out") from None
        if recorded != spec_hash:
            raise ConfigError(f"--out: {out_dir} holds a calibration of another spec (or of "
                              "edited configs); choose another --out")
        if not resume and (out_dir / CACHE_NAME).exists():
            raise ConfigError(f"--out: {out_dir} already holds this calibration's "
                              "evaluations; pass --resume to continue it or choose another "
                              "--out")

    def get(self, backend: str, point: dict[str, Any]) -> dict[str, Any] | None:
        """The cached record of ``point`` on ``backend``, if any."""
        found = self.entries.get(point_id(backend, point))
        if found is not None:
            self.reused += 1
        return found

    def put(self, backend: str, point: dict[str, Any], record: dict[str, Any]) -> None:
        """Append ``record`` (metrics and error) of ``point`` and fsync it."""
        row = {"point_id": point_id(backend, point), "backend": backend, "point": point,
               **record}
        data = (json.dumps(row, sort_keys=True) + "\n").encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            while data:
                data = data[os.write(fd, data):]
            os.fsync(fd)
        finally:
            os.close(fd)
        self.entries[row["point_id"]] = row
        self.computed += 1
