"""``twistd mobwrite``: command-line options and the service tree."""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple, cast

from twisted.application.service import IService, MultiService
from twisted.internet import defer
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IReactorCore, IReactorTime
from twisted.internet.protocol import Factory
from twisted.logger import ILogObserver
from twisted.python import usage
from twisted.python.components import Componentized
from twisted.web.resource import Resource
from zope.interface import implementer

from mobwrite import __version__, logs
from mobwrite.core.api import Api
from mobwrite.core.cache import Caches
from mobwrite.core.engine import Engine
from mobwrite.core.events import Report
from mobwrite.core.httpform import Limits
from mobwrite.core.store import Store
from mobwrite.daemon.answering import (
    Answerer,
    Committer,
    MemoryOnly,
    RequestAnswerer,
    fan_out,
    report_event,
)
from mobwrite.daemon.api import Answering, ApiResource, embedded
from mobwrite.daemon.dumping import DumpResource
from mobwrite.daemon.editor import editor_site
from mobwrite.daemon.frozen import FrozenSurvivors
from mobwrite.daemon.gateway import gateway_site
from mobwrite.daemon.health import HealthProbe, HealthResource, IProbeReactor
from mobwrite.daemon.housekeeping import Housekeeping
from mobwrite.daemon.metrics import Metered, Metrics, MetricsResource
from mobwrite.daemon.read_only_links import ShareResource
from mobwrite.daemon.services import BoundPorts, ConnectionCap, ListeningService, PeriodicService
from mobwrite.daemon.socket_access import SocketGate
from mobwrite.daemon.status import Shared, StatusResource
from mobwrite.daemon.tcp import RequestFactory
from mobwrite.daemon.websocket import PushHub, SocketResource, SocketsService
from mobwrite.settings import (
    SETTINGS,
    Setting,
    SettingError,
    Settings,
    check,
    parse_settings_file,
)
from mobwrite.storage.committer import (
    DURABILITY_MODES,
    MEMORY,
    SNAPSHOT_INTERVAL,
    IStorageReactor,
    StorageService,
    loader,
    storage_for,
)
from mobwrite.storage.disk import SnapshotStorage
from mobwrite.storage.dump import store_rows
from mobwrite.storage.postgres_space import StoredSpace
from mobwrite.storage.rows import Rows
from mobwrite.tokens import Gatekeeper, KeyFileError

log = logs.logger("daemon")

CLEANUP_INTERVAL = 60.0
MIN_CLEANUP_INTERVAL = 0.1

# A listen backlog of 1024, not Twisted's 50: when hundreds of editors
# connect at once, a full backlog makes the kernel drop their SYNs and each
# waits a second or more to retry (measured in BENCHMARKS.md).
ENDPOINTS = (
    ("tcp", "tcp:3017:interface=127.0.0.1:backlog=1024", "raw TCP protocol"),
    ("gateway", "tcp:8017:interface=127.0.0.1:backlog=1024", "HTTP gateway (q= and p= requests)"),
    ("editor", "tcp:8000:interface=127.0.0.1:backlog=1024", "editor web site"),
)


def _setting_help(setting: Setting) -> str:
    return f"{setting.help} [{setting.name}; default: {setting.shown_default}]"


@implementer(IReactorCore)
class _ParseOnly:
    """Stands in for the reactor while ``postOptions`` parses endpoint strings:
    parsing only records the reactor, the service tree listens on the real one."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"parsing an endpoint string used reactor.{name}")


_PARSE_ONLY = cast(IReactorCore, _ParseOnly())


class IDaemonReactor(IProbeReactor, IStorageReactor, IReactorCore):
    """Everything the daemon's services use of the reactor."""


