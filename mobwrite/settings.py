"""Settings: their defaults, the original ``NAME = value`` file format, checks.

Every setting has a name in the settings file (as in the original daemon),
a command-line option, a kind that parses and checks its value, a default
and a line of help.  Precedence: command line, then settings file, then
default.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")
LOG_FORMATS = ("text", "json")
_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]*)")


class SettingError(ValueError):
    """A setting whose value cannot be used; the message says what to write."""


def parse_duration(value: str) -> float:
    """``2``, ``2.5 seconds``, ``30 minutes``, ``1 day`` → seconds."""
    match = _DURATION.fullmatch(value.strip().lower())
    if not match:
        raise SettingError(
            f"{value!r} is not a duration; write a number and a unit, "
            "such as '30 seconds', '15 minutes', '2 hours' or '1 day'"
        )
    number, unit = float(match[1]), match[2]
    if not unit:
        return number
    factor = _UNITS.get(unit.rstrip("s"))
    if factor is None:
        raise SettingError(
            f"unknown unit {unit!r} in {value!r}; use seconds, minutes, hours or days"
        )
    return number * factor


_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]*)")
_SIZE_UNITS = {"": 1, "b": 1, "byte": 1, "kb": 1 << 10, "kib": 1 << 10, "mb": 1 << 20,
               "mib": 1 << 20, "gb": 1 << 30, "gib": 1 << 30, "tb": 1 << 40, "tib": 1 << 40}


def parse_size(value: str) -> int:
    """``1048576``, ``512 MB``, ``2 GB`` → bytes (units of 1024; 0 = no limit)."""
    match = _SIZE.fullmatch(value.strip().lower())
    unit = match and _SIZE_UNITS.get(match[2].removesuffix("s") if match[2] != "s" else "")
    if not match or unit is None:
        raise SettingError(
            f"{value!r} is not a size; write a number of bytes, or a number and a unit "
            "such as '512 MB' or '2 GB' (KB, MB, GB, TB: units of 1024)")
    return int(float(match[1]) * unit)


def describe_size(size: int) -> str:
    """``536870912`` → ``512 MB``: the largest unit that divides exactly."""
    for unit in ("TB", "GB", "MB", "KB"):
        factor = _SIZE_UNITS[unit.lower()]
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return str(size)


NEVER = "never"


def parse_expiry(value: str) -> float:
    """``never`` (or ``0``) → 0.0, meaning no expiry; otherwise a duration."""
    if value.strip().lower() == NEVER:
        return 0.0
    return parse_duration(value)


FOREVER = "forever"


def parse_keep(value: str) -> float:
    """``forever`` → infinity (keep all); otherwise a duration (``0`` keeps none)."""
    if value.strip().lower() == FOREVER:
        return math.inf
    return parse_duration(value)


def parse_count(value: str) -> int:
    """A whole number, zero or more."""
    text = value.strip()
    if not text.isdigit() or not text.isascii():
        raise SettingError(f"{value!r} is not a whole number such as 0, 10 or 1000")
    return int(text)


def parse_positive(value: str) -> int:
    """A whole number, one or more."""
    number = parse_count(value)
    if number < 1:
        raise SettingError(f"{value!r} is not a whole number of 1 or more, such as 2")
    return number


def parse_level(value: str) -> str:
    """One of the logging levels."""
    level = value.strip().upper()
    if level not in LOG_LEVELS:
        raise SettingError(
            f"{value!r} is not a logging level; use one of {', '.join(LOG_LEVELS)}"
        )
    return level


def parse_log_format(value: str) -> str:
    """``text`` or ``json``."""
    chosen = value.strip().lower()
    if chosen not in LOG_FORMATS:
        raise SettingError(
            f"{value!r} is not a log format; use text (for people) or json "
            "(one JSON object per line, for log shippers)"
        )
    return chosen


def parse_database(value: str) -> str:
    """Empty (the embedded store), or a PostgreSQL URL."""
    url = value.strip()
    if url and not url.startswith(("postgresql://", "postgres://")):
        raise SettingError(
            f"{value!r} is not a PostgreSQL URL; write postgresql://USER@HOST/DATABASE "
            "(or leave it empty for the embedded store under --data-dir)")
    return url


def parse_address(value: str) -> str:
    """An IP address, or empty for no restriction."""
    return value.strip()


def parse_path(value: str) -> str:
    """A file's path, or empty for none."""
    return value.strip()


ANY_ORIGIN = "*"
_ORIGIN_PORTS = {"http": 80, "https": 443}


