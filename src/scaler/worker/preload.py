"""Run ``--preload "pkg.mod"`` / ``"pkg.mod:fn"`` / ``"pkg.mod:fn(literal, key=literal)"`` in a processor before
its tasks."""

from __future__ import annotations

import importlib


def run_preload(spec: str) -> None:
    from scaler.config.checks import parse_preload  # the same parser that validated the flag at start-up

    parsed = parse_preload(spec)
    target: object = importlib.import_module(parsed.module)
    if not parsed.attribute:  # a bare module path: importing it was the initialisation
        return
    for part in parsed.attribute.split("."):
        target = getattr(target, part)
    if parsed.call:
        if not callable(target):
            raise TypeError(f"{parsed.module}:{parsed.attribute} is not callable")
        target(*parsed.args, **parsed.kwargs)
