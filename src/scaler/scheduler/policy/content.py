"""Parsing ``--policy-content`` for each engine type, failing at start-up with a one-line message.

``simple`` content is ``key=value`` pairs separated by ``;`` and must name exactly ``allocate`` and ``scaling``::

    allocate=even_load; scaling=vanilla

``waterfall_v1`` content is one rule per line, ``priority,worker_manager_id[,max_task_concurrency]``::

    # cheap on-premise capacity first, the cloud only for what spills over
    1,on_prem
    2,cloud,64

Rules may also be separated by ``;`` so that a TOML one-line string can hold several
(``policy_content = "1,on_prem; 2,cloud,64"``). Blank lines and lines starting with ``#`` are ignored, and so is
a ``;``-separated piece starting with ``#``. A lower priority number fills first and drains last. The third
field caps that manager's workers (-1: unlimited); when it is absent, the manager's own heartbeat value is the
cap, and when both are given the smaller one wins.

Every error is a ``PolicyConfigError`` (a ``ValueError``) whose message names the problem, quotes the offending
text and lists what is allowed, so a bad config fails before the scheduler accepts any connection.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ENGINE_TYPES = ("simple", "waterfall_v1")
# The scheduler's policy when none is given (``--policy-content``). Here, with its grammar, not in the config
# section, so that the scheduler process does not import the whole config package (~45 ms of its start-up).
DEFAULT_POLICY_CONTENT = "allocate=even_load; scaling=no"
ALLOCATIONS = ("even_load", "capability")
SCALINGS = ("no", "vanilla", "capability")
SIMPLE_KEYS = ("allocate", "scaling")
WATERFALL_RULE_FORMAT = "priority,worker_manager_id[,max_task_concurrency]"

_INTEGER = re.compile(r"[+-]?[0-9]+")


class PolicyConfigError(ValueError):
    """The policy engine type or content is malformed."""


@dataclass(frozen=True)
class SimpleContent:
    allocate: str  # one of ALLOCATIONS
    scaling: str  # one of SCALINGS


@dataclass(frozen=True)
class WaterfallRule:
    priority: int  # lower fills first, drains last
    manager_id: str
    max_task_concurrency: int | None  # None: use the manager's heartbeat value; -1: unlimited


def check_engine_type(engine_type: str) -> str:
    if engine_type not in ENGINE_TYPES:
        raise PolicyConfigError(f"unknown policy engine type {engine_type!r} (allowed: {', '.join(ENGINE_TYPES)})")
    return engine_type


def parse_simple_content(content: str) -> SimpleContent:
    values: dict[str, str] = {}
    for piece in content.split(";"):
        piece = piece.strip()
        if not piece:
            continue  # tolerate "a=b;" and "a=b;;c=d"
        key, equals, value = piece.partition("=")
        key, value = key.strip(), value.strip()
        if not equals:
            raise PolicyConfigError(
                f"simple policy content: expected key=value, got {piece!r} (keys: {', '.join(SIMPLE_KEYS)})"
            )
        if key not in SIMPLE_KEYS:
            raise PolicyConfigError(
                f"simple policy content: unknown key {key!r} in {piece!r} (allowed keys: {', '.join(SIMPLE_KEYS)})"
            )
        if key in values:
            raise PolicyConfigError(f"simple policy content: duplicate key {key!r} in {content.strip()!r}")
        values[key] = value
    missing = [key for key in SIMPLE_KEYS if key not in values]
    if missing:
        raise PolicyConfigError(
            f"simple policy content: missing key {', '.join(repr(k) for k in missing)} in {content.strip()!r}"
            f" (expected e.g. {DEFAULT_POLICY_CONTENT!r})"
        )
    _check_choice("allocate", values["allocate"], ALLOCATIONS)
    _check_choice("scaling", values["scaling"], SCALINGS)
    return SimpleContent(allocate=values["allocate"], scaling=values["scaling"])


def parse_waterfall_content(content: str) -> tuple[WaterfallRule, ...]:
    rules: list[WaterfallRule] = []
    seen: set[str] = set()
    for number, text in enumerate(_rule_texts(content), start=1):
        rule = _parse_rule(number, text)
        if rule.manager_id in seen:
            raise PolicyConfigError(
                f"waterfall_v1 rule {number} {text!r}: duplicate worker manager id {rule.manager_id!r}"
                " (each manager may have one rule)"
            )
        seen.add(rule.manager_id)
        rules.append(rule)
    if not rules:
        raise PolicyConfigError(
            f"waterfall_v1 policy content has no rules: {content.strip()!r}"
            f" (expected lines or ';'-separated rules of the form {WATERFALL_RULE_FORMAT!r})"
        )
    return tuple(rules)


def _check_choice(key: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise PolicyConfigError(f"simple policy content: invalid {key} {value!r} (allowed: {', '.join(allowed)})")


def _rule_texts(content: str) -> list[str]:
    # Comments are dropped per line before splitting on ';', so a comment may itself contain ';'.
    texts: list[str] = []
    for line in content.splitlines():
        if line.strip().startswith("#"):
            continue
        for piece in line.split(";"):
            piece = piece.strip()
            if piece and not piece.startswith("#"):
                texts.append(piece)
    return texts


def _parse_rule(number: int, text: str) -> WaterfallRule:
    where = f"waterfall_v1 rule {number} {text!r}"
    fields = [field.strip() for field in text.split(",")]
    if len(fields) not in (2, 3):
        raise PolicyConfigError(
            f"{where}: expected 2 or 3 comma-separated fields ({WATERFALL_RULE_FORMAT}), got {len(fields)}"
        )
    priority = _parse_integer(where, "priority", fields[0])
    manager_id = fields[1]
    if not manager_id:
        raise PolicyConfigError(f"{where}: empty worker manager id ({WATERFALL_RULE_FORMAT})")
    concurrency: int | None = None
    if len(fields) == 3:
        concurrency = _parse_integer(where, "max_task_concurrency", fields[2])
        if concurrency < -1:
            raise PolicyConfigError(
                f"{where}: invalid max_task_concurrency {fields[2]!r} (allowed: 0 or more, or -1 for unlimited)"
            )
    return WaterfallRule(priority=priority, manager_id=manager_id, max_task_concurrency=concurrency)


def _parse_integer(where: str, name: str, text: str) -> int:
    # A strict pattern rather than int(): int() would also take "1_000" and non-ASCII digits, likely typos here.
    if not _INTEGER.fullmatch(text):
        raise PolicyConfigError(f"{where}: {name} must be an integer, got {text!r}")
    return int(text)
