"""The dump file: every document and view of a store, as JSON lines.

Written by ``mobwrite dump`` (and the gateway's ``/dump`` page), read by
``mobwrite load``; ``docs/postgresql.md`` documents the format.  Line one
is the header ``{"format": "mobwrite-dump", "version": 1}``; then one
object per document, sorted by name, then one per view, sorted by document
and user; the last line counts them, so that a truncated file is refused.
Strings are JSON with non-ASCII escaped, so lone surrogates survive and
the same rows always make the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from mobwrite.core.store import Changes, Store
from mobwrite.storage.contract import Storage
from mobwrite.storage.rows import Batch, DocumentRow, StorageError, ViewRow, snapshot

FORMAT = "mobwrite-dump"
# Every document row and view row of a store, as a dump holds them.
Rows = tuple[list[DocumentRow], list[ViewRow]]
VERSION = 1


class DumpError(ValueError):
    """A file that is not a whole dump this mobwrite can read; the message says where."""


def store_rows(store: Store) -> Rows:
    """Every row of *store* as it is now (a consistent copy: call it on the reactor)."""
    batch = snapshot(store, Changes(set(store.documents), set(store.views)))
    return ([row for row in batch.documents.values() if row is not None],
            [row for row in batch.views.values() if row is not None])


def dump_lines(documents: Iterable[DocumentRow], views: Iterable[ViewRow]) -> Iterator[bytes]:
    """The dump of these rows, line by line (each ending in LF)."""
    yield _line({"format": FORMAT, "version": VERSION})
    counted = [0, 0]
    for document in sorted(documents, key=lambda row: row.name):
        counted[0] += 1
        yield _line({"document": document.name, "text": document.text,
                     "lasttime": document.lasttime})
    for view in sorted(views, key=lambda row: (row.name, row.user)):
        counted[1] += 1
        yield _line({"view": view.name, "user": view.user, "shadow": view.shadow,
                     "backup_shadow": view.backup_shadow,
                     "client_version": view.client_version,
                     "server_version": view.server_version,
                     "backup_server_version": view.backup_server_version,
                     "edit_stack": [list(entry) for entry in view.edit_stack],
                     "lasttime": view.lasttime})
    yield _line({"end": {"documents": counted[0], "views": counted[1]}})


def _line(value: dict[str, Any]) -> bytes:
    return json.dumps(value, ensure_ascii=True, separators=(",", ":")).encode("ascii") + b"\n"


def read_dump(lines: Iterable[bytes]) -> Batch:
    """The rows of a dump, refusing anything but a whole one with DumpError."""
    batch = Batch()
    end: Any = None
    number = 0
    for number, line in enumerate(lines, 1):
        if end is not None:
            raise DumpError(f"line {number}: more lines after the end line")
        try:
            value = json.loads(line)
            if number == 1:
                if value != {"format": FORMAT, "version": VERSION}:
                    raise DumpError(f"line 1: not a {FORMAT} file of version {VERSION} "
                                    f"(header {line[:80]!r})")
            elif "end" in value:
                end = value["end"]
            elif "document" in value:
                row = DocumentRow(_text(value["document"]), _text(value["text"]),
                                  float(value["lasttime"]))
                batch.documents[row.name] = row
            else:
                view = ViewRow(
                    _text(value["user"]), _text(value["view"]), _text(value["shadow"]),
                    _text(value["backup_shadow"]), int(value["client_version"]),
                    int(value["server_version"]), int(value["backup_server_version"]),
                    tuple((int(version), _text(delta))
                          for version, delta in value["edit_stack"]),
                    float(value["lasttime"]))
                batch.views[view.user, view.name] = view
        except DumpError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise DumpError(f"line {number}: not a dump line ({error!r})") from None
    if end != {"documents": len(batch.documents), "views": len(batch.views)}:
        raise DumpError(f"the file ends at line {number} without the end line that counts "
                        f"{len(batch.documents)} documents and {len(batch.views)} views: "
                        "it is truncated or was edited")
    return batch


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
