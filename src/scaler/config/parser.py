"""Generate an argparse parser from a config class.

Every argument is added with ``default=SUPPRESS``: the parsed namespace then holds exactly the values the user
typed, which is what lets the loader rank the command line above the environment and the TOML file. Arguments
are collected as text and converted later by the loader, so that every source goes through the same converter
and error messages. The defaults shown in ``--help`` come from the dataclass.
"""

from __future__ import annotations

import argparse
import inspect
from collections.abc import Mapping, Sequence
from typing import Any

from scaler.config.converters import describe
from scaler.config.options import FieldSpec, field_specs
from scaler.config.toml_source import TYPE_KEY, WORKER_MANAGER_SECTION

CONFIG_FILE_DEST = "config_file"


PRECEDENCE_EPILOG = (
    "Precedence: command line > --config TOML file > environment variable (where an option names one) > default.\n"
    "TOML keys are the long flag names in snake_case (hyphens also accepted), written flat in the section."
)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """A wider option column than argparse's default, so that short and long flags mostly fit on one line."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32)


class _SwitchAction(argparse.Action):
    """``--name`` sets a boolean field, ``--no-name`` clears it (so the command line can override a TOML true)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        negated = [flag.replace("--", "--no-", 1) for flag in option_strings if flag.startswith("--")]
        super().__init__([*option_strings, *negated], dest, nargs=0, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        setattr(namespace, self.dest, not (option_string or "").startswith("--no-"))


def _shown_default(value: object) -> str:
    # Quotes only where they show where a value begins and ends (empty text, text with spaces).
    if isinstance(value, str) and value and " " not in value:
        return value
    if isinstance(value, tuple) and all(isinstance(item, str) and item and " " not in item for item in value):
        return " ".join(value)
    return describe(value)


def _help_text(spec: FieldSpec, cls: type | None = None) -> str:
    refused: Mapping[str, str] = getattr(cls, "refused_options", {})
    if spec.name in refused:
        owner = getattr(cls, "options_title", "this type").removesuffix(" options")
        return f"{spec.option.help} (refused by {owner}: {refused[spec.name]})".replace("%", "%%")
    notes = []
    default = spec.default_value()
    if spec.required:
        notes.append("required unless the --config file gives it")
    elif default is not None:  # the help of an optional field says what None means
        notes.append(f"default: {_shown_default(default)}")
    if spec.option.env:
        notes.append(f"env: {spec.option.env}")
    if spec.option.aliases:
        notes.append("TOML key: " + " or ".join(spec.toml_keys))
    text = f"{spec.option.help} ({'; '.join(notes)})" if notes else spec.option.help
    # argparse %-formats help strings; user-visible percent signs must be doubled.
    return text.replace("%", "%%")


def _metavar(spec: FieldSpec) -> str:
    if spec.option.metavar is not None:
        return spec.option.metavar
    if spec.kind.choices is not None:
        return "{" + ",".join(spec.kind.choices) + "}"
    if spec.name.endswith("_seconds"):
        return "SECONDS"
    return spec.kind.metavar


def _section_description(cls: type) -> str:
    section = getattr(cls, "section", "")
    if section == WORKER_MANAGER_SECTION:
        return f"the [[{section}]] entry whose {TYPE_KEY} is this command's type"
    return f"the [{section}] section"


def add_config_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """Add one argument per field of ``cls`` (and ``-c/--config FILE``) to ``parser``, grouped by declaring class."""
    groups: dict[type, Any] = {}
    specs = field_specs(cls)
    for spec in sorted(specs, key=lambda spec: (not spec.option.positional, cls.__mro__.index(spec.owner))):
        if spec.name == CONFIG_FILE_DEST:
            raise TypeError(f"{cls.__name__}: the field name {CONFIG_FILE_DEST!r} is reserved for --config")
        if spec.option.positional:
            parser.add_argument(
                spec.name, nargs="?", default=argparse.SUPPRESS, metavar=spec.name, help=_help_text(spec)
            )
            continue
        if spec.owner not in groups:
            groups[spec.owner] = parser.add_argument_group(
                spec.owner.__dict__.get("options_title", spec.owner.__name__)
            )
        group = groups[spec.owner]
        if spec.kind.switch:
            group.add_argument(
                *spec.flags, dest=spec.name, action=_SwitchAction, default=argparse.SUPPRESS, help=_help_text(spec, cls)
            )
            continue
        group.add_argument(
            *spec.flags,
            dest=spec.name,
            nargs="*" if spec.kind.item is not None else None,
            default=argparse.SUPPRESS,
            metavar=_metavar(spec),
            help=_help_text(spec, cls),
        )
    parser.add_argument(
        "-c",
        "--config",
        dest=CONFIG_FILE_DEST,
        default=argparse.SUPPRESS,
        metavar="FILE",
        help=f"TOML file to read {_section_description(cls)} from; "
        "the command line overrides it, and it overrides the defaults",
    )


def add_version_argument(parser: argparse.ArgumentParser) -> None:
    """``--version``: print ``PROG VERSION`` and exit 0 (every command has it)."""
    from scaler.version import __version__

    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")


def build_parser(cls: type, *, prog: str, description: str | None = None) -> argparse.ArgumentParser:
    """A complete parser for one config class; the description defaults to the class docstring."""
    parser = argparse.ArgumentParser(**parser_settings(cls, prog=prog, description=description))
    add_config_arguments(parser, cls)
    add_version_argument(parser)
    return parser


def parser_settings(cls: type, *, prog: str | None = None, description: str | None = None) -> dict[str, Any]:
    """Keyword arguments for ``ArgumentParser`` or ``add_parser``; call ``add_config_arguments`` on the result."""
    settings: dict[str, Any] = {
        "description": description if description is not None else inspect.getdoc(cls),
        "epilog": PRECEDENCE_EPILOG,
        "formatter_class": HelpFormatter,
        "allow_abbrev": False,  # an abbreviation that works today breaks when a flag with the same prefix is added
    }
    if prog is not None:
        settings["prog"] = prog
    return settings
