"""imcsim: a cycle-level simulator of distributed in-memory-compute accelerators.

Data flow: YAML config -> `sim.config` -> OpGraph (`sim.workload`) -> strategy pass
and mapping (`sim.schedule`) -> TaskGraph -> backend (`sim.backends`) -> Result.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
