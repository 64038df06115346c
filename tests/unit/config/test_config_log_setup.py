"""setup_logging: streams, files, a fileConfig file, and no doubled handlers when called twice."""

from __future__ import annotations

import logging
import pathlib
import sys
from collections.abc import Iterator

import pytest

from scaler.config import setup_logging
from scaler.config.log_setup import LOG_FORMAT


@pytest.fixture(autouse=True)
def restore_scaler_logger() -> Iterator[None]:
    logger = logging.getLogger("scaler")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    for handler in logger.handlers:
        if handler not in saved[0]:
            handler.close()
    logger.handlers[:], logger.level, logger.propagate = saved


def test_streams_and_files(tmp_path: pathlib.Path) -> None:
    log_file = tmp_path / "scaler.log"
    setup_logging("WARNING", ["/dev/stdout", "/dev/stderr", str(log_file)], None)
    logger = logging.getLogger("scaler")
    streams = [getattr(handler, "stream", None) for handler in logger.handlers]
    assert streams[:2] == [sys.stdout, sys.stderr]
    assert isinstance(logger.handlers[2], logging.FileHandler)
    assert logger.level == logging.WARNING
    assert all(handler.formatter is not None and handler.formatter._fmt == LOG_FORMAT for handler in logger.handlers)
    logging.getLogger("scaler.scheduler").warning("disk %s", "full")
    logging.getLogger("scaler.scheduler").info("not shown")
    text = log_file.read_text()
    assert "WARNING scaler[" in text and "]: disk full" in text
    assert "not shown" not in text


def test_second_call_replaces_handlers(tmp_path: pathlib.Path) -> None:
    setup_logging("INFO", ["/dev/stderr"], None)
    setup_logging("DEBUG", ["/dev/stdout"], None)
    logger = logging.getLogger("scaler")
    assert [getattr(handler, "stream", None) for handler in logger.handlers] == [sys.stdout]
    assert logger.level == logging.DEBUG


def test_config_file_replaces_the_other_options(tmp_path: pathlib.Path) -> None:
    config_file = tmp_path / "logging.conf"
    config_file.write_text(
        "[loggers]\nkeys=root,scaler\n\n[handlers]\nkeys=null\n\n[formatters]\nkeys=\n\n"
        "[logger_root]\nhandlers=\n\n"
        "[logger_scaler]\nlevel=ERROR\nhandlers=null\nqualname=scaler\n\n"
        "[handler_null]\nclass=NullHandler\nargs=()\n"
    )
    setup_logging("DEBUG", ["/dev/stdout"], str(config_file))
    logger = logging.getLogger("scaler")
    assert logger.level == logging.ERROR
    assert [type(handler) for handler in logger.handlers] == [logging.NullHandler]
