"""The dump file: every document and view of a store, as JSON lines.

Written by ``mobwrite dump`` (and the gateway's ``/dump`` page), read by
``mobwrite load``; ``docs/postgresql.md`` documents the format.  Line one
is the header ``{"format": "mobwrite-dump", "version": 2}``; then one
object per document, sorted by name, then one per view, sorted by document
and user, then one per revision and one per snapshot of the documents'
revision logs, sorted by document and number; the last line counts them,
so that a truncated file is refused.  Version 1 (no revisions) is still read.
Both directions go row by row (``dump_stream``, ``rows_of``), so that a
store of any size is dumped or loaded holding only a few rows at once.
Strings are JSON with non-ASCII escaped, so lone surrogates survive and
the same rows always make the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NamedTuple

from mobwrite.core.revisions import Revision, RevisionError, RevisionRow, SnapshotRow
from mobwrite.core.store import Changes, Store
from mobwrite.storage.contract import Storage
from mobwrite.storage.rows import (
    Batch,
    DocumentRow,
    Rows,
    StorageError,
    StoredLog,
    ViewRow,
    log_changes,
    snapshot,
)

FORMAT = "mobwrite-dump"
VERSION = 2
# The versions this mobwrite reads.
READS = (1, 2)


class RevisionLine(NamedTuple):
    """A revision line: a row of document *name*'s revision log."""

    name: str
    row: RevisionRow


class SnapshotLine(NamedTuple):
    """A snapshot line: a snapshot of document *name*'s revision log."""

    name: str
    row: SnapshotRow


# What one line of a dump holds, in the order the file holds them.
DumpRow = DocumentRow | ViewRow | RevisionLine | SnapshotLine


class DumpError(ValueError):
    """A file that is not a whole dump this mobwrite can read; the message says where."""


def store_rows(store: Store) -> Rows:
    """Every row of *store* as it is now (a consistent copy: call it on the reactor)."""
    batch = snapshot(store, Changes(set(store.documents), set(store.views)))
    logs = {}
    for name in store.documents:
        log = store.revisions(name)
        if log is not None:
            revisions, snapshots = log.rows()
            logs[name] = StoredLog({row.number: row for row in revisions},
                                   {row.number: row for row in snapshots})
    return Rows([row for row in batch.documents.values() if row is not None],
                [row for row in batch.views.values() if row is not None], logs)


def dump_lines(documents: Iterable[DocumentRow], views: Iterable[ViewRow],
               logs: Mapping[str, StoredLog] | None = None) -> Iterator[bytes]:
    """The dump of these rows, line by line (each ending in LF), sorted here."""
    logs = logs or {}
    names = sorted(logs)
    yield from dump_stream(
        sorted(documents, key=lambda row: row.name),
        sorted(views, key=lambda row: (row.name, row.user)),
        (RevisionLine(name, logs[name].revisions[number])
         for name in names for number in sorted(logs[name].revisions)),
        (SnapshotLine(name, logs[name].snapshots[number])
         for name in names for number in sorted(logs[name].snapshots)))


def dump_stream(documents: Iterable[DocumentRow], views: Iterable[ViewRow],
                revisions: Iterable[RevisionLine],
                snapshots: Iterable[SnapshotLine]) -> Iterator[bytes]:
    """The dump of these rows, each given already in the dump's order (by name, as
    code points, then by user or number), line by line as they come."""
    yield _line({"format": FORMAT, "version": VERSION})
    counted = [0, 0, 0, 0]
    for document in documents:
        counted[0] += 1
        yield _line({"document": document.name, "text": document.text,
                     "lasttime": document.lasttime})
    for view in views:
        counted[1] += 1
        yield _line({"view": view.name, "user": view.user, "shadow": view.shadow,
                     "backup_shadow": view.backup_shadow,
                     "client_version": view.client_version,
                     "server_version": view.server_version,
                     "backup_server_version": view.backup_server_version,
                     "edit_stack": [list(entry) for entry in view.edit_stack],
                     "lasttime": view.lasttime})
    for name, row in revisions:
        counted[2] += 1
        yield _line({"revision": name, "number": row.number, "time": row.time,
                     "author": row.author, "kind": row.kind,
                     "change": json.loads(row.change)})
    for name, snapshot_row in snapshots:
        counted[3] += 1
        yield _line({"snapshot": name, "number": snapshot_row.number,
                     "text": snapshot_row.text})
    yield _line({"end": dict(zip(_COUNTED, counted, strict=True))})


_COUNTED = ("documents", "views", "revisions", "snapshots")


