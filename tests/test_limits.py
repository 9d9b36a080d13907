"""Limits of docs/protocol.md §14.4-14.5 inside the engine, and their documentation."""

from __future__ import annotations

from pathlib import Path

from mobwrite.core.engine import Engine
from mobwrite.core.store import ENTRY_OVERHEAD, Store
from mobwrite.daemon.tap import Options
from mobwrite.settings import SETTINGS, Settings

OPERATING = Path(__file__).resolve().parent.parent / "docs" / "operating.md"


def engine_with(**limits: int) -> Engine:
    return Engine(Store(), Settings.defaults(**limits))


def test_empty_fragments_cannot_pile_up() -> None:
    """Empty fragments are charged too, so the number of buffers is bounded."""
    engine = engine_with(max_buffered_bytes=100_000)
    for batch in range(20):
        lines = "".join(f"b:e{batch}-{i} 5 1 \n" for i in range(1000))
        assert engine.handle((lines + "\n").encode(), 0.0).body == b""
    store = engine.store
    assert len(store.buffers) <= 100_000 // (2 * ENTRY_OVERHEAD)
    assert store.buffered_bytes <= 100_000


def test_buffered_bytes_return_when_buffers_go() -> None:
    """Completing or expiring buffers gives their bytes back exactly."""
    engine = engine_with()
    store = engine.store
    engine.handle(b"b:a 3 1 u%3Ax\nb:a 3 2 %0AF%3A0%3Ad\nb:b 2 1 x\n\n", 0.0)
    assert store.buffered_bytes > 0
    engine.handle(b"b:a 3 2 %0AF%3A0%3Adoc\nb:a 3 3 %0Ar%3A1%3Ahi%0A\n\n", 0.0)
    assert list(store.buffers) == [(b"b", 2)]
    list(store.expire(10_000.0, 1.0, 1.0, 1.0))
    assert store.buffers == {} and store.buffered_bytes == 0


def test_long_buffer_names_are_ignored() -> None:
    """A fragment whose buffer name exceeds MAX_NAME_BYTES is not stored."""
    engine = engine_with(max_name_bytes=20)
    engine.handle(b"b:" + b"n" * 21 + b" 2 1 data\n\n", 0.0)
    assert engine.store.buffers == {}


def test_server_edit_stack_stays_short() -> None:
    """A client that never reads replies cannot grow the server's edit stack."""
    engine = engine_with()
    engine.handle(b"u:deaf\nF:0:doc\nr:1:text\n\n", 0.0)
    for version in range(1, 200):
        engine.handle(f"u:deaf\nF:0:doc\nd:{version}:=4\n\n".encode(), float(version))
        engine.handle(f"u:deaf\nF:{version * 7}:doc\nd:{version}:=4\n\n".encode(), 0.0)
    assert len(engine.store.views[("deaf", "doc")].edit_stack) <= 1


def test_every_setting_has_an_option_and_documentation() -> None:
    """Each setting can be given on the command line and is in docs/operating.md's tables."""
    options = Options()
    guide = OPERATING.read_text(encoding="utf-8")
    for setting in SETTINGS:
        assert setting.option in options.defaults or any(
            setting.option == row[0] for row in options.optParameters)
        assert f"`{setting.name}`" in guide, setting.name
    assert "--durability" in guide and "--data-dir" in guide