class Options(usage.Options):
    """Options of ``twistd mobwrite``; command line beats --config beats defaults."""

    synopsis = "[options]"
    longdesc = (
        "Serve MobWrite: the raw TCP protocol, the HTTP gateway and the editor "
        "page, sharing one store.  Ports are Twisted endpoint strings "
        "(tcp:PORT:interface=ADDR, ssl:..., unix:PATH, systemd:domain=INET:index=N).  "
        "Settings may come from a file of NAME = value lines (--config); an "
        "option given on the command line overrides the file."
    )
    optParameters: list[list[Any]] = [
        [name, None, default, f"endpoint of the {what}"] for name, default, what in ENDPOINTS
    ] + [
        ["data-dir", None, "mobwrite-data",
         "directory holding the stored documents and views (created if missing)"],
        ["durability", None, "sync",
         "sync: no reply acknowledges an edit before it is on disk (group commit: one "
         "fdatasynced journal record per commit, checkpointed into the database now and "
         f"then); snapshot: faster, changes go straight to the database every "
         f"{SNAPSHOT_INTERVAL:g} s without fsync (no journal), so a crash may lose the last seconds; memory: nothing is stored"],
        ["config", None, None, "settings file in the original NAME = value format"],
    ] + [
        [setting.option, None, None, _setting_help(setting)] for setting in SETTINGS
    ]

    def parseOptions(self, options: list[str] | None = None) -> None:
        """Parse; under twistd, a mistake is reported alone, with a hint to --help.

        twistd would print the whole usage text before the error; used
        directly (a .tac, tests) the ``UsageError`` is raised as usual.
        """
        try:
            super().parseOptions(options)
        except usage.UsageError as error:
            if self.parent is None:
                raise
            raise SystemExit(f"twistd mobwrite: {error}\n"
                             "Run 'twistd mobwrite --help' to see every option.") from None

    def opt_version(self) -> None:
        """Print the version and exit."""
        print(f"mobwrite {__version__}")
        raise SystemExit(0)

    def postOptions(self) -> None:
        values: dict[str, Any] = {}
        if self["config"]:
            path = Path(self["config"])
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as error:
                raise usage.UsageError(
                    f"cannot read --config {path}: {error}; give the path of a "
                    "readable UTF-8 file of NAME = value lines") from None
            try:
                values.update(parse_settings_file(text, str(path)))
            except SettingError as error:
                raise usage.UsageError(str(error)) from None
        for setting in SETTINGS:
            given = self[setting.option]
            if given is not None:
                try:
                    values[setting.attribute] = setting.parse(given)
                except SettingError as error:
                    raise usage.UsageError(f"--{setting.option}: {error}") from None
        if values.get("database"):
            _check_database(self["durability"])
        if self["durability"] not in DURABILITY_MODES:
            raise usage.UsageError(
                f"--durability {self['durability']!r} is unknown; "
                f"use one of {', '.join(DURABILITY_MODES)}")
        try:
            self["settings"] = check(Settings.defaults(**values))
            self["gatekeeper"] = Gatekeeper.from_settings(self["settings"])
        except (SettingError, KeyFileError) as error:
            raise usage.UsageError(str(error)) from None
        for name, _, _ in ENDPOINTS:
            try:
                serverFromString(_PARSE_ONLY, self[name])
            except IndexError:
                raise usage.UsageError(
                    f"--{name} {self[name]!r}: no socket was passed at that index; "
                    "start the daemon through its systemd socket unit, or give an "
                    "endpoint such as tcp:3017:interface=127.0.0.1"
                ) from None
            except (ValueError, TypeError, KeyError) as error:
                raise usage.UsageError(
                    f"--{name} {self[name]!r} is not an endpoint ({error}); "
                    "write something like tcp:3017:interface=127.0.0.1"
                ) from None


def _check_database(durability: str) -> None:
    """Refuse --database where it cannot work."""
    if durability == MEMORY:
        raise usage.UsageError(
            "--database keeps the documents in PostgreSQL and --durability memory "
            "keeps them nowhere: give one or the other")
    try:
        import psycopg  # noqa: F401
        import psycopg_pool  # noqa: F401
    except ImportError:
        raise usage.UsageError(
            "--database needs psycopg: pip install 'mobwrite[postgresql]'") from None


class Daemon(MultiService):
    """The daemon's service tree, which brings its own log observer to twistd.

    twistd makes the Application after ``makeService`` and then looks for an
    ``ILogObserver`` component on it before falling back to its text log;
    setting that component when twistd parents this service is the one place
    a plugin can choose the log format (a ``--logger`` given to twistd still
    wins).
    """

    def __init__(self, store: Store, log_observer: ILogObserver | None,
                 ports: BoundPorts | None = None, protected: bool = False) -> None:
        super().__init__()
        self.store = store
        self.log_observer = log_observer
        self.ports = ports or BoundPorts()
        self.protected = protected

    def setServiceParent(self, parent: Any) -> None:
        if self.log_observer is not None and isinstance(parent, Componentized):
            parent.setComponent(ILogObserver, self.log_observer)
        super().setServiceParent(parent)

    def startService(self) -> None:
        log.info("mobwrite {version} starting", version=__version__)
        super().startService()
        for warning in access_warnings(self.ports, self.protected):
            log.warn(warning)

    def stopService(self) -> defer.Deferred[None]:
        log.info("mobwrite stopping")
        stopped: defer.Deferred[None] = defer.maybeDeferred(super().stopService)
        return stopped.addCallback(self._stopped)

    def _stopped(self, result: None) -> None:
        log.info("mobwrite stopped cleanly with {documents} documents and {views} views "
                 "in memory", documents=len(self.store.documents), views=len(self.store.views))


