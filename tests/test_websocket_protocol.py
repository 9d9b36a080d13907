"""The WebSocket adapter in memory: no network, a fake clock, durability held by hand.

The gateway site (with ``/ws``) listens on a ``MemoryReactorClock``; clients
are ``mobwrite.client.txsocket.SocketPeer`` over ``twisted.test.iosim``
pumps, so every byte moves when the test says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from twisted.internet import defer
from twisted.internet.testing import MemoryReactorClock
from twisted.python.failure import Failure
from twisted.test.iosim import ConnectionCompleter, IOPump
from twisted.web.websocket import WebSocketClientEndpoint
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Request, TextMessage

from mobwrite.client.errors import Unreachable
from mobwrite.client.txsocket import SocketPeer
from mobwrite.core.engine import MAX_PUSHES, Engine
from mobwrite.core.httpform import Limits
from mobwrite.core.presence import PRESENCE, PRESENCE_ID, PresenceCounts, message_update
from mobwrite.core.push import PUSH_COARSE, PUSH_DELTAS, pushed_message
from mobwrite.core.store import Store
from mobwrite.daemon.answering import RequestAnswerer
from mobwrite.daemon.gateway import gateway_site
from mobwrite.daemon.services import BoundPorts
from mobwrite.daemon.websocket import (
    PRESENCE_INTERVAL,
    PUSH_INTERVAL,
    PushHub,
    PushSocket,
    SocketResource,
    text_frame,
)
from mobwrite.settings import Settings

SETTINGS = Settings.defaults(websocket_ping_interval=30.0, websocket_ping_timeout=10.0)


class HeldCommitter:
    """Durability that waits for the test's word while ``holding``."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.holding = False
        self.waiting: list[defer.Deferred[None]] = []

    def durable(self) -> defer.Deferred[None]:
        self.store.take_changes()
        if not self.holding:
            return defer.succeed(None)
        waiting: defer.Deferred[None] = defer.Deferred()
        self.waiting.append(waiting)
        return waiting

    def release(self, last_first: bool = False) -> None:
        waiting, self.waiting = self.waiting, []
        for each in reversed(waiting) if last_first else waiting:
            each.callback(None)


@dataclass
class Client:
    peer: SocketPeer
    pump: IOPump
    received: list[str] = field(default_factory=list)

    def send(self, request: bytes) -> defer.Deferred[bytes]:
        answer = self.peer.exchange(request)
        self.pump.flush()
        return answer


class Bench:
    """The daemon's WebSocket wiring on a memory reactor."""

    def __init__(self) -> None:
        self.reactor = MemoryReactorClock()
        self.store = Store()
        self.committer = HeldCommitter(self.store)
        self.hub = PushHub(SETTINGS, self.reactor)
        self.server = RequestAnswerer(Engine(self.store, SETTINGS), self.reactor,
                                     self.committer, self.hub)
        ports = BoundPorts()
        sockets = SocketResource(self.hub, self.server, self.reactor, ports)
        site = gateway_site(self.server, Limits.from_settings(SETTINGS), ports, self.reactor,
                            SETTINGS.request_deadline, {b"ws": sockets})
        self.reactor.listenTCP(80, site)

    def connect(self) -> Client:
        peer = SocketPeer("ws://localhost/ws")
        received: list[str] = []
        textMessageReceived = peer.textMessageReceived

        def record(message: str) -> None:
            received.append(message)
            textMessageReceived(message)

        peer.textMessageReceived = record  # type: ignore[method-assign]
        endpoint = WebSocketClientEndpoint.new(self.reactor, "ws://localhost:80/ws")
        connected = defer.Deferred.fromCoroutine(endpoint.connect(peer))
        pump = ConnectionCompleter(self.reactor).succeedOnce()
        assert pump is not None
        pump.flush()
        assert connected.called
        return Client(peer, pump, received)

    def sockets(self) -> list[PushSocket]:
        return list(self.hub.subscriptions.followed)


def answered(deferred: defer.Deferred[bytes]) -> bytes:
    results: list[bytes] = []
    deferred.addCallback(results.append)
    assert results, "no answer yet"
    return results[0]


