"""The dump file: every document and view of a store, as JSON lines.

Written by ``mobwrite dump`` (and the gateway's ``/dump`` page), read by
``mobwrite load``; ``docs/postgresql.md`` documents the format.  Line one
is the header ``{"format": "mobwrite-dump", "version": 2}``; then one
object per document, sorted by name, then one per view, sorted by document
and user, then one per revision and one per snapshot of the documents'
revision logs, sorted by document and number; the last line counts them,
so that a truncated file is refused.  Version 1 (no revisions) is still read.
Strings are JSON with non-ASCII escaped, so lone surrogates survive and
the same rows always make the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

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
    """The dump of these rows, line by line (each ending in LF)."""
    yield _line({"format": FORMAT, "version": VERSION})
    counted = [0, 0, 0, 0]
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
    logs = logs or {}
    for name in sorted(logs):
        for number in sorted(logs[name].revisions):
            counted[2] += 1
            row = logs[name].revisions[number]
            yield _line({"revision": name, "number": row.number, "time": row.time,
                         "author": row.author, "kind": row.kind,
                         "change": json.loads(row.change)})
    for name in sorted(logs):
        for number in sorted(logs[name].snapshots):
            counted[3] += 1
            yield _line({"snapshot": name, "number": number,
                         "text": logs[name].snapshots[number].text})
    yield _line({"end": dict(zip(_COUNTED, counted, strict=True))})


_COUNTED = ("documents", "views", "revisions", "snapshots")


def _line(value: dict[str, Any]) -> bytes:
    return json.dumps(value, ensure_ascii=True, separators=(",", ":")).encode("ascii") + b"\n"


def read_dump(lines: Iterable[bytes]) -> Batch:
    """The rows of a dump, refusing anything but a whole one with DumpError."""
    batch = Batch()
    logs: dict[str, StoredLog] = {}
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
            elif "end" in value:
                end = value["end"]
            elif "document" in value:
                row = DocumentRow(_text(value["document"]), _text(value["text"]),
                                  float(value["lasttime"]))
                batch.documents[row.name] = row
            elif "view" in value:
                view = ViewRow(
                    _text(value["user"]), _text(value["view"]), _text(value["shadow"]),
                    _text(value["backup_shadow"]), int(value["client_version"]),
                    int(value["server_version"]), int(value["backup_server_version"]),
                    tuple((int(version), _text(delta))
                          for version, delta in value["edit_stack"]),
                    float(value["lasttime"]))
                batch.views[view.user, view.name] = view
            elif "revision" in value and version > 1:
                revision = Revision.from_row(RevisionRow(
                    value["number"], value["time"], _text(value["author"]),
                    value["kind"], json.dumps(value["change"]))).row()
                logs.setdefault(_text(value["revision"]), StoredLog()).revisions[
                    revision.number] = revision
            elif "snapshot" in value and version > 1:
                if type(value["number"]) is not int:
                    raise TypeError(f"{value['number']!r} is not a number")
                logs.setdefault(_text(value["snapshot"]), StoredLog()).snapshots[
                    value["number"]] = SnapshotRow(value["number"], _text(value["text"]))
            else:
                raise KeyError("no known kind of line")
        except DumpError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError, RevisionError) as error:
            raise DumpError(f"line {number}: not a dump line ({error!r})") from None
    counts = [len(batch.documents), len(batch.views),
              sum(len(log.revisions) for log in logs.values()),
              sum(len(log.snapshots) for log in logs.values())]
    expected = dict(zip(_COUNTED, counts if version > 1 else counts[:2], strict=False))
    if end != expected:
        raise DumpError(f"the file ends at line {number} without the end line that counts "
                        + ", ".join(f"{count} {what}" for what, count in expected.items())
                        + ": it is truncated or was edited")
    for name in logs:
        if batch.documents.get(name) is None:
            raise DumpError(f"the file holds revisions of {name!r} but not the document")
    batch.history = log_changes(logs)
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
