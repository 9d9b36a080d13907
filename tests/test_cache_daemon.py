"""The cache on the real daemon: idle documents leave memory and come back
with deltas, and kill -9 while they leave loses nothing (docs/operating.md,
"Memory and disk")."""

from __future__ import annotations

import signal
from pathlib import Path

from test_recovery import read_document, same_ports, sync

from benchmarks.daemon import Daemon
from mobwrite.client.blocking import BlockingClient
from mobwrite.client.session import ClientSession

IDLE = ("--cache-idle", "1 second")


def deltas_only(response: bytes | None) -> bool:
    return response is not None and b"\nR:" not in response and b"\nr:" not in response


def test_idle_documents_leave_memory_and_clients_resume_with_deltas(tmp_path: Path) -> None:
    """A document idle for CACHE_IDLE leaves memory with its views; every
    client's next sync loads it and is answered with a delta, emoji included."""
    daemon = Daemon(tmp_path, *IDLE).start()
    try:
        port = daemon.ports["tcp"]
        sessions = [ClientSession(user) for user in ("ann", "bob", "cy")]
        texts = [session.share("shared", "🎉 start\n") for session in sessions]
        for session in sessions * 2:
            assert sync(port, session) is not None
        daemon.wait_for_log(r"\b[1-9]\d* idle documents .* left memory", timeout=15)
        texts[0].text += "ann 👩‍💻\n"
        texts[1].text = "bob 🐝\n" + texts[1].text
        texts[2].text += "cy ✔\n"
        for session in sessions * 2:
            assert deltas_only(sync(port, session))
        assert len({text.text for text in texts}) == 1
        assert sorted(texts[0].text.splitlines()) == sorted(
            ["bob 🐝", "🎉 start", "ann 👩‍💻", "cy ✔"])
        assert read_document(port, "shared") == texts[0].text
    finally:
        daemon.stop()


def test_kill_9_while_documents_leave_memory_loses_nothing(tmp_path: Path) -> None:
    """Killed while documents are leaving memory, the daemon restarts with
    every acknowledged edit, and each client carries on with deltas."""
    first = Daemon(tmp_path, *IDLE).start()
    second: Daemon | None = None
    try:
        port = first.ports["tcp"]
        writers = [ClientSession(f"w{number}") for number in range(40)]
        for number, writer in enumerate(writers):
            writer.share(f"doc{number}", f"doc {number} 😀\n")
            assert sync(port, writer) is not None
        first.wait_for_log(r"\b[1-9]\d* idle documents .* left memory", timeout=15)
        # Each round edits every document, then waits until some leave memory
        # again, so that the kill falls among evictions.
        for round_ in range(3):
            for number, writer in enumerate(writers):
                writer.documents[f"doc{number}"].text += f"round {round_} ✍\n"
                assert deltas_only(sync(port, writer))
                assert not writer.documents[f"doc{number}"].edit_stack
            first.wait_for_log(r"\b[1-9]\d* idle documents .* left memory", timeout=15,
                               after=len(first.lines))
        first.stop(signal.SIGKILL)
        second = Daemon(tmp_path, *IDLE, *same_ports(first)).start()
        for number, writer in enumerate(writers):
            expected = f"doc {number} 😀\n" + "".join(
                f"round {round_} ✍\n" for round_ in range(3))
            assert writer.documents[f"doc{number}"].text == expected
            writer.documents[f"doc{number}"].text += "after ✔\n"
            assert deltas_only(sync(port, writer))
            assert read_document(port, f"doc{number}") == expected + "after ✔\n"
    finally:
        if first.process is not None and first.process.poll() is None:
            first.stop(signal.SIGKILL)
        if second is not None:
            second.stop()


def test_a_socket_following_an_evicted_document_still_hears_of_changes(
        tmp_path: Path) -> None:
    """A WebSocket follows a document by name: after the document left memory
    and was loaded again by another client's edit, the follower is told, and
    its sync is a delta."""
    daemon = Daemon(tmp_path, *IDLE).start()
    try:
        watcher = BlockingClient(f"ws://127.0.0.1:{daemon.ports['gateway']}/ws")
        try:
            session = ClientSession("watcher")
            document = session.share("followed", "before 🎈")
            watcher.sync(session)
            watcher.sync(session)
            daemon.wait_for_log(r"\b[1-9]\d* idle documents .* left memory", timeout=15,
                                after=len(daemon.lines))
            editor = ClientSession("editor")
            edited = editor.share("followed")
            assert sync(daemon.ports["tcp"], editor) is not None
            edited.text += " after ✔"
            assert deltas_only(sync(daemon.ports["tcp"], editor))
            assert watcher.wait_for_change(10.0) == {"followed"}
            watcher.sync(session)
            assert document.text == "before 🎈 after ✔"
        finally:
            watcher.close()
    finally:
        daemon.stop()
