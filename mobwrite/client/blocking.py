"""A MobWrite client for plain blocking code: sockets and urllib, with timeouts.

>>> from mobwrite.client.blocking import BlockingClient
>>> client = BlockingClient("telnet://127.0.0.1:3017")   # or http://…:8017/, ws://…:8017/ws
>>> client.upload("notes", "Buy milk\\n")                  # doctest: +SKIP
>>> client.download("notes")                              # doctest: +SKIP
'Buy milk\\n'

A live, two-way session keeps a ``ClientSession`` and syncs it now and then:

>>> from mobwrite.client.session import ClientSession
>>> session = ClientSession()
>>> notes = session.share("notes", "Buy milk\\n")
>>> client.sync(session)                                  # doctest: +SKIP
>>> notes.text = notes.text + "Call Bob\\n"                # a local edit
>>> client.sync(session)                                  # doctest: +SKIP

Over ``ws://`` the client keeps one WebSocket open (close it with ``close``)
and ``wait_for_change`` blocks until the server pushes a change notice.

Every failure is a ``mobwrite.client.errors.ClientError``.
"""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Generator
from typing import TypeVar

from mobwrite.client import operations
from mobwrite.client.errors import ClientError, ProtocolFailure, Unreachable
from mobwrite.client.message_size import MAX_MESSAGE_BYTES
from mobwrite.client.relay import DEFAULT_MAX_REPLY_BYTES, AnswerTooLong, send_and_read
from mobwrite.client.session import ClientSession
from mobwrite.client.urls import ServerURL, parse_url
from mobwrite.client.websocket import SocketConnection

T = TypeVar("T")
DEFAULT_TIMEOUT = 10.0
MAX_RESPONSE_BYTES = DEFAULT_MAX_REPLY_BYTES


def form_body(request: bytes) -> bytes:
    """The POST body of a gateway request: the request as the ``q`` form field."""
    return b"q=" + urllib.parse.quote_plus(request).encode("ascii")


def tcp_exchange(server: ServerURL, request: bytes, timeout: float) -> bytes:
    """Send *request* over raw TCP and read until the server closes, plus one LF."""
    try:
        answer = send_and_read(server.host, server.port, request, timeout, MAX_RESPONSE_BYTES)
    except AnswerTooLong:
        raise ProtocolFailure(f"{server.url} sent more than {MAX_RESPONSE_BYTES} bytes") from None
    except TimeoutError:
        raise Unreachable(f"{server.url} did not answer within {timeout:g} s") from None
    except OSError as error:
        raise Unreachable(f"cannot reach {server.url}: {error.strerror or error}") from None
    return answer + b"\n"


def http_exchange(server: ServerURL, request: bytes, timeout: float,
                  token: str | None = None) -> bytes:
    """POST *request* as ``q=`` to a gateway, with access *token* if given; return the body."""
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    post = urllib.request.Request(server.url, data=form_body(request), method="POST",
                                  headers=headers)
    try:
        with urllib.request.urlopen(post, timeout=timeout) as reply:
            body = reply.read(MAX_RESPONSE_BYTES + 1)
    except urllib.error.HTTPError as error:
        with error:
            # A refusal's body is one line saying why (a 403 from access control).
            explained = error.read(500).decode("utf-8", "replace").strip().splitlines()
        said = f": {explained[0]}" if explained else ""
        raise ProtocolFailure(
            f"{server.url} answered HTTP {error.code} {error.reason}{said}") from None
    except urllib.error.URLError as error:
        reason = error.reason
        if isinstance(reason, OSError) and reason.strerror:
            reason = reason.strerror
        raise Unreachable(f"cannot reach {server.url}: {reason}") from None
    except TimeoutError:
        raise Unreachable(f"{server.url} did not answer within {timeout:g} s") from None
    except OSError as error:
        raise Unreachable(f"cannot reach {server.url}: {error}") from None
    if len(body) > MAX_RESPONSE_BYTES:
        raise ProtocolFailure(f"{server.url} sent more than {MAX_RESPONSE_BYTES} bytes")
    return body


Exchange = Callable[[ServerURL, bytes, float], bytes]


def run_blocking(operation: Generator[bytes, bytes, T], server: ServerURL, timeout: float,
                 exchange: Exchange | None = None) -> T:
    """Drive an operation of ``mobwrite.client.operations`` to its result, each
    request through *exchange* (by default raw TCP or the gateway, as *server* says)."""
    if exchange is None:
        exchange = tcp_exchange if server.is_tcp else http_exchange
    try:
        request = next(operation)
        while True:
            request = operation.send(exchange(server, request, timeout))
    except StopIteration as finished:
        return finished.value


