"""The sync engine: one request in, one response out (docs/protocol.md §8).

``Engine.handle`` runs a whole request atomically against the store and
returns the response bytes.  It takes the time as an argument, performs no
I/O, and never raises for bad input: malformed lines are ignored and data
that does not fit a view is answered with the server's text.  A change that
would make a document longer than MAX_CHARS, or that the server has no
room for, is refused whole and the answer says so (``x:too_long:<limit>``
or ``x:no_room:<setting>``, docs/defaults.md).  Noteworthy
events go to a ``report(event, **fields)`` callable, which the adapters
turn into log lines and metrics.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar
from weakref import WeakKeyDictionary

from mobwrite.core import request
from mobwrite.core.delta import (
    DeltaError,
    Diff,
    Differ,
    Splice,
    coarse_delta,
    from_delta,
    is_no_op,
    result_text,
    splices,
)
from mobwrite.core.escaping import DecodeError, decode_raw, encode_text, unescape_bytes
from mobwrite.core.events import Event, Report, ignore
from mobwrite.core.placement import SpliceLog
from mobwrite.core.recent import RecentChanges
from mobwrite.core.request import VERBS, Command, Verb
from mobwrite.core.revisions import EDIT, FORCE
from mobwrite.core.store import (
    Document,
    LimitReached,
    Store,
    TooLong,
    View,
    normalize,
    over_limit,
)
from mobwrite.settings import Settings

# The event each limit's refusal reports.
REFUSAL_EVENTS = {"MAX_CHARS": Event.TOO_LONG, "MAX_MEMORY": Event.MEMORY_FULL,
                  "MAX_STORED": Event.DISK_FULL}

# What a document keeps of its recent versions, each brought up to its text.
_Log = TypeVar("_Log", RecentChanges, SpliceLog)

# States a view may be pushed over before its client must send a request
# (each is kept until then, for a request that did not see the push).
MAX_PUSHES = 4

# What a refused action must leave as it was: the view's sync state.
_VIEW_STATE = ("shadow", "backup_shadow", "client_version", "server_version",
               "backup_server_version", "delta_ok")


@dataclass(slots=True)
class Action:
    """One executable line with the context it was read in (docs/protocol.md §8.1)."""

    kind: Verb
    user: str
    name: str
    force: bool = False
    acknowledged: int = 0
    version: int = 0
    payload: bytes = b""
    echo: bool = False

    @property
    def claims_history(self) -> bool:
        """Whether the client's numbers show it synced this view before."""
        return self.acknowledged > 0 or (self.kind is Verb.DELTA and self.version > 0)


@dataclass(slots=True)
class _Reading:
    """What the lines of one request read so far say (docs/protocol.md §8.1)."""

    now: float
    user: str | None = None
    name: str | None = None
    acknowledged: int = 0
    echo: bool = False
    actions: list[Action] = field(default_factory=list)
    # A buffer's completed request, which replaces the one being read.
    assembled: bytes | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """The response to a request, whether it acknowledged any change (its own
    or one not yet durable), and the documents whose text it changed."""

    body: bytes
    changed: bool
    documents: frozenset[str] = frozenset()


