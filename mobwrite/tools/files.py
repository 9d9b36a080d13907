"""Local files for the tools: UTF-8 text read exactly and replaced atomically."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from mobwrite.client.errors import ClientError


class LocalFileError(ClientError):
    """A local file could not be read or written, or holds something unusable."""

    exit_code = 7


def read_text(path: Path) -> str | None:
    """The text of *path* with its line breaks untouched, or None if it does not exist."""
    try:
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError as error:
        raise LocalFileError(f"{path} is not UTF-8 text (byte {error.start})") from None
    except OSError as error:
        raise LocalFileError(f"cannot read {path}: {error.strerror}") from None


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomically(path: Path, text: str) -> None:
    """Replace *path* with *text*: a reader sees the old file or the new, never half."""
    with replacing(path) as output:
        output.write(text.encode("utf-8"))


@contextmanager
def replacing(path: Path) -> Iterator[BinaryIO]:
    """A file to write that replaces *path* once the block ends (a reader sees the old
    file or the new, never half); if the block raises, *path* is left as it was."""
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp",
                                             dir=path.parent)
    except OSError as error:
        raise LocalFileError(f"cannot write beside {path}: {error.strerror}") from None
    try:
        with os.fdopen(handle, "wb") as output:
            yield output
            output.flush()
            os.fsync(output.fileno())
        # mkstemp makes the file private; keep the old file's mode, or the usual one.
        os.chmod(temporary, path.stat().st_mode & 0o7777 if path.exists() else 0o666 & ~_umask())
        os.replace(temporary, path)
    except OSError as error:
        os.unlink(temporary)
        raise LocalFileError(f"cannot write {path}: {error.strerror}") from None
    except BaseException:
        os.unlink(temporary)
        raise
