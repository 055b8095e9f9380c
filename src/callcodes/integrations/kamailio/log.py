"""Python logging into Kamailio's log: callcodes' records go to ``KSR.err``, ``warn``, ``info``.

Inside Kamailio, ``print`` and stderr go nowhere useful; the router attaches
:class:`KamailioLogHandler` to the ``callcodes`` logger so that its records (errors with their
traceback, locks, start-up lines) appear in Kamailio's own log, one line each.
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["KamailioLogHandler"]


class KamailioLogHandler(logging.Handler):
    """Sends Python log records to Kamailio's log (``KSR.err``, ``KSR.warn``, ``KSR.info``)."""

    def __init__(self, ksr: Any, level: int = logging.INFO) -> None:
        super().__init__(level)
        self._ksr = ksr

    def emit(self, record: logging.LogRecord) -> None:
        """Write *record* as one line of Kamailio's log."""
        try:
            text = self.format(record).replace("\r", " ").replace("\n", " | ") + "\n"
            if record.levelno >= logging.ERROR:
                self._ksr.err(text)
            elif record.levelno >= logging.WARNING:
                self._ksr.warn(text)
            else:
                self._ksr.info(text)
        except Exception:  # noqa: BLE001  # logging must never break a call
            self.handleError(record)
