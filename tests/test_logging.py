"""Logging: JSON lines with named fields, levels from LOGGING, no per-request noise."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from http_client import fetch_path
from twisted.logger import Logger, LogLevel, eventAsText, globalLogPublisher
from twisted.python.failure import Failure

from benchmarks.daemon import Daemon
from mobwrite.logs import enabled, json_line, logger, set_level
from mobwrite.settings import LOG_LEVELS

SHARE = b"u:logger01\nF:0:logged-doc\nr:1:secret words\n\n"


def captured(emit: str, **fields: object) -> dict[str, object]:
    """The event a Logger produces for *emit* with *fields*."""
    events: list[dict[str, object]] = []
    getattr(Logger(namespace="mobwrite.test", observer=events.append), emit)(
        "saved {count} documents to {path}", **fields)
    return events[0]


def test_json_line_flattens_named_fields() -> None:
    """One JSON object per line: time, level, namespace, message, then each field."""
    line = json_line(captured("warn", count=3, path=Path("/srv/data")))
    assert line.endswith("\n") and "\n" not in line[:-1]
    record = json.loads(line)
    assert record["level"] == "warn"
    assert record["namespace"] == "mobwrite.test"
    assert record["message"] == "saved 3 documents to /srv/data"
    assert record["count"] == 3
    assert record["path"] == "/srv/data"
    assert record["time"].endswith("+00:00")


def test_json_line_carries_the_traceback_of_a_failure() -> None:
    """A logged failure keeps its traceback in a ``failure`` field."""
    try:
        raise ValueError("disk on fire")
    except ValueError:
        failure = Failure()
    event = captured("info", count=1, path="x")
    event.update(log_failure=failure, log_level=LogLevel.critical)
    record = json.loads(json_line(event))
    assert record["level"] == "critical"
    assert "ValueError: disk on fire" in record["failure"]
    assert "disk on fire" in eventAsText(event)


def test_daemon_logs_json_lines_without_per_request_noise(tmp_path: Path) -> None:
    """With --log-format=json every line is JSON, ports are logged with fields,
    and requests at the default level add nothing to the log."""
    daemon = Daemon(tmp_path, "--log-format=json").start()
    try:
        assert daemon.exchange(SHARE) == b"F:1:logged-doc\nd:0:=12\n"
        assert fetch_path(daemon.ports["gateway"], "/healthz").status == 200
        assert fetch_path(daemon.ports["editor"], "/status?logged-doc").status == 200
    finally:
        # twistd shuts down cleanly, then ends itself with the signal it got.
        assert daemon.stop() == -signal.SIGTERM
    records = [json.loads(line) for line in daemon.lines]
    listening = {r["name"]: r for r in records if r["message"].find(" listening on ") > 0}
    assert set(listening) == {"tcp", "gateway", "editor"}
    assert all(r["namespace"] == "mobwrite.services" and r["level"] == "info"
               for r in listening.values())
    assert f"port={daemon.ports['tcp']}" in listening["tcp"]["address"]
    assert any(r["message"].startswith("mobwrite stopped cleanly") and r["documents"] == 1
               for r in records)
    text = "".join(daemon.lines)
    for trace in ("logger01", "logged-doc", "/healthz", "/status", "GET"):
        assert trace not in text


def test_debug_level_logs_each_request(tmp_path: Path) -> None:
    """LOGGING = DEBUG (here from the settings file) adds one line per HTTP request."""
    config = tmp_path / "mobwrite.conf"
    config.write_text("LOGGING = DEBUG\n")
    daemon = Daemon(tmp_path, "--config", str(config)).start()
    try:
        assert fetch_path(daemon.ports["gateway"], "/healthz?probe=1").status == 200
        line = daemon.wait_for_log(r"GET /healthz answered 200")
    finally:
        daemon.stop()
    assert "[mobwrite.gateway#debug]" in line
    assert "probe=1" not in line


def test_the_tac_file_logs_json_too(tmp_path: Path) -> None:
    """``twistd -y mobwrite.tac`` honours the log format just like the plugin."""
    daemon = Daemon(tmp_path, "--log-format=json", tac=True).start()
    daemon.stop()
    records = [json.loads(line) for line in daemon.lines]
    assert sum(" listening on " in record["message"] for record in records) == 3


@pytest.mark.parametrize("level", LOG_LEVELS)
def test_every_logging_level_filters_our_events(level: str) -> None:
    """Each LOGGING value is accepted and lets through that level and above
    only, as ``enabled`` says beforehand."""
    order = [LogLevel.debug, LogLevel.info, LogLevel.warn, LogLevel.error, LogLevel.critical]
    seen: list[LogLevel] = []
    globalLogPublisher.addObserver(seen_levels := lambda event: seen.append(event["log_level"]))
    try:
        set_level(level)
        log = logger("test")
        passing = [one for one in order if enabled(log, one)]
        for emit in (log.debug, log.info, log.warn, log.error, log.critical):
            emit("an event at LOGGING {setting}", setting=level)
    finally:
        globalLogPublisher.removeObserver(seen_levels)
        set_level("INFO")
    lowest = order[LOG_LEVELS[::-1].index(level)]
    assert seen == passing == [one for one in order if one >= lowest]