def test_a_notice_waits_for_the_answer_in_flight() -> None:
    """A change committed while the socket's own request waits comes after that answer."""
    bench = Bench()
    watcher = bench.connect()
    answered(watcher.send(b"u:w\nF:0:memo\nr:1:Hello\n\n"))
    bench.committer.holding = True
    pending = watcher.send(b"u:w\nF:1:memo\nd:1:=5\n\n")
    edit = bench.server.answer(b"u:e\nF:0:memo\nR:1:Hello world\n\n")
    # The edit is durable first: the watcher's answer is still on its way.
    bench.committer.release(last_first=True)
    watcher.pump.flush()
    assert answered(edit) == b"F:1:memo\nD:0:=11\n"
    assert answered(pending) == b"F:2:memo\nd:1:=5\n\n"
    assert watcher.received[-2:] == ["F:2:memo\nd:1:=5\n\n", "!changed:memo\n\n"]


def test_an_open_socket_keeps_nothing_of_its_handshake() -> None:
    """Once open, the upgraded request holds no headers, arguments or body, and the
    socket still answers, and closes cleanly."""
    bench = Bench()
    client = bench.connect()
    [socket] = bench.sockets()
    request = socket.request
    assert list(request.requestHeaders.getAllRawHeaders()) == []
    assert list(request.responseHeaders.getAllRawHeaders()) == []
    assert request.args == {} and request.content is None
    assert answered(client.send(b"u:w\nF:0:memo\nr:1:Hello\n\n")) == b"F:1:memo\nd:0:=5\n\n"
    socket.close(1000, "done", quietly=True)
    client.pump.flush()
    assert bench.sockets() == []


def test_a_hot_document_sends_one_notice_per_request() -> None:
    """Many commits to a followed document: one notice until the socket asks again."""
    bench = Bench()
    watcher = bench.connect()
    answered(watcher.send(b"u:w\nF:0:memo\nr:1:x\n\n"))
    for version in range(1, 21):
        bench.server.answer(f"u:e\nF:{version - 1}:memo\nR:{version}:{version}\n\n".encode())
        watcher.pump.flush()
    assert watcher.received.count("!changed:memo\n\n") == 1
    assert bench.hub.subscriptions.counts.notices_coalesced == 18
    answered(watcher.send(b"u:w\nF:1:memo\nd:1:=1\n\n"))
    bench.server.answer(b"u:e\nF:20:memo\nR:21:again\n\n")
    watcher.pump.flush()
    assert watcher.received.count("!changed:memo\n\n") == 2


def test_a_peer_that_does_not_read_gets_no_notice_until_it_does() -> None:
    """While the send buffer is full the notice is held (one), and reading pauses."""
    bench = Bench()
    watcher = bench.connect()
    answered(watcher.send(b"u:w\nF:0:memo\nr:1:x\n\n"))
    [socket] = bench.sockets()
    socket.pauseProducing()
    assert not socket.reading
    bench.server.answer(b"u:e\nF:0:memo\nR:1:y\n\n")
    bench.server.answer(b"u:e\nF:1:memo\nR:2:z\n\n")
    watcher.pump.flush()
    assert "!changed:memo\n\n" not in watcher.received
    socket.resumeProducing()
    watcher.pump.flush()
    assert socket.reading
    assert watcher.received[-1] == "!changed:memo\n\n"


def test_pings_keep_a_live_socket_and_cut_off_a_silent_one() -> None:
    """A pong resets the ping timer; no pong within the timeout aborts the connection."""
    bench = Bench()
    lively, silent = bench.connect(), bench.connect()
    bench.reactor.advance(SETTINGS.websocket_ping_interval)
    lively.pump.flush()
    bench.reactor.advance(SETTINGS.websocket_ping_timeout)
    lively.pump.flush()
    silent.pump.flush()
    assert lively.peer.lost is None
    assert silent.peer.lost is not None
    assert len(bench.sockets()) == 1
    failures: list[Failure] = []
    silent.peer.exchange(b"u:s\n\n").addErrback(failures.append)
    assert failures[0].check(Unreachable)
    assert answered(lively.send(b"u:l\n\n")) == b"\n"


