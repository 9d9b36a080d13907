"""A database that refuses to store documents, for the storage's failure paths."""

from __future__ import annotations

from mobwrite.storage.sqlite import Database

REFUSAL = "disk says no"


def refuse_documents(database: Database, temporary: bool = False) -> None:
    """Make *database* refuse every document it is asked to store, saying REFUSAL.
    A *temporary* refusal lives in this connection only: the file stays plain (a
    copy of it, as at a crash, refuses nothing)."""
    assert database.connection is not None
    kind, table = ("TEMP TRIGGER", "main.documents") if temporary else ("TRIGGER", "documents")
    database.connection.execute(f"CREATE {kind} refuse BEFORE INSERT ON {table} "
                                f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END")
