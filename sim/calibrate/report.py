"""A calibration's outputs: ``calibration.json``, ``calibrated.yaml`` and the table.

``calibrated.yaml`` ``extends`` the spec's base config (a path relative to the
output folder, absolute where none exists) and sets only the fitted keys, so
``imcsim run OUT/calibrated.yaml`` runs the calibrated machine; the fitted
keys are also listed as ``--set`` overrides for the other targets' configs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml

from sim.calibrate.ranges import unit_of
from sim.calibrate.spec import Calibration

__all__ = ["calibrated_yaml", "document_json", "table_text"]


def calibrated_yaml(calibration: Calibration, best: dict[str, Any], out_dir: Path) -> str:
    """The calibrated config: ``extends`` the base, the fitted keys on top."""
    try:
        parent = Path(os.path.relpath(calibration.base, out_dir.resolve())).as_posix()
    except ValueError:  # another drive
        parent = calibration.base.as_posix()
    tree: dict[str, Any] = {}
    for key in sorted(best):
        node = tree
        *path, last = key.split(".")
        for part in path:
            node = node.setdefault(part, {})
        node[last] = best[key]
    sets = " ".join(f"--set {k}={best[k]}" for k in sorted(best))
    head = (f"# Calibrated by imcsim calibrate {calibration.path.name}: the base config with "
            "the fitted values.\n# On another config of the same machine: " + sets + "\n")
    return head + yaml.safe_dump({"extends": parent, **tree}, sort_keys=False)


def document_json(document: dict[str, Any]) -> str:
    """``calibration.json``'s text."""
    return json.dumps(document, indent=2) + "\n"


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def table_text(document: dict[str, Any]) -> str:
    """The stdout summary: parameters, then targets with fit and check residuals."""
    lines = [f"calibration {document['spec']}: {document['evaluations']} evaluations "
             f"({document['fit_backend']}), stop: {document['stop']}; targets met together: "
             f"{'yes' if document['met_together'] else 'no'}"
             + (f" (DES check: {'yes' if document['verify']['met_together'] else 'no'})"
                if document.get("verify") else "")]
    lines.append("")
    rows = [["parameter", "fitted", "base", "range", "unit"]]
    for p in document["parameters"]:
        rows.append([p["key"], _fmt(p["fitted"]), _fmt(p["base"]),
                     f"{p['low']:g}..{p['high']:g}", unit_of(p["key"])])
    lines += _table(rows)
    lines.append("")
    rows = [["target", "metric", "want", "fit", "residual", "met", "best alone"]]
    verify = document.get("verify")
    if verify:
        rows[0] += [f"check ({verify['backend']})", "residual", "met"]
    for t in document["targets"]:
        row = [t["name"], t["metric"], f"{t['value']:g} ± {t['tolerance']:g}", _fmt(t["fit"]),
               _fmt(t["residual"]), "yes" if t["met"] else "no", _fmt(t["best_alone_residual"])]
        if verify:
            v = verify["targets"][t["name"]]
            row += [_fmt(v["value"]), _fmt(v["residual"]), "yes" if v["met"] else "no"]
        rows.append(row)
    lines += _table(rows)
    lines.append("")
    lines.append("residual: (value - want) / tolerance; met: |residual| <= 1; best alone: "
                 "the least |residual| of the target at any point evaluated")
    return "\n".join(lines)


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
           for r in rows]
    out.insert(1, "  ".join("-" * w for w in widths))
    return out