def test_thousands_of_queued_requests_are_answered_in_order_without_nesting() -> None:
    """Requests read while one waits are answered in order once it is durable."""
    bench = Bench()
    client = bench.connect()
    requests = [f"u:many\nF:{n}:memo\nd:{n}:=0\n\n".encode() for n in range(3000)]
    alone = Engine(Store(), SETTINGS)
    expected = [alone.handle(request, 0.0).body + b"\n" for request in requests]
    bench.committer.holding = True
    answers = [client.peer.exchange(request) for request in requests]
    client.pump.flush()
    bench.committer.holding = False
    bench.committer.release()
    client.pump.flush()
    assert [answered(each) for each in answers] == expected


def publish(client: Client, name: str, caret: int = 0) -> None:
    body = json.dumps({"name": name, "color": "#000000", "carets": {"memo": [caret, caret]}})
    assert client.peer.transport is not None
    client.peer.transport.sendTextMessage(PRESENCE + body)
    client.pump.flush()


def test_presence_goes_out_in_batches_every_interval_with_the_latest_state() -> None:
    """Ten caret moves within one interval: one update, with the last caret, the same
    message for every follower; the publisher was told its id before it."""
    bench = Bench()
    ann, bo = bench.connect(), bench.connect()
    answered(ann.send(b"u:a\nF:0:memo\nr:1:x\n\n"))
    answered(bo.send(b"u:b\nF:0:memo\nr:1:x\n\n"))
    for caret in range(10):
        publish(ann, "Ann", caret)
    bo.pump.flush()
    assert not [m for m in bo.received if m.startswith(PRESENCE)]
    bench.reactor.advance(PRESENCE_INTERVAL)
    bo.pump.flush()
    ann.pump.flush()
    updates = [m for m in bo.received if m.startswith(PRESENCE)]
    assert [message_update(m) for m in updates] == [
        {"memo": {"p1": {"name": "Ann", "color": "#000000", "caret": [9, 9]}}}]
    assert ann.received[1:] == [PRESENCE_ID + "p1"] + updates
    assert bench.hub.presence.counts == PresenceCounts(
        published=10, refused=0, updates_sent=2, coalesced=9)


def test_a_socket_not_reading_gets_what_it_missed_in_one_update_when_it_reads() -> None:
    """While its peer does not read, the batches are kept for it, one entry per
    person; when it reads again it gets them in one update of its own."""
    bench = Bench()
    ann, bo = bench.connect(), bench.connect()
    answered(ann.send(b"u:a\nF:0:memo\nr:1:x\n\n"))
    answered(bo.send(b"u:b\nF:0:memo\nr:1:x\n\n"))
    publish(ann, "Ann")
    reader = next(socket for socket in bench.sockets() if socket not in bench.hub.presence.ids)
    reader.pauseProducing()
    for caret in (1, 2):
        publish(ann, "Ann", caret)
        bench.reactor.advance(PRESENCE_INTERVAL)
    bo.pump.flush()
    assert not [m for m in bo.received if m.startswith(PRESENCE)]
    reader.resumeProducing()
    bench.reactor.advance(PRESENCE_INTERVAL)
    bo.pump.flush()
    assert [message_update(m) for m in bo.received if m.startswith(PRESENCE)] == [
        {"memo": {"p1": {"name": "Ann", "color": "#000000", "caret": [2, 2]}}}]


def test_a_closed_socket_departs_and_leaves_nothing_behind() -> None:
    """Closing sends a departure with the next batch and frees the socket's presence."""
    bench = Bench()
    ann, bo = bench.connect(), bench.connect()
    answered(ann.send(b"u:a\nF:0:memo\nr:1:x\n\n"))
    answered(bo.send(b"u:b\nF:0:memo\nr:1:x\n\n"))
    publish(bo, "Bo")
    bench.reactor.advance(PRESENCE_INTERVAL)
    ann.pump.flush()
    bo.peer.close()
    bo.pump.flush()
    ann.pump.flush()
    bench.reactor.advance(PRESENCE_INTERVAL)
    ann.pump.flush()
    assert message_update(ann.received[-1]) == {"memo": {"p1": None}}
    presence = bench.hub.presence
    assert (len(presence), presence.ids, presence.owed, presence.changes) == (0, {}, {}, {})


