"""Which web pages may open a WebSocket to the daemon (the ``Origin`` check).

Browsers let any page open a WebSocket to any address and send the page's
origin with the handshake; the server alone decides.  With WEBSOCKET_ORIGINS
empty, only the daemon's own editor is allowed, and only when the browser
reached it by a loopback name or an IP address: a page whose DNS name was
re-pointed at the daemon (DNS rebinding) never matches.  Every other
deployment lists its origins.  A handshake without an ``Origin`` header
does not come from a browser page and is allowed.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from mobwrite.settings import ANY_ORIGIN, normalize_origin


def _addressed_directly(host: str) -> bool:
    """Whether *host* is an IP address or ``localhost`` (no DNS name to rebind)."""
    if host == "localhost":
        return True
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def origin_allowed(origin: str | None, allowed: tuple[str, ...],
                   own_editors: tuple[str, ...]) -> bool:
    """Whether a handshake from *origin* may open a socket.

    *allowed* is the setting; *own_editors* are the editor's URLs as the
    browser names this host (used when the setting is empty).
    """
    if origin is None:
        return True
    if ANY_ORIGIN in allowed:
        return True
    normal = normalize_origin(origin)
    if normal is None:
        return False
    if allowed:
        return normal in allowed
    host = urlsplit(normal).hostname or ""
    return _addressed_directly(host) and normal in {normalize_origin(url) for url in own_editors}
