"""The HTTP gateway's rules, free of any web framework (docs/protocol.md §2.3).

``decide`` turns an HTTP request (method, path, query string, body) into
either a ``Sync`` (the protocol request to hand to the engine, and which
parameter carried it) or a finished ``Answer`` (preflight, redirect,
refusal).  ``sync_answer`` formats the engine's output as the ``q`` or
``p`` answer.  The form layer is decoded from bytes exactly once, strictly:
a ``%`` without two hex digits is refused rather than guessed at.  The
twisted.web gateway is a thin adapter over this module, and so is any
other HTTP front end.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus

from mobwrite.core.escaping import DecodeError, strict_unescape_bytes
from mobwrite.settings import Settings

GATEWAY_PATHS = (b"/", b"/scripts/q.py")
METHODS = ("GET", "HEAD", "POST", "OPTIONS")
PLAIN = "text/plain; charset=utf-8"
JAVASCRIPT = "text/javascript; charset=utf-8"

# The gateway is a public API without cookies or other credentials: any page
# may already reach it by JSONP, so CORS for every origin reveals nothing new.
CORS = {"Access-Control-Allow-Origin": "*"}
PREFLIGHT = {
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type, Authorization",
    "Access-Control-Max-Age": "86400",
}
# Every answer: never cached (a repeated JSONP URL must reach the engine),
# and never reinterpreted as another type.
COMMON = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", **CORS}

# The editor pages accept the same names (static/page.js): the letters of the
# original gateway, a letter first, at most 100, never "--" (HTML comments).
DOCUMENT_NAME = re.compile(r"(?!.*--)[A-Za-z][-_:.A-Za-z0-9]{0,99}")
_HOST = re.compile(r"(?P<name>[-A-Za-z0-9.]+|\[[0-9A-Fa-f:.]+\])(?::\d*)?")
_JS_SPECIAL = re.compile(rb'[\\"\n\r<]|\xe2\x80[\xa8\xa9]')
_JS_ESCAPES = {
    b"\\": b"\\\\", b'"': b'\\"', b"\n": b"\\n", b"\r": b"\\r", b"<": b"\\u003c",
    "\u2028".encode(): b"\\u2028", "\u2029".encode(): b"\\u2029",
}
_LINE_BREAK = re.compile(rb"\r\n?|\n")
# Form encoding at most triples a byte; the rest pays for "q=" and "&"s.
FORM_OVERHEAD = 4096
EDITOR_START = "/"


class FormError(ValueError):
    """Form data that cannot be decoded; the message says what is wrong."""


@dataclass(frozen=True)
class Limits:
    """Sizes beyond which a request is refused with 413."""

    body_bytes: int
    request_bytes: int
    line_bytes: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        """A body cap that fits any request of MAX_REQUEST_BYTES, however it is encoded."""
        return cls(3 * settings.max_request_bytes + FORM_OVERHEAD,
                   settings.max_request_bytes, settings.max_line_bytes)


@dataclass(frozen=True)
class Sync:
    """A protocol request for the engine, the parameter (q or p) it came in,
    and the access token sent with it (docs/security.md), if any."""

    parameter: str
    request: bytes
    token: str | None = None


@dataclass(frozen=True)
class Answer:
    """A complete HTTP answer."""

    status: int
    body: bytes = b""
    content_type: str | None = PLAIN
    headers: dict[str, str] = field(default_factory=dict)

    def header_items(self) -> list[tuple[str, str]]:
        """Every header to send, the common ones included."""
        items = dict(COMMON)
        if self.content_type is not None:
            items["Content-Type"] = self.content_type
        if self.status != 204:
            items["Content-Length"] = str(len(self.body))
        items.update(self.headers)
        return list(items.items())


def refusal(status: int, message: str, **headers: str) -> Answer:
    """A plain-text answer explaining why nothing was done."""
    return Answer(status, message.encode("utf-8") + b"\n", PLAIN, headers)


def see_other(location: str) -> Answer:
    """303 See Other to *location*."""
    return Answer(303, f"See {location}\n".encode(), PLAIN, {"Location": location})


def decode_component(encoded: bytes) -> bytes:
    """One form-encoded name or value: ``+`` is a space, ``%XX`` a byte."""
    try:
        return strict_unescape_bytes(encoded.replace(b"+", b" "))
    except DecodeError:
        raise FormError(
            f"bad form data near {encoded[:40]!r}: every '%' must be followed by "
            "two hex digits (write a literal '%' as %25)"
        ) from None


def parse_form(encoded: bytes) -> dict[bytes, bytes]:
    """The fields of ``application/x-www-form-urlencoded`` data; the first of a name wins."""
    fields: dict[bytes, bytes] = {}
    for pair in encoded.split(b"&"):
        if not pair:
            continue
        name, _, value = pair.partition(b"=")
        fields.setdefault(decode_component(name), decode_component(value))
    return fields


def jsonp(output: bytes) -> bytes:
    """The ``p`` answer: the output as the argument of ``mobwrite.callback``."""
    escaped = _JS_SPECIAL.sub(lambda match: _JS_ESCAPES[match[0]], output)
    return b'mobwrite.callback("' + escaped + b'");\n'


def sync_answer(parameter: str, output: bytes) -> Answer:
    """The answer carrying the engine's *output* for a ``q`` or ``p`` request."""
    if parameter == "p":
        return Answer(200, jsonp(output), JAVASCRIPT)
    return Answer(200, output + b"\n", PLAIN)