def test_a_bad_presence_message_gets_an_error_and_the_client_still_syncs() -> None:
    bench = Bench()
    ann = bench.connect()
    assert ann.peer.transport is not None
    ann.peer.transport.sendTextMessage(PRESENCE + '{"name": 3}')
    ann.pump.flush()
    assert answered(ann.send(b"u:a\n\n")) == b"\n"
    assert ann.received == ["!error:presence: name must be a non-empty string\n\n", "\n"]
    assert len(bench.hub.presence) == 0
    assert bench.hub.presence.counts.refused == 1


def test_a_text_frame_is_read_back_whole_at_every_length_encoding() -> None:
    """Short, 16-bit and 64-bit lengths: a WebSocket client reads back the same text."""
    for message in ("!presence:{}", "é" * 200, "x" * 70000):
        client = WSConnection(ConnectionType.CLIENT)
        server = WSConnection(ConnectionType.SERVER)
        server.receive_data(client.send(Request(host="localhost", target="/ws")))
        assert isinstance(next(server.events()), Request)
        client.receive_data(server.send(AcceptConnection()))
        assert isinstance(next(client.events()), AcceptConnection)
        client.receive_data(text_frame(message))
        texts = [event for event in client.events() if isinstance(event, TextMessage)]
        assert "".join(event.data for event in texts) == message
        assert texts[-1].message_finished


def taking_deltas(bench: Bench, asking: str = PUSH_DELTAS, user: str = "w") -> Client:
    """A client that asked for deltas (with *asking*) and synced ``memo`` (Hello) once."""
    client = bench.connect()
    assert client.peer.transport is not None
    client.peer.transport.sendTextMessage(asking)
    client.pump.flush()
    assert answered(client.send(f"u:{user}\nF:0:memo\nr:1:Hello\n\n".encode())) == (
        b"F:1:memo\nd:0:=5\n\n")
    return client


def test_a_socket_taking_coarse_deltas_is_pushed_and_answered_one_replacement() -> None:
    """``!push:coarse``: pushes and answers replace the changed stretch whole, where
    a socket that asked for ``!push:deltas`` keeps getting exact deltas."""
    bench = Bench()
    exact = taking_deltas(bench)
    coarse = taking_deltas(bench, PUSH_COARSE, "c")
    bench.server.answer(b"u:e\nF:0:memo\nR:1:Jello!\n\n")
    bench.reactor.advance(0)
    exact.pump.flush()
    coarse.pump.flush()
    assert exact.received[-1] == "!delta:\nF:1:memo\nd:1:-1\t+J\t=4\t+!\n\n"
    assert coarse.received[-1] == "!delta:\nF:1:memo\nd:1:-5\t+Jello!\n\n"
    bench.server.answer(b"u:e\nF:1:memo\nR:2:Yellow!!\n\n")
    bench.reactor.advance(0)
    # Each syncs before the next push: the answer brings the change.
    assert answered(exact.send(b"u:w\nF:2:memo\nd:1:=6\n\n")) == (
        b"F:2:memo\nd:2:-1\t+Y\t=4\t+w!\t=1\n\n")
    assert answered(coarse.send(b"u:c\nF:2:memo\nd:1:=6\n\n")) == (
        b"F:2:memo\nd:2:-5\t+Yellow!\t=1\n\n")


def test_a_socket_that_asked_for_deltas_is_pushed_the_change_once_durable() -> None:
    """In place of a notice, the answer block an empty sync would bring, sent only
    once both the edit and the view's new state are durable."""
    bench = Bench()
    watcher = taking_deltas(bench)
    bench.committer.holding = True
    bench.server.answer(b"u:e\nF:0:memo\nR:1:Hello world\n\n")
    bench.committer.release()
    bench.reactor.advance(0)
    watcher.pump.flush()
    assert watcher.received[-1] == "F:1:memo\nd:0:=5\n\n", "not before the push is durable"
    bench.committer.release()
    watcher.pump.flush()
    assert watcher.received[-1] == "!delta:\nF:1:memo\nd:1:=5\t+ world\n\n"
    assert bench.hub.subscriptions.counts.deltas_sent == 1
    assert bench.hub.subscriptions.counts.notices_sent == 0
    # The client's next request, from the pushed state, is answered as usual.
    bench.committer.holding = False
    assert answered(watcher.send(b"u:w\nF:2:memo\nd:1:=11\n\n")) == b"F:2:memo\nd:2:=11\n\n"


