"""Logging: colour on a terminal, plain text elsewhere, a rotating file, and secrets masked everywhere.

Masking happens in the formatter, after the message, its arguments and any traceback are rendered,
so a token cannot slip through an exception text or a third-party logger (urllib3 logs full request
URLs with webhook keys at DEBUG).
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from collections.abc import Iterable
from typing import TextIO

import colorama

from ds_monitor.access import access_error
from ds_monitor.errors import ConfigError
from ds_monitor.redaction import redact

LOGGER_NAME = "ds_monitor"
_LEVEL_COLOURS = {
    logging.DEBUG: colorama.Style.DIM,
    logging.WARNING: colorama.Fore.YELLOW,
    logging.ERROR: colorama.Fore.RED,
    logging.CRITICAL: colorama.Fore.RED + colorama.Style.BRIGHT,
}


class RedactingFormatter(logging.Formatter):
    """A formatter that masks secrets in the final line, optionally colouring it by level."""

    def __init__(self, fmt: str, secrets: Iterable[str] = (), colour: bool = False):
        super().__init__(fmt, datefmt="%Y-%m-%d %H:%M:%S%z")
        self.secrets = list(secrets)
        self.colour = colour

    def format(self, record: logging.LogRecord) -> str:
        text = redact(super().format(record), self.secrets)
        if self.colour and record.levelno in _LEVEL_COLOURS:
            return f"{_LEVEL_COLOURS[record.levelno]}{text}{colorama.Style.RESET_ALL}"
        return text


_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class _BoundedFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating file that stays within ``maxBytes`` also with ``backupCount`` 0.

    The standard handler keeps no backup then, but reopens the same file for appending on every
    rollover, so it grows without bound; here the file starts afresh instead.
    """

    def doRollover(self) -> None:
        if self.backupCount > 0:
            super().doRollover()
            return
        if self.stream:
            self.stream.close()
        self.stream = open(self.baseFilename, "w", encoding=self.encoding, errors=self.errors)  # noqa: SIM115


def _file_handler(file: str, max_size_mb: float, backup_count: int) -> logging.Handler:
    """The rotating log file; a path that cannot be opened is the operator's to fix (exit 2, named)."""
    try:
        directory = os.path.dirname(file)
        if directory:
            os.makedirs(directory, exist_ok=True)
        return _BoundedFileHandler(
            file, maxBytes=int(max_size_mb * 1024 * 1024), backupCount=backup_count, encoding="utf-8"
        )
    except PermissionError as err:
        raise access_error("logging.file", file, err) from err
    except OSError as err:
        raise ConfigError(f"logging.file {file}: cannot be opened for writing: {err.strerror or err}") from err


def setup_logging(
    level: str = "INFO",
    *,
    file: str | None = None,
    max_size_mb: float = 10,
    backup_count: int = 5,
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> logging.Logger:
    """Configure the ``ds_monitor`` logger tree (and urllib3's) once; safe to call again on reload."""
    stream = stream if stream is not None else sys.stderr
    secrets = list(secrets)
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_ds_monitor", False):
            root.removeHandler(handler)
            handler.close()

    colour = hasattr(stream, "isatty") and stream.isatty() and not os.environ.get("NO_COLOR")
    if colour:
        colorama.just_fix_windows_console()
    console = logging.StreamHandler(stream)
    console.setFormatter(RedactingFormatter(_FORMAT, secrets, colour=colour))
    handlers: list[logging.Handler] = [console]
    if file:
        rotating = _file_handler(file, max_size_mb, backup_count)
        rotating.setFormatter(RedactingFormatter(_FORMAT, secrets))
        handlers.append(rotating)
    for handler in handlers:
        handler._ds_monitor = True  # type: ignore[attr-defined]
        root.addHandler(handler)

    numeric = logging.getLevelName(level.upper())
    root.setLevel(logging.WARNING)
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(numeric)
    # urllib3 prints request lines with webhook keys at DEBUG and a warning per retry; the DS client
    # and the senders report the outcome as one line of their own.
    logging.getLogger("urllib3").setLevel(logging.ERROR)
    return logger
