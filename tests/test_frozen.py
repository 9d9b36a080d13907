"""The daemon freezes the survivors of full collections, and thaws them now and then."""

from __future__ import annotations

import gc
import weakref
from typing import Any

from mobwrite.daemon.frozen import FrozenSurvivors


class Node:
    """An object that can be part of a reference cycle."""

    other: Any = None


def pair() -> Node:
    """Two nodes referring to each other: garbage only the collector frees."""
    first, second = Node(), Node()
    first.other, second.other = second, first
    return first


def test_survivors_are_frozen_until_the_thaw_and_cycles_are_freed_after_it() -> None:
    now = [100.0]
    service = FrozenSurvivors(thaw_seconds=60.0, clock=lambda: now[0])
    service.startService()
    try:
        kept = pair()
        left = weakref.ref(kept)
        gc.collect()
        assert gc.get_freeze_count() > 0
        # Garbage among frozen objects: no full collection walks it...
        del kept
        gc.collect()
        assert left() is not None
        # ...until the thaw: the next full collection walks everything.
        now[0] += 60.0
        gc.collect()
        assert gc.get_freeze_count() == 0 and left() is not None
        gc.collect()
        assert left() is None and gc.get_freeze_count() > 0
        # Garbage made while frozen is still freed by the next full collection.
        young = weakref.ref(pair())
        gc.collect()
        assert young() is None
    finally:
        service.stopService()
    assert gc.get_freeze_count() == 0 and service._collected not in gc.callbacks
