"""A blocking client for the gateway's WebSocket (docs/websocket.md): wsproto over a socket.

One ``SocketConnection`` carries any number of requests, one at a time, and
collects the change notices the server pushes in between; ``wait_for_notice``
blocks until one arrives.  Pings are answered as they are read.  An access
token is sent in a first ``!token:`` message (kept out of URLs and their logs).
``publish`` says who we are and where our carets are; ``present`` holds who
else is on each document we follow, updated as presence messages are read
(the daemon's updates list everyone, us too: our own id, which it tells us
at our first publish, is skipped).  After ``take_pushes(session)`` the
server pushes deltas instead of notices, applied to the session as they are
read (docs/websocket.md, *Pushed deltas*).
"""

from __future__ import annotations

import json
import socket
import ssl
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from mobwrite.client.errors import MessageTooLong, ProtocolFailure, Unreachable
from mobwrite.client.message_size import MAX_MESSAGE_BYTES, MessageMeter
from mobwrite.client.session import ClientSession
from mobwrite.client.urls import ServerURL
from mobwrite.core.presence import PRESENCE, PRESENCE_ERROR, PRESENCE_ID, message_update
from mobwrite.core.push import (
    ERROR,
    PUSH_COARSE,
    WEAKER_ASK,
    PushAsk,
    delta_blocks,
    notice_names,
    pushed_message,
    token_message,
)


