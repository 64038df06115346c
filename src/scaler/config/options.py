"""Declare a config field once: its flags, TOML keys, type, default, help and checks.

A config section is a frozen, keyword-only dataclass that subclasses ``ConfigSection``; each field is declared
with ``option(...)``. Everything else derives from the declaration:

- the long flag is the field name with hyphens (``max_task_concurrency`` -> ``--max-task-concurrency``);
- the TOML key is the field name (hyphens are accepted too), plus any ``aliases``;
- the type annotation says how values are read (see ``converters``); ``Literal[...]`` gives the choices;
- ``check`` functions describe what a value must satisfy, for every source alike.

Sections are combined by inheritance: an adapter's section subclasses ``WorkerManagerConfig`` and adds fields,
and TOML writes all of them flat in one table.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from scaler.config.converters import Parse, ValueKind, describe, kind_for
from scaler.config.errors import ConfigError

Check = Callable[[Any], "str | None"]
"""A rule on a converted value: returns what is wrong (``"must be > 0"``) or ``None`` when the value is fine."""

_METADATA_KEY = "scaler.config.option"


@dataclasses.dataclass(frozen=True)
class OptionSpec:
    """What ``option(...)`` records in a dataclass field's metadata."""

    help: str
    short: str | None = None
    flags: tuple[str, ...] = ()
    choices: tuple[str, ...] | None = None
    positional: bool = False
    aliases: tuple[str, ...] = ()
    env: str | None = None
    checks: tuple[Check, ...] = ()
    parse: Parse | None = None
    expected: str | None = None
    metavar: str | None = None


def option(
    default: Any = dataclasses.MISSING,
    *,
    help: str,
    default_factory: Callable[[], Any] | None = None,
    short: str | None = None,
    flags: Sequence[str] = (),
    choices: Sequence[str] | None = None,
    positional: bool = False,
    aliases: Sequence[str] = (),
    env: str | None = None,
    check: Check | Sequence[Check] = (),
    parse: Parse | None = None,
    expected: str | None = None,
    metavar: str | None = None,
) -> Any:
    """Declare a config field (use as the field's default, like ``dataclasses.field``).

    ``short`` is the short flag (``"-ct"``); ``flags`` are extra flags that set the same field (``"-n",
    "--num-of-workers"``); ``aliases`` are extra TOML keys (``"bind_address"``); ``env`` names an environment
    variable that is read when the command line does not give the value. A ``positional`` field is the command's
    positional argument; it has no default, but ``--config`` may provide it. ``parse`` reads fields whose type
    has no built-in reader (it receives the text or the TOML value), and ``expected`` names that type in errors.
    A boolean field is a switch: ``--name`` sets it and ``--no-name`` clears it.
    """
    spec = OptionSpec(
        help=help,
        short=short,
        flags=tuple(flags),
        choices=tuple(choices) if choices is not None else None,
        positional=positional,
        aliases=tuple(aliases),
        env=env,
        checks=(check,) if callable(check) else tuple(check),
        parse=parse,
        expected=expected,
        metavar=metavar,
    )
    metadata = {_METADATA_KEY: spec}
    if default_factory is not None:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass(frozen=True)
class FieldSpec:
    """One config field with everything derived from its declaration."""

    name: str
    option: OptionSpec
    kind: ValueKind
    optional: bool
    field: dataclasses.Field[Any]
    owner: type  # the class that declares the field: its options are listed under that class's title in --help

    @property
    def long_flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def flags(self) -> tuple[str, ...]:
        short = (self.option.short,) if self.option.short else ()
        return (*short, self.long_flag, *self.option.flags)

    @property
    def toml_keys(self) -> tuple[str, ...]:
        return (self.name, *self.option.aliases)

    @property
    def required(self) -> bool:
        return self.field.default is dataclasses.MISSING and self.field.default_factory is dataclasses.MISSING

    def default_value(self) -> object:
        if self.field.default_factory is not dataclasses.MISSING:
            return self.field.default_factory()
        return self.field.default

    def check(self, value: object) -> str | None:
        """What is wrong with an already converted value, or ``None``."""
        if value is None:
            return None if self.optional else f"a value is required ({self.kind.expected})"
        for rule in self.option.checks:
            problem = rule(value)
            if problem is not None:
                return f"{problem} (got {describe(value)})"
        return None

    def convert(self, raw: object, *, from_text: bool) -> object:
        """Convert and check one raw value; raises ``ValueError`` with a description of the problem."""
        if from_text and isinstance(raw, list) and self.kind.item is not None:  # nargs="*" on the command line
            value: object = tuple(self.kind.item.from_text(item) for item in raw)
        elif from_text and isinstance(raw, str):
            value = self.kind.from_text(raw)
        elif raw is None and self.optional:
            value = None
        else:
            value = self.kind.from_toml(raw)
        problem = self.check(value)
        if problem is not None:
            raise ValueError(problem)
        return value


_SPECS_BY_CLASS: dict[type, tuple[FieldSpec, ...]] = {}


def field_specs(cls: type) -> tuple[FieldSpec, ...]:
    """Every option field of a config class, in declaration order (base classes first)."""
    specs = _SPECS_BY_CLASS.get(cls)
    if specs is None:
        specs = _SPECS_BY_CLASS[cls] = _derive_field_specs(cls)
    return specs


def _derive_field_specs(cls: type) -> tuple[FieldSpec, ...]:
    hints = typing.get_type_hints(cls)
    specs = []
    for field in dataclasses.fields(cls):
        spec = field.metadata.get(_METADATA_KEY)
        if spec is None:
            raise TypeError(f"{cls.__name__}.{field.name} must be declared with scaler.config.option(...)")
        kind, optional = kind_for(hints[field.name], choices=spec.choices, parse=spec.parse, expected=spec.expected)
        owner = next(base for base in cls.__mro__ if field.name in inspect.get_annotations(base))
        specs.append(FieldSpec(field.name, spec, kind, optional, field, owner))
    return tuple(specs)


class ConfigSection:
    """Base of every config section: a frozen, keyword-only dataclass whose fields are declared with ``option``.

    ``section`` is the TOML table the section is read from; ``options_title`` heads the class's own options in
    ``--help``. Construction converts and checks every field, so a section built directly in Python is as valid
    as one loaded from a file; ``check_consistency`` is where rules that involve several fields go.
    """

    section: ClassVar[str] = ""
    options_title: ClassVar[str] = "options"
    # Inherited options that this class cannot honour, by field name, with the one-line reason. Giving one (on the
    # command line, in TOML or through its environment variable) is an error; --help still lists it, marked.
    refused_options: ClassVar[Mapping[str, str]] = {}

    def __post_init__(self) -> None:
        for spec in field_specs(type(self)):
            value = getattr(self, spec.name)
            try:
                converted = spec.convert(value, from_text=False)
            except ValueError as error:
                raise ConfigError(f"{type(self).__name__}.{spec.name}: {error}") from None
            if converted is not value:
                # Frozen dataclass: normalising (list -> tuple, str -> Address) needs object.__setattr__.
                object.__setattr__(self, spec.name, converted)
        self.check_consistency()

    def check_consistency(self) -> None:
        """Rules that involve several fields; raise ``ConfigError``. Overrides call ``super()``."""
