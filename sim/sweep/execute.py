"""Running sweep points: the worker function and the executors behind one interface.

`run_point` is a top-level (picklable) function a worker process runs for one
point: it validates the point's resolved config, takes the machine's
interconnect (the worker's kept one when an earlier point had the same
hierarchy and network: `sim.sweep.reuse`), simulates every strategy on it and
returns one row per strategy. A strategy
that fails (`CapacityError`, a mesh that does not divide the cores, ...)
returns a row with ``status: error`` instead of raising.

`open_executor` gives a `SweepExecutor`: a local process pool
(`concurrent.futures.ProcessPoolExecutor`, the default) or a Dask cluster
(``distributed.Client``; ``local`` starts a `distributed.LocalCluster`).
Both can be restarted after a worker died (`sim.sweep.heal` retries its
points). A pool worker exits the moment the sweep's process dies (a watchdog
thread on its parent's sentinel, `_die_with_parent`), so a killed sweep
leaves no worker computing. (``PR_SET_PDEATHSIG`` would not do: a pool
worker's parent is the forkserver, which lives as long as its workers do.)
Workers receive the resolved config itself, not a path, so a remote Dask
worker needs imcsim installed but no shared file system.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import multiprocessing.context
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Protocol

from sim.config import StrategyName, parse_config
from sim.energy import energy_figures
from sim.errors import ConfigError
from sim.figures import Figures, per_token_figures, versus
from sim.sweep.reuse import WORKER_CACHE

__all__ = [
    "METRICS",
    "InlineExecutor",
    "PointTask",
    "SweepExecutor",
    "describe_error",
    "error_rows",
    "open_executor",
    "run_point",
]

#: Result columns of every row, in order (None when the run failed).
METRICS = (
    "latency_cycles",
    "latency_us",
    "latency_per_token_us",  # transformers (`sim.figures.per_token_figures`): decode
    "time_to_first_token_us",  # prefill
    "tokens_per_s",
    "speedup_vs_serialized",
    "normalization_comm_share",
    "normalization_share",
    "hidden_fraction",
    "data_comm_cycles",
    "events",
    "analytic_warning",
    "token_interval_us",  # pipelined points (`sim.serving`)
    "bubble_fraction",
    "energy_per_token_uj",  # energy (`sim.energy.report`): transformers
    "tokens_per_joule",
    "energy_uj",  # the simulated run
    "power_w",
)


@dataclass(frozen=True)
class PointTask:
    """What a worker needs for one point: its resolved config, the strategies and
    the timing backend (``des`` or ``analytic``); ``reuse_interconnect``: take the
    worker's kept interconnect of an equal machine network (`sim.sweep.reuse`)
    rather than build a fresh one (the same figures either way)."""

    config: dict[str, Any]
    strategies: tuple[str, ...]
    backend: str = "des"
    reuse_interconnect: bool = True


def describe_error(exc: BaseException) -> str:
    """``Type: message`` on one line."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def error_rows(strategies: Iterable[str], message: str,
               backend: str = "des") -> list[dict[str, Any]]:
    """One ``status: error`` row per strategy, all metrics None."""
    return [{"strategy": s, "backend": backend, "status": "error", **dict.fromkeys(METRICS),
             "error": message} for s in strategies]


def run_point(task: PointTask) -> list[dict[str, Any]]:
    """Simulate one point under each of ``task.strategies``; one row per strategy.

    Returns
    -------
    list of dict
        In ``task.strategies`` order: ``strategy``, ``backend``, ``status`` (``ok`` or
        ``error``), the `METRICS`, and ``error`` (``Type: message`` or None).
        ``speedup_vs_serialized`` and ``hidden_fraction`` are None unless
        ``serialized`` is among the strategies and succeeded. Deterministic:
        no wall-clock fields. The analytic backend runs through
        `sim.runner.simulate` (evaluated in arrays where they apply; the same
        figures either way).
    """
    from sim.network.from_config import build_interconnect  # lazy: workers import the
    from sim.runner import simulate  # simulator on first use

    try:
        config = parse_config(task.config)
        interconnect = (WORKER_CACHE.get(config.machine) if task.reuse_interconnect
                        else build_interconnect(config.machine))
    except Exception as exc:  # a failed point is recorded, never raised
        return error_rows(task.strategies, describe_error(exc), task.backend)
    from sim.serving import is_pipelined

    if is_pipelined(config):
        return _serving_rows(task, config, interconnect)
    results: dict[str, Figures] = {}
    failures: dict[str, str] = {}
    for name in task.strategies:
        try:
            strategy = StrategyName(name)
            results[name] = simulate(config, strategy, interconnect, task.backend)
        except Exception as exc:
            failures[name] = describe_error(exc)
    baseline = results.get(StrategyName.SERIALIZED.value)
    rows = []
    for name in task.strategies:
        if name in failures:
            rows.extend(error_rows([name], failures[name], task.backend))
            continue
        rows.append({"strategy": name, "backend": task.backend, "status": "ok",
                     **_metrics(results[name], baseline), "error": None})
    return rows


