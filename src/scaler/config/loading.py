"""Build a config object from the command line, a TOML table, the environment and the defaults.

Precedence, highest first: a value typed on the command line; the TOML table the user passed; the environment
variable a field declares (only fields that declare one, such as ``AWS_REGION``); the field's default. A value
written in the file the user named wins over an ambient variable, which may have been exported for something
else. Each value is converted and checked where it comes from, so an error names its source: ``argument
-ct/--client-timeout-seconds: ...``, ``environment variable AWS_REGION: ...`` or ``cluster.toml: [scheduler]
client_timeout_seconds: ...``.
"""

from __future__ import annotations

import argparse
import difflib
import os
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from scaler.config.errors import ConfigError
from scaler.config.options import ConfigSection, FieldSpec, field_specs
from scaler.config.parser import CONFIG_FILE_DEST, build_parser
from scaler.config.toml_source import read_toml, section_table

SectionT = TypeVar("SectionT", bound=ConfigSection)


def toml_values(cls: type, table: Mapping[str, Any], origin: str) -> dict[str, Any]:
    """Map a TOML table onto ``cls``'s fields: keys normalised, unknown and duplicate keys rejected, values read."""
    by_key: dict[str, FieldSpec] = {}
    for spec in field_specs(cls):
        for key in spec.toml_keys:
            by_key[key] = spec
    values: dict[str, Any] = {}
    written_as: dict[str, str] = {}
    for key, raw in table.items():
        found = by_key.get(key.replace("-", "_"))
        if found is None:
            raise ConfigError(
                f"{origin} unknown key {key!r}{_suggestion(key, by_key)}; allowed keys: {', '.join(by_key)}"
            )
        if found.name in written_as:
            raise ConfigError(f"{origin} {written_as[found.name]!r} and {key!r} both set {found.name}; keep one")
        written_as[found.name] = key
        try:
            values[found.name] = found.convert(raw, from_text=False)
        except ValueError as error:
            raise ConfigError(f"{origin} {key}: {error}") from None
    return values


def _suggestion(key: str, known: Mapping[str, object]) -> str:
    close = difflib.get_close_matches(key.replace("-", "_"), list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def resolve_config(
    cls: type[SectionT],
    *,
    cli: Mapping[str, Any] | None = None,
    toml: Mapping[str, Any] | None = None,
    origin: str = "",
    environ: Mapping[str, str] | None = None,
) -> SectionT:
    """Merge the sources (command line > TOML > environment > default) and build a checked ``cls``.

    ``cli`` maps field names to what argparse collected (text, lists of text, or booleans for switches); only
    values the user typed may be present. ``toml`` is the section's table and ``origin`` describes it for error
    messages (``"cluster.toml: [scheduler]"``). ``environ`` defaults to no environment at all, so that callers
    opt in with ``os.environ``.
    """
    values = toml_values(cls, toml, origin) if toml is not None else {}
    _reject_refused(cls, values, origin)
    specs = field_specs(cls)
    if cli is not None:
        cli = _reclaim_positional_address(specs, cli)
    for spec in specs:
        variable = spec.option.env
        if variable and environ and environ.get(variable, "") != "" and spec.name not in values:
            if spec.name in cls.refused_options:
                raise ConfigError(f"environment variable {variable}: {refusal(cls, spec.name)}")
            try:
                values[spec.name] = spec.convert(environ[variable], from_text=True)
            except ValueError as error:
                raise ConfigError(f"environment variable {variable}: {error}") from None
    for spec in specs:
        if cli is not None and spec.name in cli:
            name = spec.name if spec.option.positional else "/".join(spec.flags)
            if spec.name in cls.refused_options:
                raise ConfigError(f"argument {name}: {refusal(cls, spec.name)}")
            try:
                values[spec.name] = spec.convert(cli[spec.name], from_text=True)
            except ValueError as error:
                raise ConfigError(f"argument {name}: {error}") from None
    for spec in specs:
        if spec.required and spec.name not in values:
            raise ConfigError(_missing_message(spec, toml is not None, cli is not None, origin))
    return cls(**values)


def refusal(cls: type[ConfigSection], name: str) -> str:
    """Why ``cls`` refuses the option ``name``, as one clause: ``not used by aws_hpc: <reason>``."""
    owner = cls.options_title.removesuffix(" options")
    return f"not used by {owner}: {cls.refused_options[name]}"


def _reject_refused(cls: type[ConfigSection], values: Mapping[str, Any], origin: str) -> None:
    for name in values:
        if name in cls.refused_options:
            raise ConfigError(f"{origin} {name}: {refusal(cls, name)}")


def _reclaim_positional_address(specs: Sequence[FieldSpec], cli: Mapping[str, Any]) -> Mapping[str, Any]:
    """Give back an address that a many-valued option swallowed: the documents write ``[options] <address>``, so
    ``scaler_scheduler -lp f.log tcp://HOST:PORT`` must mean the address, not a second log path. A log path never
    starts with ``tcp://`` or ``ipc://``, so the last value of such an option that does is the positional."""
    positional = next((spec for spec in specs if spec.option.positional), None)
    if positional is None or positional.name in cli or not positional.kind.expected.startswith("address"):
        return cli
    for spec in specs:
        value = cli.get(spec.name)
        if spec.kind.item is not None and isinstance(value, list) and len(value) > 1 and _is_address(value[-1]):
            return {**cli, spec.name: value[:-1], positional.name: value[-1]}
    return cli


def _is_address(text: object) -> bool:
    return isinstance(text, str) and text.startswith(("tcp://", "ipc://"))


def _missing_message(spec: FieldSpec, had_toml: bool, had_cli: bool, origin: str) -> str:
    keys = " or ".join(spec.toml_keys)
    if had_toml:
        # The scaler launcher passes no command line at all: only mention it where there is one.
        also = " (and it was not given on the command line)" if had_cli else ""
        return f"{origin} missing required key {keys}{also}"
    where = spec.name if spec.option.positional else spec.long_flag
    env = f", or the {spec.option.env} environment variable" if spec.option.env else ""
    return f"the {where} argument is required (give it on the command line{env}, or as {keys} in a --config file)"


def load_config(
    cls: type[SectionT],
    argv: Sequence[str] | None,
    *,
    prog: str,
    environ: Mapping[str, str] | None = None,
) -> SectionT:
    """Parse ``argv`` for a single-section command, read ``--config`` if given, and resolve.

    Command-line syntax errors (an unknown flag, ``--help``) exit through argparse; everything else raises
    ``ConfigError``. ``environ`` defaults to ``os.environ``.
    """
    parser = build_parser(cls, prog=prog)
    return config_from_namespace(cls, parser.parse_args(argv), environ=os.environ if environ is None else environ)


def config_from_namespace(
    cls: type[SectionT], namespace: argparse.Namespace, *, environ: Mapping[str, str]
) -> SectionT:
    """Resolve a parsed namespace whose ``--config`` (if any) names a file with a ``[cls.section]`` table."""
    cli = {key: value for key, value in vars(namespace).items() if key != CONFIG_FILE_DEST}
    path = getattr(namespace, CONFIG_FILE_DEST, None)
    if path is None:
        return resolve_config(cls, cli=cli, environ=environ)
    table = section_table(read_toml(path), cls.section, path)
    return resolve_config(cls, cli=cli, toml=table, origin=f"{path}: [{cls.section}]", environ=environ)
