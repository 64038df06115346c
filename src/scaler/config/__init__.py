"""Configuration as data: one typed, frozen dataclass per TOML section, from which argparse and TOML loading derive.

Precedence, highest first: command line, the section of the ``--config`` TOML file, environment variable (only
for fields that declare one), the field's default. Every bad key or value raises ``ConfigError`` with one line
naming where it came from and what is allowed.
"""

from scaler.config.checks import PreloadSpec, format_capabilities, parse_capabilities, parse_preload, split_host_port
from scaler.config.errors import ConfigError
from scaler.config.loading import config_from_namespace, load_config, resolve_config, toml_values
from scaler.config.log_setup import setup_logging, setup_logging_from
from scaler.config.options import ConfigSection, FieldSpec, OptionSpec, field_specs, option
from scaler.config.parser import add_config_arguments, build_parser, parser_settings
from scaler.config.sections import (
    BaremetalNativeConfig,
    GuiConfig,
    LoggingConfig,
    ObjectStorageServerConfig,
    SchedulerConfig,
    TopConfig,
    WorkerConfig,
    WorkerManagerConfig,
)
from scaler.config.toml_source import read_toml, section_table, select_worker_manager, worker_manager_entries

__all__ = [
    "BaremetalNativeConfig",
    "ConfigError",
    "ConfigSection",
    "FieldSpec",
    "GuiConfig",
    "LoggingConfig",
    "ObjectStorageServerConfig",
    "OptionSpec",
    "PreloadSpec",
    "SchedulerConfig",
    "TopConfig",
    "WorkerConfig",
    "WorkerManagerConfig",
    "add_config_arguments",
    "build_parser",
    "config_from_namespace",
    "field_specs",
    "format_capabilities",
    "load_config",
    "option",
    "parse_capabilities",
    "parse_preload",
    "parser_settings",
    "read_toml",
    "resolve_config",
    "section_table",
    "select_worker_manager",
    "setup_logging",
    "setup_logging_from",
    "split_host_port",
    "toml_values",
    "worker_manager_entries",
]
