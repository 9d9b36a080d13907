"""Loggers for mobwrite's own events, the LOGGING filter and the log formats.

Text lines are twistd's own.  ``--log-format json`` swaps in an observer
writing one flat JSON object per line (time, level, namespace, message and
every named field), which log shippers read without a custom parser.
twistd builds its observer after the plugin's ``makeService`` and asks the
Application for an ``ILogObserver`` component first; the daemon's top
service sets that component when twistd parents it (see ``tap.Daemon``).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import IO, Any

from twisted.logger import (
    FileLogObserver,
    FilteringLogObserver,
    ILogObserver,
    Logger,
    LogLevel,
    LogLevelFilterPredicate,
    formatEvent,
    globalLogPublisher,
)
from twisted.python.logfile import LogFile

NAMESPACE = "mobwrite"

_levels = LogLevelFilterPredicate(defaultLogLevel=LogLevel.info)
_observer = FilteringLogObserver(globalLogPublisher, [_levels])


def logger(name: str) -> Logger:
    """A logger whose events honour the configured level."""
    return Logger(namespace=f"{NAMESPACE}.{name}", observer=_observer)


def debugging() -> bool:
    """Whether mobwrite's DEBUG events are logged: when not, a hot path need not build them."""
    return _levels.logLevelForNamespace(NAMESPACE) is LogLevel.debug


# LOGGING's names, as the original daemon spelled them, to Twisted's levels.
_TWISTED_LEVELS = {
    "CRITICAL": LogLevel.critical, "ERROR": LogLevel.error, "WARNING": LogLevel.warn,
    "INFO": LogLevel.info, "DEBUG": LogLevel.debug,
}


def set_level(level: str) -> None:
    """Apply a LOGGING value (CRITICAL, ERROR, WARNING, INFO or DEBUG)."""
    _levels.setLogLevelForNamespace(NAMESPACE, _TWISTED_LEVELS[level])


def _plain(value: Any) -> Any:
    """A JSON-ready form of a field value: scalars as they are, others as text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return str(value)


def json_line(event: dict[str, Any]) -> str:
    """One log event as one line of JSON with its named fields at the top level."""
    record: dict[str, Any] = {
        "time": datetime.fromtimestamp(event.get("log_time", 0.0), UTC)
        .isoformat(timespec="milliseconds"),
        "level": getattr(event.get("log_level"), "name", "info"),
        "namespace": event.get("log_namespace", ""),
        "message": formatEvent(event),
    }
    failure = event.get("log_failure")
    if failure is not None:
        record["failure"] = failure.getTraceback()
    for key, value in event.items():
        if not key.startswith("log_") and key not in record and key != "format":
            record[key] = _plain(value)
    return json.dumps(record, ensure_ascii=False) + "\n"


def json_observer(stream: IO[str]) -> ILogObserver:
    """An observer writing every event to *stream* as a line of JSON."""
    return FileLogObserver(stream, json_line)


def log_destination(logfile: str, nodaemon: bool) -> IO[str]:
    """Where twistd would have written its text log, given its own options."""
    if logfile == "-" or (nodaemon and not logfile):
        return sys.stdout
    return LogFile.fromFullPath(logfile or "twistd.log")
