"""``twistd mobwrite``: command-line options and the service tree."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twisted.application.service import IService, MultiService
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IReactorTime
from twisted.python import usage
from twisted.web import resource, server

from mobwrite import __version__, logs
from mobwrite.server import MobwriteServer
from mobwrite.services import ListeningService, PeriodicService
from mobwrite.settings import (
    SETTINGS,
    Setting,
    SettingError,
    Settings,
    check,
    parse_settings_file,
)
from mobwrite.tcp import RequestFactory

CLEANUP_INTERVAL = 60.0

# A listen backlog of 1024, not Twisted's 50: when hundreds of editors
# connect at once, a full backlog makes the kernel drop their SYNs and each
# waits a second or more to retry (measured in BENCHMARKS.md).
ENDPOINTS = (
    ("tcp", "tcp:3017:interface=127.0.0.1:backlog=1024", "raw TCP protocol"),
    ("gateway", "tcp:8017:interface=127.0.0.1:backlog=1024", "HTTP gateway (q= and p= requests)"),
    ("editor", "tcp:8000:interface=127.0.0.1", "editor web site"),
)


def _setting_help(setting: Setting) -> str:
    return f"{setting.help} [{setting.name}; default: {setting.default!r}]"


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
        ["data-dir", None, "mobwrite-data", "directory holding the stored documents"],
        ["config", None, None, "settings file in the original NAME = value format"],
    ] + [
        [setting.option, None, None, _setting_help(setting)] for setting in SETTINGS
    ]

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
                raise usage.UsageError(f"cannot read --config {path}: {error}")
            try:
                values.update(parse_settings_file(text, str(path)))
            except SettingError as error:
                raise usage.UsageError(str(error))
        for setting in SETTINGS:
            given = self[setting.option]
            if given is not None:
                try:
                    values[setting.attribute] = setting.parse(given)
                except SettingError as error:
                    raise usage.UsageError(f"--{setting.option}: {error}")
        try:
            self["settings"] = check(Settings.defaults(**values))
        except SettingError as error:
            raise usage.UsageError(str(error))
        from twisted.internet import reactor

        for name, _, _ in ENDPOINTS:
            try:
                serverFromString(reactor, self[name])
            except (ValueError, TypeError, KeyError) as error:
                raise usage.UsageError(
                    f"--{name} {self[name]!r} is not an endpoint ({error}); "
                    "write something like tcp:3017:interface=127.0.0.1"
                )


def _placeholder_site() -> server.Site:
    return server.Site(resource.NoResource("Not built yet."))


def build(options: Options, reactor: Any) -> MultiService:
    """The service tree for *options*, on *reactor*."""
    settings: Settings = options["settings"]
    logs.set_level(settings.logging)
    clock: IReactorTime = reactor
    top = MultiService()
    mobwrite = MobwriteServer.in_memory(settings, clock)
    store = mobwrite.store
    PeriodicService(
        "housekeeping", CLEANUP_INTERVAL,
        lambda: list(store.expire(clock.seconds(), settings.timeout_view,
                                  settings.timeout_text, settings.timeout_buffer)),
        clock,
    ).setServiceParent(top)
    factories = {
        "tcp": RequestFactory(mobwrite, settings, clock),
        "gateway": _placeholder_site(),
        "editor": _placeholder_site(),
    }
    for name, _, what in ENDPOINTS:
        ListeningService(
            name, what, serverFromString(reactor, options[name]), factories[name]
        ).setServiceParent(top)
    return top


def makeService(options: Options) -> IService:
    """Build the daemon on the global reactor (twistd's entry point)."""
    from twisted.internet import reactor

    return build(options, reactor)
