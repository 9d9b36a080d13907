"""What the client does, as generators that yield requests and receive responses.

Each operation is written once, without I/O: it yields the request bytes
to send and is sent back the response body in HTTP ``q`` form (engine
output plus one LF; a TCP transport appends that LF itself, as the
original tools did).  ``run_blocking`` in ``mobwrite.client.blocking`` and
``run_deferred`` in ``mobwrite.client.txclient`` drive the same
generators over sockets or Twisted.

Request shapes follow the original tools (docs/protocol.md §12), except that a
read never creates a missing document (docs/protocol.md §14.11).
"""

from __future__ import annotations

import random
from collections.abc import Generator, Iterator

from mobwrite.client.errors import NullDocument, ProtocolFailure, refusal
from mobwrite.client.session import ClientSession, random_id
from mobwrite.core import request
from mobwrite.core.escaping import DecodeError, decode_raw, encode_text


def _request(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n\n").encode("utf-8")


def checked(response: bytes) -> bytes:
    """*response* if it is a complete answer, else ``ProtocolFailure``."""
    if response != b"\n" and not response.endswith(b"\n\n"):
        shown = response[:60].decode("utf-8", "replace")
        raise ProtocolFailure(f"malformed response (no terminating blank line): {shown!r}")
    return response


def read_request(names: list[str], user: str | None = None) -> bytes:
    """A request that reads documents without changing or creating them.

    On a fresh view, a delta that cannot fit the empty shadow makes any
    MobWrite server answer with its whole text: ``R:0:<text>``, or
    ``r:0:`` when the document is null.  Unlike the original download
    (``r:0:`` raw), nothing is written, and unlike a mismatched ``f:1``
    acknowledgement it does not claim history, so a server that reseeds
    lost views (docs/protocol.md §15.1) still tells an empty document from a null one.
    """
    lines = [f"u:{user or random_id()}"]
    for name in names:
        lines += [f"f:0:{name}", "d:0:=1"]
    return _request(lines)


def _answer_commands(response: bytes) -> Iterator[tuple[str | None, request.Command]]:
    """Each well-formed line of a checked answer, with the name of the block it is
    in (its own, for an ``F`` line; None before the first)."""
    current: str | None = None
    for line in request.command_lines(checked(response)):
        command = request.parse_command(line)
        if command is None:
            continue
        if command.letter in "fF":
            current = command.payload.decode("utf-8", "replace")
        yield current, command


def read_replies(response: bytes) -> dict[str, str | None]:
    """The texts a read answered with, ``None`` for a null document."""
    texts: dict[str, str | None] = {}
    for current, command in _answer_commands(response):
        if command.letter in "rR" and current is not None:
            try:
                text = decode_raw(command.payload)
            except DecodeError as error:
                raise ProtocolFailure(f"undecodable text for {current!r}: {error}") from None
            # Lowercase r with text is a reseed (docs/protocol.md §15.1); empty lowercase r means null.
            texts[current] = text if command.letter == "R" or text else None
    return texts


def read(names: list[str]) -> Generator[bytes, bytes, dict[str, str | None]]:
    """The texts of *names*, ``None`` for null ones; nothing is created or changed."""
    replies = read_replies((yield read_request(names)))
    for name in names:
        if name not in replies:
            raise ProtocolFailure(f"the server sent no text for {name!r}")
    return replies


def download(names: list[str]) -> Generator[bytes, bytes, dict[str, str]]:
    """The texts of *names*; ``NullDocument`` if any of them does not exist."""
    texts = yield from read(names)
    for name in names:
        if texts[name] is None:
            raise NullDocument(f"document {name!r} does not exist")
    return {name: texts[name] or "" for name in names}


def force_request(texts: dict[str, str], user: str | None = None) -> bytes:
    """The original upload: overwrite each document with a forced raw."""
    lines = [f"u:{user or random_id()}"]
    for name, text in texts.items():
        lines += [f"f:0:{name}", f"R:0:{encode_text(text)}"]
    return _request(lines)


def answered(response: bytes) -> set[str]:
    """The document names the server opened a block for.

    ``DocumentTooLong`` or ``OutOfRoom`` if the server refused a change.
    """
    names = set()
    for current, command in _answer_commands(response):
        if command.letter in "fF" and current is not None:
            names.add(current)
        elif command.letter == "x" and current is not None:
            refused = refusal(current, command.payload)
            if refused is not None:
                raise refused
    return names


def sync(session: ClientSession) -> Generator[bytes, bytes, None]:
    """One exchange of Differential Synchronization for every shared document.

    ``DocumentTooLong`` or ``OutOfRoom`` once the whole answer is applied, if
    the server refused an edit (the session has rolled it back).
    """
    response = checked((yield session.build_request()))
    missing = set(session.documents) - session.apply_response(response)
    if missing:
        raise ProtocolFailure("the server did not answer for " + ", ".join(sorted(missing)))
    for refused in session.refused.values():
        raise refused


def settle(session: ClientSession, exchanges: int = 3) -> Generator[bytes, bytes, None]:
    """Sync until every local edit is acknowledged and no resync is pending."""
    for _ in range(exchanges):
        yield from sync(session)
        if all(d.delta_ok and not d.edit_stack for d in session.documents.values()):
            return
    raise ProtocolFailure(f"still out of step with the server after {exchanges} exchanges")


def upload(name: str, text: str, force: bool = False) -> Generator[bytes, bytes, None]:
    """Make *text* the content of *name*.

    Forced, this is the original upload: one ``R`` raw that overwrites.
    Merged (the default), a session first adopts the server's text as its
    shadow and then sends the change to *text* as a delta, so edits other
    people make meanwhile are merged rather than wiped.
    """
    if force:
        if name not in answered((yield force_request({name: text}))):
            raise ProtocolFailure(f"the server did not answer for {name!r}")
        return
    session = ClientSession()
    document = session.share(name)
    yield from sync(session)
    document.text = text
    yield from settle(session)


def nullify_request(names: list[str], user: str | None = None) -> bytes:
    """The original nullify: ``n:`` lines, which get no answer."""
    return _request([f"u:{user or random_id()}"] + [f"n:{name}" for name in names])


def nullify(names: list[str]) -> Generator[bytes, bytes, None]:
    """Delete *names* on the server."""
    checked((yield nullify_request(names)))


def probe() -> Generator[bytes, bytes, None]:
    """An exchange with no action in it: does a MobWrite server answer?"""
    checked((yield _request([f"u:{random_id()}"])))


def original_loadtest_request(rng: random.Random, sections: int = 20) -> bytes:
    """A request shaped as the original load tester's (docs/protocol.md §12)."""
    lines = [f"U:loadtester_{random_id()}"]
    for _ in range(sections):
        name = f"loadtest_{random_id()}"
        lines += rng.choice(([f"N:{name}"],
                             [f"F:0:{name}", "R:0:Hello world"],
                             [f"F:0:{name}", "d:0:+Goodbye world"]))
    return _request(lines)