def log_observer(options: Options, settings: Settings) -> ILogObserver | None:
    """The observer for ``LOG_FORMAT``; None keeps twistd's own text log."""
    if settings.log_format != "json":
        return None
    twistd = options.parent
    logfile = twistd.get("logfile", "-") if twistd is not None else "-"
    nodaemon = bool(twistd.get("nodaemon", True)) if twistd is not None else True
    return logs.json_observer(logs.log_destination(logfile or "", nodaemon))


def access_warnings(ports: BoundPorts, protected: bool) -> list[str]:
    """Warnings about ports that listen beyond loopback without the protection they need."""
    if not protected:
        return [f"the {what} listens beyond loopback without an AUTH_SECRET_FILE: every "
                "document is public to anyone who reaches it (docs/security.md)"
                for name, _, what in ENDPOINTS if name != "tcp" and ports.beyond_loopback(name)]
    if ports.beyond_loopback("tcp"):
        return ["access control is on, but the raw TCP port listens beyond loopback: it "
                "checks no token, so anyone who reaches it can read, change and delete "
                "every document (docs/security.md)"]
    return []


def gateway_resources(metrics: Metrics, probe: HealthProbe, clock: IReactorTime,
                      gatekeeper: Gatekeeper | None, report: Report | None,
                      sockets: SocketResource,
                      rows: Callable[[], defer.Deferred[Rows]]) -> dict[bytes, Resource]:
    """Pages served beside the HTTP gateway: operations pages (never on the editor
    port), the WebSocket, the dump and, with access control on, ``/share``."""
    pages: dict[bytes, Resource] = {
        b"metrics": MetricsResource(metrics), b"healthz": HealthResource(probe),
        b"dump": DumpResource(rows), b"ws": sockets}
    if gatekeeper is not None:
        pages[b"share"] = ShareResource(gatekeeper, clock, report)
    return pages


def editor_resources(store: Store, clock: IReactorTime, hub: PushHub,
                     gatekeeper: Gatekeeper | None = None,
                     report: Report | None = None,
                     shared: Callable[[], defer.Deferred[Shared]] | None = None
                     ) -> dict[bytes, Resource]:
    """Pages for people served beside the editor."""
    return {b"status": StatusResource(store, clock, clock.seconds(), gatekeeper, report,
                                      hub.subscriptions, hub.presence, shared)}


def build(options: Options, reactor: IDaemonReactor) -> MultiService:
    """The service tree for *options*, on *reactor*."""
    settings: Settings = options["settings"]
    logs.set_level(settings.logging)
    clock: IReactorTime = reactor
    keep = settings.history_keep
    storage = None
    if not settings.database and options["durability"] != MEMORY:
        storage = storage_for(options["durability"], Path(options["data-dir"]),
                              settings.max_memory)
    # With storage, the store is a cache of it: documents load as they are named.
    store = Store(settings.max_chars, keep=None if math.isinf(keep) else keep,
                  loader=None if storage is None else loader(storage),
                  max_memory=settings.max_memory, max_stored=settings.max_stored,
                  storage_use=None if storage is None else storage.use,
                  catalogue=None if storage is None else storage.names)
    hub = PushHub(settings, clock, relaying=bool(settings.database))
    # On a shared database each worker has a store, and the database's space is read there.
    space = StoredSpace()
    caches = Caches(settings.max_memory, space.use)
    metrics = Metrics(store, push=hub.subscriptions, presence=hub.presence,
                      cache=caches.figures if settings.database else None)
    gatekeeper: Gatekeeper | None = options["gatekeeper"]
    ports = BoundPorts()
    top = Daemon(store, log_observer(options, settings), ports, gatekeeper is not None)
    report = fan_out(report_event, metrics.observe_event)
    answerer, answer_api, probe, rows, shared = (
        _shared(top, settings, reactor, report, hub, caches, space) if settings.database
        else _local(top, options, store, storage, metrics, reactor, report, hub))
    api = ApiResource(answer_api, clock, settings.max_request_bytes, gatekeeper)
    sockets = SocketResource(hub, Metered(answerer, metrics, "websocket"), clock, ports,
                             None if gatekeeper is None else SocketGate(gatekeeper, clock, report))
    factories: dict[str, Factory[Any]] = {
        "tcp": RequestFactory(Metered(answerer, metrics, "tcp"), settings, clock),
        "gateway": gateway_site(
            Metered(answerer, metrics, "http"), Limits.from_settings(settings), ports, clock,
            settings.request_deadline,
            {**gateway_resources(metrics, probe, clock, gatekeeper, report, sockets, rows),
             b"api": api},
            gatekeeper, report),
        "editor": editor_site(
            ports, children=editor_resources(
                store, clock, hub, gatekeeper, report,
                shared),
            settings=settings),
    }
    # After the storage (the first child), before the ports.
    FrozenSurvivors().setServiceParent(top)
    for name, _, what in ENDPOINTS:
        capped = ConnectionCap(factories[name], settings.max_connections, what)
        ListeningService(
            name, what, serverFromString(reactor, options[name]), capped, ports
        ).setServiceParent(top)
    # Added last, so stopped first: sockets hear goodbye before the ports close.
    SocketsService(hub).setServiceParent(top)
    return top


