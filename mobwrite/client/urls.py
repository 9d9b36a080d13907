"""Server URLs: ``telnet://HOST:PORT`` for raw TCP, ``http(s)://…`` for a gateway,
``ws(s)://…`` for the gateway's WebSocket (path ``/ws`` unless one is given)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from mobwrite.client.errors import BadURL

DEFAULT_TCP_PORT = 3017
_EXAMPLES = "telnet://127.0.0.1:3017, http://127.0.0.1:8017/ or ws://127.0.0.1:8017/ws"
SOCKET_PATH = "/ws"
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


@dataclass(frozen=True)
class ServerURL:
    """Where a MobWrite server listens and how to talk to it."""

    scheme: str
    host: str
    port: int
    url: str

    @property
    def is_tcp(self) -> bool:
        return self.scheme == "telnet"

    @property
    def is_socket(self) -> bool:
        return self.scheme in ("ws", "wss")

    @property
    def is_secure(self) -> bool:
        return self.scheme in ("https", "wss")


def parse_url(text: str) -> ServerURL:
    """Parse *text*, raising ``BadURL`` with a message that says what to write.

    >>> parse_url("telnet://localhost:3017")
    ServerURL(scheme='telnet', host='localhost', port=3017, url='telnet://localhost:3017')
    >>> parse_url("http://[::1]:8017/").port
    8017
    >>> parse_url("ws://localhost:8017").url
    'ws://localhost:8017/ws'
    """
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError as error:
        raise BadURL(f"bad server URL {text!r}: {error}; write {_EXAMPLES}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("telnet",) + tuple(_DEFAULT_PORTS):
        raise BadURL(f"bad server URL {text!r}: the scheme must be telnet, http(s) or ws(s); "
                     f"write {_EXAMPLES}")
    if port == 0:
        raise BadURL(f"bad server URL {text!r}: port 0 cannot be connected to")
    if not parts.hostname:
        raise BadURL(f"bad server URL {text!r}: no host name; write {_EXAMPLES}")
    if scheme == "telnet":
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise BadURL(f"bad server URL {text!r}: a telnet URL has no path or query; "
                         f"write telnet://HOST:PORT")
        return ServerURL(scheme, parts.hostname, port or DEFAULT_TCP_PORT,
                         f"telnet://{parts.netloc}")
    if parts.fragment:
        raise BadURL(f"bad server URL {text!r}: remove the #fragment")
    path = parts.path or "/"
    if scheme in ("ws", "wss") and path == "/":
        path = SOCKET_PATH
    url = parts._replace(scheme=scheme, path=path).geturl()
    return ServerURL(scheme, parts.hostname, port or _DEFAULT_PORTS[scheme], url)
