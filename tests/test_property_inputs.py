"""Property tests: random malformed config files and ``--set`` values at the CLI.

Whatever the input, ``imcsim check`` either accepts it (exit 0) or prints one line,
``imcsim: error: ...``, on stderr, nothing on stdout, and exits with status 2: no
traceback, whatever pydantic, YAML or the pipeline made of it. The values drawn
cannot make a run large (no big numbers), so an accepted input checks in
milliseconds. Examples are deterministic (``derandomize=True``); the counts are
printed at the end of the run (`conftest.pytest_terminal_summary`).
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import yaml
from conftest import REPO, run_property
from hypothesis import strategies as st

from sim.cli import main

TOY = REPO / "configs/flashnorm_toy.yaml"
BASE = yaml.safe_load((REPO / "configs/machines/flashnorm_toy.yaml").read_text())
BASE["workload"] = {"kind": "norm_linear", "norm": "rmsnorm", "hidden_size": 64,
                    "out_features": 32, "tokens": 1}


def _cli(*args: str) -> tuple[int, str, str]:
    """``imcsim ARGS`` in process, as the entry point runs it: (status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(args))
            code = 0
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else 1
    return code, out.getvalue(), err.getvalue()


def _accepted_or_one_line(code: int, out: str, err: str) -> None:
    if code == 0:
        return
    assert code == 2, (code, err)
    assert out == ""
    assert err.startswith("imcsim: error: ") and err.endswith("\n"), err
    assert len(err.splitlines()) == 1, err


def _paths(tree: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every key path of a nested mapping (leaves and sections)."""
    if not isinstance(tree, dict):
        return []
    out = []
    for key, value in tree.items():
        out.append((*prefix, key))
        out.extend(_paths(value, (*prefix, key)))
    return out


PATHS = sorted(_paths(BASE))
#: Values that are wrong somewhere and never large.
JUNK = st.one_of(
    st.sampled_from([None, -1, 0, 1, 2.5, -0.0, True, "", "abc", "1e309", "nan", [], [1, 2],
                     {}, {"x": 1}, float("inf"), float("-inf")]),
    st.text(alphabet="abc:{}[]-,#&*!|>'\" \t\n%@`", max_size=12),
    st.integers(-5, 5),
)


def _set_in(tree: dict, path: tuple[str, ...], value: Any) -> dict:
    out = dict(tree)
    if len(path) == 1:
        out[path[0]] = value
    else:
        inner = out.get(path[0])
        out[path[0]] = _set_in(inner if isinstance(inner, dict) else {}, path[1:], value)
    return out


def _broken_tree(tmp: Path, path: tuple[str, ...], value: Any, extra: str | None) -> None:
    tree = _set_in(BASE, path, value)
    if extra is not None:  # an unknown key in a section
        tree = _set_in(tree, (*path[:-1], extra), 1)
    config = tmp / "run.yaml"
    config.write_text(yaml.safe_dump(tree))
    _accepted_or_one_line(*_cli("check", str(config)))


def test_config_files_with_a_wrong_value_or_key_fail_in_one_line(tmp_path,
                                                                 record_property) -> None:
    extra = st.one_of(st.none(), st.sampled_from(["lanes_", "colour", "Matmul", "extends_"]))
    count = run_property(lambda p, v, e: _broken_tree(tmp_path, p, v, e),
                         st.sampled_from(PATHS), JUNK, extra, examples=80)
    record_property("property_examples", count)


def _raw_text(tmp: Path, text: str) -> None:
    config = tmp / "raw.yaml"
    config.write_text(text, encoding="utf-8")
    _accepted_or_one_line(*_cli("check", str(config)))


def test_random_text_as_a_config_file_fails_in_one_line(tmp_path, record_property) -> None:
    valid = TOY.read_text()
    mangled = st.builds(lambda cut, junk: valid[:cut] + junk + valid[cut + len(junk):],
                        st.integers(0, len(valid)), st.text(max_size=6))
    count = run_property(lambda text: _raw_text(tmp_path, text),
                         st.one_of(st.text(max_size=80), mangled), examples=80)
    record_property("property_examples", count)


def _override(key: str, value: str) -> None:
    _accepted_or_one_line(*_cli("check", str(TOY), "--set", f"{key}={value}"))
    _accepted_or_one_line(*_cli("check", str(TOY), "--set", key + value))  # maybe no '='


def test_random_set_overrides_fail_in_one_line(record_property) -> None:
    keys = st.one_of(st.sampled_from([".".join(p) for p in PATHS]),
                     st.text(alphabet="abcxyz._-[]0 ", max_size=12))
    values = st.one_of(JUNK.map(lambda v: yaml.safe_dump(v).strip().removesuffix("..."
                                                                                  ).strip()),
                       st.text(max_size=10))
    count = run_property(_override, keys, values, examples=80)
    record_property("property_examples", count)
