"""The HTTP API's rules (docs/api.md): routes, bodies, rights and answers.

Pure like the engine: ``answer`` takes a parsed request, the store, a
differ, the caller's grant (None with access control off) and ``now``,
changes the store as the call asks, and returns the status, the body and
whether a document's text changed (the adapter then waits for the disk
and tells the push hub).  Writes go through ``Store.set_text``, so each
becomes a revision signed by the caller.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote_to_bytes

from mobwrite.core.access import DELETE, READ, WRITE, Grant
from mobwrite.core.delta import Differ
from mobwrite.core.request import parse_name
from mobwrite.core.revisions import EDIT, FORCE, MAX_PAGE, RESTORE, Revision, UnknownRevision
from mobwrite.core.store import Document, NoRoom, Store, TooLong

PREFIX = "/api/v1/"
JSON_TYPE = "application/json; charset=utf-8"
TEXT_TYPE = "text/plain; charset=utf-8"
DEFAULT_PAGE = 100


@dataclass(frozen=True, slots=True)
class Call:
    """One API request as the adapter read it."""

    method: str
    path: bytes          # the raw path, still %-escaped, without the query
    query: str
    body: bytes
    content_type: str


@dataclass(frozen=True, slots=True)
class Answer:
    """The status, content type and body of an answer; *changed* names the
    document whose text the call changed."""

    status: int
    body: bytes
    content_type: str = JSON_TYPE
    changed: str | None = None
    filename: str | None = None


class Refusal(Exception):
    """A call answered with an error status and a message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error(status: int, message: str) -> Answer:
    return Answer(status, _json({"error": message}))


