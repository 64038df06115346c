"""Sphinx configuration of the Scaler documentation (``sphinx-build -W -n docs OUT`` builds it).

Why Sphinx + furo: autodoc turns the docstrings the code already carries into the API reference, and a small
extension (``_ext/scaler_docs.py``) turns the config option specs into the command reference at build time, so
neither can drift from the code; MkDocs would need a plugin stack for both.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(HERE.parent / "src"))  # the source tree, also when the package is not installed

from scaler.version import __version__  # noqa: E402

project = "Scaler"
author = "the Scaler authors"
copyright = "the Scaler authors"
version = release = __version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",  # the docstrings' "Args:" and "Raises:" sections
    "scaler_docs",
]
html_theme = "furo"
html_title = f"Scaler {__version__}"
html_static_path: list[str] = []
exclude_patterns = ["_build", "README.md"]

smartquotes = False  # flags must read as typed: "--config", not an en dash
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True  # show ``n_workers=max(1, cpu_count - 1)`` as written, not this machine's value

# Every reference is checked (-n): references into this project must resolve. The standard library and
# third-party names that type hints mention are not documented here (no intersphinx: the build is offline).
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(?!scaler\b).*"),  # anything outside the scaler package
    (r"py:.*", r"scaler\.serialization\.Payload"),  # a type alias (bytes | bytearray | memoryview)
]
suppress_warnings: list[str] = []
