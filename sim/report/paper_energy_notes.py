"""The parts of the report's Energy section that are not simulation figures: the
energy table's defaults with their sources, what the energy model leaves out, and
the public card-power figures the implied power per card is held against.

The public figures are quoted from the pages named in `PUBLIC_CARD_POWER` (found
by a web search on 2026-12-03; none is a measurement of this simulator's
machine). No parameter of the energy table was moved to match them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sim.config.energy import EnergyConfig, SimdLaneEnergy

__all__ = ["NOT_MODELLED", "PUBLIC_CARD_POWER", "REFERENCE_CARD", "PublicPower",
           "assumption_lines", "sanity_lines"]


@dataclass(frozen=True)
class PublicPower:
    """A card's published power figure (``watts`` None: not disclosed) and its source."""

    card: str
    watts: float | None
    source: str
    note: str


PUBLIC_CARD_POWER: tuple[PublicPower, ...] = (
    PublicPower("d-Matrix Corsair (PCIe Gen5 FHFL, 8 chiplets)", None,
                "https://www.mirrorfrog.com/en/docs/cards/others/d-matrix-corsair",
                "its specification table lists the TDP as not disclosed; no d-Matrix page "
                "with a card power was found"),
    PublicPower("NVIDIA H100 PCIe (PCIe Gen5 FHFL, dual slot)", 350.0,
                "https://manuals.plus/m/56b0c3ef7d0a1c470c0af8f05a0bd1f29a778007472ba941201fbbb185c9bccd",
                "maximum thermal design power 350 W (NVIDIA product brief PB-11133-001_v02)"),
    PublicPower("Qualcomm Cloud AI 100 Ultra (PCIe inference card, LPDDR)", 150.0,
                "https://quic.github.io/cloud-ai-sdk-pages/latest/Getting-Started/Architecture",
                "TDP 150 W (Qualcomm Cloud AI SDK documentation)"),
    PublicPower("PCIe CEM add-in card ceiling", 675.0,
                "https://onestopsystems.com/pages/one-stop-systems-blog",
                "75 W from the slot plus up to 600 W over auxiliary connectors: the 675 W "
                "devices PCI-SIG added to the CEM specification in August 2023"),
)
#: The figure the sanity ratio divides by: the PCIe card of the same form factor.
REFERENCE_CARD: PublicPower = PUBLIC_CARD_POWER[1]

#: What the energy model leaves out (README, Energy model), one item a line.
NOT_MODELLED: tuple[str, ...] = (
    "loading the weights into the arrays before serving (once, off the token path); only "
    "weights streamed from LPDDR during a run are charged an array write",
    "KV-cache operands of the attention matmuls: no array write is charged (the timing "
    "charges none either), an underestimate",
    "collective combines count their lane-ops only, not the SRAM traffic of their operands",
    "instruction fetch, control, clock gating and DVFS: static power is a constant of the "
    "machine, busy or idle",
    "power delivery and cooling losses (voltage regulators, fans), the host CPU and its "
    "memory, and the PCIe transfers of the decoder-only configs (no whole-model ops)",
    "the published serving setup's batch-dependent power states (every strategy and batch "
    "runs on the same table)",
)


def _fields(section: Any, prefix: str) -> list[tuple[str, float, str]]:
    out = []
    for name, field in type(section).model_fields.items():
        value = getattr(section, name)
        if isinstance(value, SimdLaneEnergy):
            out += _fields(value, f"{prefix}{name}.")
        elif isinstance(value, int | float):
            out.append((f"{prefix}{name}", float(value), field.description or ""))
    return out


def assumption_lines(energy: EnergyConfig) -> list[str]:
    """The energy table of ``energy`` (the bundled machines' defaults) as markdown rows:
    key, value and the reasoning `sim.config.energy` gives for it."""
    lines = ["| `machine.energy` key | value | source or reasoning |", "|---|---|---|"]
    for key, value, why in _fields(energy, ""):
        unit = " W" if key.endswith("_w") else " pJ"
        lines.append(f"| `{key}` | {value:g}{unit} | {why} |")
    return lines


def sanity_lines(rows: list[tuple[str, float, int]]) -> list[str]:
    """For every ``(case, machine power in W, cards)``: the implied power per card
    and its ratio to each public figure; then the public figures with their sources."""
    shown = [p for p in PUBLIC_CARD_POWER if p.watts is not None]
    lines = ["| case | machine power [W] | cards | W per card | "
             + " | ".join(f"/ {p.card.split(' (')[0]} ({p.watts:g} W)" for p in shown) + " |",
             "|---|---|---|---|" + "---|" * len(shown)]
    for case, power_w, cards in rows:
        per_card = power_w / cards
        lines.append(f"| {case} | {power_w:,.1f} | {cards} | {per_card:.1f} | "
                     + " | ".join(f"{per_card / p.watts:.2f}" for p in shown
                                  if p.watts is not None) + " |")
    lines.append("")
    for p in PUBLIC_CARD_POWER:
        figure = f"{p.watts:g} W" if p.watts is not None else "not disclosed"
        lines.append(f"- {p.card}: {figure}; {p.note} ({p.source}).")
    return lines
