"""Precedence (command line > TOML > environment > default) and the one-line errors for every kind of bad input."""

from __future__ import annotations

import dataclasses
import pathlib
from typing import ClassVar

import pytest

from scaler.config import (
    BaremetalNativeConfig,
    ConfigError,
    SchedulerConfig,
    TopConfig,
    WorkerManagerConfig,
    load_config,
    option,
    resolve_config,
)
from scaler.config.checks import greater_than
from scaler.io.address import Address

ADDRESS = "tcp://127.0.0.1:8516"


def write(tmp_path: pathlib.Path, text: str, name: str = "config.toml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@dataclasses.dataclass(frozen=True, kw_only=True)
class CloudConfig(WorkerManagerConfig):
    """An adapter-style section: the common fields plus one that also reads an environment variable."""

    options_title: ClassVar[str] = "cloud options"
    region: str = option("us-east-1", env="TEST_SCALER_REGION", help="region")
    size: int = option(1, env="TEST_SCALER_SIZE", check=greater_than(0), help="size")


# --- precedence -------------------------------------------------------------------------------------------------


def test_command_line_beats_toml_beats_environment_beats_default(tmp_path: pathlib.Path) -> None:
    # The documents: command line > TOML > defaults. An ambient variable (AWS_REGION exported for another tool)
    # must not override what the user wrote in the file they passed; it only fills in what the file leaves out.
    path = write(tmp_path, f'[worker_manager]\nscheduler_address = "{ADDRESS}"\nregion = "toml"\nsize = 3\n')
    env = {"TEST_SCALER_REGION": "env", "TEST_SCALER_SIZE": "7"}

    def load(*argv: str) -> CloudConfig:
        return load_config(CloudConfig, ["-c", path, *argv], prog="p", environ=env)

    assert load("--region", "cli").region == "cli"
    assert load().region == "toml"
    assert load().size == 3
    without_region = write(tmp_path, f'[worker_manager]\nscheduler_address = "{ADDRESS}"\n', name="bare.toml")
    assert load_config(CloudConfig, ["-c", without_region], prog="p", environ=env).region == "env"
    assert load_config(CloudConfig, ["-c", path], prog="p", environ={}).region == "toml"
    assert load_config(CloudConfig, [ADDRESS], prog="p", environ={}).region == "us-east-1"
    assert load_config(CloudConfig, [ADDRESS], prog="p", environ={"TEST_SCALER_SIZE": "9"}).size == 9


def test_fields_without_env_ignore_the_environment(tmp_path: pathlib.Path) -> None:
    config = load_config(SchedulerConfig, [ADDRESS], prog="p", environ={"CLIENT_TIMEOUT_SECONDS": "5"})
    assert config.client_timeout_seconds == 60


def test_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"environment variable TEST_SCALER_SIZE: expected an integer, got 'big'"):
        load_config(CloudConfig, [ADDRESS], prog="p", environ={"TEST_SCALER_SIZE": "big"})


def test_command_line_overrides_toml_including_switches_and_lists(tmp_path: pathlib.Path) -> None:
    path = write(
        tmp_path,
        "[scheduler]\n"
        f'scheduler_address = "{ADDRESS}"\n'
        "protected = true\n"
        'logging_paths = ["/dev/stderr"]\n'
        "client_timeout_seconds = 30\n"
        'event_loop = "builtin"\n',
    )
    from_file = load_config(SchedulerConfig, ["-c", path], prog="p", environ={})
    assert (from_file.protected, from_file.logging_paths, from_file.client_timeout_seconds) == (
        True,
        ("/dev/stderr",),
        30,
    )
    overridden = load_config(
        SchedulerConfig,
        ["tcp://127.0.0.1:9000", "--config", path, "--no-protected", "-lp", "/dev/stdout", "a.log", "-ct", "5"],
        prog="p",
        environ={},
    )
    assert overridden.scheduler_address == Address.parse("tcp://127.0.0.1:9000")
    assert overridden.protected is False
    assert overridden.logging_paths == ("/dev/stdout", "a.log")
    assert overridden.client_timeout_seconds == 5


def test_value_equal_to_the_default_on_the_command_line_still_wins(tmp_path: pathlib.Path) -> None:
    # Why arguments are parsed with default=SUPPRESS: "-ct 60" must override a TOML 30 even though 60 is the default.
    path = write(tmp_path, f'[scheduler]\nscheduler_address = "{ADDRESS}"\nclient_timeout_seconds = 30\n')
    assert load_config(SchedulerConfig, ["-c", path, "-ct", "60"], prog="p", environ={}).client_timeout_seconds == 60


