"""Random concurrent editing converges: every client ends with the server's text."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mobwrite.client.session import ClientSession
from mobwrite.core.engine import Engine
from mobwrite.core.store import Store
from mobwrite.settings import Settings

ALPHABET = st.sampled_from(list("ab \n") + ["é", "😀", "𝄞", "中", "\U0001F469\u200D\U0001F4BB"])


@st.composite
def edits(draw: st.DrawFn) -> tuple[int, int, int, str]:
    """(client, position, length to delete, text to insert), positions as fractions."""
    return (
        draw(st.integers(0, 2)),
        draw(st.integers(0, 1000)),
        draw(st.integers(0, 4)),
        "".join(draw(st.lists(ALPHABET, max_size=4))),
    )


STEP = st.one_of(
    st.tuples(st.just("edit"), edits()),
    st.tuples(st.just("sync"), st.integers(0, 2), st.sampled_from(["ok", "drop", "twice"])),
)


def apply_edit(text: str, position: int, length: int, insertion: str) -> str:
    at = position % (len(text) + 1)
    return text[:at] + insertion + text[at + length:]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(STEP, max_size=40), st.lists(ALPHABET, max_size=8).map("".join))
def test_clients_converge(steps: list[tuple], initial: str) -> None:
    """Edits, lost replies and repeated replies still end with equal texts."""
    engine = Engine(Store(), Settings.defaults())
    clients = [ClientSession(f"user{i}") for i in range(3)]
    for index, client in enumerate(clients):
        client.share("doc", initial if index == 0 else "")
    now = 0.0
    for step in steps:
        now += 1
        if step[0] == "edit":
            who, position, length, insertion = step[1]
            document = clients[who].documents["doc"]
            document.text = apply_edit(document.text, position, length, insertion)
            continue
        _, who, fate = step
        response = engine.handle(clients[who].build_request(), now).body
        if fate != "drop":
            clients[who].apply_response(response)
        if fate == "twice":
            clients[who].apply_response(response)
    for _ in range(4):
        for client in clients:
            now += 1
            client.apply_response(engine.handle(client.build_request(), now).body)
    master = engine.store.documents["doc"].text
    assert master is not None
    assert [c.documents["doc"].text for c in clients] == [master] * 3
