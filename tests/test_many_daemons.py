"""Three daemons on one PostgreSQL database, every request to a random one of them."""

from __future__ import annotations

import random
import re
import threading
from collections.abc import Iterator

import pytest
from http_client import fetch_path

from benchmarks.daemon import Daemon, tcp_exchange
from benchmarks.postgres import PostgresServer
from mobwrite.client.blocking import BlockingClient
from mobwrite.client.session import ClientSession

PIECES = ["a", "b", " ", "\n", "é", "😀", "𝄞", "\U0001F469\u200D\U0001F4BB"]
DOCUMENTS = ("one", "two")


@pytest.fixture(scope="module")
def daemons(postgres_server: PostgresServer,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Daemon]]:
    """Three daemons sharing one new database, for every test here (each test edits its
    own documents; the last one kills a daemon)."""
    url = postgres_server.new_database()
    tmp_path = tmp_path_factory.mktemp("many")
    started = []
    for index in range(3):
        workdir = tmp_path / f"daemon{index}"
        workdir.mkdir()
        started.append(Daemon(workdir, "--database", url))
        started[-1].launch()
    for running in started:
        running.listening()
    yield started
    for running in started:
        assert running.process is not None
        if running.process.poll() is None:
            running.process.terminate()
    for running in started:
        running.stop()


class Editor:
    """One user typing into both documents and syncing with a random live daemon."""

    def __init__(self, number: int, daemons: list[Daemon], seed: int) -> None:
        self.number = number
        self.daemons = daemons
        self.random = random.Random(seed)
        # The seed tells the tests' documents apart on the shared daemons.
        self.session = ClientSession(f"editor{number}", prefix=f"s{seed // 10}_")
        for name in DOCUMENTS:
            self.session.share(name)
        self.typed = 0
        # Tokens typed before a request that was answered: the server has them.
        self.acknowledged: set[str] = set()
        self.replies = self.failures = 0
        # Each exchange (daemon index, request, reply), to explain a failure.
        self.exchanges: list[tuple[int, bytes, bytes]] = []

    def type(self) -> None:
        """Insert a random piece somewhere in document two, and append a unique token to
        document one (where nothing else is typed, so that tokens stay whole)."""
        document = self.session.documents["two"]
        at = self.random.randint(0, len(document.text))
        document.text = document.text[:at] + self.random.choice(PIECES) + document.text[at:]
        self.typed += 1
        one = self.session.documents["one"]
        one.text += f"<{self.number}.{self.typed}>"

    def sync(self, daemons: list[Daemon] | None = None) -> bool:
        """One request to a random daemon (of *daemons*); whether it was answered."""
        daemon = self.random.choice(daemons or self.daemons)
        text = self.session.documents["one"].text
        request = self.session.build_request()
        try:
            reply = tcp_exchange(daemon.ports["tcp"], request, timeout=15.0)
        except OSError:
            reply = b""
        self.exchanges.append((self.daemons.index(daemon), request, reply))
        if not reply:
            self.failures += 1
            return False
        self.session.apply_response(reply)
        self.replies += 1
        self.acknowledged |= tokens(text)
        return True

    def work(self, rounds: int) -> None:
        # A client's first sync sends its whole text (raw), replacing the server's: join
        # with nothing typed yet, as a page does when it opens.
        if not self.replies:
            while not self.sync():
                pass
        for _ in range(rounds):
            self.type()
            self.sync()


def tokens(text: str) -> set[str]:
    return set(re.findall(r"<\d+\.\d+>", text))


def explain_lost(editors: list[Editor], daemons: list[Daemon], lost: set[str]) -> str:
    """The exchanges that carried the lost tokens and the daemons' last log lines."""
    found = [f"lost {sorted(lost)}"]
    for editor in editors:
        for index, (daemon, request, reply) in enumerate(editor.exchanges):
            # A request carries a token percent-escaped.
            if any(token.replace("<", "%3C").replace(">", "%3E") in request.decode()
                   for token in lost):
                found.append(f"editor {editor.number} exchange {index} with daemon {daemon}: "
                             f"{request!r} -> {reply!r}")
    for index, daemon in enumerate(daemons):
        found.append(f"daemon {index} log tail:\n" + "".join(daemon.lines[-40:]))
    return "\n".join(found)


def run_editors(editors: list[Editor], rounds: int) -> None:
    threads = [threading.Thread(target=editor.work, args=(rounds,)) for editor in editors]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def settle(editors: list[Editor], daemons: list[Daemon]) -> dict[str, str]:
    """Sync everyone in turn until every editor holds the same texts; those texts."""
    for _ in range(6):
        for editor in editors:
            assert editor.sync(daemons)
        texts = {name: {editor.session.documents[name].text for editor in editors}
                 for name in DOCUMENTS}
        if all(len(found) == 1 for found in texts.values()):
            return {name: found.pop() for name, found in texts.items()}
    raise AssertionError(f"editors did not converge: {texts}")