def test_a_hot_document_is_pushed_at_most_every_push_interval() -> None:
    """Edits within the pause join the next push; sockets without deltas still get notices."""
    bench = Bench()
    watcher = taking_deltas(bench)
    plain = bench.connect()
    answered(plain.send(b"u:p\nF:0:memo\nr:1:Hello\n\n"))
    bench.server.answer(b"u:e\nF:0:memo\nR:1:Hello 1\n\n")
    bench.reactor.advance(0)
    watcher.pump.flush()
    assert watcher.received[-1] == "!delta:\nF:1:memo\nd:1:=5\t+ 1\n\n"
    for version in (2, 3):
        bench.server.answer(f"u:e\nF:{version - 1}:memo\nR:{version}:Hello {version}\n\n".encode())
        bench.reactor.advance(0)
    watcher.pump.flush()
    assert watcher.received[-1] == "!delta:\nF:1:memo\nd:1:=5\t+ 1\n\n", "paused"
    bench.reactor.advance(PUSH_INTERVAL)
    watcher.pump.flush()
    assert watcher.received[-1] == "!delta:\nF:1:memo\nd:2:=6\t-1\t+3\n\n"
    plain.pump.flush()
    assert plain.received[-1] == "!changed:memo\n\n"


def test_no_push_while_the_socket_waits_for_an_answer() -> None:
    """A change committed while the socket's request waits is pushed after its answer,
    starting from the state that answer left."""
    bench = Bench()
    watcher = taking_deltas(bench)
    bench.committer.holding = True
    pending = watcher.send(b"u:w\nF:1:memo\nd:1:=5\t+!\n\n")
    edit = bench.server.answer(b"u:e\nF:0:memo\nR:1:Oh Hello\n\n")
    bench.committer.release()
    answered(edit)
    bench.reactor.advance(0)
    watcher.pump.flush()
    assert not watcher.received[-1].startswith("!delta:")
    bench.committer.holding = False
    bench.committer.release()
    watcher.pump.flush()
    assert answered(pending) == b"F:2:memo\nd:1:=6\n\n"
    bench.reactor.advance(0)
    watcher.pump.flush()
    # The forced text replaced the watcher's "Hello!".
    assert watcher.received[-1] == "!delta:\nF:2:memo\nd:2:+Oh \t=5\t-1\n\n"


def test_a_pushed_acknowledgement_frees_the_view_for_more_pushes() -> None:
    """``!pushed:`` lets the daemon forget the states kept for a request that might cross."""
    bench = Bench()
    watcher = taking_deltas(bench)
    bench.server.answer(b"u:e\nF:0:memo\nR:1:Hello 1\n\n")
    bench.reactor.advance(0)
    watcher.pump.flush()
    view = bench.store.find_view("w", "memo")
    assert view is not None and view.pushes == ((1, "Hello"),)
    assert watcher.peer.transport is not None
    watcher.peer.transport.sendTextMessage(pushed_message([("memo", 2)]))
    watcher.pump.flush()
    assert view.pushes is None


def test_a_view_pushed_too_often_without_word_gets_a_notice_instead() -> None:
    """After MAX_PUSHES pushes without a request or ``!pushed:``, the socket is told
    to sync (a notice), and a garbled ``!pushed:`` changes nothing."""
    bench = Bench()
    watcher = taking_deltas(bench)
    assert watcher.peer.transport is not None
    watcher.peer.transport.sendTextMessage("!pushed:x:memo\n!pushed:9:nobody")
    for version in range(1, MAX_PUSHES + 2):
        bench.server.answer(f"u:e\nF:{version - 1}:memo\nR:{version}:Hello {version}\n\n".encode())
        bench.reactor.advance(PUSH_INTERVAL)
    watcher.pump.flush()
    pushed = [message for message in watcher.received if message.startswith("!delta:")]
    assert len(pushed) == MAX_PUSHES
    assert watcher.received[-1] == "!changed:memo\n\n"
    assert answered(watcher.send(f"u:w\nF:{MAX_PUSHES + 1}:memo\nd:1:=7\n\n".encode())) == \
        f"F:2:memo\nd:{MAX_PUSHES + 1}:=6\t-1\t+{MAX_PUSHES + 1}\n\n".encode()