def _json(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode(
        "utf-8", "surrogatepass")


class Catalog(Protocol):
    """Where the documents are listed when the store holds only some of them
    (a daemon sharing a database with others)."""

    def names(self, prefix: str, after: str) -> Iterable[str]:
        """The names of the documents with a text that start with *prefix*
        and sort after *after*, in order."""

    def views(self, name: str) -> int:
        """How many views document *name* has."""


@dataclass(slots=True)
class Api:
    """Answers calls against *store*; *max_name_bytes* bounds names; a
    *catalog*, if given, lists the documents instead of the store."""

    store: Store
    differ: Differ
    max_name_bytes: int = 500
    catalog: Catalog | None = None

    def answer(self, call: Call, grant: Grant | None, now: float) -> Answer:
        try:
            return self._route(call, grant, now)
        except Refusal as refusal:
            return error(refusal.status, refusal.message)
        except TooLong as refusal:
            return error(413, f"the text would be longer than the limit of "
                              f"{refusal.limit} characters; nothing was changed")
        except NoRoom as refusal:
            return error(507, f"the server is out of room ({refusal.setting}); "
                              f"nothing was changed, try again later")

    # Routing

    def _route(self, call: Call, grant: Grant | None, now: float) -> Answer:
        raw = call.path.decode("latin-1")
        if not raw.startswith(PREFIX):
            raise Refusal(404, "no such API path")
        parts = raw[len(PREFIX):].split("/")
        if parts == ["documents"]:
            self._method(call, "GET")
            return self._list(call, grant)
        if len(parts) < 2 or parts[0] != "documents":
            raise Refusal(404, "no such API path")
        name = self._name(parts[1])
        rest = parts[2:]
        if not rest:
            return self._document(call, name, grant, now)
        if rest == ["append"]:
            self._method(call, "POST")
            return self._append(call, name, grant, now)
        if rest == ["text"]:
            return self._text(call, name, grant, now)
        if rest[0] == "revisions" and len(rest) <= 3:
            return self._revisions(call, name, rest[1:], grant, now)
        raise Refusal(404, "no such API path")

    @staticmethod
    def _method(call: Call, *allowed: str) -> None:
        if call.method not in allowed:
            raise Refusal(405, f"use {' or '.join(allowed)} here")

    def _name(self, escaped: str) -> str:
        name = parse_name(unquote_to_bytes(escaped), self.max_name_bytes)
        if name is None:
            raise Refusal(400, "a document name is 1 to "
                               f"{self.max_name_bytes} bytes of UTF-8 without control characters")
        return name

    # Rights

    @staticmethod
    def _allow(grant: Grant | None, right: str, name: str | None) -> None:
        if grant is None:
            return
        if right not in grant.rights:
            raise Refusal(403, f"this needs a token with the {right} right")
        if name is not None and not grant.covers(name):
            raise Refusal(403, f"the token does not cover document {name!r}")

    # Documents

    def _list(self, call: Call, grant: Grant | None) -> Answer:
        self._allow(grant, READ, None)
        query = _query(call.query, {"prefix", "limit", "after"})
        prefix = query.get("prefix", "")
        after = query.get("after", "")
        limit = _whole(query.get("limit", str(DEFAULT_PAGE)), "limit", 1, MAX_PAGE)
        names = (self.catalog.names(prefix, after) if self.catalog is not None
                 else self._names(prefix, after, limit + 1))
        found = list(islice((name for name in names if grant is None or grant.covers(name)),
                            limit + 1))
        page = found[:limit]
        # A catalog's document may be gone by the time it is read; the store
        # loads a stored document that is not in memory.
        find = self.store.documents.get if self.catalog is not None else self.store.find
        documents = [find(name) for name in page]
        return Answer(200, _json({
            "documents": [self._summary(document) for document in documents
                          if document is not None and document.text is not None],
            "next": page[-1] if len(found) > limit else None}))

    def _names(self, prefix: str, after: str, batch: int) -> Iterator[str]:
        """The store's names (stored ones too), in order, read *batch* at a time."""
        while True:
            found = self.store.names(prefix, after, batch)
            yield from found
            if len(found) < batch:
                return
            after = found[-1]

    def _summary(self, document: Document) -> dict[str, Any]:
        text = document.text or ""
        return {"name": document.name, "length": len(text),
                "revision": self._head(document.name), "modified": self._modified(document),
                "views": document.views if self.catalog is None
                else self.catalog.views(document.name)}

    def _head(self, name: str) -> int:
        log = self.store.revisions(name)
        return 0 if log is None else log.head

    def _modified(self, document: Document) -> float:
        log = self.store.revisions(document.name)
        if log is not None and log.revisions:
            return log.revisions[-1].time
        return document.lasttime

    def _existing(self, name: str) -> Document:
        document = self.store.find(name)
        if document is None or document.text is None:
            raise Refusal(404, f"there is no document {name!r}")
        return document

    def _document(self, call: Call, name: str, grant: Grant | None, now: float) -> Answer:
        self._method(call, "GET", "PUT", "DELETE")
        if call.method == "GET":
            self._allow(grant, READ, name)
            return self._state(self._existing(name))
        if call.method == "DELETE":
            self._allow(grant, DELETE, name)
            document = self._existing(name)
            self.store.set_text(document, None, now)
            self.store.remove_document(name)
            return Answer(200, _json({"name": name, "deleted": True}), changed=name)
        query = _query(call.query, {"force"})
        force = _flag(query.get("force", "false"), "force")
        body = _object(call, {"text": str, "base_revision": int}, {"text"})
        self._allow(grant, WRITE, name)
        author = _author(grant)
        document = self.store.document(name, now)
        if force:
            self.store.set_text(document, body["text"], now, author, FORCE, fold=False)
        else:
            self._merge(document, body["text"], body.get("base_revision"), author, now)
        return self._state(document, changed=name)

    def _merge(self, document: Document, text: str, base_revision: int | None,
               author: str, now: float) -> None:
        """Apply the change from revision *base_revision*'s text to *text* onto
        the current master, as a browser's edit is merged (without a base,
        the change is from the current text)."""
        master = document.text
        if master is None or base_revision is None:
            self.store.set_text(document, text, now, author, EDIT, fold=False)
            return
        base = self._text_at(document.name, base_revision)
        if base == master:
            self.store.set_text(document, text, now, author, EDIT, fold=False)
            return
        merged, _, splice = self.differ.merge(master, base, self.differ.diff(base, text), text)
        self.store.set_text(document, merged, now, author, EDIT,
                            () if splice is None else (splice,), fold=False)

    def _text_at(self, name: str, number: int) -> str:
        log = self.store.revisions(name)
        document = self._existing(name)
        if log is None:
            if number == 0:
                return document.text or ""
            raise Refusal(404, f"document {name!r} has no revision {number}")
        try:
            return log.text_at(number)
        except UnknownRevision:
            raise Refusal(404, f"document {name!r} has no revision {number} "
                               f"(kept: {log.base} to {log.head})") from None

    def _state(self, document: Document, changed: str | None = None) -> Answer:
        return Answer(200, _json({
            "name": document.name, "text": document.text or "",
            "revision": self._head(document.name), "modified": self._modified(document)}),
            changed=changed)

    def _append(self, call: Call, name: str, grant: Grant | None, now: float) -> Answer:
        body = _object(call, {"text": str}, {"text"})
        self._allow(grant, WRITE, name)
        document = self.store.document(name, now)
        master = document.text or ""
        self.store.set_text(document, master + body["text"], now, _author(grant), EDIT,
                            ((len(master), len(master), body["text"]),), fold=False)
        return self._state(document, changed=name)

    def _text(self, call: Call, name: str, grant: Grant | None, now: float) -> Answer:
        self._method(call, "GET", "PUT")
        if call.method == "GET":
            self._allow(grant, READ, name)
            document = self._existing(name)
            return Answer(200, (document.text or "").encode("utf-8", "surrogatepass"),
                          TEXT_TYPE, filename=name)
        if not call.content_type.lower().startswith("text/plain"):
            raise Refusal(415, "send the text as text/plain (UTF-8)")
        try:
            text = call.body.decode("utf-8")
        except UnicodeDecodeError:
            raise Refusal(400, "the text is not UTF-8") from None
        self._allow(grant, WRITE, name)
        document = self.store.document(name, now)
        self.store.set_text(document, text, now, _author(grant), EDIT, fold=False)
        return self._state(document, changed=name)

    # Revisions

    def _revisions(self, call: Call, name: str, rest: list[str], grant: Grant | None,
                   now: float) -> Answer:
        if not rest:
            self._method(call, "GET")
            self._allow(grant, READ, name)
            return self._page(call, name)
        number = _whole(rest[0], "revision number", 0, 2**53)
        if len(rest) == 1:
            self._method(call, "GET")
            self._allow(grant, READ, name)
            text = self._text_at(name, number)
            log = self.store.revisions(name)
            found = None if log is None or number <= log.base else log.revision(number)
            return Answer(200, _json(dict(_revision(found, number), text=text)))
        if rest[1] != "restore":
            raise Refusal(404, "no such API path")
        self._method(call, "POST")
        _object(call, {}, set(), empty=True)
        self._allow(grant, WRITE, name)
        text = self._text_at(name, number)
        document = self._existing(name)
        self.store.set_text(document, text, now, _author(grant), RESTORE, fold=False)
        return self._state(document, changed=name)

    def _page(self, call: Call, name: str) -> Answer:
        self._existing(name)
        query = _query(call.query, {"start", "limit", "order"})
        limit = _whole(query.get("limit", str(DEFAULT_PAGE)), "limit", 1, MAX_PAGE)
        order = query.get("order", "newest")
        if order not in ("newest", "oldest"):
            raise Refusal(400, "order is newest or oldest")
        start = _whole(query["start"], "start", 0, 2**53) if "start" in query else None
        log = self.store.revisions(name)
        revisions = [] if log is None else log.page(start, limit, order == "newest")
        base = 0 if log is None else log.base
        return Answer(200, _json({
            "name": name, "base": base, "head": self._head(name),
            "revisions": [_revision(revision, revision.number) for revision in revisions]}))


def _revision(revision: Revision | None, number: int) -> dict[str, Any]:
    """A revision as JSON (the base revision, whose change is not kept, as nulls)."""
    if revision is None:
        return {"number": number, "time": None, "author": None, "kind": None,
                "inserted": None, "deleted": None, "change": None}
    return {"number": revision.number, "time": revision.time, "author": revision.author,
            "kind": revision.kind, "inserted": revision.inserted, "deleted": revision.deleted,
            "change": [list(edit) for edit in revision.change]}


def _author(grant: Grant | None) -> str:
    """Who an API change is by: the token's subject, else "api"."""
    return "api" if grant is None else grant.subject


def _query(query: str, known: set[str]) -> dict[str, str]:
    try:
        fields = parse_qs(query, keep_blank_values=True, strict_parsing=bool(query),
                          errors="strict")
    except (ValueError, UnicodeDecodeError):
        raise Refusal(400, "the query string cannot be read") from None
    unknown = sorted(set(fields) - known)
    if unknown:
        raise Refusal(400, f"unknown query parameter {unknown[0]!r}")
    if any(len(values) > 1 for values in fields.values()):
        raise Refusal(400, "a query parameter is given twice")
    return {key: values[0] for key, values in fields.items()}


def _whole(value: str, what: str, low: int, high: int) -> int:
    if not value.isascii() or not value.isdigit() or not low <= int(value) <= high:
        raise Refusal(400, f"{what} is a whole number from {low} to {high}")
    return int(value)


def _flag(value: str, what: str) -> bool:
    if value not in ("true", "false"):
        raise Refusal(400, f"{what} is true or false")
    return value == "true"


def _object(call: Call, fields: dict[str, type], required: set[str],
            empty: bool = False) -> dict[str, Any]:
    """The call's JSON object body, checked against *fields* (name → type)."""
    if empty and not call.body.strip():
        return {}
    if not call.content_type.lower().startswith("application/json"):
        raise Refusal(415, "send a JSON object (Content-Type: application/json)")
    try:
        value = json.loads(call.body.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError) as problem:
        raise Refusal(400, f"the body is not JSON: {problem}") from None
    if not isinstance(value, dict):
        raise Refusal(400, "the body must be a JSON object")
    unknown = sorted(set(value) - set(fields))
    if unknown:
        raise Refusal(400, f"unknown field {unknown[0]!r}")
    missing = sorted(required - set(value))
    if missing:
        raise Refusal(400, f"the field {missing[0]!r} is required")
    for key, kind in fields.items():
        if key in value and (type(value[key]) is not kind):
            raise Refusal(400, f"the field {key!r} must be a {_KINDS[kind]}")
        if kind is int and key in value and value[key] < 0:
            raise Refusal(400, f"the field {key!r} cannot be negative")
    return value


_KINDS = {str: "string", int: "whole number"}


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")
