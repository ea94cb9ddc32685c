"""Pausing Python's cyclic garbage collector around allocation-heavy work.

Lowering, the DES and the critical-path walk create hundreds of thousands of
small acyclic objects (tasks, dependency tuples, event records) that live as
long as the task graph. While they are being created, the collector's
generational passes walk them again and again (and every full pass also walks
the interconnect and everything else alive), which costs more than the work
itself. None of these objects form reference cycles, so nothing is lost by
collecting later.

Examples
--------
>>> import gc
>>> with paused_gc():
...     gc.isenabled()
False
>>> @paused_gc()
... def build() -> bool:
...     return gc.isenabled()
>>> build(), gc.isenabled()
(False, True)
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["paused_gc"]


@contextmanager
def paused_gc() -> Iterator[None]:
    """Disable automatic garbage collection inside the block (or decorated function).

    On exit (also on an exception) collection is enabled again only if it was
    enabled on entry, so pauses nest and a caller's own ``gc.disable()`` stays.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()
