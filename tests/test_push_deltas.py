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

from mobwrite.client.session import ClientSession, SharedText
from mobwrite.core.delta import Differ, coarse_delta, to_delta
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
    shared: dict[tuple[int, bool], tuple[str, str]] = {}
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


def typing_session(shadow: str, text: str) -> tuple[ClientSession, SharedText]:
    """A session at client version 1, server version 0, whose shadow is *shadow*
    and whose text, *text*, holds typing not sent yet."""
    session = ClientSession("u")
    document = session.share("doc", text)
    document.shadow = shadow
    document.delta_ok = True
    document.client_version = document.acknowledged = 1
    return session, document


def test_a_coarse_push_keeps_the_typing_inside_the_stretch_it_replaces() -> None:
    """A coarse delta replaces the stretch between the changes at both ends, the
    person's unsent typing inside it (emoji counted in UTF-16 units) included:
    the typing is patched into the server's text, never deleted with the stretch."""
    shadow = "[a:1] [b:1] 😀 [c:1] [d:1] end"
    server = "[a:2] [b:1] 😀 [c:1] [d:2] end"
    session, document = typing_session(shadow, shadow.replace("[c:1]", "[c:1🎉]"))
    delta = coarse_delta(shadow, server)
    assert delta == "=3\t-22\t+2%5D %5Bb:1%5D %F0%9F%98%80 %5Bc:1%5D %5Bd:2\t=5"
    held = session.apply_push(f"F:1:doc\nd:0:{delta}\n".encode())
    assert held == [("doc", 1)]
    assert document.shadow == server
    assert document.text == "[a:2] [b:1] 😀 [c:1🎉] [d:2] end"
    # The next request carries the typing alone.
    assert session.build_request().decode().splitlines()[2] == "d:1:=19\t+%F0%9F%8E%89\t=11"


def test_a_coarse_answer_keeps_typing_made_while_its_request_was_in_flight() -> None:
    """The same merge for an answer: typing made after the request survives."""
    shadow = "one 𝄞 two three four"
    server = "ONE 𝄞 two three FOUR"
    session, document = typing_session(shadow, "one 𝄞 two and a half three four")
    session.apply_response(f"F:1:doc\nd:0:{coarse_delta(shadow, server)}\n".encode())
    assert document.shadow == server
    assert document.text == "ONE 𝄞 two and a half three FOUR"


def test_a_small_change_beside_the_typing_is_patched_into_the_text() -> None:
    """A server change that deletes nothing where the typing is goes into the text
    as before (a change far from the typing, or a pure insertion)."""
    shadow = "alpha beta gamma delta"
    session, document = typing_session(shadow, "alpha beta gamma delta!")
    session.apply_response(b"F:1:doc\nd:0:-5\t+ALPHA\t=17\n")
    assert document.text == "ALPHA beta gamma delta!"


def test_a_coarse_client_is_pushed_one_replacement_shared_by_its_shadow() -> None:
    """``Engine.push`` with *coarse*: one replacement of the stretch, computed once per
    shadow, beside exact deltas for the views that did not ask for coarse ones."""
    engine = Engine(Store(), Settings.defaults())
    for user in ("a", "b", "c"):
        engine.handle(f"u:{user}\nF:0:doc\nr:1:Hello there world\n\n".encode(), 1.0)
    engine.handle(b"u:a\nF:1:doc\nd:1:-1\t+J\t=16\t+!\n\n", 2.0)
    shared: dict[tuple[int, bool], tuple[str, str]] = {}
    assert engine.push("b", "doc", shared, coarse=True) == "F:1:doc\nd:1:-17\t+Jello there world!"
    assert engine.push("c", "doc", shared) == "F:1:doc\nd:1:-1\t+J\t=16\t+!"
    assert len(shared) == 2


def test_typing_where_a_crowd_typed_too_is_kept() -> None:
    """A server change of many hunks, one of them where the person typed: both
    start from the shadow and do not overlap, so both are made exactly (patching
    the typing into the server's text found no place for it, and lost it)."""
    words = ("alpha bravo charlie delta echo foxtrot golf hotel india juliett kilo lima "
             "mike november oscar papa quebec romeo sierra tango").split()
    shadow = " ".join(words)
    session, document = typing_session(shadow, shadow.replace("kilo", "typed kilo"))
    changed = " ".join(f"[note {i}] {word}" for i, word in enumerate(words))
    delta = Differ(1.0).delta(shadow, changed)
    session.apply_response(f"F:1:doc\nd:0:{delta}\n".encode())
    assert document.shadow == changed
    assert document.text == changed.replace("kilo", "typed kilo")
