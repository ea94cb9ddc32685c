"""Running a sweep's points so that a dying worker costs a retry, not the sweep.

`run_points` keeps at most ``executor.window`` points in flight. When a worker
dies (SIGKILL, the OOM killer, a crash in native code), a process pool loses
every point in flight, and which of them killed it cannot be told. So every
point that was in flight goes to a quarantine, the executor is restarted on
fresh workers, and quarantined points then run one at a time: a death while a
point runs alone is that point's. A point whose worker dies `MAX_SOLO_DEATHS`
times while it runs alone is recorded as failed with the reason (its rows get
``status: error``); every other point is recorded exactly once, with the same
values as in an uninterrupted run (points are deterministic, and a point that
died was never recorded). The sweep then goes on in parallel.

Bounded: every parallel death moves at least one point into the quarantine,
and every quarantined point ends recorded or failed after at most
`MAX_SOLO_DEATHS` solo deaths, so a sweep of N points sees at most
``N * (1 + MAX_SOLO_DEATHS)`` deaths before it finishes.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

__all__ = ["MAX_SOLO_DEATHS", "HealingExecutor", "run_points"]

#: Deaths of a worker running a point alone before the point is recorded as failed.
MAX_SOLO_DEATHS = 2

Item = TypeVar("Item")


class HealingExecutor(Protocol):
    """What `run_points` needs of an executor (`sim.sweep.execute`)."""

    @property
    def window(self) -> int:
        """Points to keep in flight at once."""
        ...

    def submit(self, fn: Callable[[Any], Any], arg: Any) -> Any:
        """Start ``fn(arg)``; return a future with ``result()``."""
        ...

    def wait_first(self, futures: Sequence[Any]) -> list[Any]:
        """Block until at least one of ``futures`` is done; return the done ones."""
        ...

    def restart(self) -> tuple[bool, str]:
        """Replace dead workers after a death; return whether the other points in
        flight were lost with it, and what happened ("" if no worker died: the
        future's own exception is the reason then)."""
        ...


def run_points(
    executor: HealingExecutor,
    items: Sequence[Item],
    fn: Callable[[Any], Any],
    task_of: Callable[[Item], Any],
    on_result: Callable[[Item, Any], None],
    on_failure: Callable[[Item, str], None],
) -> int:
    """Run ``fn(task_of(item))`` for every item on ``executor``, healing worker deaths.

    ``fn`` must not raise (`sim.sweep.execute.run_point` turns every error into
    rows), so an exception from a future means its worker died. Every item ends
    in exactly one call of ``on_result(item, result)`` or, after
    `MAX_SOLO_DEATHS` solo deaths, ``on_failure(item, reason)``.

    Returns
    -------
    int
        Worker deaths healed or recorded.
    """
    pending: deque[int] = deque(range(len(items)))
    quarantine: deque[int] = deque()
    solo_deaths: Counter[int] = Counter()
    refused: Counter[int] = Counter()  # submissions that raised, with nothing in flight
    inflight: dict[Any, int] = {}
    solo: int | None = None  # the quarantined item running alone
    deaths = 0
    while pending or quarantine or inflight:
        try:  # an index leaves its queue only once its submission succeeded
            if quarantine:
                if not inflight:
                    inflight[executor.submit(fn, task_of(items[quarantine[0]]))] = quarantine[0]
                    solo = quarantine.popleft()
            else:
                solo = None
                while pending and len(inflight) < executor.window:
                    inflight[executor.submit(fn, task_of(items[pending[0]]))] = pending[0]
                    pending.popleft()
        except Exception as exc:  # the pool broke since the last wait (a worker died idle,
            if not inflight:  # or its points in flight are about to say so)
                queue = quarantine or pending
                refused[queue[0]] += 1
                if refused[queue[0]] >= MAX_SOLO_DEATHS:  # it is the point, not the pool
                    on_failure(items[queue.popleft()], _text(exc))
                deaths += 1
                executor.restart()
                continue
        died: list[tuple[int, BaseException]] = []
        for future in executor.wait_first(list(inflight)):
            index = inflight.pop(future)
            try:
                result = future.result()
            except Exception as exc:  # fn never raises: its worker died
                died.append((index, exc))
            else:
                on_result(items[index], result)
        if not died:
            continue
        deaths += 1
        lost_all, what = executor.restart()
        if lost_all:
            died += [(index, RuntimeError(what)) for index in inflight.values()]
            inflight.clear()
        for index, error in died:
            if index != solo:
                quarantine.append(index)
                continue
            solo_deaths[index] += 1
            if solo_deaths[index] >= MAX_SOLO_DEATHS:
                on_failure(items[index], f"WorkerDied: {what or _text(error)} while running "
                           f"this point alone, {solo_deaths[index]} times")
            else:
                quarantine.appendleft(index)
        quarantine = deque(sorted(quarantine))  # a deterministic retry order
    return deaths


def _text(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
