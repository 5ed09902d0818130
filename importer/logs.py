"""Loggers for the library: structlog events over the standard ``logging`` module.

A library must stay silent unless the application asks for its logs: these loggers pass their
events to ``logging.getLogger(name)``, and the ``importer`` and ``converters`` loggers carry a
``NullHandler``, so nothing is printed until the application configures logging (the CLI does,
in ``importer.console.configure_logging``).
"""

from __future__ import annotations

import logging
from typing import Any

import structlog

__all__ = ["get_logger"]

for _name in ("importer", "converters"):
    logging.getLogger(_name).addHandler(logging.NullHandler())


def get_logger(name: str) -> Any:
    """A structlog logger for module ``name`` that logs through stdlib ``logging``."""
    return structlog.wrap_logger(
        logging.getLogger(name), wrapper_class=structlog.stdlib.BoundLogger
    )
