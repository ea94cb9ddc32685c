"""Is deferred LayerNorm as precise as serialized? Errors per format, per block.

    python examples/verify_numerics.py
"""

import sim


def main() -> None:
    # the bundled LayerNorm -> linear check, narrowed to run in a second
    config = sim.load("configs/layernorm_linear.yaml",
                      ["workload.hidden_size=1024", "workload.out_features=64"])
    for offset in (4.0, 0.0):
        print(f"per-token offsets of std {offset}:")
        for row in sim.verify(config, ["bf16", "bfp8"], token_offset=offset):
            if row["strategy"] in ("serialized", "deferred"):
                print(f"  {row['strategy']:10} {row['dtype']:5} block error "
                      f"{row['block_max_rel_error']:.2e}  {row['vs_serialized']:.2f}x serialized's")


if __name__ == "__main__":
    main()
