"""Errors a MobWrite client can meet, each with the exit status the tools use for it."""

from __future__ import annotations


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


class DocumentTooLong(ClientError):
    """The server refused an edit that would make a document longer than its MAX_CHARS.

    Nothing was stored and nothing stored was cut; the local text is kept.
    """

    exit_code = 9

    def __init__(self, name: str, limit: int) -> None:
        super().__init__(
            f"the server refused the change to {name!r}: documents there hold at most "
            f"{limit} characters (MAX_CHARS); nothing was stored or cut")
        self.name = name
        self.limit = limit
