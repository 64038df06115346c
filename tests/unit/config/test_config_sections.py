"""Every section's defaults, --help, TOML aliases and the value parsers (capabilities, preload, HOST:PORT)."""

from __future__ import annotations

import os
import pathlib

import pytest

from scaler.config import (
    BaremetalNativeConfig,
    ConfigError,
    GuiConfig,
    ObjectStorageServerConfig,
    SchedulerConfig,
    TopConfig,
    build_parser,
    format_capabilities,
    parse_capabilities,
    parse_preload,
    resolve_config,
    split_host_port,
)
from scaler.io.address import Address

ADDRESS = "tcp://127.0.0.1:8516"
LOGGING_FLAGS = ["-ll", "--logging-level", "-lp", "--logging-paths", "-lcf", "--logging-config-file"]

SPEC_FLAGS: dict[type, list[str]] = {
    SchedulerConfig: [
        *LOGGING_FLAGS,
        *("-osa", "--object-storage-address", "-aosa", "--advertised-object-storage-address"),
        *("-ma", "--monitor-address", "-p", "--protected", "-mt", "--max-number-of-tasks-waiting"),
        *("-ct", "--client-timeout-seconds", "-wt", "--worker-timeout-seconds"),
        *("-ot", "--object-retention-seconds", "-ls", "--load-balance-seconds"),
        *("-lbt", "--load-balance-trigger-times", "-el", "--event-loop", "-it", "--io-threads"),
        *("-et", "--policy-engine-type", "-pc", "--policy-content", "-sri", "--status-report-interval-seconds"),
        *("-c", "--config", "scheduler_address"),
    ],
    ObjectStorageServerConfig: [*LOGGING_FLAGS, "-c", "--config", "object_storage_address"],
    TopConfig: ["-t", "--timeout", "-c", "--config", "monitor_address"],
    GuiConfig: [*LOGGING_FLAGS, "--gui-address", "-c", "--config", "monitor_address"],
    BaremetalNativeConfig: [
        *LOGGING_FLAGS,
        *("-pwc", "--per-worker-capabilities", "-wtqs", "--per-worker-task-queue-size"),
        *("-his", "--heartbeat-interval-seconds", "-tts", "--task-timeout-seconds"),
        *("-dts", "--death-timeout-seconds", "-gc", "--garbage-collect-interval-seconds"),
        *("-tm", "--trim-memory-threshold-bytes", "-hps", "--hard-processor-suspend", "-it", "--io-threads"),
        *("-el", "--event-loop", "--preload", "-wsa", "--worker-scheduler-address", "-osa", "--object-storage-address"),
        *("-wmi", "--worker-manager-id", "-mtc", "--max-task-concurrency", "-sdc", "--scale-down-cooldown-seconds"),
        *("--mode", "--worker-type", "-n", "--num-of-workers", "-c", "--config", "scheduler_address"),
    ],
}


@pytest.mark.parametrize("cls", list(SPEC_FLAGS), ids=lambda cls: cls.__name__)
def test_help_lists_every_flag_of_the_spec(cls: type) -> None:
    text = build_parser(cls, prog="prog").format_help()
    missing = [flag for flag in SPEC_FLAGS[cls] if flag not in text.split() and f"{flag}," not in text.split()]
    assert missing == []
    assert "default: " in text


def test_help_shows_defaults_and_choices() -> None:
    text = " ".join(build_parser(SchedulerConfig, prog="scaler_scheduler").format_help().split())
    assert "{builtin,uvloop}" in text
    assert "{simple,waterfall_v1}" in text
    assert "'allocate=even_load; scaling=no'" in text
    assert "default: 60" in text
    assert "--no-protected" in text
    assert "TOML key: scheduler_address or bind_address" in text


def test_scheduler_defaults() -> None:
    config = SchedulerConfig(scheduler_address=Address.parse(ADDRESS))
    assert config.object_storage_address is None
    assert config.advertised_object_storage_address is None
    assert config.monitor_address is None
    assert config.protected is False
    assert config.max_number_of_tasks_waiting == -1
    assert config.client_timeout_seconds == config.worker_timeout_seconds == config.object_retention_seconds == 60
    assert config.load_balance_seconds == 1.0
    assert config.load_balance_trigger_times == 2
    assert config.event_loop == "builtin"
    assert config.io_threads == 1
    assert config.policy_engine_type == "simple"
    assert config.policy_content == "allocate=even_load; scaling=no"
    assert config.status_report_interval_seconds == 1.0
    assert (config.logging_level, config.logging_paths, config.logging_config_file) == ("INFO", ("/dev/stdout",), None)
    assert str(config.effective_object_storage_address) == "tcp://127.0.0.1:8517"
    assert str(config.effective_monitor_address) == "tcp://127.0.0.1:8518"