def test_positional_address_may_come_from_toml_only(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path, f'[top]\nmonitor_address = "{ADDRESS}"\ntimeout = 2\n')
    config = load_config(TopConfig, ["--config", path], prog="p", environ={})
    assert (config.monitor_address, config.timeout) == (Address.parse(ADDRESS), 2.0)


def test_missing_positional_is_a_clear_error(tmp_path: pathlib.Path) -> None:
    with pytest.raises(
        ConfigError, match=r"the scheduler_address argument is required .*scheduler_address or bind_address"
    ):
        load_config(SchedulerConfig, [], prog="p", environ={})
    path = write(tmp_path, "[scheduler]\nclient_timeout_seconds = 3\n")
    with pytest.raises(
        ConfigError, match=rf"{path}: \[scheduler\] missing required key scheduler_address or bind_address"
    ):
        load_config(SchedulerConfig, ["-c", path], prog="p", environ={})


# --- errors -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "client_timout_seconds = 5",
            r"unknown key 'client_timout_seconds' \(did you mean 'client_timeout_seconds'\?\); "
            r"allowed keys: .*io_threads",
        ),
        ('io_threads = "4"', r"io_threads: expected an integer, got string '4'"),
        ("io_threads = 2.5", r"io_threads: expected an integer, got float 2.5"),
        ("protected = 1", r"protected: expected true or false, got integer 1"),
        ("client_timeout_seconds = true", r"client_timeout_seconds: expected a number, got boolean true"),
        ("logging_paths = [1]", r"logging_paths: expected a string, got integer 1"),
        ('monitor_address = "localhost:6380"', r"monitor_address: invalid address 'localhost:6380'"),
        ('monitor_address = "tcp://host:99999"', r"monitor_address: invalid address .*port must be in 1..65535"),
        ('event_loop = "asyncio"', r"event_loop: invalid value 'asyncio' \(allowed: builtin, uvloop\)"),
        (
            'policy_engine_type = "fancy"',
            r"policy_engine_type: invalid value 'fancy' \(allowed: simple, waterfall_v1\)",
        ),
        (
            'logging_level = "info"',
            r"logging_level: invalid value 'info' \(allowed: CRITICAL, ERROR, WARNING, INFO, DEBUG\)",
        ),
        ("client_timeout_seconds = 0", r"client_timeout_seconds: must be > 0 \(got 0\)"),
        ("worker_timeout_seconds = -1", r"worker_timeout_seconds: must be > 0 \(got -1\)"),
        ("object_retention_seconds = 0", r"object_retention_seconds: must be > 0"),
        (
            "load_balance_seconds = 0",
            r"load_balance_seconds: must not be 0 \(use a negative value to disable balancing\)",
        ),
        ("load_balance_trigger_times = 0", r"load_balance_trigger_times: must be > 0 \(got 0\)"),
        ("max_number_of_tasks_waiting = -2", r"max_number_of_tasks_waiting: must be >= -1 \(got -2\)"),
        ("status_report_interval_seconds = 0", r"status_report_interval_seconds: must be > 0"),
        ("io_threads = 0", r"io_threads: must be > 0"),
        ('policy_content = ""', r"policy_content: must not be empty"),
        (
            'logging_config_file = "/no/such/file.conf"',
            r"logging_config_file: no such file \(got '/no/such/file.conf'\)",
        ),
    ],
)
def test_bad_toml_values_name_file_section_key_and_what_is_allowed(
    tmp_path: pathlib.Path, line: str, message: str
) -> None:
    path = write(tmp_path, f'[scheduler]\nscheduler_address = "{ADDRESS}"\n{line}\n')
    with pytest.raises(ConfigError, match=rf"^{path}: \[scheduler\] {message}"):
        load_config(SchedulerConfig, ["-c", path], prog="p", environ={})


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-ct", "soon"], r"argument -ct/--client-timeout-seconds: expected a number, got 'soon'"),
        (["-ls", "0"], r"argument -ls/--load-balance-seconds: must not be 0"),
        (["-mt", "-5"], r"argument -mt/--max-number-of-tasks-waiting: must be >= -1 \(got -5\)"),
        (["-el", "tokio"], r"argument -el/--event-loop: invalid value 'tokio' \(allowed: builtin, uvloop\)"),
        (["-osa", "tcp://h"], r"argument -osa/--object-storage-address: invalid address 'tcp://h'"),
        (["-lp"], r"argument -lp/--logging-paths: must not be empty"),
    ],
)
def test_bad_command_line_values_name_the_flag(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=rf"^{message}"):
        load_config(SchedulerConfig, [ADDRESS, *argv], prog="p", environ={})


