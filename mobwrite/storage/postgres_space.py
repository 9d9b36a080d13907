"""The space the shared database takes on disk, for MAX_STORED and /metrics.

The bytes are what PostgreSQL's files of mobwrite's tables take
(``pg_total_relation_size``: the rows, their TOAST and the indexes), read
from the file sizes, so asking costs the same however much is stored: a
request that would create a document asks, in its transaction.  The
documents are counted by the housekeeping pass only (a count walks them).
Every daemon reads the same files, so MAX_STORED holds across all of them
(docs/postgresql.md, "Memory and disk").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mobwrite.core.cache import StoredUse

if TYPE_CHECKING:
    import psycopg

TABLES = ["mobwrite_documents", "mobwrite_views", "mobwrite_revisions", "mobwrite_snapshots"]

_BYTES = """SELECT coalesce(sum(pg_total_relation_size(to_regclass(t))), 0)::bigint
    FROM unnest(%s::text[]) AS t"""
_COUNT = "SELECT count(*) FROM mobwrite_documents"


class StoredSpace:
    """What the database holds, as of its latest reading (shared by a daemon's workers)."""

    def __init__(self) -> None:
        self.latest = StoredUse(0, 0)

    def use(self) -> StoredUse:
        """As last read (for the pages: never waits for the database)."""
        return self.latest

    def current(self, connection: psycopg.Connection[Any]) -> StoredUse:
        """The bytes as of now, read on *connection* (the documents as last counted)."""
        found = connection.execute(_BYTES, (TABLES,)).fetchone()
        self.latest = self.latest._replace(bytes=0 if found is None else int(found[0]))
        return self.latest

    def count(self, connection: psycopg.Connection[Any]) -> StoredUse:
        """The bytes and the documents as of now, read on *connection*."""
        found = connection.execute(_COUNT).fetchone()
        self.latest = self.current(connection)._replace(
            documents=0 if found is None else int(found[0]))
        return self.latest
