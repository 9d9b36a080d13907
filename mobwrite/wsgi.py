"""The HTTP gateway as a WSGI application, forwarding to a running daemon (docs/protocol.md §2.3).

``mobwrite.core.httpform`` decides what each request means and formats every
answer, exactly as for the built-in twisted.web gateway; this adapter reads
the WSGI environ and hands each protocol request to the daemon's raw TCP
port (``mobwrite.client.relay``), as the original gateway script did.  When the
daemon cannot be reached, or is silent past the timeout, the answer is the
empty one, which every client treats as "nothing happened".

``application`` is configured from the environment:

* ``MOBWRITE_DAEMON``: ``HOST:PORT`` of the daemon's ``--tcp`` port
  (default ``127.0.0.1:3017``);
* ``MOBWRITE_EDITOR_URL``: base URL of the editor site, for the 303 answer
  to a request without ``q`` or ``p`` (default ``http://127.0.0.1:8000``;
  ``/`` when a reverse proxy serves the editor on the same origin);
* ``MOBWRITE_TIMEOUT``: time allowed to connect, and again to answer
  (default 10 seconds; ``2.5`` or ``30 seconds`` as in the settings file);
* ``MOBWRITE_CONFIG``: the daemon's settings file, so that the gateway
  applies the same MAX_REQUEST_BYTES and MAX_LINE_BYTES, and, with
  AUTH_SECRET_FILE, the same access control (optional);
* ``MOBWRITE_AUTH_SECRET_FILE``: the key file of access control, when the
  settings file does not name it (docs/security.md).

The daemon's TCP port checks no token, so with access control on this
gateway checks each request's token itself before relaying it, answers
403 to what the token does not allow, and marks the request of a
read-only token with ``a:read-only`` so that the daemon keeps its edits
off the master.

This runs under a WSGI server, outside Twisted's logging: failures are
reported on the server's ``wsgi.errors`` stream, which every WSGI server
routes to its error log.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from pathlib import Path
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from mobwrite.client import relay
from mobwrite.client.relay import DaemonAddress, RelayError
from mobwrite.core import httpform
from mobwrite.core.access import READ_ONLY_LINE, Refused
from mobwrite.core.httpform import Answer, Limits
from mobwrite.settings import (
    SettingError,
    Settings,
    check,
    parse_duration,
    parse_settings_file,
)
from mobwrite.tokens import Gatekeeper

DEFAULT_DAEMON = "127.0.0.1:3017"
DEFAULT_EDITOR_URL = "http://127.0.0.1:8000"


class Gateway:
    """A WSGI application answering ``q`` and ``p`` through a daemon's TCP port."""

    def __init__(self, daemon: DaemonAddress, editor_url: str | None, timeout: float,
                 limits: Limits, gatekeeper: Gatekeeper | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.daemon = daemon
        # httpform appends the editor's paths (its start page, a document's page) to this base.
        self.editor = None if editor_url is None else editor_url.rstrip("/")
        self.timeout = timeout
        self.limits = limits
        self.gatekeeper = gatekeeper
        self.clock = clock

    def __call__(self, environ: WSGIEnvironment,
                 start_response: StartResponse) -> Iterable[bytes]:
        answer = self.answer(environ)
        headers = answer.header_items() + [("Content-Length", str(len(answer.body)))]
        start_response(f"{answer.status} {HTTPStatus(answer.status).phrase}", headers)
        return [answer.body]

    def answer(self, environ: WSGIEnvironment) -> Answer:
        """The complete answer to one request."""
        method = environ["REQUEST_METHOD"]
        body = b""
        if method == "POST":
            try:
                read = read_body(environ, self.limits.body_bytes)
            except ValueError as error:
                return httpform.refusal(400, str(error))
            if read is None:
                return httpform.too_large_body(self.limits)
            body = read
        decision = httpform.decide(
            method,
            # WSGI carries the raw bytes of the path and query as latin-1 text.
            (environ.get("PATH_INFO") or "/").encode("latin-1"),
            environ.get("QUERY_STRING", "").encode("latin-1"),
            body, environ.get("CONTENT_TYPE", ""), self.limits, lambda: self.editor,
            environ.get("HTTP_AUTHORIZATION"),
        )
        if isinstance(decision, Answer):
            return decision
        request = decision.request
        if self.gatekeeper is not None:
            verdict, grant = self.gatekeeper.authorize(decision.token, request, self.clock())
            if isinstance(verdict, Refused):
                subject = None if grant is None else grant.subject
                log(environ, f"refused a request from {environ.get('REMOTE_ADDR')} "
                             f"(subject {subject!r}): {verdict.reason}")
                return httpform.forbidden(verdict.reason)
            if not verdict.may_write:
                request = READ_ONLY_LINE + request
        return httpform.sync_answer(decision.parameter, self.forward(request, environ))

    def forward(self, request: bytes, environ: WSGIEnvironment) -> bytes:
        """The daemon's output for *request*; empty when it cannot answer."""
        framed = relay.tcp_framing(request)
        if framed is None:
            return b""
        try:
            return relay.exchange(self.daemon, framed, self.timeout)
        except RelayError as error:
            log(environ, f"no answer from the {error}; answered empty")
            return b""


def log(environ: WSGIEnvironment, message: str) -> None:
    """One line on the WSGI server's error log."""
    errors = environ["wsgi.errors"]
    errors.write(f"mobwrite.wsgi: {message}\n")
    errors.flush()


def read_body(environ: WSGIEnvironment, cap: int) -> bytes | None:
    """The request body, or None when it is over *cap* bytes; never reads more than that.

    Raises ValueError for a Content-Length that is not a number.
    """
    declared = (environ.get("CONTENT_LENGTH") or "").strip()
    if declared:
        if not (declared.isascii() and declared.isdigit()):
            raise ValueError(f"Content-Length {declared[:40]!r} is not a number of bytes")
        length = int(declared)
        if length > cap:
            return None
    elif environ.get("wsgi.input_terminated"):
        # A chunked body the server ends for us: read one byte past the cap to see it.
        length = cap + 1
    else:
        return b""
    stream = environ["wsgi.input"]
    chunks = []
    wanted = length
    while wanted > 0:
        chunk = stream.read(min(wanted, 65536))
        if not chunk:
            break
        chunks.append(chunk)
        wanted -= len(chunk)
    body = b"".join(chunks)
    return None if len(body) > cap else body


def make_application(daemon: DaemonAddress | str = DEFAULT_DAEMON,
                     editor_url: str | None = DEFAULT_EDITOR_URL,
                     timeout: float = relay.DEFAULT_TIMEOUT,
                     settings: Settings | None = None,
                     clock: Callable[[], float] = time.time) -> Gateway:
    """The gateway for the daemon at *daemon*, with the limits and access control
    of *settings*."""
    address = daemon if isinstance(daemon, DaemonAddress) else DaemonAddress.parse(daemon)
    settings = settings or Settings.defaults()
    return Gateway(address, editor_url, timeout, Limits.from_settings(settings),
                   Gatekeeper.from_settings(settings), clock)


def from_environment(environment: Mapping[str, str]) -> Gateway:
    """The gateway configured by MOBWRITE_* variables; a bad value stops start-up."""
    settings = Settings.defaults()
    config = environment.get("MOBWRITE_CONFIG")
    if config:
        text = Path(config).read_text(encoding="utf-8")
        settings = check(Settings.defaults(**parse_settings_file(text, config)))
    secret_file = environment.get("MOBWRITE_AUTH_SECRET_FILE")
    if secret_file:
        settings = settings.replace(auth_secret_file=secret_file)
    timeout = environment.get("MOBWRITE_TIMEOUT")
    seconds = relay.DEFAULT_TIMEOUT if timeout is None else parse_duration(timeout)
    if not seconds > 0:
        raise SettingError(f"MOBWRITE_TIMEOUT={timeout!r}: allow more than 0 seconds, such as 10")
    return make_application(environment.get("MOBWRITE_DAEMON", DEFAULT_DAEMON),
                            environment.get("MOBWRITE_EDITOR_URL", DEFAULT_EDITOR_URL),
                            seconds, settings)


application: WSGIApplication = from_environment(os.environ)
