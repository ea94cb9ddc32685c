"""Bundled configs by name from any folder: run/compare resolve them, ``imcsim list``
prints the names, ``imcsim init`` copies one that still loads from its new place."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from conftest import REPO

from sim.cli import main
from sim.config import load_config
from sim.config.presets import (
    copy_preset,
    list_presets,
    preset_name,
    presets_root,
    resolve_config_name,
)
from sim.errors import ConfigError
from sim.sweep.spec import load_spec


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory outside the repository."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as stop:
        main(list(args))
    out, err = capsys.readouterr()
    return int(stop.value.code or 0), out, err


@pytest.mark.parametrize("name", ["flashnorm_toy", "flashnorm_toy.yaml",
                                  "configs/flashnorm_toy.yaml", "configs/flashnorm_toy"])
def test_names_resolve_to_the_bundled_file(elsewhere: Path, name: str) -> None:
    assert resolve_config_name(Path(name)) == (REPO / "configs/flashnorm_toy.yaml").resolve()


def test_a_local_file_wins_over_a_preset(elsewhere: Path) -> None:
    (elsewhere / "flashnorm_toy").write_text("{}\n")
    assert resolve_config_name(Path("flashnorm_toy")) == Path("flashnorm_toy")


def test_compare_by_name_from_an_empty_folder(elsewhere: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _cli(capsys, "compare", "flashnorm_toy", "--format", "json")
    assert status == 0
    latency = {r["strategy"]: r["latency_cycles"] for r in json.loads(out)["results"]}
    # the FlashNorm paper's toy machine: 24, 21 and 17 cycles
    assert (latency["serialized"], latency["pipelined"], latency["deferred"]) == (24, 21, 17)


def test_an_unknown_name_is_one_line_exit_2(elsewhere: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = _cli(capsys, "run", "paper/nope")
    assert status == 2 and out == ""
    assert err == ("imcsim: error: paper/nope: no such file, nor a bundled config of that "
                   "name (imcsim list shows them)\n")


def test_sweep_takes_a_bundled_spec_by_name(elsewhere: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    import sim.sweep

    seen: list[Path] = []

    def stop(spec: Path, **_: object) -> None:  # the spec the command would run
        seen.append(spec)
        raise ConfigError("stopped before running")

    monkeypatch.setattr(sim.sweep, "run_sweep", stop)
    status, _, err = _cli(capsys, "sweep", "sweeps/quick")
    assert status == 2 and err == "imcsim: error: stopped before running\n"
    assert seen == [(REPO / "configs/sweeps/quick.yaml").resolve()]


def test_list_prints_names_that_resolve(elsewhere: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _cli(capsys, "list")
    assert status == 0
    assert all(len(line) <= 100 for line in out.splitlines())
    assert "imcsim run NAME" in out and "imcsim init NAME" in out
    named = {line.split()[0] for line in out.splitlines() if line.startswith("  ")}
    configs = [p for p, _ in list_presets() if p.startswith("configs/")]
    assert {preset_name(p) for p in configs} <= named
    root = presets_root()
    assert root is not None
    for path in configs:
        assert resolve_config_name(Path(preset_name(path))) == (root / path).resolve()


def test_init_copies_a_config_that_loads_the_same(elsewhere: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _cli(capsys, "init", "paper/llama3_8b_decode")
    copy = elsewhere / "llama3_8b_decode.yaml"
    assert status == 0 and out == (f"wrote {copy.name}; edit it, then: imcsim run "
                                   f"{copy.name}\n")
    original = load_config(REPO / "configs/paper/llama3_8b_decode.yaml")
    assert load_config(copy).model_dump() == original.model_dump()
    assert "extends: machines/corsair_card.yaml" in copy.read_text()  # ../ would break here
    copy.write_text(copy.read_text() + "# edited\n")
    status, _, err = _cli(capsys, "init", "paper/llama3_8b_decode")
    assert status == 2 and err.count("\n") == 1 and "exists; not overwritten" in err
    assert copy.read_text().endswith("# edited\n")


def test_init_into_a_folder_and_of_a_sweep(elsewhere: Path) -> None:
    (elsewhere / "mine").mkdir()
    spec = copy_preset("sweeps/quick", elsewhere / "mine")
    assert spec == elsewhere / "mine" / "quick.yaml"
    _, base = load_spec(spec)
    assert base == (REPO / "configs/paper/llama3_8b_decode.yaml").resolve()
    with pytest.raises(ConfigError, match=r"^NAME: no bundled config 'nope'"):
        copy_preset("nope", elsewhere)
    assert sorted(p.name for p in elsewhere.rglob("*")) == ["mine", "quick.yaml"]


def test_the_wheel_carries_every_preset_folder() -> None:
    """The wheel maps configs/, workloads/ and examples/hf/ into sim/_presets, where
    `presets_root` looks first (checked by hand: `pip install .`, then from an empty
    folder `imcsim compare flashnorm_toy`)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    include = project["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    assert include == {"configs": "sim/_presets/configs",
                       "workloads": "sim/_presets/workloads",
                       "examples/hf": "sim/_presets/examples/hf"}
