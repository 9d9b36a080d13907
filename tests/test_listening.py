"""ListeningService: a refused listen stops start-up, or is logged if it comes late."""

from __future__ import annotations

import pytest
from twisted.internet import defer
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IListeningPort, IProtocolFactory, IStreamServerEndpoint
from twisted.internet.protocol import Factory
from twisted.logger import capturedLogs
from twisted.python.failure import Failure
from zope.interface import implementer

from mobwrite.daemon.services import ListeningService


@implementer(IStreamServerEndpoint)
class Endpoint:
    """An endpoint whose listen answers with the Deferred it is given."""

    def __init__(self, answer: defer.Deferred[IListeningPort]) -> None:
        self.answer = answer

    def listen(self, factory: IProtocolFactory) -> defer.Deferred[IListeningPort]:
        return self.answer


def refusal() -> Failure:
    return Failure(CannotListenError("127.0.0.1", 3017, OSError("address in use")))


def test_a_refused_listen_stops_start_up() -> None:
    """An endpoint that refuses at once stops start-up with a message naming the port."""
    service = ListeningService("tcp", "raw TCP protocol", Endpoint(defer.fail(refusal())),
                               Factory())
    with pytest.raises(SystemExit, match="cannot listen for the raw TCP protocol: .*3017"):
        service.privilegedStartService()


def test_a_late_refusal_is_logged() -> None:
    """An endpoint that refuses after start-up is not silently forgotten."""
    answer: defer.Deferred[IListeningPort] = defer.Deferred()
    service = ListeningService("tcp", "raw TCP protocol", Endpoint(answer), Factory())
    service.privilegedStartService()
    with capturedLogs() as events:
        answer.errback(refusal())
    (event,) = events
    assert event["log_failure"].check(CannotListenError)
    assert event["label"] == "raw TCP protocol" and event["name"] == "tcp"
