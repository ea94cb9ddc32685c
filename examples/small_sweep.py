"""A small sweep: SIMD lanes x strategy on the FlashNorm toy, results as rows.

    python examples/small_sweep.py
"""

import tempfile
from pathlib import Path

import sim
from sim.config.presets import presets_root


def main() -> None:
    root = presets_root()
    if root is None:
        raise SystemExit("the bundled configs are missing")
    folder = Path(tempfile.mkdtemp(prefix="imcsim-sweep-"))
    spec = folder / "lanes.yaml"
    spec.write_text(f"base: {root / 'configs/flashnorm_toy.yaml'}\n"
                    "strategies: [serialized, deferred]\n"
                    "mode: grid\n"
                    "axes:\n"
                    "  machine.simd.lanes: [32, 64, 128]\n")
    rows = sim.sweep(spec, folder / "out", workers=1)
    for row in sorted(rows, key=lambda r: (r["machine.simd.lanes"], r["strategy"])):
        print(f"lanes {row['machine.simd.lanes']:4d}  {row['strategy']:11} "
              f"{row['latency_cycles']:5d} cycles")
    print(f"results in {folder / 'out'}")


if __name__ == "__main__":
    main()
