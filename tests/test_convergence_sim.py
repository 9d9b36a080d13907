"""Simulated clients typing on one server keep every acknowledged token
(benchmarks/convergence_sim.py; ``python -m benchmarks.convergence_sim`` runs
many more seeds)."""

from __future__ import annotations

import pytest

from benchmarks.convergence_sim import Simulation, events, simulate
from mobwrite.client.session import ClientSession
from mobwrite.core.engine import Engine
from mobwrite.core.store import Store
from mobwrite.settings import Settings

CLIENTS = 3
OPENING = 30


def unexplained(seed: int, deletes: float) -> list[tuple[str, str]]:
    """The problems of one seed but changes the server counted as finding no
    place (docs/protocol.md §8.4), whose tokens the check then leaves out."""
    found = events(seed, CLIENTS, steps=150, lost=0.1, deletes=deletes)
    return [problem for problem in simulate(found, CLIENTS, OPENING).problems
            if problem[0] != "dropped"]


@pytest.mark.parametrize("seed", range(60))
def test_typing_clients_with_lost_messages_keep_every_token(seed: int) -> None:
    """Three clients type at random places, lose requests and answers and retry;
    in the end they hold the server's text, with every token typed, once and whole.
    (Before the two merge fixes, 6 of these 60 seeds lost or broke a token.)"""
    assert unexplained(seed, deletes=0) == []


def test_a_token_typed_inside_a_run_another_deleted_is_a_conflict_not_a_loss() -> None:
    """The check tells a genuine conflict from a loss: c0 types between two tokens
    that c1, not having seen it, deletes; the token may go with them."""
    found = [("type", 0, (11.5 / 31, "<zulu 0.1> ")), ("send", 0, False),
             ("serve", 0, (True, False)), ("answer", 0, None),
             ("delete", 1, (10.5 / 30, 2))]
    simulation = Simulation(CLIENTS, OPENING)
    verdict = simulation.run(found)
    assert verdict.problems == []
    assert [note for note in verdict.conflicts if "<zulu 0.1> " in note]


# The run that lost a token, shrunk: c1 types on both sides of two tokens and
# between them; c0 had typed between the same two.
SHRUNK = [("type", 0, (0.16908361566044372, "<wgfarzqu 0.1> ")),
          ("type", 0, (0.13669739298646666, "<jnozlkn 0.2> ")),
          ("send", 1, False),
          ("type", 1, (0.7151508982374535, "<rghmnu 1.1> ")),
          ("type", 1, (0.1571182886867749, "<napu 1.2> ")),
          ("type", 1, (0.4197555456557469, "<syr 1.3> ")),
          ("type", 1, (0.09587194363318319, "<gxsagsbc 1.4> ")),
          ("type", 1, (0.8406116871188408, "<vvbqmxpa 1.5> ")),
          ("type", 1, (0.14146648942472095, "<gnmyu 1.6> "))]


def test_the_shrunk_run_keeps_the_token_typed_between() -> None:
    """Its delta deleted the stretch holding c0's token and typed it again."""
    assert simulate(SHRUNK, CLIENTS, OPENING).problems == []


def sync(engine: Engine, session: ClientSession, now: float) -> bytes:
    request = session.build_request()
    session.apply_response(engine.handle(request, now).body)
    return request


def test_typing_around_words_keeps_a_word_another_typed_between_them() -> None:
    """Bob types a word before, between and after two words; diff clean-up sends
    that as deleting the two and typing them again.  Alice's word, typed between
    the two meanwhile, must survive his delta, and his words stay whole."""
    engine = Engine(Store(), Settings.defaults())
    alice, bob = ClientSession("alice"), ClientSession("bob")
    alice.share("doc", "Words in order: alpha, bravo, charlie, delta, echo.")
    bob.share("doc")
    sync(engine, alice, 1)
    sync(engine, bob, 2)
    alice.documents["doc"].text = alice.documents["doc"].text.replace("bravo, ", "bravo, zulu, ")
    sync(engine, alice, 3)
    mine = bob.documents["doc"]
    mine.text = mine.text.replace("bravo, charlie, ",
                                  "seventeen, bravo, nineteen, charlie, twentyone, ")
    assert b"\t-" in sync(engine, bob, 4)  # the delta deletes and retypes
    sync(engine, alice, 5)
    assert engine.store.documents["doc"].text == (
        "Words in order: alpha, seventeen, bravo, zulu, nineteen, charlie, twentyone, "
        "delta, echo.")
    assert alice.documents["doc"].text == mine.text == engine.store.documents["doc"].text
