"""Editors of one document on a sans-IO engine, each a client that syncs when told."""

from __future__ import annotations

from mobwrite.client.session import ClientSession
from mobwrite.core.engine import Engine
from mobwrite.core.store import Store
from mobwrite.settings import Settings


def counter(typist: int, count: int) -> str:
    """A typist's counter as the crowd benchmark writes it (two digits)."""
    return f" [{typist}:{count:02d}]"


class Crowd:
    """*editors* clients of document "doc", which the first creates with *text*;
    with *coarse*, their requests take coarse deltas (``!push:coarse``)."""

    def __init__(self, text: str, editors: int, coarse: bool = False) -> None:
        self.engine = Engine(Store(), Settings.defaults())
        self.coarse = coarse
        self.now = 0.0
        self.sessions = [ClientSession(f"user{i}") for i in range(editors)]
        for index, session in enumerate(self.sessions):
            session.share("doc", text if index == 0 else "")
            self.sync(index)

    @property
    def master(self) -> str:
        text = self.engine.store.documents["doc"].text
        assert text is not None
        return text

    def text(self, who: int) -> str:
        return self.sessions[who].documents["doc"].text

    def type(self, who: int, old: str, new: str) -> None:
        """Editor *who* replaces *old* (which its text must hold) by *new*."""
        document = self.sessions[who].documents["doc"]
        assert old in document.text
        document.text = document.text.replace(old, new, 1)

    def sync(self, who: int) -> None:
        self.now += 1
        session = self.sessions[who]
        session.apply_response(self.engine.handle(
            session.build_request(), self.now, coarse=self.coarse).body)
