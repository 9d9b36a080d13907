"""Metrics: the Prometheus page parses, and counts real traffic and engine events."""

from __future__ import annotations

from pathlib import Path

import pytest_twisted
from http_client import fetch_path, post_q
from prometheus_client.parser import text_string_to_metric_families
from twisted.internet import defer
from twisted.internet.task import Clock

from benchmarks.daemon import Daemon
from mobwrite.core.engine import Engine
from mobwrite.core.store import Store
from mobwrite.daemon.answering import MemoryOnly, RequestAnswerer
from mobwrite.daemon.metrics import Metered, Metrics
from mobwrite.settings import Settings


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a Prometheus page, keyed by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str,
          **labels: str) -> float:
    return found[(name, frozenset(labels.items()))]


def test_metrics_count_real_traffic(tmp_path: Path) -> None:
    """Syncs over real TCP and HTTP show up on the gateway's /metrics, and
    nowhere on the editor port."""
    daemon = Daemon(tmp_path).start()
    try:
        assert daemon.exchange(b"u:meter01\nF:0:counted\nr:1:hello world\n\n") == (
            b"F:1:counted\nd:0:=11\n")
        assert daemon.exchange(b"u:meter01\nF:1:counted\nd:1:=11\t+!\n\n") == (
            b"F:2:counted\nd:1:=12\n")
        # A delta longer than the shadow: refused, and answered with the whole text.
        assert daemon.exchange(b"u:meter01\nF:2:counted\nd:2:=99\n\n") == (
            b"F:3:counted\nR:2:hello world!\n")
        assert daemon.exchange(b"u:meter01\n\n") == b""
        joined = post_q(daemon.ports["gateway"], b"u:meter02\nF:0:counted\nr:1:x\n\n")
        assert joined.body == b"F:1:counted\nd:0:-1\t+hello world!\n\n"
        scraped = fetch_path(daemon.ports["gateway"], "/metrics")
        assert fetch_path(daemon.ports["editor"], "/metrics").status == 404
    finally:
        daemon.stop()
    assert scraped.status == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    found = samples(scraped.body.decode("utf-8"))
    assert value(found, "mobwrite_requests_total", transport="tcp", outcome="answered") == 3
    assert value(found, "mobwrite_requests_total", transport="tcp", outcome="empty") == 1
    assert value(found, "mobwrite_sync_seconds_count", transport="tcp") == 4
    assert value(found, "mobwrite_requests_total", transport="http", outcome="answered") == 1
    assert value(found, "mobwrite_sync_seconds_count", transport="http") == 1
    assert value(found, "mobwrite_raw_resyncs_total") == 1
    assert value(found, "mobwrite_delta_failures_total") == 1
    assert value(found, "mobwrite_patch_failures_total") == 0
    assert value(found, "mobwrite_documents") == 1
    assert value(found, "mobwrite_views") == 2
    # The four syncs changed a view and waited for the store; the empty one did not.
    assert value(found, "mobwrite_store_flush_seconds_count") == 4


def sync(engine: Engine, request: str) -> str:
    return engine.handle(request.encode("utf-8"), 1.0).body.decode("utf-8")


def test_patches_that_find_no_place_are_counted() -> None:
    """An edit against text the master no longer has counts as a patch failure."""
    store = Store()
    metrics = Metrics(store)
    engine = Engine(store, Settings.defaults(), metrics.observe_event)
    original = "The quick brown fox jumps over the lazy dog"
    sync(engine, f"u:alice\nF:0:fox\nr:1:{original}\n\n")
    assert sync(engine, f"u:bob\nF:0:fox\nr:1:{original}\n\n") == "F:1:fox\nd:0:=43\n"
    sync(engine, "u:alice\nF:1:fox\nR:1:Nothing at all like it remains here\n\n")
    sync(engine, "u:bob\nF:1:fox\nd:1:=4\t-5\t+slow\t=34\n\n")
    found = samples(metrics.text().decode("utf-8"))
    assert value(found, "mobwrite_patch_failures_total") == 1
    assert store.documents["fox"].text == "Nothing at all like it remains here"


def test_limits_reached_are_counted_by_limit() -> None:
    """A request refused by MAX_VIEWS is counted under that limit's name."""
    store = Store()
    metrics = Metrics(store)
    engine = Engine(store, Settings.defaults(max_views=1), metrics.observe_event)
    sync(engine, "u:alice\nF:0:one\nr:1:x\n\n")
    assert sync(engine, "u:alice\nF:0:two\nr:1:y\n\n") == ""
    found = samples(metrics.text().decode("utf-8"))
    assert value(found, "mobwrite_limit_refusals_total", limit="MAX_VIEWS") == 1


class Failing:
    """An answerer whose every answer fails."""

    def answer(self, request: bytes, may_write: bool = True,
               origin: object = None, author: str | None = None,
               coarse: bool = False) -> defer.Deferred[bytes]:
        return defer.fail(RuntimeError("broken"))


@pytest_twisted.ensureDeferred
async def test_failed_answers_are_counted_and_still_fail() -> None:
    """A failing answer is counted as failed and its failure reaches the front end."""
    ticks = iter([10.0, 10.25])
    metrics = Metrics(Store(), timer=lambda: next(ticks))
    errors: list[str] = []
    try:
        await Metered(Failing(), metrics, "http").answer(b"u:x\n\n")
    except RuntimeError as error:
        errors.append(str(error))
    assert errors == ["broken"]
    found = samples(metrics.text().decode("utf-8"))
    assert value(found, "mobwrite_requests_total", transport="http", outcome="failed") == 1
    assert value(found, "mobwrite_sync_seconds_sum", transport="http") == 0.25


@pytest_twisted.ensureDeferred
async def test_each_daemon_has_its_own_registry() -> None:
    """Two servers in one process keep separate numbers."""
    first, second = Metrics(Store()), Metrics(Store())
    store = Store()
    server = RequestAnswerer(Engine(store, Settings.defaults()), Clock(),
                            MemoryOnly(store))
    await Metered(server, first, "tcp").answer(b"u:a\nF:0:d\nr:1:x\n\n")
    assert value(samples(first.text().decode()), "mobwrite_requests_total",
                 transport="tcp", outcome="answered") == 1
    assert ("mobwrite_requests_total", frozenset({("transport", "tcp"), ("outcome", "answered")})
            ) not in samples(second.text().decode())


def test_refusals_past_max_chars_and_the_process_are_on_the_page() -> None:
    """A change refused as too long is counted; memory, CPU and open files are shown."""
    store = Store(5)
    metrics = Metrics(store)
    engine = Engine(store, Settings.defaults(max_chars=5), metrics.observe_event)
    assert engine.handle(b"u:a\nF:0:doc\nR:1:too long\n\n", 0.0).body.startswith(
        b"F:0:doc\nx:too_long:5\n")
    found = samples(metrics.text().decode())
    assert value(found, "mobwrite_limit_refusals_total", limit="MAX_CHARS") == 1
    assert value(found, "process_resident_memory_bytes") > 0
    assert value(found, "process_cpu_seconds_total") > 0
    assert value(found, "process_open_fds") > 0