def _serving_rows(task: PointTask, config: Any, interconnect: Any) -> list[dict[str, Any]]:
    """The rows of a pipelined point (`sim.serving`): ``latency_cycles`` and
    ``latency_us`` are the per-token latency (decode) or time to first token,
    with tokens/s, the token interval and the bubble; the speedup is
    serialized's latency over the strategy's."""
    from sim.serving import serve

    rows, latency = [], {}
    for name in task.strategies:
        try:
            result = serve(config, StrategyName(name), task.backend, interconnect=interconnect)
        except Exception as exc:
            rows.extend(error_rows([name], describe_error(exc), task.backend))
            continue
        f = result.figures()
        cycles = result.decode_cycles if "latency_per_token_us" in f else (
            result.one_pass.makespan_cycles)
        latency[name] = cycles
        figures = {"latency_cycles": cycles,
                   "latency_us": f.get("latency_per_token_us", f.get("time_to_first_token_us")),
                   "latency_per_token_us": f.get("latency_per_token_us"),
                   "time_to_first_token_us": f.get("time_to_first_token_us"),
                   "tokens_per_s": f["tokens_per_s"], "token_interval_us": f["token_interval_us"],
                   "bubble_fraction": f["bubble_fraction"]}
        rows.append({"strategy": name, "backend": task.backend, "status": "ok",
                     **{m: figures.get(m) for m in METRICS}, "error": None})
    base = latency.get(StrategyName.SERIALIZED.value)
    for row in rows:
        if base and row["status"] == "ok":
            row["speedup_vs_serialized"] = base / row["latency_cycles"]
    return rows


def _metrics(result: Figures, baseline: Figures | None) -> dict[str, Any]:
    """The `METRICS` of one result (``baseline``: serialized's, if it ran)."""
    figures = {"latency_cycles": result.latency_cycles, "latency_us": result.latency_us,
               **per_token_figures(result), **energy_figures(result), **result.shares(),
               "events": result.events,
               "analytic_warning": getattr(result, "analytic_warning", None),
               **(versus(result, baseline) if baseline is not None else {})}
    return {metric: figures.get(metric) for metric in METRICS}


class SweepExecutor(Protocol):
    """Where points run: submit work, wait for it, restart after a death, shut down
    (a `sim.sweep.heal.HealingExecutor` that can close)."""

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
        """Replace dead workers; return whether the other points in flight were
        lost too, and what happened."""
        ...

    def close(self, *, abort: bool = False) -> None:
        """Cancel what has not started and release the workers; with ``abort``
        (Ctrl-C, an error) also stop the points that are running."""
        ...


def _die_with_parent() -> None:
    """Exit as soon as the process that started this one exits (see the module).

    A daemon thread blocks on `multiprocessing.parent_process`'s sentinel: the
    parent holds the other end of that pipe (for the forkserver too: the sweep's
    process, not the forkserver), so it becomes readable when the parent dies.
    Without one (not a multiprocessing child) the thread polls the parent's id.
    """
    parent = multiprocessing.parent_process()
    parent_pid = os.getppid()

    def watch() -> None:
        if parent is not None:
            multiprocessing.connection.wait([parent.sentinel])
        else:
            while os.getppid() == parent_pid:
                time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="imcsim-parent-watchdog", daemon=True).start()


