"""Engine events: every one is logged with its own message and counted where it matters."""

from __future__ import annotations

from typing import Any

import pytest
from twisted.logger import formatEvent, globalLogPublisher

from mobwrite.core.events import Event
from mobwrite.core.store import Store
from mobwrite.daemon.answering import EVENT_LOG, report_event
from mobwrite.daemon.metrics import Metrics
from mobwrite.logs import set_level

FIELDS: dict[str, Any] = {"limit": 2, "wanted": 3, "held": 10, "size": 9, "depth": 4,
                          "user": "alice", "name": "doc", "error": "bad", "failed": 2,
                          "transport": "HTTP gateway", "peer": "127.0.0.1", "subject": "ann",
                          "reason": "the token has expired", "kind": "expired"}


def test_every_event_has_a_log_line() -> None:
    """No event is missing from the table that says how to log it."""
    assert set(EVENT_LOG) == set(Event)


@pytest.mark.parametrize("event", list(Event))
def test_each_event_logs_as_its_name(event: Event) -> None:
    """The log carries the event's plain name, and its message formats."""
    seen: list[dict[str, Any]] = []
    set_level("DEBUG")
    globalLogPublisher.addObserver(seen.append)
    try:
        report_event(event, **FIELDS)
    finally:
        globalLogPublisher.removeObserver(seen.append)
        set_level("INFO")
    (logged,) = [each for each in seen if each.get("event") == event]
    assert type(logged["event"]) is Event and logged["event"] == event.value
    assert "{" not in formatEvent(logged) and "Unable to format" not in formatEvent(logged)


def test_metrics_take_every_event() -> None:
    """Every event is understood by the metrics, and the limits are counted by name."""
    metrics = Metrics(Store())
    for event in Event:
        metrics.observe_event(event, **FIELDS)
    text = metrics.text().decode()
    assert 'mobwrite_limit_refusals_total{limit="MAX_VIEWS"} 1.0' in text
    assert "mobwrite_patch_failures_total 2.0" in text
