"""Access control on every public entry of a real daemon: its gateway, the WSGI gateway
(under gunicorn) and /status.

Each attack sends a request that would change or delete a document; it must
be refused with a 403 (or, for a read-only token writing, answered with the
master's text) and leave the document as it was, as read back through the
trusted TCP port.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from http_client import Reply, fetch, fetch_path, form
from protected import ATTACKS, TEXT, ProtectedSite, attack_requests, mint, tampered
from wsgiserver import WsgiServer

from benchmarks.daemon import Daemon, tcp_exchange
from mobwrite.client.errors import NullDocument
from mobwrite.daemon.services import BoundPorts
from mobwrite.daemon.tap import Options, access_warnings
from mobwrite.tokens import new_key
from mobwrite.tools.main import main


class Site(ProtectedSite):
    """A protected daemon, its WSGI gateway, and tokens minted from their key file."""

    def __init__(self, workdir: Path) -> None:
        secret = workdir / "keys"
        self.old_key = new_key(secret)
        self.old_token = mint(secret, documents=["rotated"])
        new_key(secret)
        super().__init__(workdir, secret)
        self.wsgi = WsgiServer(workdir / "wsgi", "gunicorn",
                               MOBWRITE_DAEMON=f"127.0.0.1:{self.daemon.ports['tcp']}",
                               MOBWRITE_AUTH_SECRET_FILE=str(self.secret))
        self.wsgi.workdir.mkdir()
        self.wsgi.start()

    def port(self, entry: str) -> int:
        return self.daemon.ports["gateway"] if entry == "gateway" else self.wsgi.port

    def stop(self) -> None:
        self.wsgi.stop()
        self.daemon.stop()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    running = Site(tmp_path_factory.mktemp("access"))
    yield running
    running.stop()


HOW = ("post-header", "post-field", "get-q", "get-p")


def send(port: int, how: str, request: bytes, token: str | None) -> Reply:
    """*request* to the gateway at *port*, as q or p, by POST or GET, the token as told."""
    fields: dict[str, bytes] = {}
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if token is not None and how == "post-header":
        headers["Authorization"] = f"Bearer {token}"
    elif token is not None:
        fields["token"] = token.encode()
    fields["p" if how == "get-p" else "q"] = request
    url = f"http://127.0.0.1:{port}/"
    if how.startswith("post"):
        return fetch(url, form(**fields), headers=headers)
    return fetch(url + "?" + form(**fields).decode())


@pytest.mark.parametrize("entry", ["gateway", "wsgi"])
@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize("attack", list(ATTACKS))
def test_refused_requests_change_nothing(site: Site, entry: str, how: str,
                                         attack: str) -> None:
    """Each bad token gets a one-line 403 for an overwrite and a delete; the text stays."""
    name = re.sub(r"\W", "", f"{entry}{how}{attack}")
    site.seed(name)
    before = site.status_row(name)
    token = ATTACKS[attack](site, name)
    requests = attack_requests(attack, name)
    for request in requests:
        reply = send(site.port(entry), how, request, token)
        assert reply.status == 403, reply.body
        assert reply.body.startswith(b"forbidden: ") and reply.body.count(b"\n") == 1
    assert site.status_row(name) == before, "a refused request opened a view"
    assert site.text(name) == TEXT


@pytest.mark.parametrize("entry", ["gateway", "wsgi"])
@pytest.mark.parametrize("how", HOW)
def test_a_read_only_token_writing_is_answered_with_the_master(site: Site, entry: str,
                                                               how: str) -> None:
    """The edit is dropped: the answer carries the way back to the master's text."""
    name = f"readonly{entry}{how.replace('-', '')}"
    site.seed(name)
    token = site.token(documents=[name], read_only=True)
    reply = send(site.port(entry), how, b"u:reader\nF:0:%s\nR:0:pwned\n\n" % name.encode(),
                 token)
    assert reply.status == 200
    assert b"D:0:" in reply.body and b"+Keep" in reply.body
    assert site.text(name) == TEXT