class Parts(NamedTuple):
    """What the two kinds of store give the front ends."""

    answerer: Answerer
    answer_api: Answering
    probe: HealthProbe
    rows: Callable[[], defer.Deferred[Rows]]
    shared: Callable[[], defer.Deferred[Shared]] | None = None


def _local(top: MultiService, options: Options, store: Store, storage: SnapshotStorage | None,
           metrics: Metrics, reactor: IDaemonReactor, report: Report, hub: PushHub) -> Parts:
    """The embedded store: answers, health and dumps of a daemon on its own."""
    settings: Settings = options["settings"]
    committer: Committer = MemoryOnly(store)
    # With nothing stored (--durability memory) there is no disk to be healthy.
    probe = HealthProbe(None, reactor)
    rows: Callable[[], defer.Deferred[Rows]] = partial(_rows_of, store)
    if storage is not None:
        # First child: it opens before the ports open and stops after they close.
        service = StorageService(store, storage, options["durability"],
                                 reactor, observe_flush=metrics.observe_flush)
        service.setServiceParent(top)
        committer = service.committer
        probe = HealthProbe(Path(options["data-dir"]), reactor, storage_failure=service.failure)
        rows = service.rows
    PeriodicService(
        "housekeeping", _cache_interval(settings),
        Housekeeping(store, settings, reactor, committer, storage), reactor,
    ).setServiceParent(top)
    server = RequestAnswerer(Engine(store, settings, report), reactor, committer, hub)
    answer_api = embedded(Api(store, server.engine.differ, settings.max_name_bytes), server)
    return Parts(server, answer_api, probe, rows)


def _cache_interval(settings: Settings) -> float:
    """At least twice per CACHE_IDLE, so that an idle document goes within 1.5 times it."""
    return max(min(CLEANUP_INTERVAL, settings.cache_idle / 2), MIN_CLEANUP_INTERVAL)


def _rows_of(store: Store) -> defer.Deferred[Rows]:
    """Every row of a store that nothing backs (--durability memory)."""
    return defer.succeed(store_rows(store))


def _shared(top: MultiService, settings: Settings, reactor: IDaemonReactor,
            report: Report, hub: PushHub, caches: Caches, space: StoredSpace) -> Parts:
    """Documents in PostgreSQL, shared with other daemons (psycopg imported only here)."""
    from mobwrite.daemon.postgres_service import SharedDaemon

    # This daemon's committed changes reach its sockets at once (not the one that
    # sent them); the other daemons' through the change feed.
    shared = SharedDaemon(settings, reactor, report, hub, caches, space)
    # First child: it reaches the database before the ports open.
    shared.setServiceParent(top)
    shared.feed.subscribe(lambda name: hub.changed(frozenset((name,)), None))
    PeriodicService("housekeeping", CLEANUP_INTERVAL, shared.housekeeping,
                    reactor).setServiceParent(top)
    PeriodicService("cache", _cache_interval(settings), shared.evict_idle,
                    reactor).setServiceParent(top)
    return Parts(shared, shared.answer_api,
                 HealthProbe(None, reactor, storage_failure=shared.failure),
                 shared.rows, shared.holdings)


def makeService(options: Options) -> IService:
    """Build the daemon on the global reactor (twistd's entry point)."""
    from twisted.internet import reactor

    # The global reactor's declared type names only its common interfaces;
    # every reactor twistd installs also provides threads.
    return build(options, cast(IDaemonReactor, reactor))