class SocketConnection:
    """An open WebSocket to a MobWrite gateway."""

    def __init__(self, server: ServerURL, timeout: float, origin: str | None = None,
                 token: str | None = None, max_message_bytes: int = MAX_MESSAGE_BYTES) -> None:
        self.server = server
        self.timeout = timeout
        self.owed: set[str] = set()
        self.notices = self.pings = 0
        self.protocol = WSConnection(ConnectionType.CLIENT)
        self.partial: list[str] = []
        # Bounds each message as its bytes arrive, before wsproto decodes them.
        self.meter = MessageMeter(max_message_bytes)
        self.messages: list[str] = []
        self.closed: str | None = None
        self.accepted = False
        # Document -> person's id -> {"name", "color", "caret"}; who else is present.
        self.present: dict[str, dict[str, dict[str, object]]] = {}
        # Every (document, id, entry or None for a departure) read, until taken.
        self.presence_changes: list[tuple[str, str, dict[str, object] | None]] = []
        self.presence_errors: list[str] = []
        # Our own id in the updates, once the daemon has said it.
        self.presence_id: str | None = None
        # The session pushed deltas go to; whether a request awaits its answer;
        # the documents pushes changed since the last wait.
        self.session: ClientSession | None = None
        self.in_flight = False
        self.applied: set[str] = set()
        # The push ask not yet known to be taken.
        self.push_ask = PushAsk()
        try:
            raw = socket.create_connection((server.host, server.port), timeout=timeout)
        except OSError as error:
            raise Unreachable(f"cannot reach {server.url}: {error.strerror or error}") from None
        if server.is_secure:
            context = ssl.create_default_context()
            raw = context.wrap_socket(raw, server_hostname=server.host)
        self.sock = raw
        parts = urlsplit(server.url)
        headers = [] if origin is None else [(b"origin", origin.encode("ascii"))]
        try:
            self._write(self.protocol.send(Request(
                host=parts.netloc, target=parts.path + (f"?{parts.query}" if parts.query else ""),
                extra_headers=headers)))
            self._read_until(lambda: self.accepted)
            if token is not None:
                self.renew(token)
        except BaseException:
            self.sock.close()
            raise

    def _write(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as error:
            self.close()
            raise Unreachable(f"lost the WebSocket to {self.server.url}: {error}") from None

    def _read_until(self, done: Callable[[], bool], deadline: float | None = None) -> bool:
        """Read and handle events until ``done()`` holds; False once *deadline* passes."""
        while not done():
            if self.closed is not None:
                raise Unreachable(f"{self.server.url} closed the WebSocket: {self.closed}")
            wait = self.timeout if deadline is None else deadline - time.monotonic()
            if wait <= 0:
                return False
            self.sock.settimeout(wait)
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                if deadline is not None:
                    return False
                self.close()
                raise Unreachable(
                    f"{self.server.url} did not answer within {self.timeout:g} s") from None
            except OSError as error:
                self.close()
                raise Unreachable(f"lost the WebSocket to {self.server.url}: {error}") from None
            if not self.meter.feed(data):
                # Not the polite close, which reads on while the server sends.
                self.closed = f"a message over {self.meter.limit} bytes"
                self.sock.close()
                raise MessageTooLong(self.server.url, self.meter.limit)
            try:
                self.protocol.receive_data(data or None)
                for event in self.protocol.events():
                    self._handle(event)
            except RemoteProtocolError as error:
                self.close()
                raise ProtocolFailure(f"{self.server.url}: bad WebSocket data: {error}") from None
            if not data and self.closed is None:
                self.closed = "the connection ended"
        return True

    def _handle(self, event: Event) -> None:
        if isinstance(event, AcceptConnection):
            self.accepted = True
        elif isinstance(event, RejectConnection):
            self.closed = f"HTTP {event.status_code}"
            raise ProtocolFailure(
                f"{self.server.url} refused the WebSocket: HTTP {event.status_code}")
        elif isinstance(event, TextMessage):
            self.partial.append(event.data)
            if event.message_finished:
                message = "".join(self.partial)
                self.partial.clear()
                names = notice_names(message)
                blocks = delta_blocks(message)
                if blocks is not None:
                    self._pushed(blocks)
                elif message.startswith(PRESENCE):
                    self._presence(message)
                elif message.startswith(PRESENCE_ID):
                    self.presence_id = message[len(PRESENCE_ID):].strip()
                elif message.startswith(PRESENCE_ERROR):
                    self.presence_errors.append(message[len(ERROR):].strip())
                elif names is None:
                    if not self._refused_ask(message):
                        self.messages.append(message)
                else:
                    self.notices += 1
                    self.owed.update(names)
        elif isinstance(event, BytesMessage):
            raise ProtocolFailure(f"{self.server.url} sent a binary message")
        elif isinstance(event, Ping):
            self.pings += 1
            self._write(self.protocol.send(event.response()))
        elif isinstance(event, CloseConnection):
            self.closed = f"{event.code} {event.reason or ''}".strip()
            try:
                self.sock.sendall(self.protocol.send(event.response()))
            except (OSError, LocalProtocolError):
                pass

    def _pushed(self, blocks: bytes) -> None:
        """Apply a pushed delta (unless a request is in flight) and say what we hold."""
        if self.session is None:
            return
        self._acknowledge(self.session.apply_push(blocks, self.in_flight))

    def _acknowledge(self, held: list[tuple[str, int]]) -> None:
        """Tell the server which pushed versions we hold."""
        if held:
            self.applied.update(name for name, _ in held)
            self._write(self.protocol.send(TextMessage(pushed_message(held))))

    def take_pushes(self, session: ClientSession) -> None:
        """Ask for deltas instead of notices (coarse ones welcome: the session keeps
        its typing through them), and apply them to *session* as they come."""
        self.session = session
        self._ask(PUSH_COARSE)

    def _ask(self, asked: str) -> None:
        self.push_ask.ask(asked, int(self.in_flight))
        try:
            self._write(self.protocol.send(TextMessage(asked)))
        except LocalProtocolError:
            raise self._closed_error() from None

    def _refused_ask(self, message: str) -> bool:
        """Whether *message* refused our push ask (``PushAsk``); if it did, ask
        for the weaker one, or keep to notices."""
        refused = self.push_ask.refused(message)
        if refused is None:
            return False
        weaker = WEAKER_ASK.get(refused)
        if weaker is None:
            self.session = None
        else:
            self._ask(weaker)
        return True

    def _presence(self, message: str) -> None:
        try:
            update = message_update(message)
        except ValueError:
            update = None
        if update is None:
            raise ProtocolFailure(f"{self.server.url} sent a bad presence message")
        for name, people in update.items():
            here = self.present.setdefault(name, {})
            for ident, entry in people.items():
                if ident == self.presence_id:
                    continue
                if entry is None:
                    here.pop(ident, None)
                else:
                    here[ident] = entry
                self.presence_changes.append((name, ident, entry))
            if not here:
                del self.present[name]

    def publish(self, name: str, color: str,
                carets: dict[str, tuple[int, int]] | None = None) -> None:
        """Say who we are (*name*, *color* as ``#rrggbb``) and, per document, where our
        caret or selection is (UTF-16 offsets); refusals land in ``presence_errors``."""
        body = {"name": name, "color": color,
                "carets": {doc: list(caret) for doc, caret in (carets or {}).items()}}
        try:
            self._write(self.protocol.send(TextMessage(PRESENCE + json.dumps(body))))
        except LocalProtocolError:
            raise self._closed_error() from None

    def wait_for_presence(self, seconds: float) -> list[tuple[str, str, dict[str, object] | None]]:
        """Block up to *seconds* for presence changes; those read (maybe none)."""
        self._read_until(lambda: bool(self.presence_changes), time.monotonic() + seconds)
        changes, self.presence_changes = self.presence_changes, []
        return changes

    def _closed_error(self) -> Unreachable:
        why = f" ({self.closed})" if self.closed else ""
        return Unreachable(f"the WebSocket to {self.server.url} is closed{why}")

    def renew(self, token: str) -> None:
        """Hold *token* from now on: it replaces the one the requests sent so far used."""
        try:
            self._write(self.protocol.send(TextMessage(token_message(token))))
        except LocalProtocolError:
            raise self._closed_error() from None

    def exchange(self, request: bytes) -> bytes:
        """Send one request; return its answer (ending with a blank line)."""
        if self.session is not None:
            self._acknowledge(self.session.take_pushed())
        try:
            self._write(self.protocol.send(TextMessage(request.decode("utf-8"))))
        except LocalProtocolError:
            raise self._closed_error() from None
        self.in_flight = True
        try:
            self._read_until(lambda: bool(self.messages))
        finally:
            self.in_flight = False
        answer = self.messages.pop(0)
        if answer.startswith(ERROR):
            raise ProtocolFailure(f"{self.server.url} refused the request: "
                                  f"{answer[len(ERROR):].strip()}")
        return answer.encode("utf-8")

    def wait_for_notice(self, seconds: float, presence: bool = False) -> set[str]:
        """Block up to *seconds* for a change notice, a pushed delta (in ``applied``) or,
        with *presence*, a presence change; the names owed a sync (maybe none)."""
        self.applied.clear()
        if self.session is not None:
            self._acknowledge(self.session.take_pushed())
        self._read_until(
            lambda: bool(self.owed or self.applied or (presence and self.presence_changes)),
            time.monotonic() + seconds)
        owed, self.owed = self.owed, set()
        return owed

    def close(self) -> None:
        """Close the socket, politely if it is open: say so and wait (within the
        timeout) until the server has closed its end."""
        if self.closed is None:
            self.closed = "closed by us"
            try:
                self.sock.sendall(self.protocol.send(CloseConnection(code=1000)))
                self.sock.settimeout(self.timeout)
                while self.sock.recv(65536):
                    pass
            except (OSError, LocalProtocolError):
                pass
        self.sock.close()
