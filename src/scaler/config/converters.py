"""Turn raw input into typed field values, driven by a field's type annotation.

Two kinds of raw input exist: text (a command-line argument or an environment variable) and TOML values, which
already carry a type (a TOML ``4`` is an int, ``"4"`` is a string). A kind converts both and raises ``ValueError``
with a short description of what was expected; the caller adds where the value came from. Converting a value
that already has the target type returns it unchanged, so a config object built directly in Python goes through
the same code.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any, Literal, Union

from scaler.io.address import Address

Parse = Callable[[object], object]
"""A field-specific parser: receives text or a TOML value, returns the typed value or raises ``ValueError``."""


def describe(value: object) -> str:
    """How a value is shown in error messages and in ``--help`` defaults."""
    if isinstance(value, Address):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, tuple):
        return " ".join(describe(item) for item in value)
    if isinstance(value, dict):
        return ",".join(name if count == -1 else f"{name}={count}" for name, count in value.items()) or "''"
    return repr(value) if isinstance(value, str) else str(value)


def _type_name(value: object) -> str:
    return {bool: "boolean", int: "integer", float: "float", str: "string", list: "array", dict: "table"}.get(
        type(value), type(value).__name__
    )


@dataclasses.dataclass(frozen=True)
class ValueKind:
    """How to read one field's values: ``expected`` names the type in errors and in ``--help``."""

    expected: str
    from_text: Callable[[str], object]
    from_toml: Callable[[object], object]
    choices: tuple[str, ...] | None = None
    item: ValueKind | None = None  # a tuple field's items: many command-line values (nargs="*"), a TOML array
    switch: bool = False  # a boolean field: a flag with no value on the command line
    metavar: str = "VALUE"  # the placeholder shown in --help


def _text_to_int(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError(f"expected an integer, got {text!r}") from None


def _toml_to_int(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ValueError(f"expected an integer, got {_type_name(value)} {describe(value)}")


def _text_to_float(text: str) -> float:
    try:
        return float(text.strip())
    except ValueError:
        raise ValueError(f"expected a number, got {text!r}") from None


def _toml_to_float(value: object) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise ValueError(f"expected a number, got {_type_name(value)} {describe(value)}")


_TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
_FALSE_WORDS = frozenset({"0", "false", "no", "off"})


def _text_to_bool(text: str) -> bool:
    word = text.strip().lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def _toml_to_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    raise ValueError(f"expected true or false, got {_type_name(value)} {describe(value)}")


def _toml_to_str(value: object) -> str:
    if isinstance(value, str):
        return value
    raise ValueError(f"expected a string, got {_type_name(value)} {describe(value)}")


def _text_to_address(text: str) -> Address:
    try:
        return Address.parse(text)
    except ValueError as error:
        raise ValueError(str(error)) from None


def _toml_to_address(value: object) -> Address:
    if isinstance(value, Address):
        return value
    return _text_to_address(_toml_to_str(value))


def _choice_kind(choices: Sequence[str]) -> ValueKind:
    allowed = tuple(choices)

    def from_text(text: str) -> str:
        if text not in allowed:
            raise ValueError(f"invalid value {text!r} (allowed: {', '.join(allowed)})")
        return text

    return ValueKind(
        "one of " + ", ".join(allowed), from_text, lambda value: from_text(_toml_to_str(value)), choices=allowed
    )


def _tuple_kind(item: ValueKind) -> ValueKind:
    def from_toml(value: object) -> tuple[object, ...]:
        # A single string is accepted for convenience: logging_paths = "/dev/stderr".
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            raise ValueError(f"expected an array of {item.expected}, got {_type_name(value)} {describe(value)}")
        return tuple(item.from_toml(element) for element in items)

    def from_text(text: str) -> tuple[object, ...]:
        # Environment variables hold one string: a comma-separated list.
        return tuple(item.from_text(part.strip()) for part in text.split(",") if part.strip())

    return ValueKind(f"array of {item.expected}", from_text, from_toml, item=item, metavar=item.metavar)


def _custom_kind(parse: Parse, expected: str) -> ValueKind:
    return ValueKind(expected, parse, parse)


_SIMPLE_KINDS: dict[object, ValueKind] = {
    str: ValueKind("string", lambda text: text, _toml_to_str, metavar="TEXT"),
    int: ValueKind("integer", _text_to_int, _toml_to_int, metavar="N"),
    float: ValueKind("number", _text_to_float, _toml_to_float, metavar="NUMBER"),
    bool: ValueKind("true or false", _text_to_bool, _toml_to_bool, switch=True),
    Address: ValueKind("address tcp://HOST:PORT or ipc://PATH", _text_to_address, _toml_to_address, metavar="ADDRESS"),
}


def kind_for(
    annotation: Any, *, choices: Sequence[str] | None, parse: Parse | None, expected: str | None
) -> tuple[ValueKind, bool]:
    """The kind that reads values of ``annotation``, and whether ``None`` is allowed (an ``X | None`` field)."""
    optional = False
    if typing.get_origin(annotation) in (Union, types.UnionType):
        members = [member for member in typing.get_args(annotation) if member is not type(None)]
        optional = len(members) < len(typing.get_args(annotation))
        if len(members) != 1:
            raise TypeError(f"unsupported config field type {annotation!r}: only X or X | None")
        annotation = members[0]
    if parse is not None:
        return _custom_kind(parse, expected or "value"), optional
    if typing.get_origin(annotation) is Literal:
        return _choice_kind([str(value) for value in typing.get_args(annotation)]), optional
    if annotation is str and choices is not None:
        return _choice_kind(choices), optional
    if typing.get_origin(annotation) is tuple:
        item_type, *rest = typing.get_args(annotation)
        if rest != [Ellipsis] or item_type not in _SIMPLE_KINDS:
            raise TypeError(f"unsupported config field type {annotation!r}: use tuple[X, ...]")
        return _tuple_kind(_SIMPLE_KINDS[item_type]), optional
    if annotation in _SIMPLE_KINDS:
        return _SIMPLE_KINDS[annotation], optional
    raise TypeError(f"unsupported config field type {annotation!r}: give the option a parse= function")
