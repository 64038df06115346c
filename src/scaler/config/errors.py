"""The one error raised for bad configuration, wherever it came from (command line, environment, TOML file)."""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration value, key, section or file that cannot be used.

    The message is one line that names where the bad input came from (the file and section, the flag or the
    environment variable), the key, and what would have been accepted. Command-line front ends print it as
    ``command: error: <message>`` and exit with status 2, like argparse does for its own errors.
    """
