"""A daemon with access control on, and the tokens an attacker would bring to it.

Shared by the access tests of the HTTP entries, the WebSocket and the
browser pages.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

from http_client import fetch

from benchmarks.daemon import Daemon
from mobwrite.client.blocking import BlockingClient
from mobwrite.tokens import issue, new_key

TEXT = "Keep this text exactly as it is.\n"


def mint(secret: Path, **options: object) -> str:
    """A token signed with *secret*'s newest key, for "tester", valid for an hour."""
    values: dict[str, object] = {"subject": "tester", "lifetime": 3600.0}
    values.update(options)
    return issue(secret, **values)  # type: ignore[arg-type]


class ProtectedSite:
    """A daemon started with key file *secret* (a new one if not given) and a
    trusted client on its TCP port, which access control does not cover."""

    def __init__(self, workdir: Path, secret: Path | None = None) -> None:
        if secret is None:
            secret = workdir / "keys"
            new_key(secret)
        self.secret = secret
        self.daemon = Daemon(workdir, "--auth-secret-file", str(secret)).start()
        self.trusted = BlockingClient(f"telnet://127.0.0.1:{self.daemon.ports['tcp']}", 10.0)

    def token(self, **options: object) -> str:
        return mint(self.secret, **options)

    def seed(self, name: str) -> None:
        """Give document *name* the known text through the trusted TCP port."""
        self.trusted.upload(name, TEXT, force=True)

    def text(self, name: str) -> str:
        """The master's text, read through the trusted TCP port."""
        return self.trusted.download_many([name])[name]

    def status_row(self, name: str) -> str:
        """Document *name*'s row of /status: its live views, length and age."""
        page = fetch(f"http://127.0.0.1:{self.daemon.ports['editor']}/status",
                     headers={"Authorization": f"Bearer {self.token(admin=True)}"})
        match = re.search(rf"<tr><td>{name}</td><td>(\d+)</td><td>(\d+)</td>",
                          page.body.decode())
        assert match is not None
        return match.group(0)


def other_document(site: ProtectedSite, name: str) -> str:
    return site.token(documents=[name + "-other"], prefixes=[name + "x"])


def expired(site: ProtectedSite, name: str) -> str:
    return site.token(documents=[name], now=time.time() - 120, lifetime=60.0)


def tampered(site: ProtectedSite, name: str) -> str:
    header, claims, signature = site.token(documents=[name]).split(".")
    return f"{header}.{claims}.{signature[::-1]}"


def unknown_key(site: ProtectedSite, name: str) -> str:
    stranger = site.secret.with_name(f"stranger-{name}")
    new_key(stranger)
    return issue(stranger, subject="mallory", documents=[name], lifetime=3600.0)


def attack_requests(attack: str, name: str) -> list[bytes]:
    """Mallory's requests for *attack*: a delete of document *name* and, unless
    the attack is about deleting, an overwrite of it."""
    requests = [b"u:mallory\nN:%s\n\n" % name.encode()]
    if "deleting" not in attack:
        requests.append(b"u:mallory\nF:0:%s\nR:0:pwned\n\n" % name.encode())
    return requests


# Each attack's token for a request that overwrites or deletes document *name*.
ATTACKS: dict[str, Callable[[ProtectedSite, str], str | None]] = {
    "no token": lambda site, name: None,
    "another document's token": other_document,
    "expired": expired,
    "tampered signature": tampered,
    "unknown key": unknown_key,
    "malformed": lambda site, name: "not.a.token",
    "read token deleting": lambda site, name: site.token(documents=[name], read_only=True),
    "write token deleting": lambda site, name: site.token(documents=[name]),
}
