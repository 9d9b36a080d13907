"""A MobWrite client for plain blocking code: sockets and urllib, with timeouts.

>>> from mobwrite.client.blocking import BlockingClient
>>> client = BlockingClient("telnet://127.0.0.1:3017")   # or "http://127.0.0.1:8017/"
>>> client.upload("notes", "Buy milk\\n")                  # doctest: +SKIP
>>> client.download("notes")                              # doctest: +SKIP
'Buy milk\\n'

A live, two-way session keeps a ``ClientSession`` and syncs it now and then:

>>> from mobwrite.client.session import ClientSession
from mobwrite.client.relay import DEFAULT_MAX_REPLY_BYTES, AnswerTooLong, send_and_read
>>> session = ClientSession()
>>> notes = session.share("notes", "Buy milk\\n")
>>> client.sync(session)                                  # doctest: +SKIP
>>> notes.text = notes.text + "Call Bob\\n"                # a local edit
>>> client.sync(session)                                  # doctest: +SKIP

Every failure is a ``mobwrite.client.errors.ClientError``.
"""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Generator
from typing import TypeVar

from mobwrite.client import operations
from mobwrite.client.errors import ProtocolFailure, Unreachable
from mobwrite.client.relay import DEFAULT_MAX_REPLY_BYTES, AnswerTooLong, send_and_read
from mobwrite.client.session import ClientSession
from mobwrite.client.urls import ServerURL, parse_url

T = TypeVar("T")
DEFAULT_TIMEOUT = 10.0
MAX_RESPONSE_BYTES = DEFAULT_MAX_REPLY_BYTES


def form_body(request: bytes) -> bytes:
    """The POST body of a gateway request: the request as the ``q`` form field."""
    return b"q=" + urllib.parse.quote_plus(request).encode("ascii")


def tcp_exchange(server: ServerURL, request: bytes, timeout: float) -> bytes:
    """Send *request* over raw TCP and read until the server closes, plus one LF."""
    try:
        answer = send_and_read(server.host, server.port, request, timeout, MAX_RESPONSE_BYTES)
    except AnswerTooLong:
        raise ProtocolFailure(f"{server.url} sent more than {MAX_RESPONSE_BYTES} bytes") from None
    except TimeoutError:
        raise Unreachable(f"{server.url} did not answer within {timeout:g} s") from None
    except OSError as error:
        raise Unreachable(f"cannot reach {server.url}: {error.strerror or error}") from None
    return answer + b"\n"


def http_exchange(server: ServerURL, request: bytes, timeout: float,
                  token: str | None = None) -> bytes:
    """POST *request* as ``q=`` to a gateway, with access *token* if given; return the body."""
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    post = urllib.request.Request(server.url, data=form_body(request), method="POST",
                                  headers=headers)
    try:
        with urllib.request.urlopen(post, timeout=timeout) as reply:
            body = reply.read(MAX_RESPONSE_BYTES + 1)
    except urllib.error.HTTPError as error:
        with error:
            # A refusal's body is one line saying why (a 403 from access control).
            explained = error.read(500).decode("utf-8", "replace").strip().splitlines()
        said = f": {explained[0]}" if explained else ""
        raise ProtocolFailure(
            f"{server.url} answered HTTP {error.code} {error.reason}{said}") from None
    except urllib.error.URLError as error:
        reason = error.reason
        if isinstance(reason, OSError) and reason.strerror:
            reason = reason.strerror
        raise Unreachable(f"cannot reach {server.url}: {reason}") from None
    except TimeoutError:
        raise Unreachable(f"{server.url} did not answer within {timeout:g} s") from None
    except OSError as error:
        raise Unreachable(f"cannot reach {server.url}: {error}") from None
    if len(body) > MAX_RESPONSE_BYTES:
        raise ProtocolFailure(f"{server.url} sent more than {MAX_RESPONSE_BYTES} bytes")
    return body


def run_blocking(operation: Generator[bytes, bytes, T], server: ServerURL, timeout: float,
                 token: str | None = None) -> T:
    """Drive an operation of ``mobwrite.client.operations`` to its result; *token*
    goes with each request to a gateway (the TCP port takes none)."""
    try:
        request = next(operation)
        while True:
            if server.is_tcp:
                answer = tcp_exchange(server, request, timeout)
            else:
                answer = http_exchange(server, request, timeout, token)
            request = operation.send(answer)
    except StopIteration as finished:
        return finished.value


class BlockingClient:
    """Talks to one MobWrite server; each method is one short operation."""

    def __init__(self, url: str, timeout: float = DEFAULT_TIMEOUT,
                 token: str | None = None) -> None:
        self.server = parse_url(url)
        self.timeout = timeout
        self.token = token

    def run(self, operation: Generator[bytes, bytes, T]) -> T:
        return run_blocking(operation, self.server, self.timeout, self.token)

    def exchange(self, request: bytes) -> bytes:
        """Send one raw protocol request; the answer ends with a blank line."""
        return self.run(_exchange(request))

    def download(self, name: str) -> str:
        """The text of *name*; ``NullDocument`` if it does not exist (nothing is created)."""
        return self.run(operations.download([name]))[name]

    def download_many(self, names: list[str]) -> dict[str, str]:
        """The texts of several documents, read in one request."""
        return self.run(operations.download(names))

    def upload(self, name: str, text: str, force: bool = False) -> None:
        """Make *text* the content of *name*: merged as an edit, or forced."""
        self.run(operations.upload(name, text, force))

    def nullify(self, *names: str) -> None:
        """Delete documents."""
        self.run(operations.nullify(list(names)))

    def sync(self, session: ClientSession) -> None:
        """One sync of every document *session* shares."""
        self.run(operations.sync(session))


def _exchange(request: bytes) -> Generator[bytes, bytes, bytes]:
    return operations.checked((yield request))
