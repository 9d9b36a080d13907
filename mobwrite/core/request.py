"""Reading a request: framing, line grammar and names (docs/protocol.md §2.1, §3.1).

Everything works on bytes; nothing here keeps state.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

# The request endings that mark a complete request; anything else was cut
# short in transit and must not be executed.  LF CR LF is our addition.
_COMPLETE_ENDINGS = (b"\n\n", b"\r\r", b"\n\r\n\r", b"\r\n\r\n", b"\n\r\n")
_LINE_BREAK = re.compile(rb"\r\n|\r|\n")
_VERSION = re.compile(rb"[0-9]{1,16}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

MAX_VERSION = 2**53 - 1
VERSIONED = frozenset("FfDdRr")


class Verb(Enum):
    """What a command letter means; its case adds a flag that depends on the verb."""

    USER = "u"  # U: echo the user id in the reply
    FILE = "f"  # F and f mean the same
    NULLIFY = "n"  # N and n mean the same
    DELTA = "d"  # D: force (overwrite rather than merge)
    RAW = "r"  # R: force
    BUFFER = "b"  # B and b mean the same


# The command table both ends share: letter to verb.  Other letters are ignored.
VERBS: dict[str, Verb] = {
    case(verb.value): verb for verb in Verb for case in (str.lower, str.upper)}


@dataclass(frozen=True, slots=True)
class Command:
    """One command line: its letter, its version if it has one, its payload."""

    letter: str
    version: int | None
    payload: bytes


def is_complete(request: bytes) -> bool:
    """Whether *request* ends with a terminating blank line."""
    return request.endswith(_COMPLETE_ENDINGS)


def command_lines(request: bytes) -> list[bytes]:
    """The lines of *request* up to, not including, the first empty line."""
    lines = []
    for line in _LINE_BREAK.split(request):
        if not line:
            break
        lines.append(line)
    return lines


def parse_command(line: bytes) -> Command | None:
    """Parse one line, or return None for a line to ignore."""
    if len(line) < 2 or line[1:2] != b":":
        return None
    letter = chr(line[0])
    value = line[2:]
    if letter not in VERSIONED:
        return Command(letter, None, value)
    number, colon, payload = value.partition(b":")
    if not colon or not _VERSION.fullmatch(number):
        return None
    version = int(number)
    if version > MAX_VERSION:
        return None
    return Command(letter, version, payload)


def parse_name(raw: bytes, max_bytes: int) -> str | None:
    """A user or file id, or None when it is empty, too long or not printable."""
    if not raw or len(raw) > max_bytes:
        return None
    try:
        name = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if _CONTROL.search(name):
        return None
    return name


def parse_fragment(payload: bytes) -> tuple[bytes, int, int, bytes] | None:
    """Split a buffer line's payload into (name, size, index, data)."""
    fields = payload.split(b" ", 3)
    if len(fields) != 4:
        return None
    name, size, index, data = fields
    if not _VERSION.fullmatch(size) or not _VERSION.fullmatch(index):
        return None
    return name, int(size), int(index), data
