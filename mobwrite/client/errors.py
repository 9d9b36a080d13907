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


class NullDocument(ClientError):
    """The document does not exist on the server (it is null)."""

    exit_code = 6
