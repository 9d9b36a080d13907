"""The cleanup pass (docs/protocol.md §10.2), run by a PeriodicService.

It forgets idle views, documents nobody uses and stale buffers, drops
revisions older than HISTORY_KEEP, then asks the committer to store the
removals, so that expiry reaches the disk too.  It also lets documents idle
for CACHE_IDLE leave memory (once stored; docs/operating.md), and brings the
memory held under MAX_MEMORY.
"""

from __future__ import annotations

from collections import Counter

from twisted.internet.interfaces import IReactorTime

from mobwrite.core.store import Store
from mobwrite.daemon.answering import Committer
from mobwrite.logs import logger
from mobwrite.settings import Settings
from mobwrite.storage.disk import SnapshotStorage

log = logger("housekeeping")


class Housekeeping:
    """One cleanup pass per call, at the clock's current time."""

    def __init__(self, store: Store, settings: Settings, clock: IReactorTime,
                 committer: Committer, storage: SnapshotStorage | None = None) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.committer = committer
        # Where views and documents not in memory are stored, to expire them too.
        self.storage = storage

    def __call__(self) -> None:
        settings = self.settings
        now = self.clock.seconds()
        removed = Counter(kind for kind, _ in self.store.expire(
            now, settings.timeout_view, settings.timeout_text, settings.timeout_buffer))
        if self.storage is not None:
            views, names = self.storage.stale(now - settings.timeout_view,
                                              now - settings.timeout_text
                                              if settings.timeout_text else None)
            stored = self.store.expire_stored(views, names)
            if stored:
                log.info("expired {count} stored views and documents not in memory",
                         count=stored)
        self.store.prune_revisions(now)
        if removed:
            log.info("expired {views} views, {documents} documents and {buffers} buffers",
                     views=removed["view"], documents=removed["document"],
                     buffers=removed["buffer"])
        idle = self.store.evict_idle(now, settings.cache_idle)
        over = self.store.shrink()
        if idle or over:
            log.info("{idle} idle documents and {over} more over MAX_MEMORY left memory; "
                     "{held} bytes held", idle=len(idle), over=len(over), held=self.store.held_bytes)
        # A failed write has been logged by the committer and stays pending.
        self.committer.durable().addErrback(lambda _: None)
