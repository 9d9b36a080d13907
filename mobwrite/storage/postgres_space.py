"""The space the shared database takes on disk, for MAX_STORED and /metrics.

The bytes are what PostgreSQL's files of mobwrite's tables take
(``pg_total_relation_size``: the rows, their TOAST and the indexes), read
from the file sizes, so asking costs the same however much is stored; the
documents are counted by the housekeeping pass only (a count walks them).
Every daemon reads the same files, so MAX_STORED holds across all of them
(docs/postgresql.md, "Memory and disk").
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mobwrite.core.cache import StoredUse

if TYPE_CHECKING:
    import psycopg

TABLES = ["mobwrite_documents", "mobwrite_views", "mobwrite_revisions", "mobwrite_snapshots"]
# A request that would create a document reads the size again if the one
# known is older than this many seconds.
FRESH = 1.0

_BYTES = """SELECT coalesce(sum(pg_total_relation_size(to_regclass(t))), 0)::bigint
    FROM unnest(%s::text[]) AS t"""
_COUNT = "SELECT count(*) FROM mobwrite_documents"


class StoredSpace:
    """What the database holds, as of its latest reading (shared by a daemon's workers)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.latest = StoredUse(0, 0)
        self.read_at = -float("inf")

    def use(self) -> StoredUse:
        """As last read (for the pages: never waits for the database)."""
        return self.latest

    def current(self, connection: psycopg.Connection[Any]) -> StoredUse:
        """Read again on *connection* unless the latest reading is fresh."""
        now = self.clock()
        if now - self.read_at >= FRESH:
            found = connection.execute(_BYTES, (TABLES,)).fetchone()
            self.latest = StoredUse(0 if found is None else int(found[0]),
                                    self.latest.documents)
            self.read_at = now
        return self.latest

    def count(self, connection: psycopg.Connection[Any]) -> StoredUse:
        """Read the bytes and count the documents, on *connection*."""
        self.read_at = -float("inf")
        use = self.current(connection)
        found = connection.execute(_COUNT).fetchone()
        self.latest = use._replace(documents=0 if found is None else int(found[0]))
        return self.latest