@pytest.mark.parametrize("entry", ["gateway", "wsgi"])
def test_good_tokens_sync_and_delete(site: Site, entry: str) -> None:
    """A write token changes its document; a delete token nullifies it."""
    name = f"granted{entry}"
    site.seed(name)
    token = site.token(documents=[name], delete=True)
    reply = send(site.port(entry), "post-header", b"u:writer\nF:0:%s\nR:0:mine\n\n"
                 % name.encode(), token)
    assert reply.status == 200 and site.text(name) == "mine"
    assert send(site.port(entry), "get-p", b"u:writer\nN:%s\n\n" % name.encode(),
                token).status == 200
    with pytest.raises(NullDocument):
        site.text(name)


def test_old_tokens_verify_until_their_key_is_removed(site: Site) -> None:
    """The token signed before the key file got its second key still works."""
    site.seed("rotated")
    reply = send(site.port("gateway"), "post-header", b"u:old\nF:0:rotated\nR:0:still\n\n",
                 site.old_token)
    assert reply.status == 200 and site.text("rotated") == "still"


def test_the_tcp_port_is_trusted_and_honours_the_read_only_line(site: Site) -> None:
    site.seed("viatcp")
    port = site.daemon.ports["tcp"]
    tcp_exchange(port, b"a:read-only\nu:relay\nF:0:viatcp\nR:0:pwned\n\n")
    assert site.text("viatcp") == TEXT
    tcp_exchange(port, b"u:relay\nF:0:viatcp\nR:0:changed\n\n")
    assert site.text("viatcp") == "changed"


def test_status_needs_the_admin_right(site: Site) -> None:
    site.seed("listedname")
    port = site.daemon.ports["editor"]
    for path in ("/status", "/status?token=" + site.token(documents=["listedname"]),
                 "/status?token=" + tampered(site, "x")):
        reply = fetch_path(port, path)
        assert reply.status == 403 and b"listedname" not in reply.body
    admin = site.token(admin=True)
    assert b"listedname" in fetch_path(port, "/status?token=" + admin).body
    reply = fetch(f"http://127.0.0.1:{port}/status", headers={"Authorization": f"Bearer {admin}"})
    assert reply.status == 200 and b"listedname" in reply.body


def test_refusals_are_counted_and_logged_without_the_token(site: Site) -> None:
    token = site.token(documents=["elsewhere"])
    assert send(site.port("gateway"), "post-header", b"u:m\nF:0:counted\nd:0:=0\n\n",
                token).status == 403
    site.daemon.wait_for_log(r"refused a request to the HTTP gateway .*'tester'.*document 'counted'")
    metrics = fetch_path(site.daemon.ports["gateway"], "/metrics").body.decode()
    assert re.search(r'mobwrite_access_refusals_total\{reason="not_covered"\} [1-9]', metrics)
    assert re.search(r'mobwrite_access_refusals_total\{reason="no_token"\} [1-9]', metrics)
    assert re.search(r'mobwrite_access_refusals_total\{reason="read_only"\} [1-9]', metrics)
    secret = site.secret.read_text(encoding="ascii").split()[-1]
    log = "".join(site.daemon.lines + site.wsgi.lines)
    assert token not in log and token.split(".")[2] not in log and secret not in log


def test_a_preflight_allows_the_authorization_header(site: Site) -> None:
    reply = fetch(f"http://127.0.0.1:{site.port('gateway')}/", method="OPTIONS")
    assert "Authorization" in reply.headers["Access-Control-Allow-Headers"]