def test_baremetal_native_defaults() -> None:
    config = BaremetalNativeConfig(scheduler_address=ADDRESS)  # type: ignore[arg-type]  # str is converted
    assert config.scheduler_address == Address.parse(ADDRESS)
    assert config.worker_manager_id is None
    assert config.max_task_concurrency == max(1, (os.cpu_count() or 1) - 1)
    assert config.scale_down_cooldown_seconds == 30
    assert config.mode == "dynamic"
    assert config.worker_type is None
    assert config.per_worker_capabilities == {}
    assert config.per_worker_task_queue_size == 1000
    assert config.heartbeat_interval_seconds == 2
    assert config.task_timeout_seconds == 0
    assert config.death_timeout_seconds == 300
    assert config.garbage_collect_interval_seconds == 30
    assert config.trim_memory_threshold_bytes == 1073741824
    assert config.hard_processor_suspend is False
    assert config.io_threads == 1
    assert config.event_loop == "builtin"
    assert config.preload is None
    assert config.worker_scheduler_address is None
    assert config.object_storage_address is None
    assert config.effective_worker_scheduler_address == Address.parse(ADDRESS)


def test_monitor_and_storage_defaults() -> None:
    top = TopConfig(monitor_address=Address.parse("tcp://127.0.0.1:8518"))
    assert top.timeout == 5
    gui = GuiConfig(monitor_address=Address.parse("tcp://127.0.0.1:8518"))
    assert gui.gui_address == "127.0.0.1:50001"
    assert gui.logging_level == "INFO"
    storage = ObjectStorageServerConfig(object_storage_address=Address.parse("tcp://127.0.0.1:8517"))
    assert storage.logging_paths == ("/dev/stdout",)


@pytest.mark.parametrize(
    ("cls", "field"),
    [(SchedulerConfig, "scheduler_address"), (ObjectStorageServerConfig, "object_storage_address")],
)
def test_bind_address_is_an_alias_key(cls: type, field: str) -> None:
    config: object = resolve_config(cls, toml={"bind_address": ADDRESS}, origin="f.toml: [x]")
    assert getattr(config, field) == Address.parse(ADDRESS)


def test_alias_and_canonical_key_together_are_rejected() -> None:
    with pytest.raises(ConfigError, match=r"f.toml: \[scheduler\] 'scheduler_address' and 'bind_address' both set"):
        resolve_config(
            SchedulerConfig, toml={"scheduler_address": ADDRESS, "bind_address": ADDRESS}, origin="f.toml: [scheduler]"
        )


def test_hyphenated_toml_keys() -> None:
    config = resolve_config(
        SchedulerConfig,
        toml={"scheduler-address": ADDRESS, "client-timeout-seconds": 5, "logging-paths": ["/dev/stderr"]},
        origin="f.toml: [scheduler]",
    )
    assert config.client_timeout_seconds == 5.0
    assert config.logging_paths == ("/dev/stderr",)


def test_num_of_workers_is_an_alias_flag_for_max_task_concurrency() -> None:
    for flag in ("-n", "--num-of-workers", "-mtc", "--max-task-concurrency"):
        namespace = build_parser(BaremetalNativeConfig, prog="p").parse_args([ADDRESS, flag, "7"])
        config = resolve_config(BaremetalNativeConfig, cli=vars(namespace))
        assert config.max_task_concurrency == 7


def test_fixed_mode_rejects_unlimited_concurrency() -> None:
    with pytest.raises(ConfigError, match=r"mode = fixed .* must be >= 0 \(got -1\)"):
        resolve_config(
            BaremetalNativeConfig, cli={"scheduler_address": ADDRESS, "mode": "fixed", "max_task_concurrency": "-1"}
        )
    dynamic = resolve_config(BaremetalNativeConfig, cli={"scheduler_address": ADDRESS, "max_task_concurrency": "-1"})
    assert dynamic.max_task_concurrency == -1


def test_direct_construction_is_checked() -> None:
    with pytest.raises(ConfigError, match=r"SchedulerConfig.client_timeout_seconds: must be > 0 \(got -1\)"):
        SchedulerConfig(scheduler_address=Address.parse(ADDRESS), client_timeout_seconds=-1)
    with pytest.raises(ConfigError, match=r"SchedulerConfig.event_loop: invalid value 'asyncio'"):
        SchedulerConfig(scheduler_address=Address.parse(ADDRESS), event_loop="asyncio")  # type: ignore[arg-type]


def test_configs_are_frozen() -> None:
    config = TopConfig(monitor_address=Address.parse(ADDRESS))
    with pytest.raises(AttributeError):
        config.timeout = 1.0  # type: ignore[misc]


# --- capabilities -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", {}),
        ("linux", {"linux": -1}),
        ("linux,cpu=4,gpu", {"linux": -1, "cpu": 4, "gpu": -1}),
        (" linux , cpu = 4 ", {"linux": -1, "cpu": 4}),
        ("mem=-1", {"mem": -1}),
    ],
)
def test_parse_capabilities(text: str, expected: dict[str, int]) -> None:
    assert parse_capabilities(text) == expected


