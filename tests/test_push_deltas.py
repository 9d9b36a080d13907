"""Pushed deltas in the sans-IO core: the engine pushes, clients apply or drop them.

Each client talks to the engine over two ordered channels (its requests and
``!pushed:`` messages one way, answers and pushes the other), whose
messages move when the test says, so requests cross pushes in every order.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mobwrite.client.session import ClientSession
from mobwrite.core.delta import to_delta
from mobwrite.core.engine import MAX_PUSHES, Engine
from mobwrite.core.store import Store
from mobwrite.settings import Settings

ALPHABET = st.sampled_from(list("ab \n") + ["é", "😀", "𝄞", "\U0001F469\u200D\U0001F4BB"])


@dataclass
class Peer:
    """One client, what it has sent (requests and acks) and what is on its way to it."""

    session: ClientSession
    outbound: deque[tuple[str, bytes]] = field(default_factory=deque)
    inbound: deque[tuple[str, bytes]] = field(default_factory=deque)
    in_flight: bool = False
    typed: list[str] = field(default_factory=list)

    @property
    def document(self):  # type: ignore[no-untyped-def]
        return self.session.documents["doc"]


class World:
    """An engine, its clients and the channels between them."""

    def __init__(self, clients: int = 2, initial: str = "", coarse: bool = False) -> None:
        self.engine = Engine(Store(), Settings.defaults())
        # Whether the clients take coarse deltas (pushed and in answers).
        self.coarse = coarse
        self.peers = [Peer(ClientSession(f"user{i}")) for i in range(clients)]
        for index, peer in enumerate(self.peers):
            peer.session.share("doc", initial if index == 0 else "")
        self.now = 0.0
        self.notices = 0

    def send(self, who: int) -> None:
        peer = self.peers[who]
        if not peer.in_flight:
            peer.in_flight = True
            peer.outbound.append(("request", peer.session.build_request()))

    def serve(self, who: int) -> None:
        """The server reads the client's next message."""
        peer = self.peers[who]
        if not peer.outbound:
            return
        kind, data = peer.outbound.popleft()
        self.now += 1
        if kind == "request":
            peer.inbound.append(("answer", self.engine.handle(
                data, self.now, coarse=self.coarse).body))
        else:
            version = int(data)
            self.engine.pushed(peer.session.user, "doc", version)

    def push(self, who: int) -> None:
        peer = self.peers[who]
        block = self.engine.push(peer.session.user, "doc", {}, self.coarse)
        if block is None:
            self.notices += 1
            peer.inbound.append(("notice", b""))
        elif block:
            peer.inbound.append(("push", block.encode("utf-8") + b"\n"))

    def receive(self, who: int) -> None:
        peer = self.peers[who]
        if not peer.inbound:
            return
        kind, data = peer.inbound.popleft()
        if kind == "answer":
            peer.session.apply_response(data)
            peer.in_flight = False
            held = peer.session.take_pushed()
        elif kind == "push":
            held = peer.session.apply_push(data, peer.in_flight)
        else:
            self.send(who)
            return
        for _, version in held:
            peer.outbound.append(("pushed", str(version).encode()))

    def settle(self) -> None:
        """Deliver everything, then sync each client until nothing moves."""
        for _ in range(6):
            for who in range(len(self.peers)):
                for _ in range(20):
                    self.serve(who)
                    self.receive(who)
                self.send(who)
                self.serve(who)
                self.receive(who)
                while self.peers[who].inbound or self.peers[who].outbound:
                    self.serve(who)
                    self.receive(who)


STEP = st.one_of(
    st.tuples(st.just("type"), st.integers(0, 1), ALPHABET),
    st.tuples(st.sampled_from(["send", "serve", "push", "receive"]), st.integers(0, 1)),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(STEP, max_size=60), st.lists(ALPHABET, max_size=6).map("".join),
       st.booleans())
def test_pushes_crossing_requests_converge(steps: list[tuple], initial: str,
                                           coarse: bool) -> None:
    """Typing, requests, pushes and acknowledgements in any order, with exact or
    coarse deltas, end with every client holding the master, and every
    character typed in it once."""
    initial = f"Hello {initial} world"
    world = World(initial=initial, coarse=coarse)
    for who in (0, 1):
        world.send(who)
        world.serve(who)
        world.receive(who)
    marker = 0
    for step in steps:
        who = step[1]
        if step[0] == "type":
            peer = world.peers[who]
            marker += 1
            word = f"<{marker}{step[2]}>"
            text = peer.document.text
            # Each at its own end, so that no merge has to guess.
            peer.document.text = word + text if who == 0 else text + word
            peer.typed.append(word)
        else:
            getattr(world, step[0])(who)
    world.settle()
    master = world.engine.store.documents["doc"].text
    typed = initial + "".join(word for peer in world.peers for word in peer.typed)
    for peer in world.peers:
        assert peer.document.text == master
    # Nothing deletes: the master holds exactly what was typed.
    assert Counter(master) == Counter(typed)


