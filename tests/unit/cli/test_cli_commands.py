"""The single-section commands: argparse-style errors (exit 2, one line), --help, and starting the runtime."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence

import pytest

from scaler.cli import gui, object_storage_server, scheduler, top
from scaler.cli._entry import start
from scaler.config import ObjectStorageServerConfig, TopConfig
from scaler.io.address import Address

Main = Callable[[Sequence[str] | None], None]

COMMANDS: list[tuple[str, Main, list[str], str]] = [
    (
        "scaler_scheduler",
        scheduler.main,
        ["tcp://127.0.0.1:1", "-wt", "0"],
        "argument -wt/--worker-timeout-seconds: must be > 0 (got 0)",
    ),
    (
        "scaler_object_storage_server",
        object_storage_server.main,
        ["tcp://127.0.0.1"],
        "argument object_storage_address: invalid address 'tcp://127.0.0.1': expected tcp://HOST:PORT",
    ),
    ("scaler_top", top.main, ["tcp://127.0.0.1:1", "-t", "-1"], "argument -t/--timeout: must be > 0 (got -1)"),
    ("scaler_gui", gui.main, [], "the monitor_address argument is required"),
]


@pytest.mark.parametrize(("prog", "main", "argv", "message"), COMMANDS, ids=[command[0] for command in COMMANDS])
def test_bad_input_exits_2_with_one_line(
    prog: str, main: Main, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith(f"{prog}: error: {message}")
    assert error.count("\n") == 1


@pytest.mark.parametrize(("prog", "main", "argv", "message"), COMMANDS, ids=[command[0] for command in COMMANDS])
def test_help(prog: str, main: Main, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: {prog} ")


@pytest.fixture
def restore_scaler_logger() -> Iterator[None]:
    logger = logging.getLogger("scaler")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    logger.handlers[:], logger.level, logger.propagate = saved


CONFIG = TopConfig(monitor_address=Address.parse("tcp://127.0.0.1:1"))


def test_start_calls_the_entry_point_with_the_config(capsys: pytest.CaptureFixture[str]) -> None:
    start("scaler_top", CONFIG, "builtins:print")
    assert capsys.readouterr().out.startswith("TopConfig(monitor_address=")


def test_start_reports_a_missing_runtime_briefly(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        start("scaler_top", CONFIG, "scaler.no_such_runtime:run")
    assert exit_info.value.code == 1
    assert capsys.readouterr().err.startswith("scaler_top: error: scaler.no_such_runtime:run is not available")
    with pytest.raises(SystemExit):
        start("scaler_top", CONFIG, "scaler.config:no_such_function")
    assert "scaler.config has no no_such_function" in capsys.readouterr().err


def test_start_turns_ctrl_c_into_exit_130() -> None:
    with pytest.raises(SystemExit) as exit_info:
        start("scaler_top", CONFIG, f"{__name__}:interrupted")
    assert exit_info.value.code == 130


def interrupted(config: object) -> None:
    raise KeyboardInterrupt


@pytest.mark.usefixtures("restore_scaler_logger")
def test_start_sets_up_logging_first(capsys: pytest.CaptureFixture[str]) -> None:
    config = ObjectStorageServerConfig(
        object_storage_address=Address.parse("tcp://127.0.0.1:1"), logging_level="ERROR", logging_paths=("/dev/stderr",)
    )
    start("scaler_object_storage_server", config, "builtins:print")
    assert logging.getLogger("scaler").level == logging.ERROR
    with pytest.raises(SystemExit) as exit_info:
        start(
            "scaler_object_storage_server",
            ObjectStorageServerConfig(
                object_storage_address=Address.parse("tcp://127.0.0.1:1"), logging_paths=("/no/such/dir/x.log",)
            ),
            "builtins:print",
        )
    assert exit_info.value.code == 1
    assert "cannot set up logging" in capsys.readouterr().err
