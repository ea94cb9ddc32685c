"""Every normalization strategy on the same config, with its speedup over serialized.

    python examples/compare_strategies.py
"""

import sim


def main() -> None:
    results = sim.compare("configs/flashnorm_toy.yaml")
    baseline = results["serialized"].latency_cycles
    for strategy, result in results.items():
        print(f"{strategy:18} {result.latency_cycles:6d} cycles  "
              f"{baseline / result.latency_cycles:5.2f}x vs serialized")


if __name__ == "__main__":
    main()
