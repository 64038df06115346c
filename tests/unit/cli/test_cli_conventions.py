"""What every command shares (the documents' conventions): --version, -c/--config, ``python -m scaler``, usage."""

from __future__ import annotations

import pathlib
import subprocess
import sys
from collections.abc import Callable, Sequence

import pytest

from scaler.cli import gui, object_storage_server, scheduler, top, worker_manager
from scaler.cli import scaler as launcher
from scaler.config import SchedulerConfig, load_config
from scaler.version import __version__

Main = Callable[[Sequence[str] | None], None]

VERSIONED: list[tuple[str, Main, list[str]]] = [
    ("scaler", launcher.main, ["--version"]),
    ("scaler_scheduler", scheduler.main, ["--version"]),
    ("scaler_object_storage_server", object_storage_server.main, ["--version"]),
    ("scaler_top", top.main, ["--version"]),
    ("scaler_gui", gui.main, ["--version"]),
    ("scaler_worker_manager", worker_manager.main, ["--version"]),
    ("scaler_worker_manager aws_hpc", worker_manager.main, ["aws_hpc", "--version"]),
]


@pytest.mark.parametrize(("prog", "main", "argv"), VERSIONED, ids=[entry[0] for entry in VERSIONED])
def test_every_command_prints_its_version(
    prog: str, main: Main, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"{prog} {__version__}\n"


def test_python_dash_m_scaler_prints_the_commands() -> None:
    result = subprocess.run([sys.executable, "-m", "scaler"], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0
    for command in ("scaler ", "scaler_scheduler", "scaler_worker_manager", "scaler_top", "scaler_gui"):
        assert command in result.stdout
    version = subprocess.run(
        [sys.executable, "-m", "scaler", "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert version.stdout == f"scaler {__version__}\n"


@pytest.mark.parametrize("flag", ["--config", "-c"])
def test_scaler_takes_the_file_with_config_too(
    flag: str, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The documents: every command takes --config/-c. For scaler it names the same file as the positional.
    path = tmp_path / "stack.toml"
    path.write_text('[scheduler]\nscheduler_address = "tcp://127.0.0.1:6378"\n')
    planned: list[list[str]] = []
    monkeypatch.setattr(launcher, "supervise", lambda steps: planned.append([step.label for step in steps]) or 0)
    monkeypatch.setattr(launcher, "setup_logging", lambda *args: None)  # leave the scaler logger to other tests
    with pytest.raises(SystemExit) as exit_info:
        launcher.main([flag, str(path)])
    assert exit_info.value.code == 0
    assert planned == [["[scheduler]"]]


def test_scaler_needs_exactly_one_file(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        launcher.main([])
    assert exit_info.value.code == 2
    assert "a TOML file is required" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        launcher.main(["a.toml", "-c", "b.toml"])
    assert exit_info.value.code == 2
    assert "give the TOML file once" in capsys.readouterr().err


def test_a_typo_in_a_type_flag_shows_that_types_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        worker_manager.main(["baremetal_native", "tcp://127.0.0.1:1", "--max-task-concurency", "3"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith("usage: scaler_worker_manager baremetal_native ")
    assert "[--mode {dynamic,fixed}]" in error  # the type's own options are in the usage shown
    assert error.endswith(
        "scaler_worker_manager baremetal_native: error: unrecognized arguments: --max-task-concurency 3\n"
    )


def test_logging_paths_before_the_address_leave_the_address_alone() -> None:
    # The documents write "scaler_scheduler [options] <scheduler_address>"; -lp takes one or more paths.
    config = load_config(SchedulerConfig, ["-lp", "a.log", "tcp://127.0.0.1:6378"], prog="p", environ={})
    assert (str(config.scheduler_address), config.logging_paths) == ("tcp://127.0.0.1:6378", ("a.log",))
    config = load_config(SchedulerConfig, ["-lp", "a.log", "b.log", "ipc:///tmp/s"], prog="p", environ={})
    assert (str(config.scheduler_address), config.logging_paths) == ("ipc:///tmp/s", ("a.log", "b.log"))
    config = load_config(SchedulerConfig, ["tcp://127.0.0.1:6378", "-lp", "a.log", "b.log"], prog="p", environ={})
    assert config.logging_paths == ("a.log", "b.log")


def test_worker_manager_logging_paths_before_the_address(tmp_path: pathlib.Path) -> None:
    _entry, config = worker_manager.load_worker_manager_config(
        ["baremetal_native", "-lp", str(tmp_path / "m.log"), "tcp://127.0.0.1:6378"], {}
    )
    assert str(config.scheduler_address) == "tcp://127.0.0.1:6378"
    assert config.logging_paths == (str(tmp_path / "m.log"),)


def test_worker_manager_config_file_inherits_the_scheduler_address(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "stack.toml"
    path.write_text('[scheduler]\nbind_address = "tcp://0.0.0.0:7000"\n[[worker_manager]]\ntype = "baremetal_native"\n')
    _entry, config = worker_manager.load_worker_manager_config(["baremetal_native", "-c", str(path)], {})
    assert str(config.scheduler_address) == "tcp://127.0.0.1:7000"
    _entry, config = worker_manager.load_worker_manager_config(
        ["baremetal_native", "tcp://10.1.1.1:9", "-c", str(path)], {}
    )
    assert str(config.scheduler_address) == "tcp://10.1.1.1:9"  # the command line still wins