def server_text(daemon: Daemon, name: str, prefix: str) -> str:
    reader = ClientSession("reader", prefix=prefix)
    reader.share(name)
    reply = daemon.exchange(reader.build_request())
    reader.apply_response(reply)
    return reader.documents[name].text


def test_random_editors_on_random_daemons_converge(daemons: list[Daemon]) -> None:
    """Six editors typing emoji into two documents, each request to any of three daemons,
    all end with the same texts, which every daemon serves, and nobody's typing is lost."""
    editors = [Editor(number, daemons, seed=number) for number in range(6)]
    run_editors(editors, rounds=15)
    assert all(editor.failures == 0 for editor in editors)
    texts = settle(editors, daemons)
    for daemon in daemons:
        assert {name: server_text(daemon, name, "s0_") for name in DOCUMENTS} == texts
    typed = {f"<{editor.number}.{n}>" for editor in editors for n in range(1, editor.typed + 1)}
    assert tokens(texts["one"]) == typed


def test_requests_fail_cleanly_while_postgresql_restarts(
        daemons: list[Daemon], postgres_server: PostgresServer) -> None:
    """While PostgreSQL is down a request gets no acknowledgement (the connection closes
    empty) and no daemon dies; each daemon says so in one WARNING line, without a
    traceback, counts the refusals in /metrics, and says when it answers again; once it
    is back, requests succeed and nothing acknowledged is lost."""
    editors = [Editor(number, daemons, seed=20 + number) for number in range(3)]
    run_editors(editors, rounds=5)
    logged = [len(daemon.lines) for daemon in daemons]
    postgres_server.pg_ctl("stop")
    answered: list[bool] = []
    try:
        for editor in editors:
            editor.type()
        # Each daemon gets two requests while the database is down.
        threads = [threading.Thread(target=lambda e=editor: answered.extend(
            e.sync([daemons[e.number]]) for _ in range(2))) for editor in editors]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        postgres_server.pg_ctl("start")
    assert answered == [False] * 2 * len(editors)
    assert all(daemon.process is not None and daemon.process.poll() is None
               for daemon in daemons)
    for editor in editors:
        assert editor.sync([daemons[editor.number]])
    for daemon, start in zip(daemons, logged, strict=True):
        daemon.wait_for_log("answers again")
        lines = daemon.lines[start:]
        assert len([line for line in lines if "cannot be reached" in line]) == 1, lines
        assert not [line for line in lines if "Traceback" in line], lines
        assert unavailable(daemon) >= 2
    run_editors(editors, rounds=5)
    texts = settle(editors, daemons)
    acknowledged = set().union(*(editor.acknowledged for editor in editors))
    assert acknowledged <= tokens(texts["one"])
    typed = {f"<{editor.number}.{n}>" for editor in editors for n in range(1, editor.typed + 1)}
    assert tokens(texts["one"]) == typed


def unavailable(daemon: Daemon) -> float:
    """Requests the daemon refused because its database could not be reached."""
    body = fetch_path(daemon.ports["gateway"], "/metrics").body.decode()
    found = re.search(r'^mobwrite_requests_total\{outcome="unavailable",transport="tcp"\} (\S+)$',
                      body, re.MULTILINE)
    return float(found[1]) if found else 0.0


def test_a_socket_asking_for_deltas_gets_notices_in_shared_mode(daemons: list[Daemon]) -> None:
    """Views live in the database: nothing is pushed, the socket is told to sync."""
    name = "shared-deltas"
    with BlockingClient(f"ws://127.0.0.1:{daemons[-1].ports['gateway']}/ws") as live:
        session = ClientSession()
        document = session.share(name, "one")
        live.take_pushes(session)
        live.sync(session)
        tcp_exchange(daemons[-2].ports["tcp"], f"u:other\nF:0:{name}\nR:1:two\n\n".encode())
        assert live.wait_for_change(15.0) == {name}
        assert document.text == "one"
        live.sync(session)
        assert document.text == "two"


def test_killing_a_daemon_loses_no_acknowledged_edit(daemons: list[Daemon]) -> None:
    """kill -9 of one daemon while editors are busy: every edit some daemon acknowledged is in
    the final text, so is every other edit (typing the dead daemon never answered for is
    sent again), and the other two daemons carried on."""
    editors = [Editor(number, daemons, seed=10 + number) for number in range(6)]
    run_editors(editors, rounds=5)
    threads = [threading.Thread(target=editor.work, args=(20,)) for editor in editors]
    for thread in threads:
        thread.start()
    daemons[0].stop(9)
    for thread in threads:
        thread.join()
    survivors = daemons[1:]
    texts = settle(editors, survivors)
    acknowledged = set().union(*(editor.acknowledged for editor in editors))
    lost = acknowledged - tokens(texts["one"])
    assert len(acknowledged) >= 6 * 5 and not lost, explain_lost(editors, daemons, lost)
    typed = {f"<{editor.number}.{n}>" for editor in editors for n in range(1, editor.typed + 1)}
    assert tokens(texts["one"]) == typed, explain_lost(editors, daemons,
                                                       typed - tokens(texts["one"]))
    assert server_text(survivors[0], "one", "s1_") == texts["one"]

