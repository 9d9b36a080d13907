"""Services that make up the daemon: listening ports and housekeeping."""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import ip_address
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
)
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import LoopingCall
from twisted.python.failure import Failure

from mobwrite.logs import logger

log = logger("services")


class ConnectionCap(Factory):
    """Lets at most *limit* connections be open at once on one port (MAX_CONNECTIONS).

    Connections beyond it are closed at once; the log gets one line when a
    flood starts and one with its count when a connection is admitted again.
    The wrapped factory's protocols are handed out as they are, not wrapped
    (a wrapper would cost a call on every read and write): each one's
    ``connectionLost`` is chained to a counter instead.
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
        lost = protocol.connectionLost

        def counted(reason: Failure) -> None:
            self.open -= 1
            lost(reason)

        protocol.connectionLost = counted
        return protocol


class BoundPorts:
    """The port number each listening service got, for the sites that link to each other.

    The editor page needs the gateway's port and the gateway's redirects
    need the editor's; with ``tcp:0`` (or ``systemd:``) only the bound port
    tells.  A service that is not listening, or not on TCP, has no number.
    """

    def __init__(self) -> None:
        self.numbers: dict[str, int] = {}
        self.addresses: dict[str, str] = {}

    def record(self, name: str, port: IListeningPort) -> None:
        host = port.getHost()
        if isinstance(host, (IPv4Address, IPv6Address)):
            self.numbers[name] = host.port
            self.addresses[name] = host.host

    def forget(self, name: str) -> None:
        self.numbers.pop(name, None)
        self.addresses.pop(name, None)

    def beyond_loopback(self, name: str) -> bool:
        """Whether port *name* listens on an address other machines may reach."""
        address = self.addresses.get(name)
        return address is not None and not ip_address(address.split("%")[0]).is_loopback

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

    def privilegedStartService(self) -> None:
        Service.privilegedStartService(self)
        self._listen()

    def startService(self) -> None:
        Service.startService(self)
        if self.port is None:
            self._listen()

    def _listen(self) -> None:
        failures: list[Failure] = []
        self.endpoint.listen(self.factory).addCallbacks(self._listening, failures.append)
        if failures:
            raise SystemExit(
                f"cannot listen for the {self.label}: {failures[0].getErrorMessage()}")

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
