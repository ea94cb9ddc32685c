"""The exception hierarchy: every error imcsim raises on purpose is a `SimError`.

The CLI turns a `SimError` into one line on stderr and exit status 2; anything
else is a bug and keeps its traceback.
"""

from __future__ import annotations

__all__ = [
    "CapacityError",
    "ConfigError",
    "DeadlockError",
    "GraphError",
    "SimError",
    "TaskBudgetError",
]


class SimError(Exception):
    """Root of all deliberate imcsim errors. The message is one line."""


class ConfigError(SimError):
    """A config file, override or CLI argument is invalid.

    The message starts with the key path (``machine.simd.lanes: ...``) when
    there is one.
    """


class GraphError(SimError):
    """An OpGraph or TaskGraph breaks its invariants (names the pass or builder)."""


class CapacityError(SimError):
    """The workload does not fit the machine (names the shortfall)."""


class TaskBudgetError(SimError):
    """A run would emit more tasks than ``limits.max_tasks`` (names the drivers)."""


class DeadlockError(SimError):
    """A simulation ended with tasks that can never start.

    Attributes
    ----------
    stuck_tasks : tuple of str
        Names of the tasks that never started, in task-graph order.
    """

    def __init__(self, message: str, stuck_tasks: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.stuck_tasks = stuck_tasks