class BlockingClient:
    """Talks to one MobWrite server; each method is one short operation."""

    def __init__(self, url: str, timeout: float = DEFAULT_TIMEOUT,
                 token: str | None = None, origin: str | None = None,
                 max_message_bytes: int = MAX_MESSAGE_BYTES) -> None:
        self.server = parse_url(url)
        # (``ws://``) The longest message the server may send before the socket is given up.
        self.max_message_bytes = max_message_bytes
        self.timeout = timeout
        self.token = token
        self.origin = origin
        self.connection: SocketConnection | None = None
        # The session pushed deltas go to (``take_pushes``), on every socket opened.
        self.pushes_to: ClientSession | None = None

    def run(self, operation: Generator[bytes, bytes, T]) -> T:
        if self.server.is_socket:
            return run_blocking(operation, self.server, self.timeout, self._socket_exchange)
        if self.server.is_tcp:
            return run_blocking(operation, self.server, self.timeout)
        return run_blocking(operation, self.server, self.timeout, self._gateway_exchange)

    def _gateway_exchange(self, server: ServerURL, request: bytes, timeout: float) -> bytes:
        return http_exchange(server, request, timeout, self.token)

    def _socket(self) -> SocketConnection:
        if self.connection is None:
            self.connection = SocketConnection(self.server, self.timeout, self.origin,
                                               self.token, self.max_message_bytes)
            if self.pushes_to is not None:
                self.connection.take_pushes(self.pushes_to)
        return self.connection

    def _socket_exchange(self, server: ServerURL, request: bytes, timeout: float) -> bytes:
        try:
            return self._socket().exchange(request)
        except ClientError:
            self.close()
            raise

    def renew(self, token: str) -> None:
        """Use *token* from now on (for example before the old one expires); an open
        WebSocket is handed it at once, without reconnecting."""
        self.token = token
        if self.connection is not None:
            self.connection.renew(token)

    def take_pushes(self, session: ClientSession) -> None:
        """(``ws://`` only) Have the server push deltas for *session*'s documents, applied
        to it as they are read (while waiting or during another operation), instead
        of notices; ``wait_for_change`` then also returns when one was applied."""
        self.pushes_to = session
        if self.connection is not None:
            self.connection.take_pushes(session)
            return
        try:
            self._socket()
        except ClientError:
            self.close()
            raise

    def wait_for_change(self, seconds: float, presence: bool = False) -> set[str]:
        """(``ws://`` only) Block up to *seconds* for the server's next change notice, a
        pushed delta (see ``take_pushes``) or, with *presence*, a presence change; the
        names of the documents to sync (none if the time ran out or a push brought
        the change)."""
        try:
            return self._socket().wait_for_notice(seconds, presence)
        except ClientError:
            self.close()
            raise

    def publish(self, name: str, color: str,
                carets: dict[str, tuple[int, int]] | None = None) -> None:
        """(``ws://`` only) Show us to the others on the documents we sync as *name* in
        *color* (``#rrggbb``), with a caret or selection per document (UTF-16 offsets)."""
        try:
            self._socket().publish(name, color, carets)
        except ClientError:
            self.close()
            raise

    def wait_for_presence(self, seconds: float) -> list[tuple[str, str, dict[str, object] | None]]:
        """(``ws://`` only) Block up to *seconds* for who arrives, changes or leaves:
        (document, person's id, entry or None for a departure) for each."""
        try:
            return self._socket().wait_for_presence(seconds)
        except ClientError:
            self.close()
            raise

    def present(self, name: str) -> list[dict[str, object]]:
        """Who else is present on document *name* as last heard (``ws://`` only)."""
        here = {} if self.connection is None else self.connection.present.get(name, {})
        return list(here.values())

    def close(self) -> None:
        """Close the WebSocket, if one is open (the next operation opens another)."""
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def __enter__(self) -> BlockingClient:
        return self

    def __exit__(self, *exception: object) -> None:
        self.close()

    def exchange(self, request: bytes) -> bytes:
        """Send one raw protocol request; the answer ends with a blank line."""
        return self.run(_exchange(request))

    def download(self, name: str) -> str:
        """The text of *name*; ``NullDocument`` if it does not exist (nothing is created)."""
        return self.run(operations.download([name]))[name]

    def download_many(self, names: list[str]) -> dict[str, str]:
        """The texts of several documents, read in one request."""
        return self.run(operations.download(names))

    def upload(self, name: str, text: str, force: bool = False) -> None:
        """Make *text* the content of *name*: merged as an edit, or forced."""
        self.run(operations.upload(name, text, force))

    def nullify(self, *names: str) -> None:
        """Delete documents."""
        self.run(operations.nullify(list(names)))

    def sync(self, session: ClientSession) -> None:
        """One sync of every document *session* shares."""
        self.run(operations.sync(session))


def _exchange(request: bytes) -> Generator[bytes, bytes, bytes]:
    return operations.checked((yield request))
