"""``--preload "pkg.mod:fn"`` or ``"pkg.mod:fn(literal, key=literal)"``: code run in each processor before tasks."""

from __future__ import annotations

import ast
import importlib
from typing import Any


class PreloadError(ValueError):
    pass


def parse_preload(spec: str) -> tuple[str, str, tuple[Any, ...], dict[str, Any]]:
    module_name, sep, call = spec.partition(":")
    if not sep or not module_name.strip() or not call.strip():
        raise PreloadError(f"invalid preload {spec!r}: expected 'package.module:function' or 'package.module:function(args)'")
    try:
        expression = ast.parse(call.strip(), mode="eval").body
    except SyntaxError as error:
        raise PreloadError(f"invalid preload {spec!r}: {error.msg}") from None
    if isinstance(expression, ast.Name):
        return module_name.strip(), expression.id, (), {}
    if isinstance(expression, ast.Call) and isinstance(expression.func, ast.Name):
        try:
            args = tuple(ast.literal_eval(arg) for arg in expression.args)
            kwargs = {kw.arg: ast.literal_eval(kw.value) for kw in expression.keywords if kw.arg is not None}
        except ValueError:
            raise PreloadError(f"invalid preload {spec!r}: arguments must be Python literals") from None
        if len(kwargs) != len(expression.keywords):
            raise PreloadError(f"invalid preload {spec!r}: **kwargs is not supported")
        return module_name.strip(), expression.func.id, args, kwargs
    raise PreloadError(f"invalid preload {spec!r}: expected a function name or a call with literal arguments")


def run_preload(spec: str) -> None:
    module_name, function_name, args, kwargs = parse_preload(spec)
    module = importlib.import_module(module_name)
    function = getattr(module, function_name, None)
    if not callable(function):
        raise PreloadError(f"preload {spec!r}: {module_name}.{function_name} is not a callable")
    function(*args, **kwargs)
