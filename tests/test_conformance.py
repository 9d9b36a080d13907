"""The thirty conformance conversations, against the engine and the real daemon."""

from __future__ import annotations

import pytest

from conformance import CASES, ORIGINAL_FILE, Case, original_cases
from daemon import Daemon
from mobwrite.engine import Engine
from mobwrite.settings import Settings
from mobwrite.store import Store

ORIGINAL = original_cases() if ORIGINAL_FILE.exists() else []


def case_id(case: Case) -> str:
    return case.name.lower().replace(" ", "-")


def test_thirty_cases_are_kept() -> None:
    """Our copy holds every case, and matches the original file when it is present."""
    assert len(CASES) == 30
    if ORIGINAL:
        assert [(c.name, c.exchanges) for c in ORIGINAL] == [
            (c.name, c.exchanges) for c in CASES]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_engine(case: Case) -> None:
    """The engine alone answers each request as the case expects."""
    engine = Engine(Store(), Settings.defaults())
    for request, response in case.instantiate():
        assert engine.handle(request, 0.0).body == response


@pytest.mark.parametrize("case", CASES + ORIGINAL, ids=case_id)
def test_tcp(case: Case, daemon: Daemon) -> None:
    """The daemon answers each case over TCP: output lines, no blank line, then close."""
    for request, response in case.instantiate():
        assert daemon.exchange(request) == response
