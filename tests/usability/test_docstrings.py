"""Every public name explains itself in ``help()``: a missing docstring fails here, naming the name."""

from __future__ import annotations

import dataclasses
import inspect

import scaler
import scaler.errors


def _public_members(cls: type) -> list[tuple[str, object]]:
    """The class's own public methods and properties (not those inherited from the standard library)."""
    members = []
    for name, value in vars(cls).items():
        if name.startswith("_") and name not in ("__init__", "__enter__", "__exit__", "__await__"):
            continue
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        if callable(value) or isinstance(value, property):
            members.append((name, value))
    return members


def _missing_docstrings() -> list[str]:
    missing = []
    for name in scaler.__all__:
        if name == "__version__":
            continue
        value = getattr(scaler, name)
        if not (inspect.getdoc(value) or "").strip():
            missing.append(f"scaler.{name}")
        if isinstance(value, type):
            for member_name, member in _public_members(value):
                if member_name == "__init__" and dataclasses.is_dataclass(value):
                    continue  # generated from the fields, which the class docstring describes
                if not (member.__doc__ or "").strip():
                    missing.append(f"scaler.{name}.{member_name}")
    for name, value in vars(scaler.errors).items():
        if isinstance(value, type) and issubclass(value, BaseException) and value.__module__ == "scaler.errors":
            if not (value.__doc__ or "").strip():
                missing.append(f"scaler.errors.{name}")
    return missing


def test_every_public_name_has_a_docstring() -> None:
    assert _missing_docstrings() == []


def test_client_constructor_parameters_are_explained() -> None:
    doc = inspect.getdoc(scaler.Client) or ""
    for parameter in inspect.signature(scaler.Client.__init__).parameters:
        if parameter != "self":
            assert f"{parameter}:" in doc, f"Client's docstring does not explain {parameter}"


def test_combo_constructor_parameters_are_explained() -> None:
    doc = inspect.getdoc(scaler.SchedulerClusterCombo) or ""
    for parameter in inspect.signature(scaler.SchedulerClusterCombo.__init__).parameters:
        if parameter != "self":
            assert f"{parameter}:" in doc, f"SchedulerClusterCombo's docstring does not explain {parameter}"
