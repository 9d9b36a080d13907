"""``mobwrite dump`` and ``mobwrite load``: a store's rows out to a file and back in.

A dump is taken from a running daemon's gateway (``GET /dump``: a
consistent copy made by the daemon itself, which holds its embedded store
locked) or straight from a PostgreSQL database (one repeatable-read
transaction).  A load writes a dump into an empty store of either kind,
with no daemon running on a data directory (the daemon locks it).
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from mobwrite.client.errors import ClientError, Unreachable
from mobwrite.settings import SettingError, parse_database
from mobwrite.storage.contract import Storage
from mobwrite.storage.dump import DumpError, dump_lines, load_into, read_dump
from mobwrite.storage.rows import StorageError
from mobwrite.tools.files import LocalFileError, write_atomically


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


def _postgres(url: str) -> Storage:
    _check_database(url)
    from mobwrite.storage.postgres import PostgresStorage

    return PostgresStorage(url, connections=1)


def dump_source(source: str, timeout: float) -> Iterator[bytes]:
    """The dump lines of *source*: a daemon's gateway URL, or a PostgreSQL URL."""
    if source.startswith(("http://", "https://")):
        url = source.rstrip("/") + "/dump"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                return iter(response.read().splitlines(keepends=True))
        except urllib.error.HTTPError as error:
            raise StoreProblem(f"{url} answered {error.code}: "
                               f"{error.read().decode('utf-8', 'replace').strip()}") from None
        except (urllib.error.URLError, OSError) as error:
            raise Unreachable(f"cannot reach {url}: {error}") from None
    _check_database(source)
    from mobwrite.storage.postgres import read_rows

    try:
        return dump_lines(*read_rows(source, timeout))
    except StorageError as error:
        raise StoreProblem(str(error)) from None


def dump(source: str, output: Path | None, timeout: float) -> int:
    """Write the dump of *source* to *output* (atomically) or standard output."""
    lines = list(dump_source(source, timeout))
    try:
        batch = read_dump(lines)
    except DumpError as error:
        raise StoreProblem(f"{source} gave an unusable dump: {error}") from None
    data = b"".join(lines)
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        write_atomically(output, data.decode("ascii"))  # a dump is ASCII
    print(f"mobwrite dump: {len(batch.documents)} documents and {len(batch.views)} views",
          file=sys.stderr)
    return 0


def load(path: Path, data_dir: Path | None, database: str | None) -> int:
    """Load the dump at *path* into an empty store: a data directory or a database."""
    try:
        with path.open("rb") as file:
            batch = read_dump(file)
    except OSError as error:
        raise LocalFileError(f"cannot read {path}: {error.strerror}") from None
    except DumpError as error:
        raise LocalFileError(f"{path}: {error}") from None
    if database is not None:
        storage = _postgres(database)
    else:
        from mobwrite.storage.disk import JournalStorage

        storage = JournalStorage(data_dir or Path("mobwrite-data"))
    try:
        load_into(storage, batch)
    except StorageError as error:
        raise StoreProblem(str(error)) from None
    print(f"mobwrite load: {len(batch.documents)} documents and {len(batch.views)} views "
          f"into {storage.location}", file=sys.stderr)
    return 0
