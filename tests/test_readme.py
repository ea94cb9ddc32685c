"""The README stays true: two quick-start commands, CI runs the README's test
command, and documented output (golden blocks) matches what the tool prints."""

from __future__ import annotations

import re

from conftest import REPO, run_cli

README = (REPO / "README.md").read_text(encoding="utf-8")


def _quick_start_commands() -> list[str]:
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)\n```", section, flags=re.S)


def test_quick_start_is_exactly_two_one_line_commands():
    commands = _quick_start_commands()
    assert len(commands) == 2
    assert all("\n" not in c for c in commands)
    install_and_run, install_and_test = commands
    assert "pip install ." in install_and_run and "imcsim " in install_and_run
    assert "pip install '.[test]'" in install_and_test and "pytest" in install_and_test


def test_ci_runs_the_readme_test_command():
    test_command = _quick_start_commands()[1].split("&& ", 2)[2]  # after venv + activate
    ci = (REPO / ".ci/run").read_text(encoding="utf-8")
    assert test_command in ci.replace("pip install -q ", "pip install ")


def test_golden_blocks_match_the_tool():
    blocks = re.findall(r"<!-- golden: imcsim (.*?) -->\n```text\n(.*?)```", README, flags=re.S)
    assert blocks, "README has no golden output block"
    for args, expected in blocks:
        proc = run_cli(*args.split())
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == expected, f"README block for `imcsim {args}` is stale"