def oversized(request: bytes, limits: Limits) -> Answer | None:
    """413 when *request* breaks MAX_REQUEST_BYTES or MAX_LINE_BYTES, else None."""
    if len(request) > limits.request_bytes:
        return refusal(413, f"the request is over {limits.request_bytes} bytes "
                            "(MAX_REQUEST_BYTES); nothing was done")
    if len(request) > limits.line_bytes and any(
            len(line) > limits.line_bytes for line in _LINE_BREAK.split(request)):
        return refusal(413, f"a request line is over {limits.line_bytes} bytes "
                            "(MAX_LINE_BYTES); nothing was done")
    return None


def too_large_body(limits: Limits) -> Answer:
    """413 for a body over the gateway's cap."""
    return refusal(413, f"the request body is over {limits.body_bytes} bytes; nothing was done")


def document_path(name: str) -> str:
    """The editor page's path for document *name* (a valid DOCUMENT_NAME); see static/README.md."""
    return f"/editor.html?doc={name}"


def bare_get(query: bytes, editor: str | None) -> Answer:
    """The answer to a GET without q or p: a redirect to the editor."""
    if editor is None:
        return refusal(404, "this daemon has no editor site; send a q or p parameter")
    if not query:
        return see_other(editor + EDITOR_START)
    name = query.decode("ascii", "replace")
    if not DOCUMENT_NAME.fullmatch(name):
        return refusal(400, f"illegal document name {name[:100]!r}: start with a letter, "
                            "then use only letters, digits and - _ : . (at most 100, "
                            "never two hyphens in a row), or send a q or p parameter")
    return see_other(editor + document_path(name))


def bearer(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer TOKEN`` header, if that is what it is."""
    if authorization is None:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def request_token(authorization: str | None, fields: dict[bytes, bytes]) -> str | None:
    """The request's token: the Authorization header's, else the ``token`` field's."""
    token = bearer(authorization)
    if token is None and b"token" in fields:
        # A token is ASCII; anything else is kept, replaced, to be refused as malformed.
        token = fields[b"token"].decode("ascii", "replace")
    return token


def forbidden(reason: str) -> Answer:
    """403 for a request that access control refused."""
    return refusal(403, f"forbidden: {reason}; nothing was done")


def decide(method: str, path: bytes, query: bytes, body: bytes, content_type: str,
           limits: Limits, editor: Callable[[], str | None],
           authorization: str | None = None) -> Sync | Answer:
    """What to do with one HTTP request to the gateway.

    *editor* returns the editor site's public base URL (``http://host:port``),
    or None when there is none; it is called only for a redirect.
    *authorization* is the request's Authorization header, if it has one.
    """
    if path not in GATEWAY_PATHS:
        return refusal(404, "not found: the gateway answers at / and /scripts/q.py")
    if method not in METHODS:
        return refusal(405, f"{method} is not supported; use GET or POST",
                       Allow=", ".join(METHODS))
    if method == "OPTIONS":
        return Answer(204, content_type=None, headers=PREFLIGHT)
    if len(body) > limits.body_bytes:
        return too_large_body(limits)
    if method == "POST" and content_type.split(";")[0].strip().lower() == "multipart/form-data":
        return refusal(415, "send the form as application/x-www-form-urlencoded")
    try:
        fields = parse_form(query)
        if method == "POST":
            fields.update(parse_form(body))
    except FormError as error:
        return refusal(400, str(error))
    for parameter in ("q", "p"):
        request = fields.get(parameter.encode())
        if request is not None:
            return oversized(request, limits) or Sync(
                parameter, request, request_token(authorization, fields))
    if method == "POST":
        return refusal(400, "send the request in a q or p parameter")
    return bare_get(query, editor())


def public_url(host_header: str | None, fallback_host: str, port: int, secure: bool) -> str:
    """The base URL of our other port, as the client named this host.

    The host name comes from the request's Host header (so a browser that
    reached us as ``localhost`` or by a LAN name is sent to the same name);
    without a usable one, the address the request arrived on.
    """
    match = _HOST.fullmatch(host_header.strip()) if host_header else None
    host = match["name"] if match else fallback_host
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{'https' if secure else 'http'}://{host}:{port}"


def raw_response(answer: Answer) -> bytes:
    """*answer* as HTTP/1.1 bytes that close the connection (for refusing early)."""
    head = [f"HTTP/1.1 {answer.status} {HTTPStatus(answer.status).phrase}"]
    head += [f"{name}: {value}" for name, value in answer.header_items()]
    head.append("Connection: close")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + answer.body
