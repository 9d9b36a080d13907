"""What the engine reports: one enumeration, so a misspelt event is a type error.

The engine calls its ``Report`` with an ``Event`` and named fields; the
daemon turns events into log lines (``daemon/answering.py``) and counters
(``daemon/metrics.py``).  Events are ``StrEnum`` members, so they log and
compare as their plain names.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Protocol


class Event(StrEnum):
    """Something noteworthy the engine saw while answering a request."""

    VIEWS_FULL = "views_full"  # fields: limit, wanted
    BUFFERS_FULL = "buffers_full"  # held
    BUFFER_TOO_LARGE = "buffer_too_large"  # size
    BUFFER_TOO_DEEP = "buffer_too_deep"  # depth
    TOO_LONG = "too_long"  # user, name, limit
    MEMORY_FULL = "memory_full"  # user, name: MAX_MEMORY held by documents in use
    DISK_FULL = "disk_full"  # user, name: MAX_STORED reached, no new document
    RAW_REFUSED = "raw_refused"  # user, name, error
    DELTA_REFUSED = "delta_refused"  # user, name, error
    RAW_REPLY = "raw_reply"  # user, name
    PATCH_FAILED = "patch_failed"  # user, name, failed
    READ_ONLY = "read_only"  # user, name: an edit under a read-only token was dropped
    # Not the engine's: a front end refused a request for its token.
    ACCESS_REFUSED = "access_refused"  # transport, peer, subject, reason, kind


class Report(Protocol):
    """Where the engine sends its events."""

    def __call__(self, event: Event, **fields: Any) -> None: ...


def ignore(event: Event, **fields: Any) -> None:
    """The default report: events go nowhere."""
