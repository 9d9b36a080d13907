"""The identity fast paths of docs/architecture.md hold in the normal flow.

Several fast paths know a text by the very string object: the recent
changes find a shadow's version by identity, the engine checks ``is`` to
see whether the master moved, and storage hashes and writes a string shared
by several rows once.  An equal copy breaks none of the results (each path
falls back to comparing or diffing) but silently costs speed, so these
tests check that the strings stay shared where the fast paths expect it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from mobwrite.client.session import ClientSession
from mobwrite.core.delta import Differ
from mobwrite.core.engine import Engine
from mobwrite.core.store import Store
from mobwrite.settings import Settings
from mobwrite.storage import sqlite
from mobwrite.storage.committer import loader
from mobwrite.storage.contract import Storage
from mobwrite.storage.disk import JournalStorage, SnapshotStorage
from mobwrite.storage.journal import encode
from mobwrite.storage.memory import MemoryStorage
from mobwrite.storage.rows import snapshot


def copy(text: str) -> str:
    """An equal string that is another object."""
    duplicate = "".join(list(text))
    assert duplicate == text and (duplicate is not text or len(text) < 2)
    return duplicate


def shared_session(editors: int = 3, history: bool = True) -> tuple[Engine, list[ClientSession]]:
    engine = Engine(Store(0, history=history), Settings.defaults(max_chars=0))
    sessions = [ClientSession(f"e{number}") for number in range(editors)]
    for number, session in enumerate(sessions):
        session.share("doc", "the quick brown fox" if number == 0 else "")
    for _ in range(2):
        for session in sessions:
            session.apply_response(engine.handle(session.build_request(), 0).body)
    return engine, sessions


def test_an_answered_view_keeps_the_master_itself_as_its_shadow() -> None:
    """After each reply the view's shadow is the master string, which is how the
    recent changes recognise its version at the next sync."""
    engine, sessions = shared_session()
    for turn in range(12):
        session = sessions[turn % len(sessions)]
        session.documents["doc"].text += str(turn)
        session.apply_response(engine.handle(session.build_request(), 1).body)
        view = engine.store.views[session.user, "doc"]
        document = engine.store.documents["doc"]
        assert view.shadow is document.text
        history = engine.recent_changes("doc")
        assert history is not None and history.version_of(view.shadow) == history.version


def test_a_copy_of_the_shadow_is_not_taken_for_a_version() -> None:
    """An equal copy is not recognised: the engine falls back to a diff, never guesses."""
    engine, _ = shared_session()
    history = engine.recent_changes("doc")
    master = engine.store.documents["doc"].text
    assert history is not None and master is not None
    assert history.version_of(master) == history.version
    assert history.version_of(copy(master)) is None


def test_setting_an_equal_text_keeps_the_master_string() -> None:
    """An equal copy assigned as the master does not replace it, so the identity
    checks still see an unchanged master (and no change is recorded)."""
    store = Store()
    document = store.document("doc", 0.0)
    store.set_text(document, "some text", 0.0)
    master = document.text
    store.take_changes()
    store.set_text(document, copy("some text"), 1.0)
    assert document.text is master and not store.changed


def test_merging_into_an_unmoved_master_returns_the_callers_string() -> None:
    """When nobody else edited, the merged master is the client's new shadow
    itself, so the master and that view's shadow are one string."""
    new_shadow = copy("hello world!")
    merged, failed, _ = Differ(0.1).merge("hello world", "hello world",
                                          [(0, "hello world"), (1, "!")], new_shadow)
    assert merged is new_shadow and failed == 0


def stores(path: Path) -> dict[str, Callable[[], Storage]]:
    memory = MemoryStorage()
    return {"memory": lambda: memory, "snapshot": lambda: SnapshotStorage(path),
            "journal": lambda: JournalStorage(path)}


@pytest.mark.parametrize("kind", ["memory", "snapshot", "journal"])
def test_equal_texts_load_as_one_string(kind: str, tmp_path: Path) -> None:
    """After a restart, shadows equal to the master are the master string again,
    so the fast paths work from the first sync (rows written as copies included)."""
    engine, sessions = shared_session()
    make = stores(tmp_path)[kind]
    storage = make()
    storage.open(Store())
    batch = snapshot(engine.store, engine.store.take_changes())
    master = engine.store.documents["doc"].text
    assert master is not None
    view = batch.views["e1", "doc"]
    assert view is not None
    batch.views["e1", "doc"] = view._replace(shadow=copy(master), backup_shadow=copy(master))
    storage.write(batch)
    storage.close()
    again = make()
    loaded = Store(loader=loader(again))
    again.open(loaded)
    loaded.find("doc")
    again.close()
    text = loaded.documents["doc"].text
    for session in sessions:
        reloaded = loaded.views[session.user, "doc"]
        assert reloaded.shadow == text and reloaded.shadow is text


def test_one_string_in_several_rows_is_journaled_once() -> None:
    """A journal record writes a string that the master and shadows share once."""
    # Without revisions: a revision carries its own inserted text, another string.
    engine, _ = shared_session(editors=5, history=False)
    big = "x" * 10_000
    store = engine.store
    store.set_text(store.documents["doc"], big, 2.0)
    for view in store.views.values():
        view.shadow = view.backup_shadow = store.documents["doc"].text or ""
        store.touch_view(view)
    payload = encode(snapshot(store, store.take_changes()))
    assert len(big) < len(payload) < 2 * len(big)
    head_length = int.from_bytes(payload[:4], "little")
    lengths = json.loads(payload[4:4 + head_length])[0]
    assert lengths.count(len(big)) == 1


def test_a_shared_or_unchanged_text_is_hashed_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The database hashes a string shared by several rows once per batch, and a
    row whose string did not change not at all."""
    engine, _ = shared_session(editors=5)
    store = engine.store
    hashed: list[int] = []
    sha256 = hashlib.sha256

    def counting(body: bytes) -> hashlib._Hash:
        hashed.append(len(body))
        return sha256(body)

    database = sqlite.Database(tmp_path)
    database.open()
    try:
        database.write(snapshot(store, store.take_changes()))
        monkeypatch.setattr(sqlite.hashlib, "sha256", counting)
        big = "y" * 10_000
        store.set_text(store.documents["doc"], big, 2.0)
        for view in store.views.values():
            view.shadow = view.backup_shadow = store.documents["doc"].text or ""
            store.touch_view(view)
        database.write(snapshot(store, store.take_changes()))
        assert hashed == [len(big)]
        for view in store.views.values():
            view.client_version += 1
            store.touch_view(view)
        database.write(snapshot(store, store.take_changes()))
        assert hashed == [len(big)]
    finally:
        database.close()
