"""A plain HTTP client for the tests: urllib on loopback, no proxy, no redirects followed."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from email.message import Message
from typing import Any


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects())


@dataclass(frozen=True)
class Reply:
    """Status, headers and body of one HTTP answer."""

    status: int
    headers: Message
    body: bytes


def fetch(url: str, data: bytes | None = None, method: str | None = None,
          headers: dict[str, str] | None = None, timeout: float = 10.0) -> Reply:
    """One HTTP request; error statuses are returned like any other."""
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with _OPENER.open(request, timeout=timeout) as answer:
            return Reply(answer.status, answer.headers, answer.read())
    except urllib.error.HTTPError as error:
        with error:
            return Reply(error.code, error.headers, error.read())


def form(**fields: bytes) -> bytes:
    """``application/x-www-form-urlencoded`` data, as a browser's form would send it."""
    return urllib.parse.urlencode(fields).encode("ascii")


def post_q(port: int, request: bytes, path: str = "/") -> Reply:
    """POST a protocol request as ``q``, as the original client and harness do."""
    return fetch(f"http://127.0.0.1:{port}{path}", form(q=request),
                 headers={"Content-Type": "application/x-www-form-urlencoded"})


def get(port: int, parameter: str, request: bytes, path: str = "/") -> Reply:
    """GET a protocol request in the URL as ``q`` or ``p``."""
    return fetch(f"http://127.0.0.1:{port}{path}?{form(**{parameter: request}).decode()}")


def callback(output: bytes) -> bytes:
    """The JSONP answer docs/protocol.md §2.3 prescribes for *output*, escaped independently of the server."""
    for plain, escaped in ((b"\\", b"\\\\"), (b'"', b'\\"'), (b"\n", b"\\n"), (b"\r", b"\\r"),
                           (b"<", b"\\u003c"), ("\u2028".encode(), b"\\u2028"),
                           ("\u2029".encode(), b"\\u2029")):
        output = output.replace(plain, escaped)
    return b'mobwrite.callback("' + output + b'");\n'


def fetch_path(port: int, path: str) -> Reply:
    """GET *path* from a loopback port."""
    return fetch(f"http://127.0.0.1:{port}{path}")
