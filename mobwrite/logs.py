"""Loggers for mobwrite's own events, filtered by the LOGGING setting."""

from __future__ import annotations

from twisted.logger import (
    FilteringLogObserver,
    Logger,
    LogLevel,
    LogLevelFilterPredicate,
    globalLogPublisher,
)

NAMESPACE = "mobwrite"

_levels = LogLevelFilterPredicate(defaultLogLevel=LogLevel.info)
_observer = FilteringLogObserver(globalLogPublisher, [_levels])


def logger(name: str) -> Logger:
    """A logger whose events honour the configured level."""
    return Logger(namespace=f"{NAMESPACE}.{name}", observer=_observer)


def set_level(level: str) -> None:
    """Apply a LOGGING value (CRITICAL, ERROR, WARNING, INFO or DEBUG)."""
    name = "critical" if level == "CRITICAL" else level.lower()
    _levels.setLogLevelForNamespace(NAMESPACE, LogLevel.levelWithName(name))
