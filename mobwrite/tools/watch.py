"""``mobwrite watch``: follow a document and show each new version of it.

The watcher is an ordinary client that never edits: it polls with the
adaptive interval of the browser client (docs/protocol.md §11.7), shrinking
while the document changes and growing while it is quiet.  When the server
cannot be reached (a restart, a network outage) it says so once on stderr
and keeps polling at the longest interval until the server is back.

On a ``ws://`` URL it does not poll: it asks for pushed deltas, so each
version arrives by itself as soon as it is committed, and syncs only on a
notice (a change that could not be pushed) and at the longest interval, in
case something was lost with a dropped socket.
With presence on, it also says who arrives, renames and leaves.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

from mobwrite.client import operations
from mobwrite.client.blocking import BlockingClient
from mobwrite.client.errors import Unreachable
from mobwrite.client.session import ClientSession
from mobwrite.tools.files import write_atomically


def next_interval(interval: float, shortest: float, longest: float, changed: bool) -> float:
    """The poll interval after a sync: 20 % of the range shorter on change, else 10 % longer."""
    span = longest - shortest
    interval += -0.2 * span if changed else 0.1 * span
    return min(max(interval, shortest), longest)


def show(output: Path | None) -> Callable[[str], None]:
    """Where versions go: a file replaced atomically, or stdout (ending each with LF)."""
    if output is not None:
        return lambda text: write_atomically(output, text)

    def to_stdout(text: str) -> None:
        sys.stdout.buffer.write(text.encode("utf-8"))
        if not text.endswith("\n"):
            sys.stdout.buffer.write(b"\n")
        sys.stdout.buffer.flush()

    return to_stdout


def tell(line: str) -> None:
    """One line on stderr about who is present."""
    print(line, file=sys.stderr, flush=True)


def complain(message: str) -> None:
    """One line on stderr about the connection."""
    print(f"mobwrite watch: {message}", file=sys.stderr, flush=True)


def presence_lines(changes: list[tuple[str, str, dict[str, object] | None]],
                   known: dict[str, str]) -> list[str]:
    """What to say of presence *changes*, given the names *known* by id (updated)."""
    lines = []
    for _, ident, entry in changes:
        before = known.get(ident)
        if entry is None:
            if before is not None:
                lines.append(f"- {known.pop(ident)} left")
            continue
        name = str(entry["name"])
        if before is None:
            lines.append(f"+ {name} arrived")
        elif before != name:
            lines.append(f"~ {before} is now {name}")
        known[ident] = name
    return lines


def watch(client: BlockingClient, name: str, emit: Callable[[str], None],
          count: int | None, duration: float | None,
          shortest: float, longest: float,
          say: Callable[[str], None] | None = None) -> int:
    """Follow *name* until *count* versions or *duration* seconds; return versions shown.
    With *say* (``ws://`` only), tell it each arrival, rename and departure."""
    known: dict[str, str] = {}
    deadline = None if duration is None else time.monotonic() + duration
    session = ClientSession()
    document = session.share(name, client.download(name))
    emit(document.text)
    pushed = client.server.is_socket
    if pushed:
        # Changes come as deltas, applied while waiting: no sync for them.
        client.take_pushes(session)
    shown = 1
    interval = shortest
    lost = False
    # Whether the socket follows the document, so that its notices say when to sync.
    following = False
    while count is None or shown < count:
        wait = longest if following else interval
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            wait = min(wait, remaining)
        before = document.text
        try:
            owed: set[str] = set()
            if following:
                owed = client.wait_for_change(wait, presence=say is not None)
                if say is not None and client.connection is not None:
                    changes = client.connection.presence_changes
                    client.connection.presence_changes = []
                    for line in presence_lines(changes, known):
                        say(line)
            elif lost or not pushed:
                time.sleep(wait)
            if owed or not following or document.text == before:
                client.run(operations.sync(session))
        except Unreachable as error:
            if not lost:
                complain(f"{error}; retrying every {longest:g} s")
            lost = True
            following = False
            interval = longest
            continue
        if lost:
            complain("the server answers again")
            lost = False
        following = pushed
        changed = document.text != before
        if changed:
            emit(document.text)
            shown += 1
        interval = next_interval(interval, shortest, longest, changed)
    return shown
