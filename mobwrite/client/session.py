"""The client half of Differential Synchronization, without I/O (docs/protocol.md §11.4, §11.6).

A ``ClientSession`` holds one user id and any number of shared documents.
``build_request`` produces the bytes to send; ``apply_response`` takes the
server's answer (over TCP or HTTP, with or without the final blank line).
The transport, timing and retries belong to the caller.

A server may refuse an edit that would make a document longer than its
MAX_CHARS (``x:too_long:<limit>`` after the ``F`` line), or that it has no
room for (``x:no_room:<setting>``).  The session then rolls that edit back
as if it had never been sent, keeps the local text as it is, and records
the refusal in ``refused``; the next request diffs again, so it succeeds
once the text is short enough, or the server has room.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from mobwrite.client.errors import RefusedChange, refusal
from mobwrite.core import request
from mobwrite.core.delta import (
    DELETE,
    EQUAL,
    INSERT,
    DeltaError,
    Differ,
    Splice,
    from_delta,
    is_no_op,
    result_text,
    splices,
    to_delta,
    utf16_length,
)
from mobwrite.core.escaping import DecodeError, decode_raw, encode_text
from mobwrite.core.request import VERBS, Verb

CLIENT_DIFF_TIMEOUT = 0.5
# A server change of more hunks than this is merged by patching the typing
# into it instead (ClientSession._merge).
REBASE_HUNKS = 8
_FIRST = "abcdefghijklmnopqrstuvwxyz"
_OTHERS = _FIRST + "0123456789-_:."


def random_id() -> str:
    """An eight-character id as the original client drew them (docs/protocol.md §11.2)."""
    while True:
        ident = secrets.choice(_FIRST) + "".join(secrets.choice(_OTHERS) for _ in range(7))
        if "--" not in ident:
            return ident


def _hunks(diffs: list[tuple[int, str]]) -> int:
    return sum(1 for operation, _ in diffs if operation != EQUAL)


def _span(diffs: list[tuple[int, str]]) -> tuple[int, int]:
    """Where in the old text *diffs* change anything: from the start of their first
    change to the end of their last (code points)."""
    start = end = -1
    at = 0
    for operation, part in diffs:
        if operation != EQUAL and start < 0:
            start = at
        if operation != INSERT:
            at += len(part)
        if operation != EQUAL:
            end = at
    return start, end


def _overlap(first: tuple[int, int], second: tuple[int, int]) -> bool:
    """Whether two spans (start, end) meet, touching included; (-1, -1) is none."""
    return first[0] >= 0 and second[0] >= 0 and first[0] <= second[1] and second[0] <= first[1]


def _both(base: str, ours: list[Splice], theirs: list[Splice]) -> str | None:
    """*base* with both changes made, exactly, where no splice of one meets inside
    one of the other (both inserting at one place: theirs first); else None."""
    changes = sorted([(*splice, 0) for splice in theirs] + [(*splice, 1) for splice in ours],
                     key=lambda change: (change[0], change[1], change[3]))
    pieces = []
    at = 0
    for start, end, inserted, _ in changes:
        if start < at:
            return None
        pieces += [base[at:start], inserted]
        at = end
    pieces.append(base[at:])
    return "".join(pieces)


@dataclass
class SharedText:
    """One shared document as a client sees it."""

    name: str
    text: str = ""
    merge: bool = True
    shadow: str = ""
    client_version: int = 0
    server_version: int = 0
    delta_ok: bool = False
    edit_stack: list[tuple[int, str]] = field(default_factory=list)
    # The shadow each unacknowledged edit was made from, by the client version
    # it was made at (a raw's version less one): what a refused edit rolls back to.
    bases: dict[int, str] = field(default_factory=dict)
    # Set while reading a response: the client version the server acknowledged.
    acknowledged: int = 0


class ClientSession:
    """A user's view of several documents, speaking the wire protocol."""

    def __init__(self, user: str | None = None, prefix: str = "") -> None:
        self.user = user or random_id()
        self.prefix = prefix
        self.documents: dict[str, SharedText] = {}
        # diff-match-patch with its diff and fuzzy match in C++ where that gives
        # the same results (core/delta.py): the client's diffs and patches.
        self.dmp = Differ(CLIENT_DIFF_TIMEOUT).dmp
        self.changed_locally = False
        self.changed_remotely = False
        # Documents whose edit the last response refused, with why.
        self.refused: dict[str, RefusedChange] = {}
        # Pushes read while a request was in flight, to try after its answer;
        # what those applied, to acknowledge.
        self.waiting_pushes: list[bytes] = []
        self.pushed: list[tuple[str, int]] = []

    def share(self, name: str, text: str = "", merge: bool = True) -> SharedText:
        """Start sharing *name*, whose local text is *text*."""
        document = self.documents.get(name)
        if document is None:
            document = self.documents[name] = SharedText(name, text, merge)
        return document

    def _diff(self, old: str, new: str) -> list[tuple[int, str]]:
        diffs = self.dmp.diff_main(old, new)
        if len(diffs) > 2:
            self.dmp.diff_cleanupSemantic(diffs)
            self.dmp.diff_cleanupEfficiency(diffs)
        return diffs

    def _document_lines(self, document: SharedText) -> list[str]:
        base = document.shadow
        if document.delta_ok:
            changed = document.text != document.shadow
            if changed:
                delta = to_delta(self._diff(document.shadow, document.text))
                document.shadow = document.text
                self.changed_locally = True
            else:
                delta = "=%d" % utf16_length(document.shadow) if document.shadow else ""
            if changed or not document.edit_stack:
                letter = "d" if document.merge else "D"
                version = document.client_version
                document.edit_stack.append((version, f"{letter}:{version}:{delta}"))
                document.bases[version] = base
                document.client_version += 1
        else:
            # Kept under the version the raw replaces: a delta sent after it (its
            # answer lost) is made at the raw's own version, from the raw's text.
            document.bases[document.client_version] = base
            document.shadow = document.text
            document.client_version += 1
            version = document.client_version
            document.edit_stack.append(
                (version, f"r:{version}:{encode_text(document.text)}"))
            document.delta_ok = True
        lines = [f"F:{document.server_version}:{self.prefix}{document.name}"]
        lines.extend(line for _, line in document.edit_stack)
        return lines

    def build_request(self) -> bytes:
        """The next sync request for every shared document."""
        self.changed_locally = self.changed_remotely = False
        self.refused = {}
        lines = [f"u:{self.user}"]
        for document in self.documents.values():
            lines.extend(self._document_lines(document))
        return ("\n".join(lines) + "\n\n").encode("utf-8")

    def apply_response(self, response: bytes) -> set[str]:
        """Apply a server response; return the names of the documents it answered."""
        current: SharedText | None = None
        answered = set()
        for line in request.command_lines(response):
            command = request.parse_command(line)
            if command is None:
                continue
            verb = VERBS.get(command.letter)
            if verb is Verb.FILE:
                current = self._acknowledge(command)
                if current is not None:
                    answered.add(current.name)
            elif current is None:
                continue
            elif command.letter == "x":
                self._refused(current, command.payload)
            elif verb in self._APPLY:
                self._APPLY[verb](self, current, command)
        waiting, self.waiting_pushes = self.waiting_pushes, []
        for blocks in waiting:
            self.pushed.extend(self.apply_push(blocks))
        return answered

    def apply_push(self, blocks: bytes, in_flight: bool = False) -> list[tuple[str, int]]:
        """Apply the answer blocks a server pushed (docs/websocket.md, *Pushed deltas*);
        return, for the ``!pushed:`` message, each document applied with its wire
        name and new server version.

        While a request is *in_flight* the push waits for its answer (it may
        have been sent after that answer, which the caller has not applied
        yet); ``apply_response`` then applies it, or drops it if the request
        crossed it (the answer brought the same change), and what it applied
        waits in ``take_pushed``.  A push is taken only when it starts from
        exactly this session's state (the server has all its edits, and the
        delta starts from its shadow); any other is dropped.
        """
        if in_flight:
            self.waiting_pushes.append(blocks)
            return []
        applied = []
        current: SharedText | None = None
        for line in request.command_lines(blocks):
            command = request.parse_command(line)
            if command is None:
                continue
            if command.letter == "F":
                current = self._document(command.payload)
                if current is not None and (command.version != current.client_version
                                            or current.edit_stack or not current.delta_ok):
                    current = None
            elif command.letter in "dD" and current is not None:
                if command.version == current.server_version:
                    current.acknowledged = current.client_version
                    self._apply_delta(current, command)
                    if current.delta_ok:
                        applied.append((self.prefix + current.name, current.server_version))
                current = None
        return applied

    def take_pushed(self) -> list[tuple[str, int]]:
        """What pushes applied after an answer hold (wire name, server version), for
        the ``!pushed:`` message; now forgotten."""
        held, self.pushed = self.pushed, []
        return held

    def to_state(self) -> dict[str, Any]:
        """Everything needed to resume this session later, as JSON-ready data."""
        documents = []
        for document in self.documents.values():
            fields = asdict(document)
            del fields["acknowledged"]
            fields["bases"] = [[version, base] for version, base in document.bases.items()]
            documents.append(fields)
        return {"user": self.user, "prefix": self.prefix, "documents": documents}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ClientSession:
        """The session ``to_state`` described; ``ValueError`` if *state* is not one."""
        try:
            session = cls(str(state["user"]), str(state["prefix"]))
            for fields in state["documents"]:
                document = SharedText(
                    name=str(fields["name"]), text=str(fields["text"]),
                    merge=bool(fields["merge"]), shadow=str(fields["shadow"]),
                    client_version=int(fields["client_version"]),
                    server_version=int(fields["server_version"]),
                    delta_ok=bool(fields["delta_ok"]),
                    edit_stack=[(int(v), str(line)) for v, line in fields["edit_stack"]],
                    bases={int(v): str(base) for v, base in fields.get("bases", [])},
                )
                session.documents[document.name] = document
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"not a saved client session: {error!r}") from None
        return session

    def _document(self, payload: bytes) -> SharedText | None:
        """The shared document an ``F`` line's name is, if any."""
        name = payload.decode("utf-8", "replace")
        if not name.startswith(self.prefix):
            return None
        return self.documents.get(name[len(self.prefix):])

    def _acknowledge(self, command: request.Command) -> SharedText | None:
        document = self._document(command.payload)
        if document is None:
            return None
        version = command.version or 0
        document.delta_ok = True
        document.acknowledged = version
        document.edit_stack[:] = [e for e in document.edit_stack if e[0] > version]
        document.bases = {v: base for v, base in document.bases.items() if v >= version}
        return document

    def _refused(self, document: SharedText, payload: bytes) -> None:
        """``x:too_long:<limit>`` or ``x:no_room:<setting>``: undo the edits
        the server did not take.

        The server kept none of them (``acknowledged`` is its client version),
        so the shadow goes back to what the first of them was made from, and
        the local text stays as it is, to be sent again as one edit.
        """
        refused = refusal(document.name, payload)
        if refused is None:
            return
        taken_back = [v for v in document.bases if v >= document.acknowledged]
        if taken_back:
            document.shadow = document.bases[min(taken_back)]
        document.bases.clear()
        document.edit_stack.clear()
        document.client_version = document.acknowledged
        self.refused[document.name] = refused

    def _apply_raw(self, document: SharedText, command: request.Command) -> None:
        try:
            text = decode_raw(command.payload)
        except DecodeError:
            document.delta_ok = False
            return
        if command.letter == "R":
            document.text = text
        elif text:
            # A reseed of a lost view (docs/protocol.md §15.1); an empty one
            # (no document) keeps the local text, to be sent whole.
            document.text = self._rebase(document, self._agreed(document), text)
        document.shadow = text
        document.client_version = document.acknowledged
        document.server_version = command.version or 0
        document.edit_stack.clear()
        document.bases.clear()
        self.changed_remotely = True

    @staticmethod
    def _agreed(document: SharedText) -> str:
        """The text the server last acknowledged: the shadow the oldest
        unacknowledged edit was made from or, after a raw (which the server
        takes as its shadow), the raw's text."""
        raws = [line for _, line in document.edit_stack if line[0] in "rR"]
        if raws:
            return decode_raw(raws[-1].split(":", 2)[2].encode("utf-8"))
        if document.bases:
            return document.bases[min(document.bases)]
        return document.shadow

    def _rebase(self, document: SharedText, agreed: str, text: str) -> str:
        """*text* with the local change since *agreed* put on top, so the next
        delta carries that change alone and deletes nothing others wrote.
        An overwrite document keeps a value changed since *agreed*."""
        if not document.merge:
            return text if document.text == agreed else document.text
        return self._patched(agreed, self._diff(agreed, document.text), text)

    def _apply_delta(self, document: SharedText, command: request.Command) -> None:
        version = command.version or 0
        if document.acknowledged != document.client_version or version > document.server_version:
            document.delta_ok = False
            return
        if version < document.server_version:
            return
        try:
            diffs = from_delta(document.shadow, command.payload)
        except DeltaError:
            document.delta_ok = False
            return
        document.server_version += 1
        if is_no_op(diffs):
            return
        if command.letter == "D":
            document.shadow = document.text = result_text(diffs)
        else:
            shadow = result_text(diffs)
            if document.text != document.shadow:
                document.text = self._merge(document.shadow, diffs, shadow, document.text)
            else:
                # Nothing typed since the request: the patch would give the shadow.
                document.text = shadow
            document.shadow = shadow
        self.changed_remotely = True

    def _merge(self, shadow: str, diffs: list[tuple[int, str]], new_shadow: str,
               text: str) -> str:
        """*text* (the shadow and what was typed since) with the server's change
        (*diffs*, *shadow* into *new_shadow*) in it.

        The server's change is patched into the text, unless patching it would
        lose typing or cost much: when it deletes something in the stretch
        where the typing is (a coarse delta replaces a whole stretch, the
        typing inside it included), or has many more hunks than the typing (a
        crowd's edits against one word typed), the typing is patched into the
        server's text instead.
        """
        typed = self._diff(shadow, text)
        # Both changes start from the shadow: apart, they are made exactly.
        both = _both(shadow, splices(typed), splices(diffs))
        if both is not None:
            return both
        hunks = _hunks(diffs)
        if hunks > REBASE_HUNKS and _hunks(typed) * 2 < hunks:
            return self._patched(shadow, typed, new_shadow)
        if any(operation == DELETE for operation, _ in diffs) and _overlap(
                _span(diffs), _span(typed)):
            return self._patched(shadow, typed, new_shadow)
        return self._patched(shadow, diffs, text)

    def _patched(self, base: str, diffs: list[tuple[int, str]], onto: str) -> str:
        """*onto* with the change *diffs* makes to *base* patched in (fuzzily)."""
        patched: str = self.dmp.patch_apply(self.dmp.patch_make(base, diffs), onto)[0]
        return patched

    # The reply lines that change a document, by what their letter means
    # (the table of letters is the one the server reads requests with).
    _APPLY: ClassVar[dict[Verb, Callable[[ClientSession, SharedText, request.Command], None]]] = {
        Verb.RAW: _apply_raw, Verb.DELTA: _apply_delta}
