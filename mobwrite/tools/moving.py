"""``mobwrite dump`` and ``mobwrite load``: a store's rows out to a file and back in.

A dump is taken from a running daemon's gateway (``GET /dump``: a
consistent copy made by the daemon itself, which holds its embedded store
locked) or straight from a PostgreSQL database (one repeatable-read
transaction, read in batches: ``storage/postgres_moving.py``), and written
line by line as it comes, each line checked.  A load writes a dump into an
empty store of either kind, with no daemon running on a data directory (the
daemon locks it): into PostgreSQL row by row as the file is read, in one
transaction; into a data directory as one batch.  Both show progress on
standard error every PROGRESS_ROWS rows.
"""

from __future__ import annotations

import http.client
import sys
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import BinaryIO

from mobwrite.client.errors import ClientError, Unreachable
from mobwrite.settings import SettingError, parse_database
from mobwrite.storage.dump import (
    DumpError,
    DumpRow,
    RevisionLine,
    SnapshotLine,
    batch_of,
    load_into,
    rows_of,
)
from mobwrite.storage.rows import DocumentRow, StorageError, ViewRow
from mobwrite.tools.files import LocalFileError, replacing

# Rows between two progress lines of a long dump or load.
PROGRESS_ROWS = 10_000


class StoreProblem(ClientError):
    """The store to dump or to load into cannot be used; the message says why."""

    exit_code = 10


def _check_database(url: str) -> None:
    try:
        parse_database(url)
        import psycopg  # noqa: F401
    except SettingError as error:
        raise StoreProblem(str(error)) from None
    except ImportError:
        raise StoreProblem("PostgreSQL needs psycopg: pip install 'mobwrite[postgresql]'") from None


def dump_source(source: str, timeout: float) -> Iterator[bytes]:
    """The dump lines of *source*, as they come: a daemon's gateway URL, or a
    PostgreSQL URL (read in batches from one snapshot)."""
    if source.startswith(("http://", "https://")):
        yield from _gateway_dump(source.rstrip("/") + "/dump", timeout)
        return
    _check_database(source)
    from mobwrite.storage.postgres_moving import dump_database

    try:
        yield from dump_database(source, timeout)
    except StorageError as error:
        raise StoreProblem(str(error)) from None


def _gateway_dump(url: str, timeout: float) -> Iterator[bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            yield from response
    except urllib.error.HTTPError as error:
        raise StoreProblem(f"{url} answered {error.code}: "
                           f"{error.read().decode('utf-8', 'replace').strip()}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        raise Unreachable(f"cannot reach {url}: {error}") from None


class Progress:
    """Counts the rows passing through, by kind, and shows the count on standard error
    every PROGRESS_ROWS rows (a big store takes a while)."""

    def __init__(self, command: str) -> None:
        self.command = command
        self.counts = Counter[type]()
        self.rows = 0

    def count(self, rows: Iterable[DumpRow]) -> Iterator[DumpRow]:
        for row in rows:
            self.counts[type(row)] += 1
            self.rows += 1
            if self.rows % PROGRESS_ROWS == 0:
                print(f"mobwrite {self.command}: {self.rows} rows so far", file=sys.stderr)
            yield row

    def summary(self) -> str:
        return (f"{self.counts[DocumentRow]} documents and {self.counts[ViewRow]} views "
                f"({self.counts[RevisionLine]} revisions, {self.counts[SnapshotLine]} "
                "snapshots)")


def dump(source: str, output: Path | None, timeout: float) -> int:
    """Write the dump of *source* to *output* (atomically) or standard output, line by
    line as it comes; each line is checked (standard output may have had part of a
    dump refused: its end line is then missing, and ``load`` refuses it)."""
    progress = Progress("dump")
    with nullcontext(sys.stdout.buffer) if output is None else replacing(output) as file:
        try:
            for _ in progress.count(rows_of(_written(dump_source(source, timeout), file))):
                pass
        except DumpError as error:
            raise StoreProblem(f"{source} gave an unusable dump: {error}") from None
        file.flush()
    print(f"mobwrite dump: {progress.summary()}", file=sys.stderr)
    return 0


def _written(lines: Iterable[bytes], file: BinaryIO) -> Iterator[bytes]:
    """*lines*, each written to *file* as it passes."""
    for line in lines:
        file.write(line)
        yield line


def load(path: Path, data_dir: Path | None, database: str | None) -> int:
    """Load the dump at *path* into an empty store: a data directory, or a database
    (row by row, in one transaction)."""
    progress = Progress("load")
    try:
        with path.open("rb") as file:
            rows = progress.count(rows_of(file))
            if database is not None:
                location = _load_database(rows, database)
            else:
                location = _load_directory(rows, data_dir or Path("mobwrite-data"))
    except OSError as error:
        raise LocalFileError(f"cannot read {path}: {error.strerror}") from None
    except DumpError as error:
        raise LocalFileError(f"{path}: {error}") from None
    except StorageError as error:
        raise StoreProblem(str(error)) from None
    print(f"mobwrite load: {progress.summary()} into {location}", file=sys.stderr)
    return 0


def _load_database(rows: Iterable[DumpRow], url: str) -> str:
    _check_database(url)
    from mobwrite.storage.postgres_moving import load_database

    return load_database(url, rows)


def _load_directory(rows: Iterable[DumpRow], directory: Path) -> str:
    """Load into a data directory: its store is written as one batch, read whole first."""
    from mobwrite.storage.disk import JournalStorage

    storage = JournalStorage(directory)
    load_into(storage, batch_of(rows))
    return storage.location
