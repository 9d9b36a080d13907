"""Access control's rules, free of any transport and of any cryptography.

A ``Grant`` is what a verified token allows: the documents it covers
(exact names and name prefixes) and its rights.  ``decide`` reads a
protocol request the way the engine will (the same line grammar, the same
names) and answers whether the grant lets it run at all, and whether it
may change the master texts it touches.

What each line needs:

* every named document (``f``/``F``, ``d``/``D``, ``r``/``R``, ``n``/``N``)
  must be covered, and the grant must hold ``read``;
* ``n``/``N`` (nullify: deleting a document) needs ``delete``;
* an edit (``d``/``D``, ``r``/``R``) without ``write`` is not refused: the
  engine runs it with ``may_write`` false (the edit reaches the view's
  shadow, never the master, and the reply undoes it on the client);
* a buffer of one fragment (``b:NAME 1 1 DATA``) is complete, so its
  content is decoded and checked like the request around it; a buffer of
  several fragments cannot be checked until its last fragment arrives, so
  it is refused: with access control on, send long requests whole by POST.

A refusal refuses the whole request: nothing of it runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from mobwrite.core import request
from mobwrite.core.escaping import unescape_bytes

READ, WRITE, DELETE, SHARE, ADMIN = "read", "write", "delete", "share", "admin"
RIGHTS = (READ, WRITE, DELETE, SHARE, ADMIN)

# The line a relay puts first in a request it forwards to the trusted TCP
# port for a grant without ``write``; it can only take rights away.
READ_ONLY_LINE = b"a:read-only\n"


@dataclass(frozen=True, slots=True)
class Grant:
    """What a verified token allows, and whom it was issued to."""

    subject: str
    rights: frozenset[str]
    documents: frozenset[str] = frozenset()
    prefixes: tuple[str, ...] = ()
    expires: float = 0.0
    key_id: str = ""

    def covers(self, name: str) -> bool:
        """Whether document *name* is one this grant names."""
        return name in self.documents or any(name.startswith(p) for p in self.prefixes)


@dataclass(frozen=True, slots=True)
class Refused:
    """A request that must not run; *reason* is one line for the 403 and the log."""

    reason: str
    kind: str


@dataclass(frozen=True, slots=True)
class Allowed:
    """A request that may run; ``may_write`` false keeps its edits off the masters."""

    may_write: bool


Decision = Allowed | Refused
_WRITING, _READING = Allowed(True), Allowed(False)


@dataclass(slots=True)
class Needs:
    """The documents a request reads and deletes, and whether it cannot be checked."""

    documents: set[str]
    deleted: set[str]
    fragmented: bool = False


# The letters whose lines name documents or carry buffers, as bytes; every
# other line (deltas and raw texts above all, the long ones) is skipped
# unparsed.
_NAMING = frozenset(b"fFnN")
_FILES = frozenset(b"fF")
_BUFFERS = frozenset(b"bB")
_COLON = ord(":")


def needs(data: bytes, max_name_bytes: int, max_depth: int) -> Needs:
    """What *data* (a protocol request) touches, reading buffers of one fragment."""
    found = Needs(set(), set())
    _collect(data, max_name_bytes, max_depth, 0, found)
    return found


def _collect(data: bytes, limit: int, max_depth: int, depth: int, found: Needs) -> None:
    for line in request.command_lines(data):
        if len(line) < 2 or line[1] != _COLON:
            continue
        letter = line[0]
        if letter in _NAMING:
            # A file line's name follows its version; a line the engine would
            # skip for a bad version is still counted (refusing more, never less).
            payload = line[2:].partition(b":")[2] if letter in _FILES else line[2:]
            name = request.parse_name(payload, limit)
            if name is not None:
                found.documents.add(name)
                if letter not in _FILES:
                    found.deleted.add(name)
        elif letter in _BUFFERS:
            fragment = request.parse_fragment(line[2:])
            if fragment is None:
                continue
            _, size, index, content = fragment
            if size > 1:
                found.fragmented = True
            elif size == 1 == index and depth + 1 < max_depth:
                inner = unescape_bytes(content)
                _collect(inner + inner[-1:], limit, max_depth, depth + 1, found)


def decide(grant: Grant, data: bytes, max_name_bytes: int, max_depth: int) -> Decision:
    """Whether *grant* lets request *data* run, and whether it may write."""
    wanted = needs(data, max_name_bytes, max_depth)
    if wanted.fragmented:
        return Refused("a request split into several buffer fragments cannot be checked; "
                       "send it whole by POST", "fragmented")
    if wanted.documents and READ not in grant.rights:
        return Refused("the token does not carry the read right", "no_read")
    outside = sorted(name for name in wanted.documents if not grant.covers(name))
    if outside:
        return Refused(f"the token does not cover document {outside[0]!r}", "not_covered")
    if wanted.deleted and DELETE not in grant.rights:
        return Refused("deleting a document needs a token with the delete right",
                       "no_delete")
    return _WRITING if WRITE in grant.rights else _READING


def split_restriction(data: bytes) -> tuple[bool, bytes]:
    """(whether *data* starts with ``READ_ONLY_LINE``, the request without it)."""
    if data.startswith(READ_ONLY_LINE):
        return True, data[len(READ_ONLY_LINE):]
    return False, data
