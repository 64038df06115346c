"""Sphinx extension: the command reference, generated from the config option specs at build time.

``.. scaler-command:: scaler_scheduler`` (or ``scaler_worker_manager aws_hpc``) renders the command's usage line
(from the same argparse parser the command builds), what its TOML section is called, and one entry per option:
flags, TOML keys, default, environment variable and help, all read from ``scaler.config.field_specs``. A flag
added to a config class appears in the documentation on the next build; nothing is written by hand.

It also resolves references to the public names by their definition module (``scaler.client.client.Client``, as
autodoc writes type hints) to the names they are documented under (``scaler.Client``), so that the nitpicky build
checks every internal reference without warning about the lazy re-exports.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

import scaler
from scaler.config import add_config_arguments, field_specs, parser_settings
from scaler.config.options import FieldSpec
from scaler.config.parser import _shown_default  # the defaults exactly as --help shows them

_SINGLE_SECTION_COMMANDS = {
    "scaler_scheduler": "scaler.config:SchedulerConfig",
    "scaler_object_storage_server": "scaler.config:ObjectStorageServerConfig",
    "scaler_top": "scaler.config:TopConfig",
    "scaler_gui": "scaler.config:GuiConfig",
}


def _config_class(command: str, adapter: str | None) -> type:
    if command == "scaler_worker_manager":
        from scaler.worker_manager_adapter.registry import ADAPTERS

        if adapter not in ADAPTERS:
            raise ValueError(f"unknown worker manager type {adapter!r} (known: {', '.join(ADAPTERS)})")
        return ADAPTERS[adapter].load_config_class()
    path = _SINGLE_SECTION_COMMANDS.get(command)
    if path is None:
        known = ", ".join(["scaler_worker_manager", *_SINGLE_SECTION_COMMANDS])
        raise ValueError(f"unknown command {command!r} (known: {known})")
    module_name, _, name = path.partition(":")
    module = __import__(module_name, fromlist=[name])
    config_class: type = getattr(module, name)
    return config_class


def _usage(prog: str, config_class: type) -> str:
    os.environ["COLUMNS"] = "80"  # argparse wraps the usage line at the terminal width: make it the same everywhere
    parser = argparse.ArgumentParser(**parser_settings(config_class, prog=prog))
    add_config_arguments(parser, config_class)
    return parser.format_usage().strip()


def _default(spec: FieldSpec) -> str:
    if spec.required:
        return "required"
    value = spec.default_value()
    return "none" if value is None else _shown_default(value)


def _paragraph(text: str, literal: bool = False) -> nodes.paragraph:
    paragraph = nodes.paragraph()
    paragraph += nodes.literal(text=text) if literal else nodes.Text(text)
    return paragraph


def _literals(items: list[str]) -> nodes.paragraph:
    paragraph = nodes.paragraph()
    for index, item in enumerate(items):
        if index:
            paragraph += nodes.Text(", ")
        paragraph += nodes.literal(text=item)
    return paragraph


def _option_item(flags: list[str], toml_keys: list[str], default: str, help_text: str) -> nodes.definition_list_item:
    """One option: its flags as the term; its help, then its TOML keys and default, as the definition."""
    item = nodes.definition_list_item()
    term = nodes.term()
    for index, flag in enumerate(flags):
        if index:
            term += nodes.Text(", ")
        term += nodes.literal(text=flag)
    item += term
    definition = nodes.definition()
    definition += _paragraph(help_text)
    details = nodes.paragraph()
    details += nodes.Text("TOML key: ")
    details += _literals(toml_keys).children
    details += nodes.Text(" · default: ")
    details += nodes.literal(text=default)
    definition += details
    item += definition
    return item


class ScalerCommand(SphinxDirective):
    """``.. scaler-command:: PROG [TYPE]``: usage, TOML section and options of one command."""

    required_arguments = 1
    optional_arguments = 1

    def run(self) -> list[nodes.Node]:
        command = self.arguments[0]
        adapter = self.arguments[1] if len(self.arguments) > 1 else None
        try:
            config_class = _config_class(command, adapter)
        except (ValueError, ImportError) as error:
            raise self.error(f"scaler-command: {error}") from None
        prog = f"{command} {adapter}" if adapter else command
        result: list[nodes.Node] = [nodes.literal_block(text=_usage(prog, config_class), language="text")]
        section = getattr(config_class, "section", "")
        toml = nodes.paragraph()
        if adapter:
            toml += nodes.Text("TOML: a ")
            toml += nodes.literal(text=f"[[{section}]]")
            toml += nodes.Text(" entry with ")
            toml += nodes.literal(text=f'type = "{adapter}"')
        else:
            toml += nodes.Text("TOML: the ")
            toml += nodes.literal(text=f"[{section}]")
            toml += nodes.Text(" section")
        toml += nodes.Text(" (read with --config FILE; command line > environment > TOML > defaults).")
        result.append(toml)
        options = nodes.definition_list(classes=["scaler-options"])
        mro = config_class.__mro__  # --help's order: the positional, then the command's own options first
        specs = sorted(field_specs(config_class), key=lambda spec: (not spec.option.positional, mro.index(spec.owner)))
        for spec in specs:
            flags = [spec.name] if spec.option.positional else list(spec.flags)
            help_text = spec.option.help
            if spec.kind.choices is not None:
                help_text += f" (one of: {', '.join(spec.kind.choices)})"
            if spec.option.env:
                help_text += f" (environment: {spec.option.env})"
            if spec.option.positional:
                help_text += " (positional argument)"
            options += _option_item(flags, list(spec.toml_keys), _default(spec), help_text)
        result.append(options)
        return result


def _resolve_public_name(app: Sphinx, env: Any, node: Any, contnode: nodes.Node) -> nodes.Node | None:
    """``scaler.client.future.ScalerFuture`` -> the entry documented as ``scaler.ScalerFuture``."""
    target = node.get("reftarget", "")
    if node.get("refdomain") != "py" or not target.startswith("scaler."):
        return None
    name = target.rsplit(".", 1)[-1]
    if name not in scaler.__all__ or target == f"scaler.{name}":
        return None
    domain = env.get_domain("py")
    builder = app.builder
    return domain.resolve_xref(env, node["refdoc"], builder, node["reftype"], f"scaler.{name}", node, contnode)


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("scaler-command", ScalerCommand)
    app.connect("missing-reference", _resolve_public_name)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