def test_capabilities_from_a_toml_table_and_back_to_text() -> None:
    capabilities = parse_capabilities({"linux": -1, "cpu": 4})
    assert capabilities == {"linux": -1, "cpu": 4}
    assert format_capabilities(capabilities) == "linux,cpu=4"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("linux,,gpu", "empty capability name"),
        ("=4", "empty capability name"),
        ("linux,", "empty capability name"),
        ("cpu=four", "capability 'cpu' needs an integer value, got 'four'"),
        ("cpu=", "capability 'cpu' needs an integer value"),
        ("cpu=1.5", "needs an integer value"),
        ("gpu,gpu=2", "capability 'gpu' given twice"),
    ],
)
def test_bad_capabilities(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_capabilities(text)


def test_bad_capabilities_name_their_source() -> None:
    with pytest.raises(
        ConfigError, match=r"argument -pwc/--per-worker-capabilities: capability 'cpu' needs an integer"
    ):
        resolve_config(BaremetalNativeConfig, cli={"scheduler_address": ADDRESS, "per_worker_capabilities": "cpu=x"})
    with pytest.raises(ConfigError, match=r"f.toml: \[w\] per_worker_capabilities: capability 'cpu' needs"):
        resolve_config(
            BaremetalNativeConfig,
            toml={"scheduler_address": ADDRESS, "per_worker_capabilities": {"cpu": "x"}},
            origin="f.toml: [w]",
        )


# --- preload ----------------------------------------------------------------------------------------------------


def test_parse_preload_plain_and_with_literal_arguments() -> None:
    plain = parse_preload("mypackage.init:setup")
    assert (plain.module, plain.attribute, plain.call, plain.args, plain.kwargs) == (
        "mypackage.init",
        "setup",
        True,  # the documents' "--preload mypackage.init:setup" runs setup()
        (),
        {},
    )
    module = parse_preload("my_package.preload")  # the baremetal document's form: a module path, imported
    assert (module.module, module.attribute, module.call) == ("my_package.preload", "", False)
    call = parse_preload("mypackage.init:configure('production', [1, 2], debug=False)")
    assert (call.module, call.attribute, call.call) == ("mypackage.init", "configure", True)
    assert call.args == ("production", [1, 2])
    assert call.kwargs == {"debug": False}
    assert parse_preload("pkg:Factory.create()").attribute == "Factory.create"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("my-package.init", "expected 'package.module'"),
        (":setup", "expected 'package.module'"),
        ("my-package:setup", "expected 'package.module'"),
        ("pkg:", "expected 'package.module'"),
        ("pkg:setup(", "expected 'package.module'"),
        ("pkg:1 + 2", "expected 'package.module'"),
        ("pkg:setup(os.getcwd())", "arguments must be Python literals"),
        ("pkg:setup(x)", "arguments must be Python literals"),
        ("pkg:setup(*args)", r"\*args and \*\*kwargs are not allowed"),
        ("pkg:setup(**kw)", r"\*args and \*\*kwargs are not allowed"),
    ],
)
def test_bad_preload(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_preload(text)


def test_preload_is_validated_at_parse_time_but_not_imported() -> None:
    config = resolve_config(
        BaremetalNativeConfig, cli={"scheduler_address": ADDRESS, "preload": "no_such_module_xyz:setup(1)"}
    )
    assert config.preload == "no_such_module_xyz:setup(1)"
    with pytest.raises(ConfigError, match=r"argument --preload: invalid preload 'no-pe'"):
        resolve_config(BaremetalNativeConfig, cli={"scheduler_address": ADDRESS, "preload": "no-pe"})


# --- gui address ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("127.0.0.1:50001", ("127.0.0.1", 50001)), ("[::1]:80", ("::1", 80)), ("host:1", ("host", 1))],
)
def test_gui_address(text: str, expected: tuple[str, int]) -> None:
    config = resolve_config(GuiConfig, cli={"monitor_address": ADDRESS, "gui_address": text})
    assert split_host_port(config.gui_address) == expected


@pytest.mark.parametrize(
    "text", ["127.0.0.1", ":80", "host:", "host:0", "host:65536", "host:http", "tcp://h:1", "::1:80", "a b:1"]
)
def test_bad_gui_address(text: str) -> None:
    with pytest.raises(ConfigError, match=r"argument --gui-address: invalid address .* expected HOST:PORT"):
        resolve_config(GuiConfig, cli={"monitor_address": ADDRESS, "gui_address": text})


def test_run_preload_imports_a_module_path_and_calls_a_plain_function(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scaler.worker.preload import run_preload

    (tmp_path / "preload_probe_module.py").write_text(
        "import os\nos.environ['PRELOAD_PROBE'] = 'imported'\n"
        "def setup():\n    os.environ['PRELOAD_PROBE'] = 'called'\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("PRELOAD_PROBE", raising=False)
    run_preload("preload_probe_module")
    assert os.environ["PRELOAD_PROBE"] == "imported"
    run_preload("preload_probe_module:setup")
    assert os.environ["PRELOAD_PROBE"] == "called"
