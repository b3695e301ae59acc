"""Broker logging: one line per event to stderr, flushed at once (the harness tails these logs)."""

from __future__ import annotations

import logging
import sys

LOGGER_NAME = "pybroker"


def setup_logging(broker_name: str, level: int | str = logging.INFO) -> logging.Logger:
    logger = logging.getLogger(LOGGER_NAME)
    handler = logging.StreamHandler(sys.stderr)  # flushes after every record
    safe_name = broker_name.replace("%", "%%")
    handler.setFormatter(logging.Formatter(f"%(asctime)s %(levelname)s [{safe_name}] %(message)s"))
    for old in list(logger.handlers):
        logger.removeHandler(old)
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    return logger
