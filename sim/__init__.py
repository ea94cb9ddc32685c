"""imcsim: a cycle-level simulator of distributed in-memory-compute accelerators.

Data flow: YAML config -> `sim.config` -> OpGraph (`sim.workload`) -> strategy pass
and mapping (`sim.schedule`) -> TaskGraph -> backend (`sim.backends`) -> Result.

The Python API (`sim.api`): ``sim.load``, ``sim.simulate``, ``sim.compare``,
``sim.verify`` and ``sim.sweep``. They are imported on first use (a module-level
``__getattr__``), so ``import sim`` (and ``imcsim --help``) loads nothing heavy.
``sim.sweep`` is also the name of the sweep package (`sim.sweep.run_sweep`): that
package is made callable, a call being `sim.api.sweep`.

>>> import sim
>>> sim.simulate("configs/flashnorm_toy.yaml", "deferred").latency_cycles
17
>>> callable(sim.sweep) and sim.sweep.run_sweep.__module__
'sim.sweep.run'
"""

from __future__ import annotations

import sys
import types
from typing import Any

__all__ = ["__version__", "compare", "load", "simulate", "sweep", "verify"]

__version__ = "0.1.0"

_API = ("compare", "load", "simulate", "verify")


class _CallableSweep(types.ModuleType):
    """The `sim.sweep` package, callable as `sim.api.sweep`."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from sim.api import sweep as run

        return run(*args, **kwargs)


class _Package(types.ModuleType):
    """`sim` itself: when the import system binds the ``sweep`` subpackage to it,
    the subpackage is made callable (`_CallableSweep`)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "sweep" and type(value) is types.ModuleType:
            value.__class__ = _CallableSweep
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    """The API functions of `sim.api` and the ``sweep`` package, imported when first
    asked for."""
    if name in _API:
        from sim import api

        return getattr(api, name)
    if name == "sweep":
        import importlib

        return importlib.import_module("sim.sweep")  # bound (callable) by _Package
    raise AttributeError(f"module 'sim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API, "sweep"])
