"""Prometheus metrics of one daemon and the ``/metrics`` page that shows them.

Each daemon has its own ``CollectorRegistry``, so several daemons (or
tests) in one process never mix their numbers.  Requests are counted by
wrapping what each front end calls (``Metered``), engine events arrive as
a report (``Metrics.observe_event``), and the store's sizes and the
process's memory, CPU and file descriptors are read when the page is
scraped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Hashable, Iterator, Sequence
from functools import partial
from typing import Any, assert_never

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from twisted.internet import defer
from twisted.python.failure import Failure
from twisted.web import resource
from twisted.web.server import Request

from mobwrite import __version__
from mobwrite.core.cache import CacheFigures, store_figures
from mobwrite.core.events import Event
from mobwrite.core.presence import Presence
from mobwrite.core.push import Subscriptions
from mobwrite.core.store import Store, ViewKey
from mobwrite.daemon.answering import Answerer, Unavailable

# Engine events counted as limits that refused work, by the limit's name.
LIMIT_EVENTS = {
    Event.VIEWS_FULL: "MAX_VIEWS",
    Event.BUFFERS_FULL: "MAX_BUFFERED_BYTES",
    Event.BUFFER_TOO_LARGE: "MAX_BUFFER_SLOTS",
    Event.BUFFER_TOO_DEEP: "MAX_BUFFER_DEPTH",
    Event.TOO_LONG: "MAX_CHARS",
    Event.MEMORY_FULL: "MAX_MEMORY",
    Event.DISK_FULL: "MAX_STORED",
}


class StoreCollector:
    """Reads the cache's figures (core/cache.py) at scrape time."""

    def __init__(self, figures: Callable[[], CacheFigures]) -> None:
        self.figures = figures

    def collect(self) -> Iterator[Metric]:
        cache = self.figures()
        for name, help_text, value in (
            ("mobwrite_documents", "Documents held in memory", cache.documents),
            ("mobwrite_views", "Open views (one per user and document)", cache.views),
            ("mobwrite_buffers", "Unfinished buffered requests", cache.buffers),
            ("mobwrite_buffered_bytes", "Bytes held in unfinished buffers",
             cache.buffered_bytes),
            ("mobwrite_memory_held_bytes", "Bytes of text the documents, views, revision "
             "logs and buffers in memory hold (counted against MAX_MEMORY)", cache.held_bytes),
            ("mobwrite_memory_budget_bytes", "MAX_MEMORY (0: no limit)", cache.max_memory),
        ):
            yield GaugeMetricFamily(name, help_text, value=value)
        if cache.stored is not None:
            yield GaugeMetricFamily("mobwrite_documents_stored", "Documents stored",
                                    value=cache.stored.documents)
            yield GaugeMetricFamily("mobwrite_stored_bytes", "Bytes the database uses on "
                                    "disk (counted against MAX_STORED)",
                                    value=cache.stored.bytes)
        counts = cache.counts
        for name, help_text, value in (
            ("mobwrite_document_loads", "Documents looked up in storage because they were "
             "not in memory", counts.loads),
            ("mobwrite_document_load_misses", "Lookups in storage that found nothing (a new "
             "document)", counts.misses),
            ("mobwrite_document_evictions", "Stored documents that left memory (idle or "
             "over MAX_MEMORY)", counts.evictions),
        ):
            yield CounterMetricFamily(name, help_text, value=value)


class PushCollector:
    """Reads the WebSocket push's numbers at scrape time."""

    def __init__(self, push: Subscriptions[Any]) -> None:
        self.push = push

    def collect(self) -> Iterator[Metric]:
        counts = self.push.counts
        yield GaugeMetricFamily("mobwrite_websockets", "Open WebSockets",
                                value=len(self.push))
        yield CounterMetricFamily("mobwrite_push_notices", "Change notices sent to WebSockets",
                                  value=counts.notices_sent)
        yield CounterMetricFamily(
            "mobwrite_push_coalesced",
            "Changes folded into a notice a WebSocket was already owed",
            value=counts.notices_coalesced)
        yield CounterMetricFamily(
            "mobwrite_push_deltas", "Messages of pushed deltas sent to WebSockets",
            value=counts.deltas_sent)


class PresenceCollector:
    """Reads presence's numbers at scrape time (docs/websocket.md, "Presence")."""

    def __init__(self, presence: Presence[Any]) -> None:
        self.presence = presence

    def collect(self) -> Iterator[Metric]:
        counts = self.presence.counts
        yield GaugeMetricFamily("mobwrite_presence_people",
                                "WebSockets that have published their presence",
                                value=len(self.presence))
        for name, help_text, value in (
            ("mobwrite_presence_published", "Presence messages accepted", counts.published),
            ("mobwrite_presence_refused", "Presence messages refused as invalid",
             counts.refused),
            ("mobwrite_presence_updates", "Presence updates sent to WebSockets",
             counts.updates_sent),
            ("mobwrite_presence_coalesced",
             "Presence entries replaced by a later one of the same person before being sent",
             counts.coalesced),
        ):
            yield CounterMetricFamily(name, help_text, value=value)