def test_a_push_the_client_dropped_is_taken_back_by_its_request() -> None:
    """A request sent before a push arrived is applied to the state before the push."""
    world = World(initial="Hello")
    for who in (0, 1):
        world.send(who)
        world.serve(who)
        world.receive(who)
    world.peers[1].document.text = "Hello world"
    world.send(1)
    world.serve(1)
    world.receive(1)
    world.peers[0].document.text = "Oh, Hello"
    world.send(0)
    world.push(0)
    world.receive(0)
    assert world.peers[0].document.text == "Oh, Hello", "a push waits while in flight"
    world.serve(0)
    world.receive(0)
    assert world.peers[0].document.text == "Oh, Hello world"
    assert world.peers[0].session.take_pushed() == [], "the request crossed it: dropped"
    assert world.engine.store.documents["doc"].text == "Oh, Hello world"


def test_a_push_sent_after_the_answer_in_flight_is_applied_after_it() -> None:
    """A push read before the client applied the answer that preceded it is kept,
    then applied once that answer is."""
    world = World(initial="Hello")
    for who in (0, 1):
        world.send(who)
        world.serve(who)
        world.receive(who)
    world.peers[0].document.text = "Oh, Hello"
    world.send(0)
    world.serve(0)
    world.peers[1].document.text = "Hello world"
    world.send(1)
    world.serve(1)
    world.receive(1)
    world.push(0)
    [(_, answer), (_, push)] = world.peers[0].inbound
    session = world.peers[0].session
    assert session.apply_push(push, in_flight=True) == []
    session.apply_response(answer)
    assert world.peers[0].document.text == "Oh, Hello world"
    assert session.take_pushed() == [("doc", 3)]


def test_a_view_is_pushed_only_so_far_without_word_from_its_client() -> None:
    """Beyond MAX_PUSHES unacknowledged pushes a view is not pushed (its client
    gets a notice); a ``!pushed:`` acknowledgement makes room again."""
    world = World(initial="x")
    for who in (0, 1):
        world.send(who)
        world.serve(who)
        world.receive(who)
    for count in range(MAX_PUSHES + 1):
        world.peers[1].document.text += str(count)
        world.send(1)
        world.serve(1)
        world.receive(1)
        world.push(0)
    kinds = [kind for kind, _ in world.peers[0].inbound]
    assert kinds == ["push"] * MAX_PUSHES + ["notice"]
    for _ in range(MAX_PUSHES):
        world.receive(0)
        world.serve(0)
    assert world.engine.store.find_view("user0", "doc").pushes is None
    world.peers[1].document.text += "!"
    world.send(1)
    world.serve(1)
    world.receive(1)
    world.push(0)
    assert world.peers[0].inbound[-1][0] == "push"


def test_views_at_one_version_share_one_delta() -> None:
    """One flush computes the delta once for every view at the same shadow."""
    engine = Engine(Store(), Settings.defaults())
    for user in ("a", "b", "c"):
        engine.handle(f"u:{user}\nF:0:doc\nr:1:Hello\n\n".encode(), 1.0)
    engine.handle(b"u:a\nF:1:doc\nd:1:=5\t+ world\n\n", 2.0)
    shared: dict[int, tuple[str, str]] = {}
    blocks = [engine.push(user, "doc", shared) for user in ("b", "c")]
    assert blocks == ["F:1:doc\nd:1:=5\t+ world"] * 2
    assert len(shared) == 1
    assert engine.push("a", "doc", shared) == ""


def test_a_view_loaded_from_storage_is_reseeded_when_its_numbers_do_not_fit() -> None:
    """After a restart the pushes a view had are unknown: a client whose numbers
    fit none is answered with the lowercase whole text, which keeps its typing."""
    store = Store()
    store.add_document("doc", "Hello", 1.0)
    store.add_view("u", "doc", 1.0, "Hello", "Hello", 3, 5, 4, [])
    engine = Engine(store, Settings.defaults())
    body = engine.handle(b"u:u\nF:6:doc\nd:3:=5\t+!\n\n", 2.0).body
    assert body == b"F:3:doc\nr:5:Hello\n"


def test_a_crowds_change_is_merged_by_patching_the_typing_into_it() -> None:
    """A server change of many hunks against a little typing keeps both."""
    session = ClientSession("u")
    document = session.share("doc")
    words = [f"w{i}" for i in range(20)]
    document.shadow = " ".join(words)
    document.text = "typed " + document.shadow
    document.delta_ok = True
    document.client_version = document.acknowledged = 1
    changed = " ".join(word.upper() for word in words)
    delta = to_delta(session.dmp.diff_main(document.shadow, changed))
    session.apply_response(f"F:1:doc\nd:0:{delta}\n".encode())
    assert document.shadow == changed
    assert document.text == "typed " + changed