def normalize_origin(origin: str) -> str | None:
    """``scheme://host:port`` in lower case with the port always written, or None."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _ORIGIN_PORTS or not parts.hostname:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port or _ORIGIN_PORTS[scheme]}"


def parse_origins(value: str) -> tuple[str, ...]:
    """Web origins separated by spaces or commas (``*`` for any), or empty."""
    allowed = []
    for item in value.replace(",", " ").split():
        origin = item if item == ANY_ORIGIN else normalize_origin(item)
        if origin is None:
            raise SettingError(
                f"{item!r} is not an origin; write scheme://host[:port] such as "
                "https://docs.example.org or http://127.0.0.1:8000, or * for any page")
        allowed.append(origin)
    return tuple(allowed)


@dataclass(frozen=True)
class Setting:
    """How one setting is named, parsed, defaulted and explained."""

    name: str
    parse: Callable[[str], Any]
    default: Any
    help: str

    @property
    def option(self) -> str:
        return self.name.lower().replace("_", "-")

    @property
    def attribute(self) -> str:
        return self.name.lower()

    @property
    def shown_default(self) -> str:
        """The default as one would write it in a settings file."""
        if self.parse is parse_expiry and not self.default:
            return NEVER
        if self.parse is parse_keep and math.isinf(self.default):
            return FOREVER
        if self.parse in (parse_duration, parse_expiry):
            return describe_duration(self.default)
        if self.parse is parse_size:
            return describe_size(self.default)
        if self.default in ("", ()):
            return "(empty)"
        return str(self.default)


def describe_duration(seconds: float) -> str:
    """``1800.0`` → ``30 minutes``: the largest unit that divides exactly."""
    for unit, factor in sorted(_UNITS.items(), key=lambda item: -item[1]):
        count = seconds / factor
        if count >= 1 and count == int(count):
            return f"{int(count)} {unit}{'' if count == 1 else 's'}"
    return f"{seconds:g} seconds"


def _setting(parse: Callable[[str], Any], default: Any, help: str) -> Any:
    """A field of ``Settings``: its default, and how the table parses and explains it."""
    return dataclasses.field(default=default, metadata={"parse": parse, "help": help})


@dataclass(frozen=True)
class Settings:
    """The values in force; each field is one setting, named in upper case in files.

    ``SETTINGS``, the table the options, the settings file and the docs are
    made from, is read off these fields, so a setting is declared once.
    """

    max_chars: int = _setting(
        parse_count, 10_000_000,
        "longest document in characters (UTF-16 code units, as a browser counts); "
        "a change that would pass it is refused and nothing is cut (0 = no limit)")
    diff_timeout: float = _setting(
        parse_duration, 0.1,
        "time budget of each server-side diff (0 = unlimited)")
    timeout_view: float = _setting(
        parse_duration, 1800.0,
        "a view untouched this long is forgotten")
    timeout_text: float = _setting(
        parse_expiry, 0.0,
        "never (documents are kept until deleted), or a duration after which a "
        "document nobody views and nobody wrote expires")
    history_keep: float = _setting(
        parse_keep, math.inf,
        "how long each document's revisions are kept (docs/history.md): forever, "
        "or a duration; 0 keeps none (the current text always stays)")
    timeout_buffer: float = _setting(
        parse_duration, 900.0,
        "an unfinished buffer untouched this long is dropped")
    logging: str = _setting(
        parse_level, "INFO",
        "log level: CRITICAL, ERROR, WARNING, INFO or DEBUG")
    log_format: str = _setting(
        parse_log_format, "text",
        "log lines as text, or as json (one JSON object per line, for log shippers)")
    cache_idle: float = _setting(
        parse_duration, 300.0,
        "a document no view has synced for this long leaves memory once it is all "
        "stored; the next request that names it loads it again (docs/operating.md)")
    max_memory: int = _setting(
        parse_size, 256 << 20,
        "the text held in memory by all documents, views, revision logs and buffers "
        "together; past it the least recently used stored documents leave memory, and "
        "a change that would grow memory held by documents in use is refused "
        "(bytes, or a size such as 512 MB; 0 = no limit)")
    max_stored: int = _setting(
        parse_size, 10 << 30,
        "the space the database may use on disk; past it no new document is created "
        "(existing ones still change) (bytes, or a size such as 50 GB; 0 = no limit)")
    max_views: int = _setting(
        parse_count, 10000,
        "most views held at once; a request needing more gets an empty answer (0 = no limit)")
    timeout_telnet: float = _setting(
        parse_duration, 30.0,
        "each line of a TCP request must end within this long of the previous "
        "line's end (or of connecting), else the connection is closed")
    timeout_telnet_request: float = _setting(
        parse_duration, 120.0,
        "a TCP request not complete this long after connecting is dropped")
    connection_origin: str = _setting(
        parse_address, "",
        "if set, the only peer IP address allowed on the TCP port")
    request_deadline: float = _setting(
        parse_duration, 10.0,
        "a TCP answer not read this long after it is sent is aborted, and an HTTP "
        "request not answered this long gets 503")
    # 9 bytes a character: a raw upload of MAX_CHARS three-byte characters, %-escaped.
    max_request_bytes: int = _setting(
        parse_count, 96 * 1024 * 1024,
        "largest request in bytes, on TCP and HTTP alike")
    max_line_bytes: int = _setting(
        parse_count, 96 * 1024 * 1024,
        "longest request line in bytes")
    max_name_bytes: int = _setting(
        parse_count, 500,
        "longest user id or document name in bytes")
    max_buffer_slots: int = _setting(
        parse_count, 10000,
        "most fragments one buffer may be split into")
    max_buffered_bytes: int = _setting(
        parse_count, 32 * 1024 * 1024,
        "most bytes held in unfinished buffers altogether")
    max_buffer_depth: int = _setting(
        parse_count, 4,
        "deepest nesting of buffers inside buffers")
    max_connections: int = _setting(
        parse_count, 1000,
        "most connections open at once on each port; more are closed at once")
    auth_secret_file: str = _setting(
        parse_path, "",
        "key file of access control (mobwrite token new-key); when set, the gateway "
        "and /status need signed tokens (docs/security.md); empty = everything is public")
    websocket_origins: tuple[str, ...] = _setting(
        parse_origins, (),
        "web origins (scheme://host:port, separated by spaces) whose pages may open a "
        "WebSocket; empty: only the daemon's own editor reached by IP address or "
        "localhost; * allows any page")
    websocket_ping_interval: float = _setting(
        parse_duration, 30.0,
        "a WebSocket quiet this long is pinged")
    websocket_ping_timeout: float = _setting(
        parse_duration, 10.0,
        "a WebSocket that does not answer a ping within this time is closed")
    database: str = _setting(
        parse_database, "",
        "a PostgreSQL URL (postgresql://USER@HOST/DATABASE) to keep the documents "
        "there instead of the embedded store under --data-dir")
    shared_workers: int = _setting(
        parse_positive, 2,
        "with --database: requests a daemon runs at once, each in its own transaction, "
        "thread and connection, with an equal share of MAX_MEMORY (docs/postgresql.md)")

    @classmethod
    def defaults(cls, **overrides: Any) -> Settings:
        return cls(**overrides)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


SETTINGS = tuple(
    Setting(field.name.upper(), field.metadata["parse"], field.default, field.metadata["help"])
    for field in dataclasses.fields(Settings))

BY_NAME = {setting.name: setting for setting in SETTINGS}


def parse_settings_file(text: str, source: str = "settings file") -> dict[str, Any]:
    """Parse the original ``NAME = value`` format into attribute values.

    Blank lines and lines starting with ``;`` or ``#`` are ignored.
    """
    values: dict[str, Any] = {}
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith((";", "#")):
            continue
        name, equals, value = stripped.partition("=")
        name = name.strip().upper()
        where = f"{source}, line {number}"
        if not equals:
            raise SettingError(f"{where}: write NAME = value, not {stripped!r}")
        setting = BY_NAME.get(name)
        if setting is None:
            raise SettingError(
                f"{where}: unknown setting {name!r}; known settings are "
                + ", ".join(sorted(BY_NAME))
            )
        try:
            values[setting.attribute] = setting.parse(value.strip())
        except SettingError as error:
            raise SettingError(f"{where}: {name}: {error}") from None
    return values


def check(settings: Settings) -> Settings:
    """Refuse values that would make the daemon useless."""
    if settings.timeout_telnet <= 0:
        raise SettingError("TIMEOUT_TELNET must be more than 0 seconds, such as 30")
    if settings.timeout_telnet_request <= 0:
        raise SettingError("TIMEOUT_TELNET_REQUEST must be more than 0 seconds, such as 2 minutes")
    if settings.request_deadline <= 0:
        raise SettingError("REQUEST_DEADLINE must be more than 0 seconds, such as 10")
    for name in ("MAX_REQUEST_BYTES", "MAX_LINE_BYTES", "MAX_NAME_BYTES",
                 "MAX_BUFFER_SLOTS", "MAX_CONNECTIONS"):
        if getattr(settings, name.lower()) < 1:
            raise SettingError(f"{name} must be at least 1")
    for name in ("WEBSOCKET_PING_INTERVAL", "WEBSOCKET_PING_TIMEOUT"):
        if getattr(settings, name.lower()) <= 0:
            raise SettingError(f"{name} must be more than 0 seconds, such as 30")
    if settings.max_buffer_depth < 2:
        raise SettingError("MAX_BUFFER_DEPTH must be at least 2 (nested buffers)")
    return settings
