"""The HTTP API (docs/api.md) on a real daemon with access control on."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from http_client import Reply, fetch
from openapi_spec_validator import validate
from test_recovery import sync

from benchmarks.daemon import Daemon
from mobwrite.client.session import ClientSession
from mobwrite.tokens import issue, new_key
from mobwrite.tools.main import main

ROOT = Path(__file__).resolve().parent.parent
MAX_BODY = 1 << 20


class Api:
    """A protected daemon and tokens for it."""

    def __init__(self, workdir: Path) -> None:
        self.secret = workdir / "keys"
        new_key(self.secret)
        self.daemon = Daemon(workdir, "--auth-secret-file", str(self.secret),
                             "--max-request-bytes", str(MAX_BODY)).start()
        self.token = self.mint(subject="robot", prefixes=[""], delete=True)

    def mint(self, **options: Any) -> str:
        values: dict[str, Any] = {"subject": "tester", "lifetime": 3600.0}
        values.update(options)
        return issue(self.secret, **values)

    def call(self, method: str, path: str, body: object = None, token: str | None = None,
             raw: bytes | None = None, content_type: str = "application/json") -> Reply:
        data = raw if raw is not None else (
            None if body is None else json.dumps(body).encode())
        headers = {"Authorization": f"Bearer {token or self.token}"}
        if data is not None:
            headers["Content-Type"] = content_type
        return fetch(f"http://127.0.0.1:{self.daemon.ports['gateway']}/api/v1/{path}",
                     data, method=method, headers=headers)

    def json(self, method: str, path: str, body: object = None, status: int = 200,
             **options: Any) -> Any:
        reply = self.call(method, path, body, **options)
        assert reply.status == status, reply.body
        return json.loads(reply.body)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    running = Api(tmp_path_factory.mktemp("api"))
    yield running
    running.daemon.stop()


def test_the_openapi_description_is_valid_and_documented(api: Api) -> None:
    document = api.json("GET", "openapi.json")
    validate(document)
    operations = {(method.upper(), path) for path, item in document["paths"].items()
                  for method in item if method != "parameters"}
    reference = (ROOT / "docs" / "api.md").read_text()
    documented = set(re.findall(r"^### `(GET|PUT|POST|DELETE) /api/v1(/\S*)`", reference,
                                re.MULTILINE))
    assert documented == operations


def test_write_read_and_download(api: Api) -> None:
    written = api.json("PUT", "documents/plain", {"text": "Hello"})
    assert (written["text"], written["revision"]) == ("Hello", 1)
    read = api.json("GET", "documents/plain")
    assert read["name"] == "plain" and read["text"] == "Hello" and read["revision"] == 1
    appended = api.json("POST", "documents/plain/append", {"text": ", world é"})
    assert appended["text"] == "Hello, world é"
    download = api.call("GET", "documents/plain/text")
    assert download.body.decode() == "Hello, world é"
    assert download.headers["Content-Type"].startswith("text/plain")
    assert "attachment" in download.headers["Content-Disposition"]
    imported = api.call("PUT", "documents/plain/text", raw=b"from a file\n",
                        content_type="text/plain; charset=utf-8")
    assert imported.status == 200 and json.loads(imported.body)["revision"] == 3
    listed = api.json("GET", "documents?prefix=pla&limit=5")
    assert [(d["name"], d["length"], d["revision"]) for d in listed["documents"]] == [
        ("plain", 12, 3)]
    revisions = api.json("GET", "documents/plain/revisions")
    assert [(r["number"], r["author"], r["kind"]) for r in revisions["revisions"]] == [
        (3, "robot", "edit"), (2, "robot", "edit"), (1, "robot", "edit")]
    assert api.json("GET", "documents/plain/revisions/1")["text"] == "Hello"
    assert api.json("GET", "documents/missing", status=404)["error"]
    assert api.json("DELETE", "documents/plain")["deleted"] is True
    assert api.call("GET", "documents/plain").status == 404


def test_an_api_write_and_a_live_client_both_keep_their_text(api: Api) -> None:
    """The client types while the API merges a change from an older revision:
    both survive, and the client gets the merged text on its next sync."""
    base = api.json("PUT", "documents/shared", {"text": "one\ntwo\nthree\n"})["revision"]
    port = api.daemon.ports["tcp"]
    client = ClientSession("typist1")
    document = client.share("shared")
    for _ in range(2):
        assert sync(port, client) is not None
    assert document.text == "one\ntwo\nthree\n"
    document.text = "one\ntwo\nthree\nfour\n"
    assert sync(port, client) is not None
    merged = api.json("PUT", "documents/shared",
                      {"text": "ONE\ntwo\nthree\n", "base_revision": base})
    assert merged["text"] == "ONE\ntwo\nthree\nfour\n"
    assert sync(port, client) is not None
    assert document.text == "ONE\ntwo\nthree\nfour\n"
    authors = [r["author"] for r in api.json("GET", "documents/shared/revisions")["revisions"]]
    assert authors == ["robot", "typist1", "robot"]


def test_restore_reaches_a_live_client_and_force_overwrites(api: Api) -> None:
    api.json("PUT", "documents/restored", {"text": "first"})
    api.json("PUT", "documents/restored", {"text": "second"})
    client = ClientSession("reader01")
    document = client.share("restored")
    port = api.daemon.ports["tcp"]
    for _ in range(2):
        sync(port, client)
    assert document.text == "second"
    restored = api.json("POST", "documents/restored/revisions/1/restore")
    assert (restored["text"], restored["revision"]) == ("first", 3)
    sync(port, client)
    assert document.text == "first"
    forced = api.json("PUT", "documents/restored?force=true", {"text": "over"})
    assert forced["text"] == "over"
    kinds = [r["kind"] for r in api.json("GET", "documents/restored/revisions")["revisions"]]
    assert kinds == ["force", "restore", "edit", "edit"]


@pytest.mark.parametrize(("body", "status", "message"), [
    (b"{not json", 400, "not JSON"),
    (b"[]", 400, "JSON object"),
    (b'{"text": 5}', 400, "must be a string"),
    (b'{"text": "x", "base_revision": "1"}', 400, "whole number"),
    (b'{"text": "x", "colour": "red"}', 400, "unknown field"),
    (b'{}', 400, "required"),
    (b'{"text": "x", "base_revision": 99}', 404, "no revision 99"),
])
def test_bad_bodies_change_nothing(api: Api, body: bytes, status: int, message: str) -> None:
    api.json("PUT", "documents/guarded", {"text": "kept"})
    reply = api.call("PUT", "documents/guarded", raw=body)
    assert reply.status == status and message in json.loads(reply.body)["error"]
    assert api.json("GET", "documents/guarded")["text"] == "kept"


def test_oversized_bodies_are_refused(api: Api) -> None:
    reply = api.call("PUT", "documents/huge", raw=b'{"text": "' + b"x" * MAX_BODY + b'"}')
    assert reply.status == 413
    assert api.call("GET", "documents/huge").status == 404


def test_tokens_need_the_right_for_each_call(api: Api) -> None:
    api.json("PUT", "documents/private", {"text": "secret"})
    reader = api.mint(documents=["private"], read_only=True)
    assert api.json("GET", "documents/private", token=reader)["text"] == "secret"
    refused = api.call("PUT", "documents/private", {"text": "mine"}, token=reader)
    assert refused.status == 403 and "write" in json.loads(refused.body)["error"]
    stranger = api.mint(documents=["other"])
    assert api.call("GET", "documents/private", token=stranger).status == 403
    assert api.call("DELETE", "documents/private", token=api.mint(documents=["private"])
                    ).status == 403
    assert api.call("GET", "documents/private", token="not.a.token").status == 401
    assert api.json("GET", "documents/private")["text"] == "secret"


def test_the_history_and_restore_commands(api: Api, capsys: pytest.CaptureFixture[str]) -> None:
    api.json("PUT", "documents/cli", {"text": "alpha"})
    api.json("POST", "documents/cli/append", {"text": " beta"})
    url = f"http://127.0.0.1:{api.daemon.ports['gateway']}/"
    token = ["--token", api.token]
    assert main(["history", url, "cli", *token]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["1", "2"]
    assert lines[1].split()[3:] == ["robot", "edit", "+5", "-0"]
    assert main(["history", url, "cli", "--at", "1", *token]) == 0
    assert capsys.readouterr().out == "alpha"
    assert main(["restore", url, "cli", "1", *token]) == 0
    assert "restored as revision 3" in capsys.readouterr().out
    assert api.json("GET", "documents/cli")["text"] == "alpha"
    assert main(["history", url, "cli", "--at", "9", *token]) == 6
    assert "no revision 9" in capsys.readouterr().err
    assert main(["restore", url, "cli", "1"]) == 5


def test_browsers_on_any_origin_may_call_it(api: Api) -> None:
    """A preflight needs no token and allows the API's methods with a bearer
    token; every answer, refusals too, carries the CORS header."""
    preflight = fetch(f"http://127.0.0.1:{api.daemon.ports['gateway']}/api/v1/documents/x",
                      method="OPTIONS", headers={
                          "Origin": "http://elsewhere.example",
                          "Access-Control-Request-Method": "PUT",
                          "Access-Control-Request-Headers": "authorization, content-type"})
    assert preflight.status == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "PUT" in preflight.headers["Access-Control-Allow-Methods"]
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    for reply in (api.call("GET", "documents"), api.call("GET", "documents", token="bad")):
        assert reply.headers["Access-Control-Allow-Origin"] == "*"