class Engine:
    """Executes requests against a store under the given settings."""

    def __init__(
        self, store: Store, settings: Settings,
        report: Report = ignore,
    ) -> None:
        self.store = store
        self.settings = settings
        self.differ = Differ(settings.diff_timeout)
        self.report = report
        # The view whose delta was just merged, the version of the master
        # its shadow was, and the version its own change made (if any).
        self._lineage: tuple[View, int, int | None] | None = None
        # Recent changes of each document several views share; a document
        # the store forgets takes its entry with it.
        self._histories: WeakKeyDictionary[Document, RecentChanges] = WeakKeyDictionary()
        # Where the recent versions of such documents changed, to place a
        # client's change exactly (core/placement.py).
        self._splice_logs: WeakKeyDictionary[Document, SpliceLog] = WeakKeyDictionary()
        # The command table: what each request letter does while reading.
        handlers: dict[Verb, Callable[[_Reading, Command], None]] = {
            Verb.USER: self._read_user, Verb.FILE: self._read_file,
            Verb.NULLIFY: self._read_nullify, Verb.DELTA: self._read_edit,
            Verb.RAW: self._read_edit, Verb.BUFFER: self._read_buffer,
        }
        self._readers = {letter: handlers[verb] for letter, verb in VERBS.items()}
        self._may_write = True
        self._author: str | None = None
        # What the answer says about the latest refused action.
        self._refused_notice = ""
        # Whether the request's client takes coarse deltas (docs/websocket.md).
        self._coarse = False

    def handle(self, data: bytes, now: float, may_write: bool = True,
               author: str | None = None, coarse: bool = False) -> Outcome:
        """Execute one complete request and return its response.

        With *may_write* false (a read-only token, core/access.py) edits
        reach the view's shadow, so the versions stay in step, but never
        the master: the reply, a delta from the shadow to the master,
        undoes them on the client.  The request's changes become revisions
        by *author* (a token's subject), else by each view's user id.
        A client that takes *coarse* deltas may be answered with them.
        """
        self._may_write = may_write
        self._author = author
        self._coarse = coarse
        store = self.store
        store.begin_request()
        try:
            body = self._run(data, now, depth=0)
        finally:
            self._lineage = None
            documents = store.end_request()
        return Outcome(body, store.changed, documents)

    # Parsing (docs/protocol.md §8.1)

    def _run(self, data: bytes, now: float, depth: int) -> bytes:
        if not request.is_complete(data):
            return b""
        reading = _Reading(now)
        readers = self._readers
        for line in request.command_lines(data):
            command = request.parse_command(line)
            if command is None:
                continue
            read = readers.get(command.letter)
            if read is None:
                continue
            read(reading, command)
            assembled = reading.assembled
            if assembled:
                if depth + 1 >= self.settings.max_buffer_depth:
                    self.report(Event.BUFFER_TOO_DEEP, depth=self.settings.max_buffer_depth)
                    return b""
                return self._run(assembled + assembled[-1:], now, depth + 1)
        return self._execute(reading.actions, now)

    def _read_user(self, reading: _Reading, command: Command) -> None:
        reading.user = request.parse_name(command.payload, self.settings.max_name_bytes)
        reading.echo = command.letter == "U"

    def _read_file(self, reading: _Reading, command: Command) -> None:
        reading.name = request.parse_name(command.payload, self.settings.max_name_bytes)
        reading.acknowledged = command.version or 0

    def _read_nullify(self, reading: _Reading, command: Command) -> None:
        target = request.parse_name(command.payload, self.settings.max_name_bytes)
        if reading.user is not None and target is not None:
            reading.actions.append(Action(Verb.NULLIFY, reading.user, target))
        reading.name = None

    def _read_edit(self, reading: _Reading, command: Command) -> None:
        """A delta or raw line, for the user and file read before it."""
        if reading.user is not None and reading.name is not None:
            letter = command.letter
            reading.actions.append(Action(
                VERBS[letter], reading.user, reading.name, force=letter.isupper(),
                acknowledged=reading.acknowledged, version=command.version or 0,
                payload=command.payload, echo=reading.echo,
            ))

    def _read_buffer(self, reading: _Reading, command: Command) -> None:
        reading.assembled = self._feed_buffer(command.payload, reading.now)

    def _feed_buffer(self, payload: bytes, now: float) -> bytes | None:
        """Store a fragment (docs/protocol.md §8.6); return the decoded request once complete."""
        fragment = request.parse_fragment(payload)
        if fragment is None:
            return None
        name, size, index, data = fragment
        if index < 1 or index > size or len(name) > self.settings.max_name_bytes:
            return None
        if size == 1:
            return unescape_bytes(data)
        if size > self.settings.max_buffer_slots:
            self.report(Event.BUFFER_TOO_LARGE, size=size)
            return None
        growth = self.store.fragment_cost(name, size, index, data)
        if self.store.buffered_bytes + growth > self.settings.max_buffered_bytes:
            self.report(Event.BUFFERS_FULL, held=self.store.buffered_bytes)
            return None
        buffer = self.store.buffer(name, size, now)
        self.store.fill_slot(buffer, index, data)
        if len(buffer.slots) < size or not all(buffer.slots.values()):
            return None
        joined = b"".join(buffer.slots[i] for i in range(1, size + 1))
        self.store.drop_buffer(name, size)
        return unescape_bytes(joined)

    # Execution (docs/protocol.md §8.2 to §8.5)

    def _execute(self, actions: list[Action], now: float) -> bytes:
        if not actions or not self._views_available(actions):
            return b""
        output: list[str] = []
        previous: tuple[str, str] | None = None
        view: View | None = None
        reseed = refused = force = False
        for index, action in enumerate(actions):
            if action.kind is Verb.NULLIFY:
                self._nullify(action, now)
                view = None
                continue
            if view is None:
                view = self.store.find_view(action.user, action.name)
                reseed = (action.claims_history if view is None
                          else self._after_unknown_pushes(view, action))
                if view is None:
                    view = self.store.create_view(action.user, action.name, now)
                view.delta_ok = True
                view.lasttime = now
                refused = False
            if not refused:
                # After a refusal, the view's later actions build on the refused one.
                outcome = self._attempt(view, action, now)
                refused = outcome is None
                force = bool(outcome)
            following = actions[index + 1] if index + 1 < len(actions) else None
            if following is None or (following.user, following.name) != (
                    action.user, action.name):
                self._emit(view, action, force, previous, reseed, output, refused)
                previous = (action.user, action.name)
                view = None
        if not output:
            return b""
        return ("\n".join(output) + "\n").encode("utf-8")

    def _views_available(self, actions: list[Action]) -> bool:
        """Refuse the whole request, before running it, if it needs too many views."""
        limit = self.settings.max_views
        if not limit:
            return True
        wanted = {(a.user, a.name) for a in actions if a.kind is not Verb.NULLIFY}
        new = sum(1 for key in wanted if key not in self.store.views)
        if len(self.store.views) + new <= limit:
            return True
        self.report(Event.VIEWS_FULL, limit=limit, wanted=new)
        return False

    def _nullify(self, action: Action, now: float) -> None:
        document = self.store.document(action.name, now)
        self.store.set_text(document, None, now)
        self.store.discard_view((action.user, action.name))
        self.store.remove_document(action.name)

    def _attempt(self, view: View, action: Action, now: float) -> bool | None:
        """Run one delta or raw action on *view*; return the reply's force flag,
        or None if the action was refused (too long, or no room for it).

        A refused action leaves the master and the view as they were once
        its acknowledgement was taken, as if its text had never arrived (the
        backup then holds the shadow the client keeps, as after any
        exchange); nothing stored is cut.
        """
        self._acknowledge(view, action)
        saved = [getattr(view, name) for name in _VIEW_STATE]
        stack = list(view.edit_stack)
        try:
            if action.kind is Verb.RAW:
                return self._apply_raw(view, action, now)
            return self._apply_delta(view, action, now)
        except LimitReached as refusal:
            for name, value in zip(_VIEW_STATE, saved, strict=True):
                setattr(view, name, value)
            view.edit_stack[:] = stack
            if action.acknowledged == view.server_version:
                # As after any exchange: should this answer be lost, the
                # client's retry from the same shadow is recognised.
                view.backup_shadow = view.shadow
                view.backup_server_version = view.server_version
            self._lineage = None
            self._refused_notice = refusal.notice
            fields = {"limit": refusal.limit} if isinstance(refusal, TooLong) else {}
            self.report(REFUSAL_EVENTS[refusal.setting], user=action.user, name=action.name,
                        **fields)
            return None

    @staticmethod
    def _after_unknown_pushes(view: View, action: Action) -> bool:
        """Whether a view loaded from storage (its pushes unknown) meets numbers it
        cannot place: then the whole-text answer is the reseed, never an overwrite
        (docs/protocol.md §15.10)."""
        return (view.pushes is not None and not view.pushes
                and action.acknowledged not in (view.server_version,
                                                view.backup_server_version))

    def _acknowledge(self, view: View, action: Action) -> None:
        """Take the action's acknowledgement: roll back to the backup or to the state
        before a push the client did not take, trim the stack."""
        self.store.touch_view(view)
        self._lineage = None
        pushes, view.pushes = view.pushes, None
        acknowledged = action.acknowledged
        if acknowledged != view.server_version:
            before = next((shadow for version, shadow in pushes or ()
                           if version == acknowledged), None)
            if before is not None:
                view.shadow = before
                view.server_version = acknowledged
                view.edit_stack.clear()
            elif acknowledged == view.backup_server_version:
                view.shadow = view.backup_shadow
                view.server_version = view.backup_server_version
                view.edit_stack.clear()
        view.edit_stack[:] = [
            entry for entry in view.edit_stack if entry[0] > action.acknowledged
        ]

    def _apply_raw(self, view: View, action: Action, now: float) -> bool:
        try:
            text = decode_raw(action.payload)
        except DecodeError as error:
            self.report(Event.RAW_REFUSED, user=action.user, name=action.name,
                        error=str(error))
            view.delta_ok = False
            return action.force
        if over_limit(normalize(text), self.store.max_chars):
            # Refused even when it would not replace the master: it is the
            # writer's text, and a shadow the master could never become.
            raise TooLong(self.store.max_chars)
        view.delta_ok = True
        view.shadow = view.backup_shadow = text
        view.client_version = action.version
        view.server_version = view.backup_server_version = action.acknowledged
        view.edit_stack.clear()
        document = view.document
        if (action.force or document.text is None) and document.text != text:
            if not self._may_write:
                self._read_only(action)
                return action.force
            self.store.set_text(document, text, now, self._author or action.user,
                                FORCE if action.force else EDIT)
        return action.force

    def _apply_delta(self, view: View, action: Action, now: float) -> bool:
        if action.acknowledged != view.server_version:
            view.delta_ok = False
            return action.force
        if action.version > view.client_version:
            view.delta_ok = False
            return action.force
        if action.version < view.client_version:
            return action.force
        view.client_version += 1
        try:
            diffs = from_delta(view.shadow, action.payload)
        except DeltaError as error:
            self.report(Event.DELTA_REFUSED, user=action.user, name=action.name,
                        error=str(error))
            view.delta_ok = False
            return action.force
        old_shadow = view.shadow
        view.shadow = view.backup_shadow = result_text(diffs)
        view.backup_server_version = view.server_version
        document = view.document
        if not self._may_write:
            if not is_no_op(diffs):
                self._read_only(action)
            return action.force
        if document.text is None:
            self.store.set_text(document, view.shadow, now, self._author or action.user)
            return False
        log = self._splice_log(document)
        # A client taking coarse deltas is answered without the history: it is
        # brought up to date when a client that needs it comes.
        history = None if self._coarse else self._history(document)
        master = document.text
        since = None if history is None else history.version_of(old_shadow)
        before = None if history is None else history.version
        changes = self._merge(view, action, diffs, old_shadow, now, log)
        if changes is not None and document.text is not master:
            # The merge knows where it changed the master: no need to look.
            if log is not None and log.text is master:
                log.record(document.text, document.views, changes)
            if history is not None and history.text is master:
                history.record(document.text, document.views,
                               changes[0] if len(changes) == 1 else None)
        if history is not None and since is not None and self._history(document) is history:
            own = history.version if history.version != before else None
            self._lineage = (view, since, own)
        return action.force

    def _read_only(self, action: Action) -> None:
        """An edit without the write right: the master keeps its text."""
        self.report(Event.READ_ONLY, user=action.user, name=action.name)

    def _merge(self, view: View, action: Action, diffs: list[Diff], old_shadow: str,
               now: float, log: SpliceLog | None) -> list[Splice] | None:
        """Bring the client's change (*old_shadow* into the view's shadow) to the
        master; return the change to the master as splices if it knows them.

        The change goes exactly where it was typed if *log* holds the old
        shadow as a recent master and no change since touched what it
        replaces; else it is patched in (docs/protocol.md §8.4).
        """
        document = view.document
        master = document.text
        assert master is not None
        if is_no_op(diffs):
            return None
        author = self._author or action.user
        if action.force:
            self.store.set_text(document, view.shadow, now, author, FORCE)
            return None
        # Typing around words sent as retyping them (docs/protocol.md §8.4).
        apart = self.differ.insertions(diffs)
        carried = None
        if log is not None and master is not old_shadow:
            carried = log.carry(old_shadow, [
                hunk for hunk in splices(apart or diffs) if hunk[0] != hunk[1] or hunk[2]])
        failed = 0
        changes: list[Splice] | None = None
        if carried is not None:
            merged, changes = carried
        elif apart is None:
            merged, failed, splice = self.differ.merge(master, old_shadow, diffs, view.shadow)
            changes = None if splice is None else [splice]
        else:
            merged, failed = self.differ.merge_apart(master, old_shadow, apart)
        if failed:
            self.report(Event.PATCH_FAILED, user=action.user, name=action.name,
                        failed=failed)
        # The log checks the splices, so a normalized text is still recorded right.
        self.store.set_text(document, merged, now, author, EDIT, changes or ())
        # Normalizing line breaks may have changed more.
        return changes if document.text is merged else None

    def _splice_log(self, document: Document) -> SpliceLog | None:
        """The document's splice log, brought up to its text; None while it has one view."""
        return self._kept(document, self._splice_logs, SpliceLog)

    def _history(self, document: Document) -> RecentChanges | None:
        """The document's history, brought up to its text; None while it has one view."""
        return self._kept(document, self._histories, RecentChanges)

    def _kept(self, document: Document, logs: WeakKeyDictionary[Document, _Log],
              kind: type[_Log]) -> _Log | None:
        """The document's entry in *logs* (a new *kind* if it has none), brought up
        to its text; None (and no entry) while the document has one view."""
        text = document.text
        if text is None or document.views < 2:
            if logs:  # a weak lookup costs a reference: not when there are none
                logs.pop(document, None)
            return None
        log = logs.get(document)
        if log is None:
            log = logs[document] = kind(text, self.differ.diff)
        elif log.text is not text:
            log.record(text, document.views)
        return log

    def recent_changes(self, name: str) -> RecentChanges | None:
        """The recent changes kept for document *name* (None while it has one view)."""
        document = self.store.documents.get(name)
        return None if document is None else self._histories.get(document)

    def push(self, user: str, name: str, shared: dict[tuple[int, bool], tuple[str, str]],
             coarse: bool = False) -> str | None:
        """Bring the view of *user* on *name* to its master as an empty sync would, and
        return the answer block to push (``F:`` and ``d:`` lines, docs/websocket.md);
        "" if it is already there, None if it cannot be pushed (the client must
        sync instead).  A client that takes *coarse* deltas may be sent one.

        The view keeps the state before the push until its client's next
        request, which may not have seen the push.  *shared* holds the deltas
        computed during one flush by the shadow they start from (views at the
        same version share one).
        """
        view = self.store.find_view(user, name)
        if view is None or not view.delta_ok:
            return None
        master = view.document.text
        shadow = view.shadow
        if master is None:
            return None
        if shadow is master or shadow == master:
            return ""
        pushes = view.pushes or ()
        if len(pushes) >= MAX_PUSHES:
            return None
        known = shared.get((id(shadow), coarse))
        if known is not None and known[0] is shadow:
            delta = known[1]
        else:
            delta = self._push_delta(view.document, shadow, master, coarse)
            shared[(id(shadow), coarse)] = (shadow, delta)
        version = view.server_version
        view.pushes = (*pushes, (version, shadow))
        view.server_version += 1
        view.shadow = master
        self.store.touch_view(view)
        return f"F:{view.client_version}:{name}\nd:{version}:{delta}"

    def pushed(self, user: str, name: str, version: int) -> None:
        """The client of the view of *user* on *name* holds server version *version*:
        it will not send a request from before it, so older pushes are forgotten."""
        view = self.store.find_view(user, name)
        if view is not None and view.pushes:
            kept = tuple(entry for entry in view.pushes if entry[0] >= version)
            view.pushes = kept or None

    def _push_delta(self, document: Document, shadow: str, master: str, coarse: bool) -> str:
        """The delta from *shadow* to *master*: a coarse one if the client takes it,
        else from the history if it holds *shadow*."""
        if coarse:
            delta = coarse_delta(shadow, master)
            if delta is not None:
                return delta
        history = self._history(document)
        if history is not None:
            since = history.version_of(shadow)
            if since is not None:
                delta = history.delta(since, None, shadow)
                if delta is not None:
                    return delta
        return self.differ.delta(shadow, master)

    def _reply_delta(self, view: View, master: str) -> str:
        """The delta from the view's shadow to *master*: a coarse one if the client
        takes it, else from the history if it can."""
        lineage, self._lineage = self._lineage, None
        shadow = view.shadow
        if self._coarse:
            delta = coarse_delta(shadow, master)
            if delta is not None:
                return delta
        if lineage is not None and lineage[0] is view and shadow != master:
            history = self._histories.get(view.document)
            if history is not None and history.text is master:
                delta = history.delta(lineage[1], lineage[2], shadow)
                if delta is not None:
                    return delta
        return self.differ.delta(shadow, master)

    def _emit(
        self, view: View, action: Action, force: bool,
        previous: tuple[str, str] | None, reseed: bool, output: list[str],
        refused: bool,
    ) -> None:
        """Write the output block for *view* (docs/protocol.md §8.5), saying if a change was refused."""
        if action.echo and (previous is None or previous[0] != action.user):
            output.append(f"u:{action.user}")
        if previous != (action.user, action.name):
            output.append(f"F:{view.client_version}:{action.name}")
        if refused:
            # The shared refusal (docs/protocol.md §8.7).
            output.append(f"x:{self._refused_notice}")
        master = view.document.text
        version = view.server_version
        if view.delta_ok:
            delta = self._reply_delta(view, master or "")
            letter = "D" if force else "d"
            view.edit_stack.append((version, f"{letter}:{version}:{delta}"))
            view.server_version += 1
        else:
            self.report(Event.RAW_REPLY, user=action.user, name=action.name)
            if master is None:
                line = f"r:{version}:"
            elif reseed:
                line = f"r:{version}:{encode_text(master)}"
            else:
                line = f"R:{version}:{encode_text(master)}"
            view.edit_stack[:] = [(version, line)]
        view.shadow = master or ""
        output.extend(line for _, line in view.edit_stack)
