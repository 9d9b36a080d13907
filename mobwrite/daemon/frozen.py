"""Short full collections for a daemon that holds many objects.

Python's cyclic garbage collector walks every object it tracks in a full
(generation 2) collection, and starts one whenever a quarter more objects
than the last one kept have survived into the oldest generation.  A daemon
holding 10,000 sockets holds millions of objects: each full collection
then stops the reactor for 0.3-0.5 s on the benchmark machine, and frees
next to nothing (BENCHMARKS.md, "The first run's tail").

So after each full collection the daemon freezes the survivors
(``gc.freeze``): later collections walk only what was made since.  Every
``THAW_SECONDS`` it thaws them instead, so that the next full collection
walks everything once and frees the cycles among old objects that have
become garbage: such garbage waits at most that long.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any

from twisted.application.service import Service

THAW_SECONDS = 600.0


class FrozenSurvivors(Service):
    """While running, freezes the survivors of each full collection, and thaws
    them once every *thaw_seconds*."""

    def __init__(self, thaw_seconds: float = THAW_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.thaw_seconds = thaw_seconds
        self.clock = clock
        self.thawed_at = 0.0

    def startService(self) -> None:
        super().startService()
        self.thawed_at = self.clock()
        gc.callbacks.append(self._collected)

    def stopService(self) -> None:
        gc.callbacks.remove(self._collected)
        gc.unfreeze()
        super().stopService()

    def _collected(self, phase: str, info: dict[str, Any]) -> None:
        if phase != "stop" or info["generation"] != 2:
            return
        if self.clock() - self.thawed_at >= self.thaw_seconds:
            gc.unfreeze()
            self.thawed_at = self.clock()
        else:
            gc.freeze()