def _line(value: dict[str, Any]) -> bytes:
    return json.dumps(value, ensure_ascii=True, separators=(",", ":")).encode("ascii") + b"\n"


def read_dump(lines: Iterable[bytes]) -> Batch:
    """The rows of a dump, refusing anything but a whole one with DumpError."""
    return batch_of(rows_of(lines))


def batch_of(rows: Iterable[DumpRow]) -> Batch:
    """The rows of a dump as one batch, which writes them into an empty store."""
    batch = Batch()
    logs: dict[str, StoredLog] = {}
    for row in rows:
        if isinstance(row, DocumentRow):
            batch.documents[row.name] = row
        elif isinstance(row, ViewRow):
            batch.views[row.user, row.name] = row
        elif isinstance(row, RevisionLine):
            logs.setdefault(row.name, StoredLog()).revisions[row.row.number] = row.row
        else:
            logs.setdefault(row.name, StoredLog()).snapshots[row.row.number] = row.row
    batch.history = log_changes(logs)
    return batch


def rows_of(lines: Iterable[bytes]) -> Iterator[DumpRow]:
    """The rows of a dump, one line at a time; DumpError, at the latest once the
    lines end, for anything but a whole dump (each row counted by the end line,
    each revision and snapshot after its document).  Only the names of the
    documents are kept meanwhile."""
    documents: set[str] = set()
    counted = [0, 0, 0, 0]
    end: Any = None
    number = version = 0
    for number, line in enumerate(lines, 1):
        if end is not None:
            raise DumpError(f"line {number}: more lines after the end line")
        try:
            value = json.loads(line)
            if number == 1:
                if (not isinstance(value, dict) or value.get("format") != FORMAT
                        or value.get("version") not in READS or len(value) != 2):
                    raise DumpError(f"line 1: not a {FORMAT} file of version "
                                    f"{' or '.join(map(str, READS))} (header {line[:80]!r})")
                version = value["version"]
                continue
            if "end" in value:
                end = value["end"]
                continue
            row = _row(value, version)
        except DumpError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError, RevisionError) as error:
            raise DumpError(f"line {number}: not a dump line ({error!r})") from None
        if isinstance(row, DocumentRow):
            documents.add(row.name)
        elif isinstance(row, (RevisionLine, SnapshotLine)) and row.name not in documents:
            raise DumpError(f"line {number}: the file holds revisions of {row.name!r} "
                            "but not the document (before them)")
        counted[_KINDS.index(type(row))] += 1
        yield row
    expected = dict(zip(_COUNTED, counted if version > 1 else counted[:2], strict=False))
    if end != expected:
        raise DumpError(f"the file ends at line {number} without the end line that counts "
                        + ", ".join(f"{count} {what}" for what, count in expected.items())
                        + ": it is truncated or was edited")


_KINDS: tuple[type, ...] = (DocumentRow, ViewRow, RevisionLine, SnapshotLine)


def _row(value: Any, version: int) -> DumpRow:
    """The row of one parsed line (not the header or the end)."""
    if "document" in value:
        return DocumentRow(_text(value["document"]), _text(value["text"]),
                           float(value["lasttime"]))
    if "view" in value:
        return ViewRow(
            _text(value["user"]), _text(value["view"]), _text(value["shadow"]),
            _text(value["backup_shadow"]), int(value["client_version"]),
            int(value["server_version"]), int(value["backup_server_version"]),
            tuple((int(number), _text(delta)) for number, delta in value["edit_stack"]),
            float(value["lasttime"]))
    if "revision" in value and version > 1:
        return RevisionLine(_text(value["revision"]), Revision.from_row(RevisionRow(
            value["number"], value["time"], _text(value["author"]),
            value["kind"], json.dumps(value["change"]))).row())
    if "snapshot" in value and version > 1:
        if type(value["number"]) is not int:
            raise TypeError(f"{value['number']!r} is not a number")
        return SnapshotLine(_text(value["snapshot"]),
                            SnapshotRow(value["number"], _text(value["text"])))
    raise KeyError("no known kind of line")


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{value!r} is not a string")
    return value


def load_into(storage: Storage, batch: Batch) -> None:
    """Write *batch* into *storage*, which must hold nothing yet."""
    opened = storage.open(Store(max_chars=0))
    try:
        if opened.documents or opened.views:
            raise StorageError(
                f"{storage.location} already holds {opened.documents} documents and "
                f"{opened.views} views: load only into an empty store")
        storage.write(batch)
    finally:
        storage.close()
