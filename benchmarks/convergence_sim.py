"""Many clients syncing one document with one server, in memory: is any typing lost?

Run as ``python -m benchmarks.convergence_sim --seeds 2000``.  Each seed
drives the sans-IO server (``Engine`` on an in-memory ``Store``) and
``ClientSession``s with no reactor.  The document starts with ``--opening``
tokens; every client types unique tokens (``<fox 3.17> ``: a word, who typed
it, how many it had typed) at token boundaries of its own text and now and
then deletes a run of whole tokens.  Clients sync in random order, at most
one request each in flight; a request or its answer may be lost, and a
client that waited long enough sends again (its old request may still be
on its way, and with ``--stale`` the server may take the new one first).
After quiescence (everything in flight delivered, then clean rounds of
syncs) every client must hold the server's text, of whole tokens only, each
at most once, with every token typed unless a client deleted it.

Each step is checked as it happens.  A token that leaves the server's text
is judged at that request: deleted by the requesting client itself (fine),
a *conflict* if it lay inside a run of tokens that client deleted (it
arrived there after the client last saw that stretch, and fuzzy patching
may take it along: allowed, counted), and *taken* (a loss) otherwise.  A
change the server found no place for is *dropped* (docs/protocol.md §8.4:
counted by the server; the tokens it brought are then not checked again).
A client whose text, merging an answer, drops a token its shadow holds, or
its own typing the server never took out, lost it (*client*).  KINDS lists
every kind of problem.  With ``--shrink KIND`` the first seed showing KIND
is cut down to a smallest list of events that still shows it, printed as
Python for a regression test.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from mobwrite.client.session import ClientSession
from mobwrite.core.engine import Engine
from mobwrite.core.events import Event as Event_
from mobwrite.core.store import Store
from mobwrite.settings import Settings

TOKEN = re.compile(r"<[a-z]+ \d+\.\d+> ")
NAME = "doc"
LETTERS = "abcdefghijklmnopqrstuvwxyz"
# What a problem can be: a change the server found no place for ("dropped"),
# a token a request took out of the master though its client never deleted
# it ("taken"), broken or repeated tokens, a token a client's own text lost
# merging an answer ("client"), a client that does not hold the master at
# the end ("diverged"), typing that never reached the master ("missing").
KINDS = ("dropped", "taken", "broken", "repeated", "client", "diverged", "missing")
# An event: (what, client, argument), played by the Simulation method named
# after *what*: type (fraction of the way, token), delete (fraction, count),
# send (lost), serve (in order, answer lost), answer, timeout.
Event = tuple[str, int, Any]


def tokens(text: str) -> list[str]:
    """The whole tokens of *text*, in order."""
    return TOKEN.findall(text)


def fragments(text: str) -> str:
    """What of *text* is not whole tokens (broken ones)."""
    return TOKEN.sub("", text)


def _repeats(text: str) -> int:
    """How many tokens of *text* repeat one before them."""
    found = tokens(text)
    return len(found) - len(set(found))


def boundary(text: str, fraction: float) -> int:
    """The offset of the token boundary *fraction* of the way through *text*
    (a broken token counts as text between tokens)."""
    ends = [0] + [match.end() for match in TOKEN.finditer(text)]
    return ends[min(int(fraction * len(ends)), len(ends) - 1)]


def opening_text(clients: int, count: int) -> str:
    """The text the document starts with: *count* tokens of a client that never
    types (number *clients*), the same for every seed."""
    rng = random.Random(0)
    return "".join(f"<{_word(rng)} {clients}.{n}> " for n in range(1, count + 1))


def _word(rng: random.Random) -> str:
    return "".join(rng.choices(LETTERS, k=rng.randint(3, 8)))


def events(seed: int, clients: int = 4, steps: int = 400, lost: float = 0.1,
           deletes: float = 0.1, stale: float = 0.0) -> list[Event]:
    """A random list of events for *clients* clients."""
    rng = random.Random(seed)
    counts = [0] * clients
    found: list[Event] = []
    for _ in range(steps):
        who = rng.randrange(clients)
        roll = rng.random()
        if roll < 0.3:
            if rng.random() < deletes:
                found.append(("delete", who, (rng.random(), rng.randint(1, 3))))
            else:
                counts[who] += 1
                token = f"<{_word(rng)} {who}.{counts[who]}> "
                found.append(("type", who, (rng.random(), token)))
        elif roll < 0.5:
            found.append(("send", who, rng.random() < lost))
        elif roll < 0.75:
            found.append(("serve", who, (rng.random() >= stale, rng.random() < lost)))
        elif roll < 0.95:
            found.append(("answer", who, None))
        else:
            found.append(("timeout", who, None))
    return found


@dataclass
class Client:
    """One simulated client: its session, what it deleted, what it has in flight."""

    session: ClientSession
    # Each run of tokens it deleted, as it saw them.
    runs: list[list[str]] = field(default_factory=list)
    deleted: set[str] = field(default_factory=set)
    typed: set[str] = field(default_factory=set)
    # Requests sent and not yet served (a lost one never is), oldest first:
    # (number, body, the tokens of the text it brings).  Only the newest is
    # still waited for.
    outbox: list[tuple[int, bytes, set[str]]] = field(default_factory=list)
    waiting: int | None = None
    answer: bytes | None = None
    sent: int = 0

    @property
    def text(self) -> str:
        return self.session.documents[NAME].text


@dataclass
class Verdict:
    """What one run found: problems (losses and worse) and conflicts (allowed)."""

    problems: list[tuple[str, str]] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.problems)

    def add(self, kind: str, note: str) -> None:
        """A problem of *kind* (one of KINDS)."""
        self.problems.append((kind, note))


class Simulation:
    """Replays a list of events against one engine and checks every step."""

    def __init__(self, clients: int, opening: int = 0) -> None:
        self.opening = opening_text(clients, opening)
        self.engine = Engine(Store(), Settings.defaults(), self._report)
        self.dropped = 0
        # The tokens typed in changes that found no place.
        self.lost_patches: set[str] = set()
        self.clients = [Client(ClientSession(f"c{i}")) for i in range(clients)]
        self.now = 0.0
        self.verdict = Verdict()
        self.removed: dict[str, str] = {}
        self.step = 0

    def _report(self, event: Event_, **fields: Any) -> None:
        """Counts the changes the engine found no place for."""
        if event is Event_.PATCH_FAILED:
            self.dropped += 1

    @property
    def master(self) -> str:
        document = self.engine.store.documents.get(NAME)
        return (document.text or "") if document is not None else ""

    def run(self, found: list[Event]) -> Verdict:
        """Play *found*, then bring everyone to rest, and check the end.

        Each client joins before anything is typed: a first sync sends the
        whole text as ``r``, which the server's text, once it has one, wins over.
        """
        for index, client in enumerate(self.clients):
            client.session.share(NAME, "" if index else self.opening)
            self._send(client, False)
            self._serve(client, (True, False))
            self._answer(client, None)
        for self.step, (kind, who, argument) in enumerate(found):
            getattr(self, "_" + kind)(self.clients[who], argument)
        self.step = len(found)
        self._quiesce()
        self._check_end()
        return self.verdict

    def _type(self, client: Client, argument: Any) -> None:
        fraction, token = argument
        text = client.text
        at = boundary(text, fraction)
        client.session.documents[NAME].text = text[:at] + token + text[at:]
        client.typed.add(token)

    def _delete(self, client: Client, argument: Any) -> None:
        fraction, count = argument
        text = client.text
        matches = list(TOKEN.finditer(text))
        if not matches:
            return
        first = min(int(fraction * len(matches)), len(matches) - 1)
        run = matches[first:first + count]
        client.session.documents[NAME].text = text[:run[0].start()] + text[run[-1].end():]
        client.runs.append([match.group() for match in run])
        client.deleted.update(client.runs[-1])

    def _send(self, client: Client, lost: Any) -> None:
        if client.waiting is not None:
            return
        client.sent += 1
        client.waiting = client.sent
        client.answer = None
        body = client.session.build_request()
        if not lost:
            client.outbox.append((client.sent, body, set(tokens(client.text))))

    def _serve(self, client: Client, argument: Any) -> None:
        in_order, answer_lost = argument
        if not client.outbox:
            return
        number, body, sent = client.outbox.pop(0 if in_order else -1)
        before = self.master
        self.now += 1
        dropped = self.dropped
        answer = self.engine.handle(body, self.now).body
        if self.dropped > dropped:
            lost = sorted(sent - set(tokens(self.master)) - set(self.removed))
            self.lost_patches.update(lost)
            self.verdict.add("dropped", f"step {self.step}: {client.session.user}'s change "
                             f"found no place in the master; lost {' '.join(lost)}")
        self._judge_server(client, before, self.master)
        if number == client.waiting and not answer_lost:
            client.answer = answer

    def _answer(self, client: Client, argument: Any) -> None:
        if client.answer is None:
            return
        answer, client.answer, client.waiting = client.answer, None, None
        before = set(tokens(client.text))
        client.session.apply_response(answer)
        self._judge_client(client, before)

    def _timeout(self, client: Client, argument: Any) -> None:
        if client.waiting is not None and client.answer is None:
            client.waiting = None

    def _quiesce(self) -> None:
        for client in self.clients:
            while client.outbox:
                self._serve(client, (True, False))
            self._answer(client, None)
            client.waiting = None
        for _ in range(8):
            for client in self.clients:
                self._send(client, False)
                self._serve(client, (True, False))
                self._answer(client, None)
            if all(client.text == self.master for client in self.clients):
                break

    def _judge_server(self, client: Client, before: str, after: str) -> None:
        """Each token the request took out of the master: deleted, conflict or loss."""
        order = tokens(before)
        gone = set(order) - set(tokens(after))
        name = client.session.user
        for token in sorted(gone):
            self.removed[token] = name
            if token in client.deleted:
                continue
            where = order.index(token)
            inside = any(
                min(spots) < where < max(spots)
                for run in client.runs
                if len(spots := [order.index(t) for t in run if t in order]) >= 2)
            note = f"step {self.step}: {name}'s request took {token} out of the master"
            if inside:
                self.verdict.conflicts.append(note + " (inside a run it deleted)")
            else:
                self.verdict.add("taken", note)
        broken = fragments(after)
        if broken and broken != fragments(before):
            self.verdict.add("broken", f"step {self.step}: {name}'s request left broken text "
                             f"{broken!r} in the master")
        if _repeats(after) > _repeats(before):
            self.verdict.add("repeated", f"step {self.step}: {name}'s request repeated a "
                             "token in the master")

    def _judge_client(self, client: Client, before: set[str]) -> None:
        """A token gone from the client's text that its shadow holds, or its own
        unsent typing the server never took out: lost on the client."""
        document = client.session.documents[NAME]
        now = set(tokens(document.text))
        shadow = set(tokens(document.shadow))
        for token in sorted(before - now):
            if token in self.lost_patches:
                continue
            if token in shadow or (token in client.typed and token not in self.removed):
                self.verdict.add("client", f"step {self.step}: {client.session.user}'s text "
                                 f"lost {token} merging the answer")

    def _check_end(self) -> None:
        master = self.master
        for client in self.clients:
            if client.text != master:
                self.verdict.add("diverged", f"{client.session.user} did not converge")
        if fragments(master):
            self.verdict.add("broken", f"broken text at the end: {fragments(master)!r}")
        present = tokens(master)
        if len(present) != len(set(present)):
            self.verdict.add("repeated", "a token is there twice at the end")
        deleted = set().union(*(client.deleted for client in self.clients))
        for token in sorted(set(tokens(self.opening)) - set(present) - deleted):
            if token not in self.removed:
                self.verdict.add("missing", f"{token} of the opening text is gone")
        for client in self.clients:
            for token in sorted(client.typed - set(present) - deleted - self.lost_patches):
                if token not in self.removed:
                    self.verdict.add("missing", f"{token} never reached the master")


def simulate(found: list[Event], clients: int, opening: int = 0) -> Verdict:
    """The verdict on one list of events, for *clients* clients who start from
    *opening* tokens."""
    return Simulation(clients, opening).run(found)


def shrink(found: list[Event], clients: int, opening: int, kind: str) -> list[Event]:
    """A smallest sub-list of *found* that still shows a problem of *kind*
    (removing chunks, then single events)."""

    def fails(candidate: list[Event]) -> bool:
        return any(k == kind for k, _ in simulate(candidate, clients, opening).problems)

    size = len(found) // 2
    while size >= 1:
        start = 0
        while start < len(found):
            candidate = found[:start] + found[start + size:]
            if fails(candidate):
                found = candidate
            else:
                start += size
        size //= 2
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=500)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--opening", type=int, default=30,
                        help="how many tokens the document starts with")
    parser.add_argument("--lost", type=float, default=0.1,
                        help="the chance that a request, or an answer, is lost")
    parser.add_argument("--deletes", type=float, default=0.1,
                        help="the share of edits that delete a run of tokens")
    parser.add_argument("--stale", type=float, default=0.0,
                        help="the chance that the server takes a client's newest request "
                        "before an older one still on its way")
    parser.add_argument("--shrink", metavar="KIND", choices=KINDS,
                        help="shrink the first seed with a problem of KIND and print its events")
    parser.add_argument("--verbose", action="store_true", help="print each failing seed")
    args = parser.parse_args(argv)
    seeds = range(args.first, args.first + args.seeds)
    first: Counter[str] = Counter()
    every: Counter[str] = Counter()
    conflicts = 0
    for seed in seeds:
        found = events(seed, args.clients, args.steps, args.lost, args.deletes, args.stale)
        verdict = simulate(found, args.clients, args.opening)
        conflicts += len(verdict.conflicts)
        if not verdict.failed:
            continue
        first[verdict.problems[0][0]] += 1
        every.update(kind for kind, _ in verdict.problems)
        if args.verbose:
            print(f"seed {seed}:", *verdict.problems[:3], sep="\n  ")
        if args.shrink and any(kind == args.shrink for kind, _ in verdict.problems):
            small = shrink(found, args.clients, args.opening, args.shrink)
            print(f"seed {seed} shrunk to {len(small)} events:")
            print("[" + ",\n ".join(repr(event) for event in small) + "]")
            print(*simulate(small, args.clients, args.opening).problems, sep="\n")
            return 1
    print(f"{sum(first.values())} of {len(seeds)} seeds failed; first problems "
          f"{dict(first.most_common())}; all problems {dict(every.most_common())}; "
          f"{conflicts} conflicts (allowed)")
    return 1 if first else 0


if __name__ == "__main__":
    sys.exit(main())