def test_bad_positional_address_names_the_argument() -> None:
    with pytest.raises(ConfigError, match=r"^argument scheduler_address: invalid address 'localhost:1'"):
        load_config(SchedulerConfig, ["localhost:1"], prog="p", environ={})


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-mtc", "-2"], r"argument -mtc/--max-task-concurrency/-n/--num-of-workers: must be >= -1 \(got -2\)"),
        (["-wtqs", "0"], r"argument -wtqs/--per-worker-task-queue-size: must be > 0"),
        (["-his", "0"], r"argument -his/--heartbeat-interval-seconds: must be > 0"),
        (["-tts", "-1"], r"argument -tts/--task-timeout-seconds: must be >= 0"),
        (["-dts", "0"], r"argument -dts/--death-timeout-seconds: must be > 0"),
        (["-it", "0"], r"argument -it/--io-threads: must be > 0"),
        (["--mode", "FIXED"], r"argument --mode: invalid value 'FIXED' \(allowed: dynamic, fixed\)"),
        (["-wmi", ""], r"argument -wmi/--worker-manager-id: must not be empty"),
        (["-sdc", "-1"], r"argument -sdc/--scale-down-cooldown-seconds: must be >= 0"),
    ],
)
def test_bad_worker_manager_values(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=rf"^{message}"):
        load_config(BaremetalNativeConfig, [ADDRESS, *argv], prog="p", environ={})


def test_uvloop_needs_uvloop_installed() -> None:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match=r"event-loop: uvloop is not installed \(pip install uvloop\)"):
            load_config(SchedulerConfig, [ADDRESS, "-el", "uvloop"], prog="p", environ={})
    else:
        assert load_config(SchedulerConfig, [ADDRESS, "-el", "uvloop"], prog="p", environ={}).event_loop == "uvloop"


def test_malformed_toml_reports_the_line(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path, '[scheduler]\nscheduler_address = "tcp://127.0.0.1:1"\nio_threads = = 3\n')
    with pytest.raises(ConfigError, match=rf"^{path}: invalid TOML: .*line 3"):
        load_config(SchedulerConfig, ["-c", path], prog="p", environ={})


def test_missing_file_and_missing_section(tmp_path: pathlib.Path) -> None:
    missing = str(tmp_path / "absent.toml")
    with pytest.raises(ConfigError, match=rf"^{missing}: cannot read config file: No such file or directory"):
        load_config(SchedulerConfig, ["-c", missing], prog="p", environ={})
    path = write(tmp_path, f'[gui]\nmonitor_address = "{ADDRESS}"\n')
    with pytest.raises(ConfigError, match=rf"^{path}: no \[scheduler\] section \(sections in the file: \[gui\]\)"):
        load_config(SchedulerConfig, ["-c", path], prog="p", environ={})
    path = write(tmp_path, "scheduler = 3\n")
    with pytest.raises(ConfigError, match=rf"^{path}: \[scheduler\] must be a table"):
        load_config(SchedulerConfig, ["-c", path], prog="p", environ={})


def test_unknown_flag_and_help_exit_through_argparse(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        load_config(SchedulerConfig, [ADDRESS, "--bogus"], prog="scaler_scheduler", environ={})
    assert exit_info.value.code == 2
    assert "scaler_scheduler: error: unrecognized arguments: --bogus" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        load_config(SchedulerConfig, ["--help"], prog="scaler_scheduler", environ={})
    assert exit_info.value.code == 0
    # Abbreviations are refused: they would silently change meaning when a flag with the same prefix is added.
    with pytest.raises(SystemExit):
        load_config(SchedulerConfig, [ADDRESS, "--client-timeout", "5"], prog="p", environ={})


def test_resolve_without_sources_uses_defaults_and_builds_adapter_sections() -> None:
    config = resolve_config(CloudConfig, cli={"scheduler_address": ADDRESS})
    assert (config.region, config.size) == ("us-east-1", 1)
    assert config.heartbeat_interval_seconds == 2  # common worker fields come with WorkerManagerConfig