def _worker_init() -> None:
    """Workers leave Ctrl-C to the parent, which stops the sweep cleanly, and die
    with their parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()


def _exit_note(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit status {exitcode}"


class _PoolExecutor:
    """A local process pool; workers are forked from a server that preloaded imcsim."""

    def __init__(self, workers: int) -> None:
        methods = multiprocessing.get_all_start_methods()
        context: multiprocessing.context.BaseContext
        if "forkserver" in methods:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["sim.sweep.execute", "sim.runner", "sim.cli"])
        else:
            context = multiprocessing.get_context("spawn")
        self._context, self._workers = context, workers
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=self._workers, mp_context=self._context,
                                   initializer=_worker_init)

    @property
    def window(self) -> int:
        """One point per worker and one queued: a death loses at most that many."""
        return self._workers + 1

    def submit(self, fn: Callable[[Any], Any], arg: Any) -> Future[Any]:
        return self._pool.submit(fn, arg)

    def wait_first(self, futures: Sequence[Future[Any]]) -> list[Future[Any]]:
        done, _ = wait(futures, return_when=FIRST_COMPLETED)
        return sorted(done, key=futures.index)

    def restart(self) -> tuple[bool, str]:
        """A dead worker breaks the whole pool (every point in flight is lost): stop
        what is left of it and start a fresh one."""
        broken = bool(getattr(self._pool, "_broken", False))
        processes = self._stop()
        exits = {p.exitcode for p in processes if p.exitcode not in (None, 0)}
        culprits = exits - {-signal.SIGTERM} or exits  # the pool SIGTERMs the others
        notes = sorted(_exit_note(code) for code in culprits)
        self._pool = self._new_pool()
        if not broken:
            return True, ""
        return True, "a worker process died" + (f" ({', '.join(notes)})" if notes else "")

    def _stop(self) -> list[Any]:
        """Stop the pool and its running work; return its processes."""
        # concurrent.futures has no public way to stop running work before 3.14
        # (terminate_workers); its process table is the only handle.
        processes = list((getattr(self._pool, "_processes", None) or {}).values())
        self._pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()
        for process in processes:
            process.join(timeout=5)
        return processes

    def close(self, *, abort: bool = False) -> None:
        if not abort:
            self._pool.shutdown(wait=True, cancel_futures=True)
            return
        self._stop()


class _DaskExecutor:
    """A Dask cluster: an existing scheduler's address, or ``local``."""

    def __init__(self, address: str, workers: int) -> None:
        try:
            import distributed
        except ImportError:
            raise ConfigError("--dask: needs the 'distributed' package "
                              "(pip install 'imcsim[dask]')") from None
        self._distributed = distributed
        self._cluster = None
        try:
            if address == "local":
                self._cluster = distributed.LocalCluster(
                    n_workers=workers, threads_per_worker=1, processes=True,
                    dashboard_address=None, silence_logs=logging.ERROR)
                self._client = distributed.Client(self._cluster)
            else:
                self._client = distributed.Client(address, timeout="10s")
        except (OSError, TimeoutError, ValueError) as exc:
            self.close()
            raise ConfigError(f"--dask: cannot connect to {address!r}: "
                              f"{' '.join(str(exc).split())}") from None

    def submit(self, fn: Callable[[Any], Any], arg: Any) -> Any:
        return self._client.submit(fn, arg, pure=False)

    @property
    def window(self) -> int:
        """Every point at once: the cluster schedules them, and a lost worker loses
        only its own points (Dask retries them itself first)."""
        return 1 << 30

    def wait_first(self, futures: Sequence[Any]) -> list[Any]:
        done, _ = self._distributed.wait(list(futures), return_when="FIRST_COMPLETED")
        return [f for f in futures if f in done]

    def restart(self) -> tuple[bool, str]:
        return False, "a Dask worker died"

    def close(self, *, abort: bool = False) -> None:
        client = getattr(self, "_client", None)
        if client is not None:
            client.close()
        if self._cluster is not None:
            self._cluster.close()


class InlineExecutor:
    """Points run in this process, one at a time, as they are submitted (a stand-in
    for a pool where workers would cost more than the points: tests, library use).
    An exception from the point function lands in its future (healed like a death);
    a `BaseException` such as `KeyboardInterrupt` stops the sweep at once."""

    @property
    def window(self) -> int:
        return 1

    def submit(self, fn: Callable[[Any], Any], arg: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(arg))
        except Exception as exc:
            future.set_exception(exc)
        return future

    def wait_first(self, futures: Sequence[Future[Any]]) -> list[Future[Any]]:
        return list(futures)

    def restart(self) -> tuple[bool, str]:
        return False, ""

    def close(self, *, abort: bool = False) -> None:
        return None


def open_executor(workers: int | None, dask: str | None, points: int) -> SweepExecutor:
    """A process pool of ``workers`` processes (default: all cores), or with
    ``dask`` a Dask client (``local``: a `LocalCluster` of ``workers`` processes).
    Local pools get no more workers than ``points``.

    Raises
    ------
    ConfigError
        ``workers`` below 1, ``distributed`` missing, or an unreachable scheduler.
    """
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers: must be >= 1, got {workers}")
    count = max(1, min(workers or os.cpu_count() or 1, points))
    if dask is not None:
        return _DaskExecutor(dask, count)
    return _PoolExecutor(count)