class Metrics:
    """The daemon's counters and histograms, in a registry of their own.

    The cache's figures are *store*'s, or with *cache* (a daemon on a shared
    database, whose workers each have a store) what *cache* returns.
    """

    def __init__(self, store: Store, timer: Callable[[], float] = time.perf_counter,
                 push: Subscriptions[Any] | None = None,
                 presence: Presence[Any] | None = None,
                 cache: Callable[[], CacheFigures] | None = None) -> None:
        self.timer = timer
        self.registry = CollectorRegistry()
        registry = self.registry
        self.requests = Counter(
            "mobwrite_requests", "Complete requests, by transport and outcome",
            ["transport", "outcome"], registry=registry)
        self.sync_seconds = Histogram(
            "mobwrite_sync_seconds",
            "Time from a complete request to its answer, durability wait included",
            ["transport"], registry=registry)
        self.raw_resyncs = Counter(
            "mobwrite_raw_resyncs", "Answers that sent a whole text instead of a delta",
            registry=registry)
        self.delta_failures = Counter(
            "mobwrite_delta_failures", "Client deltas that did not fit the shadow",
            registry=registry)
        self.patch_failures = Counter(
            "mobwrite_patch_failures", "Patches that found no place in the master text",
            registry=registry)
        self.raw_failures = Counter(
            "mobwrite_raw_failures", "Raw texts refused as badly encoded",
            registry=registry)
        self.limit_refusals = Counter(
            "mobwrite_limit_refusals", "Work refused because a limit was reached",
            ["limit"], registry=registry)
        self.access_refusals = Counter(
            "mobwrite_access_refusals",
            "Requests refused by access control (403), and edits dropped for a read-only "
            "token (reason read_only), by reason", ["reason"], registry=registry)
        self.flush_seconds = Histogram(
            "mobwrite_store_flush_seconds", "Time one batch of changes took to write to disk",
            registry=registry)
        self._request_series: dict[tuple[str, str], tuple[Counter, Histogram]] = {}
        info = Counter("mobwrite_build", "Constant 1, labelled with the version",
                       ["version"], registry=registry)
        info.labels(version=__version__).inc()
        registry.register(StoreCollector(partial(store_figures, store) if cache is None
                                         else cache))
        # The process's memory, CPU time and open file descriptors (process_*).
        ProcessCollector(registry=registry)
        if push is not None:
            registry.register(PushCollector(push))
        if presence is not None:
            registry.register(PresenceCollector(presence))

    def observe_event(self, event: Event, **fields: Any) -> None:
        """An engine report: count the events that matter to an operator."""
        match event:
            case Event.RAW_REPLY:
                self.raw_resyncs.inc()
            case Event.DELTA_REFUSED:
                self.delta_failures.inc()
            case Event.PATCH_FAILED:
                self.patch_failures.inc(fields["failed"])
            case Event.RAW_REFUSED:
                self.raw_failures.inc()
            case (Event.VIEWS_FULL | Event.BUFFERS_FULL | Event.BUFFER_TOO_LARGE
                  | Event.BUFFER_TOO_DEEP | Event.TOO_LONG | Event.MEMORY_FULL
                  | Event.DISK_FULL):
                self.limit_refusals.labels(limit=LIMIT_EVENTS[event]).inc()
            case Event.READ_ONLY:
                self.access_refusals.labels(reason="read_only").inc()
            case Event.ACCESS_REFUSED:
                self.access_refusals.labels(reason=fields["kind"]).inc()
            case _:
                # mypy: an event added to the enumeration must be counted here.
                assert_never(event)

    def observe_flush(self, seconds: float) -> None:
        """Record how long one write to the data directory took (called by storage)."""
        self.flush_seconds.observe(seconds)

    def observe_request(self, transport: str, outcome: str, seconds: float) -> None:
        key = (transport, outcome)
        series = self._request_series.get(key)
        if series is None:
            # Looking a labelled series up costs more than counting in it: once per label pair.
            series = self._request_series[key] = (
                self.requests.labels(transport=transport, outcome=outcome),
                self.sync_seconds.labels(transport=transport))
        series[0].inc()
        series[1].observe(seconds)

    def text(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)


class Metered:
    """What one front end calls: counts and times each request it answers."""

    def __init__(self, server: Answerer, metrics: Metrics, transport: str) -> None:
        self.server = server
        self.metrics = metrics
        self.transport = transport

    def answer(self, request: bytes, may_write: bool = True,
               origin: Hashable = None, author: str | None = None,
               coarse: bool = False) -> defer.Deferred[bytes]:
        return self.server.answer(request, may_write, origin, author, coarse).addBoth(
            self._record, self.metrics.timer())

    def push(self, views: Sequence[ViewKey],
             coarse: Collection[ViewKey] = ()) -> defer.Deferred[list[str | None]]:
        return self.server.push(views, coarse)

    def pushed(self, view: ViewKey, version: int) -> None:
        self.server.pushed(view, version)

    def _record(self, result: bytes | Failure, started: float) -> bytes | Failure:
        """Count *result* (an answer or a failure) and pass it on."""
        outcome = ("answered" if result else "empty") if not isinstance(result, Failure) else (
            "unavailable" if result.check(Unavailable) else "failed")
        self.metrics.observe_request(self.transport, outcome, self.metrics.timer() - started)
        return result


class MetricsResource(resource.Resource):
    """``GET /metrics``: the Prometheus text format."""

    isLeaf = True

    def __init__(self, metrics: Metrics) -> None:
        super().__init__()
        self.metrics = metrics

    def render_GET(self, request: Request) -> bytes:
        request.setHeader(b"content-type", CONTENT_TYPE_LATEST.encode("ascii"))
        request.setHeader(b"cache-control", b"no-store")
        return self.metrics.text()
