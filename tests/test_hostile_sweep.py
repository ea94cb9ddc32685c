"""Sweeps against dying processes: a killed worker costs a retry, never a point; a
point that always kills its worker is recorded as failed; killing the sweep's
process takes its workers with it.

The faults are injected into the workers by a ``sitecustomize`` module on
``PYTHONPATH`` (imported by every Python process the sweep starts, so also by
the forkserver its workers are forked from): it wraps `run_point` so that named
points SIGKILL their own worker. The reference values come from `run_point`
called in this process, without any pool.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import Future
from pathlib import Path

from conftest import REPO

from sim.sweep import read_results
from sim.sweep.execute import PointTask, run_point
from sim.sweep.heal import MAX_SOLO_DEATHS, run_points
from sim.sweep.spec import expand_points, load_spec

TOY = REPO / "configs/flashnorm_toy.yaml"

# 40 points; with faults "kill" the points of tokens 3 kill their worker once, the point
# (tokens 5, lanes 4) every time; with "hang" the points of tokens 1 never finish.
SPEC = f"""\
base: {TOY}
strategies: [serialized, deferred]
axes:
  workload.tokens: [1, 2, 3, 4, 5, 6, 7, 8]
  machine.simd.lanes: [4, 8, 16, 32, 64]
"""

FAULTS = '''\
import functools, os, signal, time
from pathlib import Path

FOLDER = Path(os.environ["IMCSIM_TEST_FAULTS"])

import sim.sweep.execute as execute
import sim.sweep.run as run

_original = execute.run_point


def _claim(name):
    try:
        os.close(os.open(FOLDER / name, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        return True
    except FileExistsError:
        return False


@functools.wraps(_original)
def run_point(task):
    tokens = task.config["workload"]["tokens"]
    lanes = task.config["machine"]["simd"]["lanes"]
    mode = os.environ["IMCSIM_TEST_MODE"]
    with open(FOLDER / "pids", "a") as log:
        log.write(f"{os.getpid()} {tokens}\\n")
    if mode == "kill" and tokens == 3 and _claim(f"killed-once-{lanes}"):
        os.kill(os.getpid(), signal.SIGKILL)
    if mode == "kill" and (tokens, lanes) == (5, 4):
        os.kill(os.getpid(), signal.SIGKILL)
    if mode == "hang" and tokens == 1:
        time.sleep(120)
    return _original(task)


execute.run_point = run.run_point = run_point  # pickled by name: both the same object
'''


def _start_sweep(tmp_path: Path, mode: str) -> tuple[subprocess.Popen[str], Path, Path]:
    faults = tmp_path / "faults"
    faults.mkdir()
    (faults / "sitecustomize.py").write_text(FAULTS, encoding="utf-8")
    spec, out = tmp_path / "toy.yaml", tmp_path / "out"
    spec.write_text(SPEC, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": f"{faults}{os.pathsep}{REPO}",
           "IMCSIM_TEST_FAULTS": str(faults), "IMCSIM_TEST_MODE": mode, "MPLBACKEND": "Agg"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim", "sweep", str(spec), "--workers", "2", "--out", str(out)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True)
    return proc, faults, out


def _reference(spec_path: Path) -> dict[str, dict[str, object]]:
    """Every row of the sweep computed here, by point id (no pool, no faults)."""
    spec, base = load_spec(spec_path)
    points, _ = expand_points(spec, base)
    strategies = tuple(s.value for s in spec.strategies)
    rows = {}
    for point in points:
        for row in run_point(PointTask(point.config, strategies, spec.backend)):
            rows[point.row_ids[row["strategy"]]] = row
    return rows


def test_killed_workers_heal_and_every_point_is_recorded_once(tmp_path: Path) -> None:
    proc, faults, out = _start_sweep(tmp_path, "kill")
    try:
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, stderr
    assert len(list(faults.glob("killed-once-*"))) == 5  # the faults did fire
    rows = read_results(out)
    ids = [r["point_id"] for r in rows]
    assert len(ids) == len(set(ids)) == 80  # 40 points x 2 strategies, each once
    reference = _reference(tmp_path / "toy.yaml")
    assert set(ids) == set(reference)
    for row in rows:
        if (row["workload.tokens"], row["machine.simd.lanes"]) == (5, 4):  # always kills
            assert row["status"] == "error"
            assert row["error"].startswith("WorkerDied: a worker process died (killed by "
                                           "SIGKILL) while running this point alone")
            continue
        expected = reference[row["point_id"]]
        assert {k: row[k] for k in expected} == expected
    deaths = int(stdout.split(" worker deaths healed")[0].rsplit(", ", 1)[1])
    # the 5 once-killers at most once each (two may die together), the always-killer at
    # most once in parallel, then MAX_SOLO_DEATHS times alone
    assert 3 + MAX_SOLO_DEATHS <= deaths <= 5 + 1 + MAX_SOLO_DEATHS
    manifest = json.loads((out / "sweep.manifest.json").read_text(encoding="utf-8"))
    assert manifest["identity"]["axes"]["workload.tokens"] == [1, 2, 3, 4, 5, 6, 7, 8]


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its reaper counts as dead)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def test_workers_die_with_the_sweep(tmp_path: Path) -> None:
    proc, faults, _ = _start_sweep(tmp_path, "hang")
    log = faults / "pids"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and b" 1\n" not in (
                log.read_bytes() if log.exists() else b""):
            time.sleep(0.02)
        lines = [line.split() for line in log.read_text().splitlines()]
        pids = {int(pid) for pid, _ in lines}
        stuck = {int(pid) for pid, tokens in lines if tokens == "1"}
        assert stuck and all(_alive(pid) for pid in stuck)  # a worker is stuck in a point
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
            time.sleep(0.05)
        assert not [pid for pid in pids if _alive(pid)]
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in {int(line.split()[0]) for line in log.read_text().splitlines()} \
                if log.exists() else ():
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        proc.communicate()


class _FakePool:
    """A process pool in miniature: a point that kills its worker breaks every point
    in flight; ``unsubmittable`` points make ``submit`` raise."""

    def __init__(self, killers: dict[int, int], unsubmittable: frozenset[int] = frozenset()):
        self.kills_left, self.unsubmittable = dict(killers), unsubmittable
        self.inflight: list[tuple[Future[int], int]] = []
        self.window, self.restarts = 3, 0

    def submit(self, fn, arg: int) -> Future[int]:
        if arg in self.unsubmittable:
            raise ValueError(f"cannot send point {arg}")
        future: Future[int] = Future()
        self.inflight.append((future, arg))
        return future

    def wait_first(self, futures):
        if any(self.kills_left.get(arg, 0) for _, arg in self.inflight):
            for arg in {arg for _, arg in self.inflight if self.kills_left.get(arg, 0)}:
                self.kills_left[arg] -= 1
            for future, _ in self.inflight:
                future.set_exception(RuntimeError("A process in the pool was terminated"))
        else:
            for future, arg in self.inflight:
                future.set_result(arg * arg)
        self.inflight = []
        return [f for f in futures if f.done()]

    def restart(self) -> tuple[bool, str]:
        self.restarts += 1
        return True, "a worker process died (killed by SIGKILL)"


def test_healing_records_every_point_once_and_gives_up_on_a_killer() -> None:
    results: list[tuple[int, int]] = []
    failures: list[tuple[int, str]] = []
    pool = _FakePool({3: 1, 7: 1_000})  # 3 kills once, 7 always
    deaths = run_points(pool, list(range(10)), None, lambda i: i,
                        lambda i, r: results.append((i, r)),
                        lambda i, why: failures.append((i, why)))
    assert sorted(results) == [(i, i * i) for i in range(10) if i != 7]
    assert failures == [(7, "WorkerDied: a worker process died (killed by SIGKILL) while "
                             f"running this point alone, {MAX_SOLO_DEATHS} times")]
    assert deaths == pool.restarts <= 1 + 1 + MAX_SOLO_DEATHS + 1


def test_a_point_that_cannot_be_submitted_is_recorded_as_failed() -> None:
    results: list[int] = []
    failures: list[tuple[int, str]] = []
    pool = _FakePool({}, unsubmittable=frozenset({4}))
    run_points(pool, list(range(6)), None, lambda i: i, lambda i, r: results.append(i),
               lambda i, why: failures.append((i, why)))
    assert sorted(results) == [0, 1, 2, 3, 5]
    assert failures == [(4, "ValueError: cannot send point 4")]
