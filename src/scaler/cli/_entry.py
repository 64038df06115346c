"""What every command-line front end does the same way: report errors argparse-style and start the runtime."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn, TypeVar

from scaler.config import ConfigError, ConfigSection, LoggingConfig, load_config, setup_logging_from
from scaler.io.lifetime import exit_with_parent_from_env
from scaler.io.logs import FatalError

SectionT = TypeVar("SectionT", bound=ConfigSection)

USAGE_ERROR = 2  # argparse's exit status for bad arguments; bad config values are the same kind of mistake


def fail(prog: str, message: str, code: int = USAGE_ERROR) -> NoReturn:
    """Print ``prog: error: message`` to stderr and exit, as argparse does."""
    print(f"{prog}: error: {message}", file=sys.stderr)
    raise SystemExit(code)


def load_or_fail(cls: type[SectionT], argv: Sequence[str] | None, prog: str) -> SectionT:
    """``load_config`` for a single-section command, exiting with a one-line message on ``ConfigError``."""
    try:
        return load_config(cls, argv, prog=prog)
    except ConfigError as error:
        fail(prog, str(error))


def start(prog: str, config: ConfigSection, entry_point: str) -> None:
    """Set up logging from ``config`` (when it has logging options), then call ``entry_point(config)``.

    ``entry_point`` is ``"package.module:function"``; it is imported only now, so that ``--help`` and config errors
    never pay for (or fail on) the runtime's imports.
    """
    exit_with_parent_from_env()  # started by the scaler launcher: do not outlive it, even if it is SIGKILLed
    if isinstance(config, LoggingConfig):
        try:
            setup_logging_from(config)
        except (OSError, ValueError, KeyError) as error:  # what logging raises for bad paths and config files
            fail(prog, f"cannot set up logging: {error}", code=1)
    _use_credentials(prog, getattr(config, "credentials", None))
    module_name, _, function_name = entry_point.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        # Only the entry point's own module missing is reported briefly; a missing import inside it is a bug.
        if error.name is None or not (module_name + ".").startswith(error.name + "."):
            raise
        fail(prog, f"{entry_point} is not available in this installation ({error})", code=1)
    function = getattr(module, function_name, None)
    if function is None:
        fail(prog, f"{entry_point} is not available in this installation ({module_name} has no {function_name})", 1)
    try:
        function(config)
    except KeyboardInterrupt:
        raise SystemExit(130) from None  # the shell convention for "stopped by SIGINT", without a traceback
    except FatalError as error:  # a port in use, a child process gone: one line, no traceback
        fail(prog, str(error), code=1)


def _use_credentials(prog: str, path: str | None) -> None:
    """Check ``--credentials FILE`` now (a clear error, not a failure deep in a socket) and name it in
    ``SCALER_CREDENTIALS``: every socket of this process, and every process it starts, then uses it."""
    if path is None:
        return
    from scaler.security.credentials import ENVIRONMENT_VARIABLE, CredentialsError, load_credentials

    try:
        load_credentials(path)
    except CredentialsError as error:
        fail(prog, str(error), code=1)
    os.environ[ENVIRONMENT_VARIABLE] = os.path.abspath(path)
