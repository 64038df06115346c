"""Rules and parsers for individual config values.

Checks return a description of what is wrong (or ``None``); parsers return the typed value or raise
``ValueError``. Both only describe the problem: the loader adds where the value came from.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
import os
from collections.abc import Mapping
from typing import Any, Literal

from scaler.config.options import Check


def greater_than(bound: float) -> Check:
    def rule(value: Any) -> str | None:
        return None if value > bound else f"must be > {bound}"

    return rule


def at_least(bound: float) -> Check:
    def rule(value: Any) -> str | None:
        return None if value >= bound else f"must be >= {bound}"

    return rule


def not_equal(excluded: float, reason: str = "") -> Check:
    def rule(value: Any) -> str | None:
        return None if value != excluded else f"must not be {excluded}{reason}"

    return rule


def non_empty(value: Any) -> str | None:
    return None if len(value) > 0 else "must not be empty"


def existing_file(value: Any) -> str | None:
    return None if os.path.isfile(value) else "no such file"


EventLoopName = Literal["builtin", "uvloop"]


def event_loop_available(value: Any) -> str | None:
    # Fail at start-up, not when the event loop is first created inside a child process.
    if value == "uvloop" and importlib.util.find_spec("uvloop") is None:
        return "uvloop is not installed (pip install uvloop)"
    return None


def parse_capabilities(raw: object) -> dict[str, int]:
    """``"linux,cpu=4,gpu"`` -> ``{"linux": -1, "cpu": 4, "gpu": -1}``; a bare name means "present" (-1).

    A TOML table (``{cpu = 4, linux = -1}``) is accepted as well as the string form.
    """
    if isinstance(raw, Mapping):
        items = [(str(name), value) for name, value in raw.items()]
    elif isinstance(raw, str):
        items = []
        for part in raw.split(","):
            if not part.strip():
                if raw.strip():  # "a,,b" or a trailing comma; the empty string itself means no capabilities
                    raise ValueError(f"empty capability name in {raw!r} (expected name or name=integer, ...)")
                continue
            name, sep, count = part.partition("=")
            items.append((name, count.strip() if sep else -1))
    else:
        raise ValueError(f"expected a string like 'linux,cpu=4', got {type(raw).__name__}")
    capabilities: dict[str, int] = {}
    for name, value in items:
        name = name.strip()
        if not name:
            raise ValueError(f"empty capability name in {raw!r} (expected name or name=integer, ...)")
        if name in capabilities:
            raise ValueError(f"capability {name!r} given twice")
        capabilities[name] = _capability_count(name, value)
    return capabilities


def _capability_count(name: str, value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
    raise ValueError(f"capability {name!r} needs an integer value, got {value!r}")


def format_capabilities(capabilities: Mapping[str, int]) -> str:
    """The inverse of ``parse_capabilities`` (for command lines handed to spawned workers)."""
    return ",".join(name if count == -1 else f"{name}={count}" for name, count in capabilities.items())


@dataclasses.dataclass(frozen=True)
class PreloadSpec:
    """A parsed ``--preload`` value: import ``module``, then call ``module.attribute(*args, **kwargs)``.

    ``call`` is False for a bare module path (``my_package.preload``): importing it is the initialisation."""

    module: str
    attribute: str
    call: bool
    args: tuple[object, ...] = ()
    kwargs: Mapping[str, object] = dataclasses.field(default_factory=dict)


def parse_preload(text: str) -> PreloadSpec:
    """Parse ``"pkg.mod"`` (import it), ``"pkg.mod:fn"`` (import, call ``fn()``) or
    ``"pkg.mod:fn(literal, kw=literal)"`` without importing anything."""
    module, sep, target = text.partition(":")
    problem = (
        "expected 'package.module', 'package.module:function' or 'package.module:function(literal args, key=literal)'"
    )
    if not sep and _is_dotted_name(module.strip()):
        return PreloadSpec(module.strip(), "", call=False)
    if not sep or not _is_dotted_name(module.strip()):
        raise ValueError(f"invalid preload {text!r}: {problem}")
    try:
        expression = ast.parse(target.strip(), mode="eval").body
    except SyntaxError:
        raise ValueError(f"invalid preload {text!r}: {problem}") from None
    call = isinstance(expression, ast.Call)
    function = expression.func if isinstance(expression, ast.Call) else expression
    attribute = _dotted_name(function)
    if attribute is None:
        raise ValueError(f"invalid preload {text!r}: {problem}")
    if not isinstance(expression, ast.Call):
        return PreloadSpec(module.strip(), attribute, call=True)  # "pkg.mod:setup" runs setup()
    if any(isinstance(arg, ast.Starred) for arg in expression.args) or any(
        keyword.arg is None for keyword in expression.keywords
    ):
        raise ValueError(f"invalid preload {text!r}: *args and **kwargs are not allowed")
    try:
        args = tuple(ast.literal_eval(arg) for arg in expression.args)
        kwargs = {str(keyword.arg): ast.literal_eval(keyword.value) for keyword in expression.keywords}
    except (ValueError, TypeError, SyntaxError):
        raise ValueError(f"invalid preload {text!r}: arguments must be Python literals") from None
    return PreloadSpec(module.strip(), attribute, call, args, kwargs)


def check_preload(raw: object) -> str:
    """The ``parse`` hook of ``--preload``: validate the syntax, keep the text (workers parse it again)."""
    if not isinstance(raw, str):
        raise ValueError(f"expected a string, got {type(raw).__name__}")
    parse_preload(raw)
    return raw


def _is_dotted_name(text: str) -> bool:
    return bool(text) and all(part.isidentifier() for part in text.split("."))


def _dotted_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted_name(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None


def parse_host_port(raw: object) -> str:
    """Validate ``HOST:PORT`` (``[::1]:PORT`` for IPv6) and keep the text."""
    if not isinstance(raw, str):
        raise ValueError(f"expected a string HOST:PORT, got {type(raw).__name__}")
    host, sep, port = raw.rpartition(":")
    bare_host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    valid_host = (
        bool(bare_host)
        and not any(char in bare_host for char in "/[] \t")
        and (":" not in bare_host or bare_host != host)
    )
    if not sep or not valid_host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"invalid address {raw!r}: expected HOST:PORT with a port in 1..65535 ([HOST]:PORT for IPv6)")
    return raw


def split_host_port(text: str) -> tuple[str, int]:
    """``"127.0.0.1:50001"`` -> ``("127.0.0.1", 50001)``; brackets around an IPv6 host are removed."""
    host, _, port = parse_host_port(text).rpartition(":")
    return host.strip("[]"), int(port)
