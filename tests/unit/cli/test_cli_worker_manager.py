"""scaler_worker_manager: picking the [[worker_manager]] entry by type, and the errors around it."""

from __future__ import annotations

import logging
import pathlib
from collections.abc import Iterator

import pytest

from scaler.cli import worker_manager
from scaler.cli.worker_manager import load_worker_manager_config
from scaler.config import BaremetalNativeConfig, ConfigError
from scaler.io.address import Address
from scaler.worker_manager_adapter.registry import ADAPTERS, AdapterEntry

ADDRESS = "tcp://127.0.0.1:6378"

TWO_TYPES = f"""
[[worker_manager]]
type = "baremetal_native"
scheduler_address = "{ADDRESS}"
worker_manager_id = "wm-native"
mode = "fixed"
max_task_concurrency = 8

[[worker_manager]]
type = "aws_hpc"
scheduler_address = "{ADDRESS}"
job_queue = "q"
"""


def write(tmp_path: pathlib.Path, text: str) -> str:
    path = tmp_path / "managers.toml"
    path.write_text(text)
    return str(path)


def test_picks_the_entry_whose_type_matches(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path, TWO_TYPES)
    entry, config = load_worker_manager_config(["baremetal_native", "-c", path], environ={})
    assert entry.name == "baremetal_native"
    assert isinstance(config, BaremetalNativeConfig)
    assert (config.worker_manager_id, config.mode, config.max_task_concurrency) == ("wm-native", "fixed", 8)
    assert config.scheduler_address == Address.parse(ADDRESS)


def test_command_line_overrides_the_entry(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path, TWO_TYPES)
    _, config = load_worker_manager_config(
        ["baremetal_native", "tcp://10.0.0.1:1", "--config", path, "-n", "3", "--mode", "dynamic"], environ={}
    )
    assert isinstance(config, BaremetalNativeConfig)
    assert config.scheduler_address == Address.parse("tcp://10.0.0.1:1")
    assert (config.max_task_concurrency, config.mode, config.worker_manager_id) == (3, "dynamic", "wm-native")


def test_a_single_worker_manager_table_is_accepted(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path, f'[worker_manager]\ntype = "baremetal_native"\nscheduler_address = "{ADDRESS}"\n')
    _, config = load_worker_manager_config(["baremetal_native", "-c", path], environ={})
    assert config.scheduler_address == Address.parse(ADDRESS)


def test_no_matching_entry_names_the_file_and_the_type(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path, f'[[worker_manager]]\ntype = "aws_hpc"\nscheduler_address = "{ADDRESS}"\n')
    with pytest.raises(
        ConfigError,
        match=rf"^{path}: no \[\[worker_manager\]\] entry has type = 'baremetal_native' \(found: aws_hpc\)",
    ):
        load_worker_manager_config(["baremetal_native", "-c", path], environ={})
    empty = write(tmp_path, f'[scheduler]\nscheduler_address = "{ADDRESS}"\n')
    with pytest.raises(ConfigError, match=r"entry has type = 'baremetal_native' \(found: no entries\)"):
        load_worker_manager_config(["baremetal_native", "-c", empty], environ={})


def test_several_matching_entries_are_an_error(tmp_path: pathlib.Path) -> None:
    path = write(
        tmp_path, TWO_TYPES + f'\n[[worker_manager]]\ntype = "baremetal_native"\nscheduler_address = "{ADDRESS}"\n'
    )
    with pytest.raises(
        ConfigError,
        match=rf"^{path}: 2 \[\[worker_manager\]\] entries have type = 'baremetal_native'; keep exactly one",
    ):
        load_worker_manager_config(["baremetal_native", "-c", path], environ={})


def test_entry_without_type_is_an_error(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path, TWO_TYPES + f'\n[[worker_manager]]\nscheduler_address = "{ADDRESS}"\n')
    with pytest.raises(ConfigError, match=rf"^{path}: \[\[worker_manager\]\] #3: missing the type key"):
        load_worker_manager_config(["baremetal_native", "-c", path], environ={})


def test_bad_key_in_the_selected_entry_names_the_entry(tmp_path: pathlib.Path) -> None:
    path = write(
        tmp_path, f'[[worker_manager]]\ntype = "baremetal_native"\nscheduler_address = "{ADDRESS}"\nmod = "x"\n'
    )
    with pytest.raises(
        ConfigError,
        match=rf"^{path}: \[\[worker_manager\]\] #1 \(type = 'baremetal_native'\) unknown key 'mod' "
        r"\(did you mean 'mode'\?\)",
    ):
        load_worker_manager_config(["baremetal_native", "-c", path], environ={})


def test_every_documented_type_is_available() -> None:
    names = ("baremetal_native", "symphony", "aws_raw_ecs", "aws_hpc", "orb_aws_ec2", "oci_raw", "oci_hpc")
    assert all(ADAPTERS[name].available for name in names)


def test_unknown_type_and_missing_type_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        worker_manager.main(["bogus", ADDRESS])
    assert exit_info.value.code == 2
    assert "invalid choice: 'bogus'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        worker_manager.main([])
    assert exit_info.value.code == 2


def test_bad_value_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        worker_manager.main(["baremetal_native", ADDRESS, "-mtc", "-9"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == (
        "scaler_worker_manager: error: argument -mtc/--max-task-concurrency/-n/--num-of-workers: "
        "must be >= -1 (got -9)\n"
    )


def test_help_lists_every_type_and_only_imports_the_selected_one(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        worker_manager.main(["--help"])
    text = capsys.readouterr().out
    assert all(name in text for name in ADAPTERS)


@pytest.fixture
def restore_scaler_logger() -> Iterator[None]:
    logger = logging.getLogger("scaler")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    logger.handlers[:], logger.level, logger.propagate = saved


@pytest.mark.usefixtures("restore_scaler_logger")
def test_main_hands_the_config_to_the_run_function(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = ADAPTERS["baremetal_native"]
    stand_in = AdapterEntry(real.name, real.summary, real.config_class_path, "builtins:print")
    monkeypatch.setitem(ADAPTERS, "baremetal_native", stand_in)
    worker_manager.main(["baremetal_native", ADDRESS, "-wmi", "wm-1", "-lp", "/dev/stderr"])
    assert "BaremetalNativeConfig(" in capsys.readouterr().out


def test_missing_required_option_names_its_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        worker_manager.main(["aws_hpc", ADDRESS, "--job-definition", "d", "--s3-bucket", "b"])
    assert exit_info.value.code == 2
    assert "the --job-queue argument is required" in capsys.readouterr().err
