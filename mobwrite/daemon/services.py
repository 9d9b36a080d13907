"""Services that make up the daemon: listening ports and housekeeping."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.application.service import Service
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import (
    IAddress,
    IListeningPort,
    IProtocolFactory,
    IReactorTime,
    IStreamServerEndpoint,
    ITransport,
)
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.internet.task import LoopingCall
from twisted.python.failure import Failure
from zope.interface import directlyProvides, providedBy

from mobwrite.logs import logger

log = logger("services")


class ConnectionCap(Factory):
    """Lets at most *limit* connections be open at once on one port (MAX_CONNECTIONS).

    Connections beyond it are closed at once; the log gets one line when a
    flood starts and one with its count when a connection is admitted again.
    Each admitted protocol is handed out in a ``CountedProtocol`` shell, which
    tells the cap when its connection is lost.
    """

    noisy = False

    def __init__(self, wrapped: Factory[Any], limit: int, label: str) -> None:
        self.wrappedFactory = wrapped
        self.limit = limit
        self.label = label
        self.open = 0
        self.refused = 0

    def logPrefix(self) -> str:
        return self.wrappedFactory.logPrefix()

    def doStart(self) -> None:
        self.wrappedFactory.doStart()

    def doStop(self) -> None:
        self.wrappedFactory.doStop()

    def buildProtocol(self, addr: IAddress | None) -> Protocol | None:
        if self.open >= self.limit:
            if not self.refused:
                log.warn("MAX_CONNECTIONS ({limit}) reached on the {label}: "
                         "connection from {peer} refused",
                         limit=self.limit, label=self.label, peer=addr)
            self.refused += 1
            return None
        if self.refused:
            log.warn("{count} connections to the {label} were refused at MAX_CONNECTIONS",
                     count=self.refused, label=self.label)
            self.refused = 0
        protocol = self.wrappedFactory.buildProtocol(addr)
        if protocol is None:
            return None
        self.open += 1
        return CountedProtocol(protocol, self)

    def lost(self) -> None:
        """One admitted connection ended."""
        self.open -= 1


class CountedProtocol(Protocol):
    """A protocol as ``ConnectionCap`` admitted it: everything passes through,
    and the cap hears of the connection's end.

    The wrapped protocol gets the real transport, so its writes cost nothing
    extra (unlike Twisted's ``ProtocolWrapper``): only reads pass one more
    call.  It provides what the wrapped protocol provides, so the transport
    (and TLS over it) treats it the same.
    """

    def __init__(self, wrapped: Protocol, cap: ConnectionCap) -> None:
        self.wrapped = wrapped
        self.cap = cap
        directlyProvides(self, providedBy(wrapped))

    def makeConnection(self, transport: ITransport) -> None:
        self.wrapped.makeConnection(transport)

    def dataReceived(self, data: bytes) -> None:
        self.wrapped.dataReceived(data)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.cap.lost()
        self.wrapped.connectionLost(reason)

    def __getattr__(self, name: str) -> Any:
        # Optional parts of the wrapped protocol: half-close, TLS handshake, logPrefix.
        return getattr(self.wrapped, name)


class BoundPorts:
    """The port number each listening service got, for the sites that link to each other.

    The editor page needs the gateway's port and the gateway's redirects
    need the editor's; with ``tcp:0`` (or ``systemd:``) only the bound port
    tells.  A service that is not listening, or not on TCP, has no number.
    """

    def __init__(self) -> None:
        self.numbers: dict[str, int] = {}

    def record(self, name: str, port: IListeningPort) -> None:
        host = port.getHost()
        if isinstance(host, (IPv4Address, IPv6Address)):
            self.numbers[name] = host.port

    def forget(self, name: str) -> None:
        self.numbers.pop(name, None)

    def get(self, name: str) -> int | None:
        return self.numbers.get(name)


class ListeningService(Service):
    """Listens on one endpoint while running; failing to bind stops start-up."""

    def __init__(self, name: str, label: str, endpoint: IStreamServerEndpoint,
                 factory: IProtocolFactory, bound: BoundPorts | None = None) -> None:
        self.name = self.port_name = name
        self.label = label
        self.endpoint = endpoint
        self.factory = factory
        self.bound = bound
        self.port: IListeningPort | None = None
        self._starting = False
        self._refusal: Failure | None = None

    def privilegedStartService(self) -> None:
        Service.privilegedStartService(self)
        self._listen()

    def startService(self) -> None:
        Service.startService(self)
        if self.port is None:
            self._listen()

    def _listen(self) -> None:
        # The endpoints we know (TCP, UNIX, SSL, systemd) answer at once, so a
        # failure is seen here and stops start-up; one that comes later is logged.
        self._starting = True
        self._refusal = None
        self.endpoint.listen(self.factory).addCallbacks(self._listening, self._refused)
        self._starting = False
        if self._refusal is not None:
            raise SystemExit(
                f"cannot listen for the {self.label}: {self._refusal.getErrorMessage()}")

    def _refused(self, failure: Failure) -> None:
        if self._starting:
            self._refusal = failure
        else:
            log.failure("{name}: cannot listen for the {label}", failure,
                        name=self.port_name, label=self.label)

    def _listening(self, port: IListeningPort) -> None:
        self.port = port
        if self.bound is not None:
            self.bound.record(self.port_name, port)
        log.info("{name}: {label} listening on {address}",
                 name=self.port_name, label=self.label, address=port.getHost())

    def stopService(self) -> Deferred[None] | None:
        Service.stopService(self)
        if self.port is None:
            return None
        port, self.port = self.port, None
        if self.bound is not None:
            self.bound.forget(self.port_name)
        return port.stopListening()


class PeriodicService(Service):
    """Runs a function every *interval* seconds, logging and surviving failures."""

    def __init__(self, label: str, interval: float, work: Callable[[], None],
                 clock: IReactorTime) -> None:
        self.label = label
        self.interval = interval
        self.work = work
        self.loop = LoopingCall(self._run)
        self.loop.clock = clock

    def _run(self) -> None:
        try:
            self.work()
        except Exception:
            log.failure("{label} failed; trying again in {interval} s",
                        label=self.label, interval=self.interval)

    def startService(self) -> None:
        Service.startService(self)
        self.loop.start(self.interval, now=True)

    def stopService(self) -> None:
        Service.stopService(self)
        if self.loop.running:
            self.loop.stop()
