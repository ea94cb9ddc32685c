"""A sweep's results on disk: ``results.jsonl`` (the source of truth) and ``results.csv``.

One process (the sweep's parent) appends; each finished point's rows go to the
JSONL file in one ``write`` and are fsync'd, then to the CSV the same way. A
kill can therefore leave at most a torn last line in either file, or a CSV one
point behind. `ResultStore.open` repairs both on resume: JSONL lines that do
not parse are dropped, and so are the rows of a point that is not complete
(every strategy present); then the CSV is rebuilt from the JSONL whenever it
differs. So after any kill, resuming yields every row exactly once.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sim.errors import ConfigError
from sim.output import write_files_atomically

__all__ = ["CSV_NAME", "JSONL_NAME", "ResultStore", "csv_text", "read_jsonl", "read_results"]

JSONL_NAME = "results.jsonl"
CSV_NAME = "results.csv"
_LOCK_NAME = ".sweep.lock"


def read_jsonl(path: Path) -> tuple[list[dict[str, Any]], bool]:
    """The rows of a JSONL file, and whether every line was a complete JSON object.

    A missing file has no rows. Lines that are torn (no final newline) or do not
    parse are skipped.
    """
    if not path.exists():
        return [], True
    lines = path.read_bytes().split(b"\n")
    clean = lines.pop() == b""  # text after the last newline is a torn write
    rows = []
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            row = None
        if isinstance(row, dict) and isinstance(row.get("point_id"), str):
            rows.append(row)
        else:
            clean = False
    return rows, clean


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return value


def csv_text(rows: Iterable[dict[str, Any]], columns: list[str], header: bool = True) -> str:
    """CSV of ``rows`` in ``columns`` order (lists and mappings as JSON, None empty)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if header:
        writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return buffer.getvalue()


def read_results(out_dir: str | Path, sort: bool = True) -> list[dict[str, Any]]:
    """A sweep's rows from its JSONL file; sorted by ``point_id`` when ``sort``
    (rows are stored in the order points finished, which varies between runs)."""
    rows, _ = read_jsonl(Path(out_dir) / JSONL_NAME)
    return sorted(rows, key=lambda r: r["point_id"]) if sort else rows


def _append(fd: int, text: str) -> None:
    data = text.encode("utf-8")
    while data:
        written = os.write(fd, data)
        data = data[written:]
    os.fsync(fd)


class ResultStore:
    """The results files of one sweep directory, opened for appending.

    Parameters
    ----------
    out_dir : Path
        The sweep's directory.
    columns : list of str
        CSV columns (and JSONL key order).
    """

    def __init__(self, out_dir: Path, columns: list[str]) -> None:
        self.out_dir = out_dir
        self.columns = columns
        self._fds: list[int] = []
        self._lock: int | None = None

    def scan(self, resume: bool, groups: dict[str, set[str]]
             ) -> tuple[list[dict[str, Any]], set[str], bool]:
        """Check the directory without changing it; return the rows to keep, the
        row ids already done, and whether the files need repair.

        ``groups`` maps each point's key to its row ids; a point counts as done
        only when all of them are present (its other rows are dropped and it is
        run again).

        Raises
        ------
        ConfigError
            A non-empty directory without ``resume``, or stored rows that are
            not points of this sweep.
        """
        out = self.out_dir
        if out.exists() and not out.is_dir():
            raise ConfigError(f"--out: {out} exists and is not a directory")
        if not resume and out.exists() and any(out.iterdir()):
            raise ConfigError(f"--out: {out} is not empty; pass --resume to continue the sweep "
                              "there, or choose another --out")
        jsonl = out / JSONL_NAME
        rows, clean = read_jsonl(jsonl)
        known = {i for ids in groups.values() for i in ids}
        stray = [r["point_id"] for r in rows if r["point_id"] not in known]
        if stray:
            raise ConfigError(f"--resume: {jsonl} holds {len(stray)} rows that are not points "
                              "of this sweep (was the spec changed?); use another --out")
        present = {r["point_id"] for r in rows}
        done = {i for ids in groups.values() if ids <= present for i in ids}
        kept, seen = [], set()
        for row in rows:
            if row["point_id"] in done and row["point_id"] not in seen:
                seen.add(row["point_id"])
                kept.append(row)
        return kept, done, not clean or len(kept) != len(rows) or not jsonl.exists()

    def open(self, resume: bool, groups: dict[str, set[str]]) -> set[str]:
        """Lock the directory (created if needed), repair the files, open them for
        appending; return the row ids already done (see `scan`).

        Raises
        ------
        ConfigError
            As `scan`, or another sweep is writing to the directory.
        """
        self.scan(resume, groups)  # refuse before creating anything
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._take_lock()
        try:
            kept, done, repair = self.scan(True, groups)  # now under the lock
            jsonl, csv_path = self.out_dir / JSONL_NAME, self.out_dir / CSV_NAME
            files: dict[str, str] = {}
            if repair:
                files[JSONL_NAME] = "".join(self._jsonl_line(r) for r in kept)
            expected = csv_text(kept, self.columns)
            if not csv_path.exists() or csv_path.read_text(encoding="utf-8") != expected:
                files[CSV_NAME] = expected
            if files:
                write_files_atomically(self.out_dir, files)
            self._fds = [os.open(p, os.O_WRONLY | os.O_APPEND) for p in (jsonl, csv_path)]
        except BaseException:
            self.close()
            raise
        return done

    def _take_lock(self) -> None:
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock
            return
        fd = os.open(self.out_dir / _LOCK_NAME, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise ConfigError(f"--out: another sweep is writing to {self.out_dir}") from None
        self._lock = fd

    def _jsonl_line(self, row: dict[str, Any]) -> str:
        ordered = {c: row.get(c) for c in self.columns}
        return json.dumps(ordered, allow_nan=True) + "\n"

    def append(self, rows: list[dict[str, Any]]) -> None:
        """Append one point's rows: JSONL first (fsync'd), then CSV (fsync'd)."""
        jsonl_fd, csv_fd = self._fds
        _append(jsonl_fd, "".join(self._jsonl_line(r) for r in rows))
        _append(csv_fd, csv_text(rows, self.columns, header=False))

    def close(self) -> None:
        """Close the files and release the directory."""
        for fd in self._fds:
            os.close(fd)
        self._fds = []
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None
