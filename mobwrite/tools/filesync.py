"""``mobwrite sync``: two-way sync of a local file with a document, one run at a time.

The client state (user id, shadow, both versions, edit stack, delta flag)
lives in a JSON side file, ``.FILE.mobwrite`` beside FILE, so each run
continues the same view: edits made to the file since the last run go up
as a delta, edits made on the server come back and are merged into the
file.  Line breaks are kept; a file written with CR LF keeps CR LF, though
the server stores LF (docs/protocol.md §6.3).
"""

from __future__ import annotations

import json
from pathlib import Path

from mobwrite.client import operations
from mobwrite.client.blocking import BlockingClient
from mobwrite.client.session import ClientSession
from mobwrite.tools.files import LocalFileError, read_text, write_atomically

STATE_FORMAT = 1


def state_path(path: Path) -> Path:
    """Where the client state of *path* is kept."""
    return path.with_name(f".{path.name}.mobwrite")


def load_state(path: Path, name: str) -> ClientSession | None:
    """The saved session for *path*, or None before the first run."""
    stored = read_text(path)
    if stored is None:
        return None
    try:
        state = json.loads(stored)
        if state.get("format") != STATE_FORMAT:
            raise ValueError(f"format {state.get('format')!r} is not {STATE_FORMAT}")
        session = ClientSession.from_state(state["session"])
    except (ValueError, AttributeError, KeyError) as error:
        raise LocalFileError(f"{path} is not a mobwrite sync state ({error}); "
                             "delete it to start over") from None
    if list(session.documents) != [name]:
        raise LocalFileError(f"{path} syncs document {list(session.documents)}, not {name!r}; "
                             "delete it to start over")
    return session


def save_state(path: Path, session: ClientSession) -> None:
    write_atomically(path, json.dumps(
        {"format": STATE_FORMAT, "session": session.to_state()}, ensure_ascii=False, indent=1))


def first_session(client: BlockingClient, name: str, local: str | None,
                  initial: str | None) -> ClientSession:
    """Join *name* for the first time, deciding whose text wins if both differ."""
    remote = client.run(operations.read([name]))[name]
    if local and remote and local != remote and initial is None:
        raise LocalFileError(
            f"the file and document {name!r} differ and share no history; pass "
            "--initial local (the file wins) or --initial remote (the document wins)")
    session = ClientSession()
    document = session.share(name, local or "")
    # A first raw creates a null document from the file; otherwise the document wins.
    client.run(operations.settle(session))
    if local and (not remote or initial == "local") and document.text != local:
        document.text = local
        client.run(operations.settle(session))
    return session


def sync_file(client: BlockingClient, name: str, path: Path, initial: str | None) -> str:
    """Run one sync of *path* with document *name*; return the synced text."""
    local = read_text(path)
    crlf = local is not None and "\r\n" in local
    if crlf and local is not None:
        local = local.replace("\r\n", "\n")
    side = state_path(path)
    session = load_state(side, name)
    if session is None:
        session = first_session(client, name, local, initial)
    else:
        if local is None:
            raise LocalFileError(f"{path} is gone but {side} remembers it; "
                                 "restore the file, or delete the state file to start over")
        session.documents[name].text = local
        client.run(operations.settle(session))
    text = session.documents[name].text
    if text != local:
        write_atomically(path, text.replace("\n", "\r\n") if crlf else text)
    save_state(side, session)
    return text
