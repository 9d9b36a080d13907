"""The store's API: loads record nothing, removals and put-back changes, read-only tables."""

from __future__ import annotations

import pytest

from mobwrite.core.store import Changes, Store


def test_a_load_records_no_change() -> None:
    """Documents and views put in from storage are not written back."""
    store = Store()
    store.add_document("doc", "text", 1.0)
    view = store.add_view("alice", "doc", 2.0, "te", "t", 3, 4, 2, [(4, "d:4:=2")])
    store.add_view("bob", "null", 2.0, "", "", 0, 0, 0, [])
    assert not store.changed
    assert store.documents["doc"].views == 1 and view.document is store.documents["doc"]
    assert store.documents["null"].text is None and store.documents["null"].views == 1


def test_loading_a_view_again_replaces_it() -> None:
    """A view loaded twice is counted once by its document."""
    store = Store()
    store.add_view("alice", "doc", 1.0, "a", "a", 1, 1, 1, [])
    store.add_view("alice", "doc", 2.0, "b", "b", 2, 2, 2, [])
    assert store.documents["doc"].views == 1
    assert store.views["alice", "doc"].shadow == "b"


def test_remove_document_only_without_views() -> None:
    """A document with views stays; one without goes, and its stored text is deleted."""
    store = Store()
    store.set_text(store.document("doc", 0.0), "text", 0.0)
    store.create_view("alice", "doc", 0.0)
    store.take_changes()
    assert not store.remove_document("doc")
    store.discard_view(("alice", "doc"))
    assert store.remove_document("doc")
    assert "doc" not in store.documents
    # Its revision log goes with it.
    assert store.pending() == Changes({"doc"}, {("alice", "doc")}, [("doc", None)])
    assert not store.remove_document("doc")


def test_changes_put_back_are_taken_again() -> None:
    """Changes a failed write put back join those recorded since."""
    store = Store()
    store.set_text(store.document("one", 0.0), "1", 0.0)
    taken = store.take_changes()
    assert not store.changed
    store.set_text(store.document("two", 0.0), "2", 0.0)
    store.put_back(taken)
    assert store.take_changes().documents == {"one", "two"}


def test_pending_is_a_copy() -> None:
    """Looking at the pending changes does not let anyone edit them."""
    store = Store()
    store.set_text(store.document("doc", 0.0), "x", 0.0)
    store.pending().documents.clear()
    assert store.pending().documents == {"doc"}


def test_tables_are_read_only() -> None:
    """Other modules read the tables; only the store's methods change them."""
    store = Store()
    store.document("doc", 0.0)
    with pytest.raises(TypeError):
        del store.documents["doc"]  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        store.views["a", "doc"] = None  # type: ignore[index]
    assert list(store.documents) == ["doc"]
