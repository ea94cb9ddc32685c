"""Run one config under one strategy and print its latency and breakdown.

    python examples/run_config.py
"""

import sim


def main() -> None:
    config = sim.load("configs/flashnorm_toy.yaml")  # a bundled preset (found from anywhere)
    result = sim.simulate(config, "deferred")
    print(f"{config.machine.name}: {result.latency_cycles} cycles under deferred")
    for part, cycles in result.to_dict()["breakdown_cycles"].items():
        print(f"  {part:32} {cycles}")
    print("critical path by op:", result.cycles_by_op())


if __name__ == "__main__":
    main()
