"""Errors a MobWrite client can meet, each with the exit status the tools use for it."""

from __future__ import annotations

import re

# What may follow ``no_room:``: the name of the limit reached.
_WORD = re.compile(rb"[A-Za-z0-9_]{1,64}")


class ClientError(Exception):
    """Something went wrong talking to a MobWrite server; the message says what."""

    exit_code = 1


class BadURL(ClientError):
    """A server URL that is not ``telnet://HOST:PORT`` or ``http(s)://HOST[:PORT]/PATH``."""

    exit_code = 3


class Unreachable(ClientError):
    """The server could not be reached, or did not answer in time."""

    exit_code = 4


class ProtocolFailure(ClientError):
    """The server answered, but not with a well-formed MobWrite response."""

    exit_code = 5


class MessageTooLong(ProtocolFailure):
    """The server sent a WebSocket message longer than the client's bound; the socket is closed."""

    def __init__(self, url: str, limit: int) -> None:
        super().__init__(
            f"{url} sent a WebSocket message of more than {limit} bytes, this client's "
            f"limit (max_message_bytes); the socket was closed")
        self.limit = limit


class NullDocument(ClientError):
    """The document does not exist on the server (it is null)."""

    exit_code = 6


class RefusedChange(ClientError):
    """The server refused an edit (an ``x:`` line after its ``F`` line, docs/protocol.md §8.7).

    Nothing was stored and nothing stored was cut; the local text is kept.
    """

    def __init__(self, name: str, why: str) -> None:
        super().__init__(f"the server refused the change to {name!r}: {why}")
        self.name = name


class DocumentTooLong(RefusedChange):
    """The server refused an edit that would make a document longer than its MAX_CHARS."""

    exit_code = 9

    def __init__(self, name: str, limit: int) -> None:
        super().__init__(name, f"documents there hold at most {limit} characters "
                               f"(MAX_CHARS); nothing was stored or cut")
        self.limit = limit


class OutOfRoom(RefusedChange):
    """The server has no room for an edit now (its MAX_MEMORY or MAX_STORED is reached)."""

    exit_code = 11

    def __init__(self, name: str, setting: str) -> None:
        super().__init__(name, f"it is out of room ({setting}); nothing was stored or cut, "
                               f"try again later")
        self.setting = setting


def refusal(name: str, notice: bytes) -> RefusedChange | None:
    """The refusal an ``x:`` line's *notice* says for document *name*; None for one
    this client does not know (old clients ignore it, and so do we)."""
    reason, _, detail = notice.partition(b":")
    if reason == b"too_long" and detail.isdigit():
        return DocumentTooLong(name, int(detail))
    if reason == b"no_room" and _WORD.fullmatch(detail):
        return OutOfRoom(name, detail.decode("ascii"))
    return None
