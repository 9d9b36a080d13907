"""A small blocking client of the HTTP API (docs/api.md), for the command line."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote, urlsplit

from mobwrite.client.errors import BadURL, ClientError, NullDocument, ProtocolFailure, Unreachable


class Refused(ClientError):
    """The API refused the call (a bad token, a missing right)."""

    exit_code = 5


class ApiClient:
    """Calls the API of the gateway at *url* (``http(s)://HOST:PORT/``)."""

    def __init__(self, url: str, timeout: float, token: str | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise BadURL(f"{url!r}: the API is on the gateway, give http(s)://HOST:PORT/")
        self.base = f"{parts.scheme}://{parts.netloc}/api/v1/"
        self.timeout = timeout
        self.token = token

    def document_path(self, name: str, *rest: str) -> str:
        return "/".join(["documents", quote(name, safe=""), *rest])

    def call(self, method: str, path: str) -> Any:
        """The JSON answer to *method* on *path*; NullDocument on a 404."""
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(self.base + path, method=method, headers=headers,
                                         data=b"" if method == "POST" else None)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as failure:
            message = _message(failure.read()) or failure.reason
            if failure.code == 404:
                raise NullDocument(str(message)) from None
            raise Refused(f"HTTP {failure.code}: {message}") from None
        except OSError as failure:
            raise Unreachable(f"{self.base}: {failure}") from None
        try:
            return json.loads(body)
        except ValueError:
            raise ProtocolFailure(f"{self.base}{path}: the answer is not JSON") from None


def _message(body: bytes) -> str | None:
    try:
        found = json.loads(body)
    except ValueError:
        return None
    return found.get("error") if isinstance(found, dict) else None
