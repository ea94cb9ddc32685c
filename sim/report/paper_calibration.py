"""The "Calibration" section of ``reports/paper_reproduction.md``: the bundled
calibration (``configs/calibration/corsair_published.yaml``, `sim.calibrate`) run
afresh, which published figures the model meets together, with which parameter
values, and which it cannot; with its tornado figure.

``python -m sim.report.paper --calibration-only`` reruns it and replaces only this
section (`sim.report.sections.replace_section`, before "Serving" when missing); a
full report run keeps the section it finds (`carry_section`). Every figure comes
out of the calibration; the published ones are the spec's targets, quoted from
``../shared/DOMAIN.md``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from sim.report.sections import replace_section, section_lines

__all__ = ["HEADING", "SPEC", "TITLE", "carry_section", "render_calibration",
           "run_calibration_section"]

TITLE = "Calibration"
HEADING = f"## {TITLE}"
SPEC = Path("configs/calibration/corsair_published.yaml")
_STEM = "calibration_tornado"


def run_calibration_section(out: Path, spec: Path = SPEC,
                            workers: int | None = None) -> dict[str, Any]:
    """Run ``spec`` in a fresh folder (nothing reused from an earlier run), copy its
    tornado figure into ``out`` as ``calibration_tornado.png``/``.svg``; the document."""
    from sim.calibrate.run import run_calibration

    with tempfile.TemporaryDirectory(prefix="imcsim-calibration-") as tmp:
        folder = Path(tmp) / "run"
        document = run_calibration(spec, folder, workers=workers or os.cpu_count() or 1)
        out.mkdir(parents=True, exist_ok=True)
        for suffix in ("png", "svg"):
            shutil.copyfile(folder / f"tornado.{suffix}", out / f"{_STEM}.{suffix}")
    return document


def _v(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def render_calibration(document: dict[str, Any], spec: Path = SPEC) -> list[str]:
    """The section's markdown lines, every sentence computed from ``document``."""
    verify = document.get("verify") or {"backend": "-", "targets": {}}
    out = [HEADING, "",
           f"`imcsim calibrate {spec.as_posix()}` (README, Calibration): the unpublished "
           "figures below moved within their documented ranges on the fast path "
           f"({document['evaluations']} points, budget {document['budget']}, stop: "
           f"{document['stop']}), the best point checked on the {verify['backend']}. "
           "Residual: (figure − target) / tolerance; met: |residual| ≤ 1.", "",
           "| target | metric | published | fit | residual | check | met | best alone |",
           "|---|---|---|---|---|---|---|---|"]
    for t in document["targets"]:
        v = verify["targets"].get(t["name"], {})
        out.append(f"| {t['name']} | `{t['metric']}` | {t['value']:g} ± {t['tolerance']:g} | "
                   f"{_v(t['fit'])} | {t['residual']:+.2f} | {_v(v.get('value'))} | "
                   f"{'yes' if v.get('met', t['met']) else 'no'} | "
                   f"{t['best_alone_residual']:.2f} |")
    out += ["", "| parameter | fitted | bundled | range |", "|---|---|---|---|"]
    out += [f"| `{p['key']}` | {_v(p['fitted'])} | {_v(p['base'])} | "
            f"{p['low']:g}–{p['high']:g} |" for p in document["parameters"]]
    out += ["", f"![Calibration sensitivity]({_STEM}.png)", ""]
    out += _findings(document)
    return [*out, ""]


def _findings(document: dict[str, Any]) -> list[str]:
    verify = document.get("verify") or {"targets": {}}
    met = [t for t in document["targets"] if verify["targets"].get(t["name"], t)["met"]]
    missed = [t for t in document["targets"] if t not in met]
    values = ", ".join(f"`{p['key'].removeprefix('machine.')}` {_v(p['fitted'])}"
                       for p in document["parameters"])
    lines = []
    if not missed:
        lines.append(f"- Every published figure is met together, with {values}.")
    else:
        names = ", ".join(t["name"] for t in met) or "none"
        lines.append(f"- Met together at the best point: {names}; with {values}.")
    for t in missed:
        if t["best_alone_residual"] <= 1.0:
            lines.append(f"- {t['name']} is met alone at some point evaluated, but not "
                         "together with the others: the targets conflict within the ranges.")
        else:
            lines.append(f"- {t['name']} ({t['value']:g}) is out of reach: no point evaluated "
                         f"comes within its tolerance (closest: {t['best_alone_residual']:.1f} "
                         "tolerances); the best compromise gives "
                         f"{_v(t['fit'])}.")
    for t in document["targets"]:
        rows = [r for r in document["sensitivity"]
                if r["target"] == t["name"] and r["elasticity"] is not None]
        if rows:
            top = max(rows, key=lambda r: abs(r["elasticity"]))
            lines.append(f"- {t['name']} moves most with `{top['parameter']}` (elasticity "
                         f"{top['elasticity']:+.2f} at the best point).")
    return lines


def carry_section(old: str, new: str) -> str:
    """``new`` with the Calibration section of ``old``, if it had one (before the
    Serving section when ``new`` has none)."""
    kept = section_lines(old, TITLE)
    return new if kept is None else replace_section(new, TITLE, kept, before="Serving")