def test_the_command_line_tools_send_tokens(site: Site, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """--token (or $MOBWRITE_TOKEN) goes with each request; a refusal says why."""
    site.seed("fortools")
    url = f"http://127.0.0.1:{site.port('gateway')}/"
    assert main(["download", url, "fortools"]) == 5
    assert "403 Forbidden: forbidden: a token is required" in capsys.readouterr().err
    token = site.token(documents=["fortools"])
    assert main(["download", url, "fortools", "--token", token]) == 0
    assert capsys.readouterr().out == TEXT
    monkeypatch.setenv("MOBWRITE_TOKEN", site.token(documents=["fortools"], read_only=True))
    assert main(["download", url, "fortools"]) == 0
    assert main(["nullify", url, "fortools"]) == 5
    assert "delete right" in capsys.readouterr().err
    assert site.text("fortools") == TEXT


def test_share_gives_a_read_only_token_that_expires_with_the_original(site: Site) -> None:
    site.seed("shared")
    url = f"http://127.0.0.1:{site.port('gateway')}/share"
    sharer = site.token(documents=["shared"], share=True, lifetime=600.0)
    reply = fetch(url, b"", headers={"Authorization": f"Bearer {sharer}"})
    assert reply.status == 200
    link = reply.body.decode().strip()
    claims = jwt.decode(link, options={"verify_signature": False})
    original = jwt.decode(sharer, options={"verify_signature": False})
    assert claims["rights"] == ["read"] and claims["docs"] == ["shared"]
    assert claims["exp"] <= original["exp"]
    answer = send(site.port("gateway"), "post-header", b"u:linked\nF:0:shared\nR:0:pwned\n\n",
                  link)
    assert answer.status == 200 and site.text("shared") == TEXT
    for token in (None, site.token(documents=["shared"]), link):
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        assert fetch(url, b"", headers=headers).status == 403
    assert fetch(url).status == 405


# Start-up: warnings and a key file that cannot be used.

def bound(**addresses: str) -> BoundPorts:
    ports = BoundPorts()
    ports.addresses.update(addresses)
    return ports


def test_public_ports_without_a_secret_are_warned_about() -> None:
    warnings = access_warnings(bound(tcp="127.0.0.1", gateway="0.0.0.0", editor="::"), False)
    assert len(warnings) == 2 and all("every document is public" in w for w in warnings)
    assert access_warnings(bound(tcp="0.0.0.0", gateway="127.0.0.1", editor="::1"), False) == []


def test_a_public_tcp_port_with_access_control_is_warned_about() -> None:
    [warning] = access_warnings(bound(tcp="0.0.0.0", gateway="0.0.0.0", editor="::"), True)
    assert "raw TCP port" in warning
    assert access_warnings(bound(tcp="127.0.0.1", gateway="0.0.0.0"), True) == []


def test_the_daemon_logs_the_warning(tmp_path: Path) -> None:
    """A gateway on every address without a key file: the log says every document is public."""
    daemon = Daemon(tmp_path, "--gateway", "tcp:0:interface=0.0.0.0").start()
    try:
        daemon.wait_for_log("HTTP gateway .* listens beyond loopback without an AUTH_SECRET_FILE")
    finally:
        daemon.stop()


def test_the_settings_file_turns_access_control_on(tmp_path: Path) -> None:
    secret = tmp_path / "keys"
    new_key(secret)
    config = tmp_path / "mobwrite.conf"
    config.write_text(f"AUTH_SECRET_FILE = {secret}\n", encoding="utf-8")
    options = Options()
    options.parseOptions(["--config", str(config)])
    assert options["gatekeeper"] is not None
    options = Options()
    options.parseOptions([])
    assert options["gatekeeper"] is None


def test_an_unusable_key_file_stops_start_up(tmp_path: Path) -> None:
    from twisted.python import usage

    secret = tmp_path / "keys"
    new_key(secret)
    secret.chmod(0o644)
    with pytest.raises(usage.UsageError, match="chmod 600"):
        Options().parseOptions(["--auth-secret-file", str(secret)])
    with pytest.raises(usage.UsageError, match="cannot read the key file"):
        Options().parseOptions(["--auth-secret-file", str(tmp_path / "missing")])
