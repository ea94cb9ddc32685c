"""Progress goes to stderr only: a summary line per phase off a terminal, a bar on
one, nothing when quiet; stdout (a report or its JSON) stays clean."""

from __future__ import annotations

import io
import json
import re

import pytest
from conftest import REPO

from sim.cli import main
from sim.report.progress import is_quiet, progress_bar, set_quiet

SUMMARY = re.compile(r"^imcsim: (\w+): (\d+) of (\d+) (.+) in \d+\.\d s$")


@pytest.fixture(autouse=True)
def loud() -> None:
    set_quiet(False)


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as stop:
        main(list(args))
    out, err = capsys.readouterr()
    return int(stop.value.code or 0), out, err


def test_a_phase_off_a_terminal_is_one_summary_line(capsys: pytest.CaptureFixture[str]) -> None:
    with progress_bar(3, "work", unit="items") as advance:
        for k in range(3):
            advance(f"item {k}")
    out, err = capsys.readouterr()
    assert out == ""
    (line,) = err.splitlines()
    assert SUMMARY.match(line).groups() == ("work", "3", "3", "items")  # type: ignore[union-attr]


def test_quiet_and_failed_phases_print_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    set_quiet(True)
    with progress_bar(2, "work") as advance:
        advance("a")
    set_quiet(False)
    with pytest.raises(RuntimeError), progress_bar(2, "work") as advance:
        advance("a")
        raise RuntimeError("boom")
    assert capsys.readouterr() == ("", "")


def test_a_terminal_gets_a_bar(monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    with progress_bar(2, "work", unit="items") as advance:
        advance("a")
        advance("b")
    assert "work" in terminal.getvalue() and "imcsim: work" not in terminal.getvalue()
    assert capsys.readouterr().out == ""


def test_run_and_compare_json_stay_clean(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = _cli(capsys, "run", "flashnorm_toy", "--format", "json", "-s",
                            "serialized")
    assert status == 0 and json.loads(out)["latency_cycles"] == 24
    assert [SUMMARY.match(line).group(1) for line in err.splitlines()] == ["run"]  # type: ignore[union-attr]
    status, out, err = _cli(capsys, "compare", "flashnorm_toy", "--format", "json",
                            "--backend", "both")
    assert status == 0 and len(json.loads(out)["results"]) == 6
    assert [SUMMARY.match(line).group(4) for line in err.splitlines()] == [  # type: ignore[union-attr]
        "strategies (des)", "strategies (analytic)"]


@pytest.mark.parametrize("args", [
    ("run", "flashnorm_toy", "--quiet"),
    ("compare", "flashnorm_toy", "-q"),
    ("--quiet", "compare", "flashnorm_toy"),
    ("--quiet", "verify", "flashnorm_toy", "--dtype", "fp32"),
    ("verify", "flashnorm_toy", "--dtype", "fp32", "-q"),
])
def test_quiet_silences_progress(capsys: pytest.CaptureFixture[str], args: tuple[str, ...]
                                 ) -> None:
    status, out, err = _cli(capsys, *args)
    assert status == 0 and out and err == ""
    assert is_quiet()  # until the next command's options reset it


def test_verify_summarizes_off_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = _cli(capsys, "verify", "flashnorm_toy", "--dtype", "fp32")
    assert status == 0
    (line,) = err.splitlines()
    assert SUMMARY.match(line).groups()[:3] == ("verify", "6", "6")  # type: ignore[union-attr]


def test_sweep_quiet_keeps_only_its_report(tmp_path, capsys: pytest.CaptureFixture[str]
                                           ) -> None:
    """``sweep --quiet``: no progress line on stderr; the summary on stdout."""
    base = REPO / "configs" / "flashnorm_toy.yaml"
    spec = tmp_path / "tiny.yaml"
    spec.write_text(f"base: {base}\nstrategies: [serialized, deferred]\nmode: grid\n"
                    "axes:\n  machine.simd.lanes: [128]\n")
    status, out, err = _cli(capsys, "sweep", str(spec), "--out", str(tmp_path / "out"),
                            "--workers", "1", "--quiet")
    assert status == 0 and "rows: 2 ok" in out
    assert "imcsim: sweep:" not in err
