"""Point a run at a Hugging Face config.json and check it against the bundled preset.

    python examples/import_hf.py [path/to/config.json]   (default: examples/hf/gpt2)
"""

import sys
from pathlib import Path

import sim


def main() -> None:
    hf = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "hf/gpt2/config.json")
    fixed = ["schedule.linear_split=columns", "schedule.norm_stats=collective"]  # no mapping search
    imported = sim.load("configs/paper/llama3_8b_decode.yaml",
                        [f"workload.model={hf.resolve()}", *fixed])
    model = imported.workload.model
    print(f"{model.name}: d={model.hidden_size}, {model.num_heads} heads "
          f"({model.num_kv_heads} KV), ffn {model.ffn_size}, {model.norm}, {model.activation}")
    latency = sim.simulate(imported, "deferred", "analytic").latency_cycles
    print(f"one decoder block, deferred: {latency} cycles")
    preset = sim.load("configs/paper/llama3_8b_decode.yaml",
                      [f"workload.model={model.name}", *fixed])
    same = sim.simulate(preset, "deferred", "analytic").latency_cycles == latency
    print(f"the bundled preset {model.name!r} gives the same latency: {same}")


if __name__ == "__main__":
    main()
