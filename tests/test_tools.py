"""The ``mobwrite`` command-line tools, run as real subprocesses against real servers."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes import FakeServer, closed_port
from servers import Endpoint

from benchmarks.daemon import ROOT, Daemon
from mobwrite.core.escaping import encode_text

TOOL_TIMEOUT = 60


def mobwrite(*args: str, stdin: bytes = b"", cwd: Path | None = None,
             ) -> subprocess.CompletedProcess[bytes]:
    """Run ``python -m mobwrite ARGS`` and wait for it."""
    return subprocess.run(
        [sys.executable, "-m", "mobwrite", *args], check=False, input=stdin, capture_output=True,
        cwd=cwd, env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=TOOL_TIMEOUT)


def one_line_error(result: subprocess.CompletedProcess[bytes]) -> str:
    """The single stderr line of a failed run (no traceback)."""
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def name() -> str:
    return f"cli_{secrets.token_hex(6)}"


def put(endpoint: Endpoint, name: str, text: str) -> None:
    """Set a document's text with a forced raw, bypassing the tools."""
    answer = endpoint.exchange(f"u:setter\nF:0:{name}\nR:1:{encode_text(text)}\n\n".encode())
    assert answer.startswith(f"F:1:{name}\n".encode())


def test_download_prints_the_text_exactly(endpoint: Endpoint, name: str) -> None:
    """download writes the document's text as is: emoji, line breaks, no added newline."""
    put(endpoint, name, "first line\nsecond 😀 line")
    result = mobwrite("download", endpoint.url, name)
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode("utf-8") == "first line\nsecond 😀 line"


def test_download_of_several_documents(endpoint: Endpoint, name: str) -> None:
    """Several documents are read in one run, each printed after a header line."""
    put(endpoint, name + "a", "A\n")
    put(endpoint, name + "b", "")
    put(endpoint, name + "c", "C")
    put(endpoint, name + "d", "D\n")
    result = mobwrite("download", endpoint.url, *(name + part for part in "abcd"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode() == (
        f"==> {name}a <==\nA\n\n==> {name}b <==\n\n\n==> {name}c <==\nC\n\n"
        f"==> {name}d <==\nD\n")


def test_download_to_a_directory(endpoint: Endpoint, name: str, tmp_path: Path) -> None:
    """--output-dir writes each document to a file named after it, exactly."""
    put(endpoint, name + "a", "first 😀\r\n")
    put(endpoint, name + "b", "")
    result = mobwrite("download", "--output-dir", str(tmp_path), endpoint.url,
                      name + "a", name + "b")
    assert (result.returncode, result.stdout) == (0, b""), result.stderr
    assert (tmp_path / (name + "a")).read_bytes() == "first 😀\n".encode()
    assert (tmp_path / (name + "b")).read_bytes() == b""


def test_download_to_a_missing_directory_fails_first(endpoint: Endpoint, name: str,
                                                     tmp_path: Path) -> None:
    """A --output-dir that is not a directory is a local error (status 7)."""
    put(endpoint, name, "text")
    result = mobwrite("download", "--output-dir", str(tmp_path / "nowhere"), endpoint.url, name)
    assert result.returncode == 7
    assert "is not a directory" in one_line_error(result)


def test_raw_sends_standard_input_and_prints_the_answer(endpoint: Endpoint, name: str) -> None:
    """raw sends a request typed as protocol lines (a blank line added) and prints the answer."""
    result = mobwrite("raw", endpoint.url, stdin=f"u:rawuser\nF:0:{name}\nr:1:Hi\n".encode())
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode() == f"F:1:{name}\nd:0:=2\n"
    assert endpoint.text_of(name) == "Hi"


def test_raw_prints_nothing_for_an_empty_answer(endpoint: Endpoint) -> None:
    """A request with nothing to answer prints nothing and succeeds."""
    result = mobwrite("raw", endpoint.url, stdin=b"u:rawuser\n\n")
    assert (result.returncode, result.stdout) == (0, b""), result.stderr


def test_download_of_a_missing_document_fails_and_creates_nothing(
        endpoint: Endpoint, name: str) -> None:
    """A null document is an error (status 6), and reading it leaves it null."""
    result = mobwrite("download", endpoint.url, name)
    assert result.returncode == 6
    assert name in one_line_error(result)
    assert result.stdout == b""
    assert endpoint.text_of(name) is None


def test_upload_merges_into_an_existing_document(endpoint: Endpoint, name: str) -> None:
    """upload makes stdin the text through a sync, creating or changing the document."""
    assert mobwrite("upload", endpoint.url, name, stdin="new 😀\n".encode()).returncode == 0
    assert endpoint.text_of(name) == "new 😀\n"
    result = mobwrite("upload", endpoint.url, name, stdin=b"new \xf0\x9f\x98\x80\nmore\n")
    assert result.returncode == 0, result.stderr
    assert endpoint.text_of(name) == "new 😀\nmore\n"


def test_upload_force_overwrites(endpoint: Endpoint, name: str) -> None:
    """upload --force replaces the document with a raw text."""
    put(endpoint, name, "old text")
    result = mobwrite("upload", "--force", endpoint.url, name, stdin=b"replaced\n")
    assert result.returncode == 0, result.stderr
    assert endpoint.text_of(name) == "replaced\n"


def test_upload_refuses_input_that_is_not_utf8(endpoint: Endpoint, name: str) -> None:
    """Undecodable standard input is a local error (status 7) and sends nothing."""
    result = mobwrite("upload", endpoint.url, name, stdin=b"\xff\xfe")
    assert result.returncode == 7
    assert "UTF-8" in one_line_error(result)
    assert endpoint.text_of(name) is None


def test_nullify_deletes_documents(endpoint: Endpoint, name: str) -> None:
    """nullify makes the documents null."""
    put(endpoint, name, "doomed")
    put(endpoint, name + "x", "doomed too")
    result = mobwrite("nullify", endpoint.url, name, name + "x")
    assert result.returncode == 0, result.stderr
    assert endpoint.text_of(name) is None
    assert endpoint.text_of(name + "x") is None


def test_sync_merges_both_sides_across_runs(
        endpoint: Endpoint, name: str, tmp_path: Path) -> None:
    """Two files synced with one document converge on both sides' edits, line breaks kept."""
    first, second = tmp_path / "first.txt", tmp_path / "second.txt"
    first.write_bytes("alpha\nbeta 😀\n".encode())
    assert mobwrite("sync", endpoint.url, name, str(first)).returncode == 0
    assert endpoint.text_of(name) == "alpha\nbeta 😀\n"
    assert mobwrite("sync", endpoint.url, name, str(second)).returncode == 0
    assert second.read_bytes() == first.read_bytes()
    first.write_bytes("alpha\nbeta 😀\ngamma\n".encode())
    second.write_bytes("zero 🎉\nalpha\nbeta 😀\n".encode())
    for path in (first, second, first):
        result = mobwrite("sync", endpoint.url, name, str(path))
        assert result.returncode == 0, result.stderr
    expected = "zero 🎉\nalpha\nbeta 😀\ngamma\n"
    assert first.read_bytes().decode() == second.read_bytes().decode() == expected
    assert endpoint.text_of(name) == expected
    state = json.loads((tmp_path / ".first.txt.mobwrite").read_text())
    assert state["session"]["documents"][0]["shadow"] == expected


def test_sync_keeps_crlf_line_breaks(endpoint: Endpoint, name: str, tmp_path: Path) -> None:
    """A CR LF file stays CR LF although the server stores LF."""
    path = tmp_path / "dos.txt"
    path.write_bytes(b"one\r\ntwo\r\n")
    assert mobwrite("sync", endpoint.url, name, str(path)).returncode == 0
    assert endpoint.text_of(name) == "one\ntwo\n"
    put(endpoint, name, "one\ntwo\nthree\n")
    assert mobwrite("sync", endpoint.url, name, str(path)).returncode == 0
    assert path.read_bytes() == b"one\r\ntwo\r\nthree\r\n"


def test_sync_first_run_asks_which_side_wins(
        endpoint: Endpoint, name: str, tmp_path: Path) -> None:
    """Different texts with no shared history are refused until --initial decides."""
    put(endpoint, name, "remote text\n")
    path = tmp_path / "local.txt"
    path.write_bytes(b"local text\n")
    refused = mobwrite("sync", endpoint.url, name, str(path))
    assert refused.returncode == 7
    assert "--initial" in one_line_error(refused)
    assert path.read_bytes() == b"local text\n"
    assert mobwrite("sync", "--initial", "remote", endpoint.url, name, str(path)).returncode == 0
    assert path.read_bytes() == b"remote text\n"


def test_watch_prints_a_change_made_by_another_client(endpoint: Endpoint, name: str) -> None:
    """watch prints the current text, then the text another client wrote."""
    put(endpoint, name, "before")
    with subprocess.Popen(
            [sys.executable, "-m", "mobwrite", "watch", endpoint.url, name, "--count", "2",
             "--duration", "30", "--min-interval", "0.05", "--max-interval", "0.2"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=dict(os.environ, PYTHONPATH=str(ROOT))) as watcher:
        assert watcher.stdout is not None and watcher.stderr is not None
        assert watcher.stdout.readline() == b"before\n"
        put(endpoint, name, "after 😀")
        rest, errors = watcher.communicate(timeout=TOOL_TIMEOUT)
    assert watcher.returncode == 0, errors
    assert rest.decode() == "after 😀\n"


def test_watch_stops_cleanly_on_ctrl_c(endpoint: Endpoint, name: str) -> None:
    """SIGINT ends an unbounded watch with status 0 and nothing on stderr."""
    put(endpoint, name, "steady")
    with subprocess.Popen(
            [sys.executable, "-m", "mobwrite", "watch", endpoint.url, name,
             "--duration", "30", "--min-interval", "0.05", "--max-interval", "0.2"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=dict(os.environ, PYTHONPATH=str(ROOT))) as watcher:
        assert watcher.stdout is not None
        assert watcher.stdout.readline() == b"steady\n"
        watcher.send_signal(signal.SIGINT)
        rest, errors = watcher.communicate(timeout=TOOL_TIMEOUT)
    assert (watcher.returncode, rest, errors) == (0, b"", b"")


def test_watch_rides_out_a_daemon_restart(tmp_path: Path, name: str) -> None:
    """While the daemon is down, watch says so once and keeps polling; once it
    is back on the same port, the next version is printed."""
    first = Daemon(tmp_path).start()
    second: Daemon | None = None
    port = first.ports["tcp"]
    put(Endpoint("tcp", port), name, "before\n")
    try:
        with subprocess.Popen(
                [sys.executable, "-m", "mobwrite", "watch", f"telnet://127.0.0.1:{port}", name,
                 "--count", "2", "--min-interval", "0.05", "--max-interval", "0.2"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                env=dict(os.environ, PYTHONPATH=str(ROOT))) as watcher:
            assert watcher.stdout is not None and watcher.stderr is not None
            # The reads below block: a watcher that never writes is killed.
            guard = threading.Timer(TOOL_TIMEOUT, watcher.kill)
            guard.start()
            assert watcher.stdout.readline() == b"before\n"
            first.stop()
            assert b"retrying every 0.2 s" in watcher.stderr.readline()
            second = Daemon(tmp_path, "--tcp", f"tcp:{port}:interface=127.0.0.1").start()
            put(Endpoint("tcp", port), name, "after\n")
            rest, errors = watcher.communicate(timeout=TOOL_TIMEOUT)
            guard.cancel()
        assert (watcher.returncode, rest) == (0, b"after\n")
        assert errors == b"mobwrite watch: the server answers again\n"
    finally:
        for daemon in (first, second):
            if daemon is not None:
                daemon.stop()


def test_watch_writes_an_output_file(endpoint: Endpoint, name: str, tmp_path: Path) -> None:
    """watch --output replaces the file with the document's text."""
    put(endpoint, name, "line 1\nline 2\n")
    output = tmp_path / "out.txt"
    result = mobwrite("watch", endpoint.url, name, "--output", str(output), "--count", "1")
    assert result.returncode == 0, result.stderr
    assert output.read_bytes() == b"line 1\nline 2\n"
    assert list(tmp_path.iterdir()) == [output]


def test_watch_of_a_missing_document_fails(endpoint: Endpoint, name: str) -> None:
    """watch refuses a null document instead of creating it."""
    result = mobwrite("watch", endpoint.url, name, "--count", "1")
    assert result.returncode == 6
    assert endpoint.text_of(name) is None


def parse_summary(output: bytes) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in output.decode().splitlines())


@pytest.mark.parametrize("mode", [[], ["--original", "--rate", "10", "--duration", "1"]], ids=["editors", "original"])
def test_loadtest_summary(endpoint: Endpoint, mode: list[str]) -> None:
    """A short bounded load test reports syncs/s and latency percentiles and no errors."""
    result = mobwrite("loadtest", endpoint.url, "--editors", "3", "--duration", "2",
                      "--progress", *mode)
    assert result.returncode == 0, result.stderr
    figures = parse_summary(result.stdout)
    assert figures["errors"] == "0"
    assert int(figures["syncs"]) > 0
    assert float(figures["syncs_per_second"]) > 0
    assert 0 < float(figures["p50_ms"]) <= float(figures["p95_ms"]) <= float(figures["p99_ms"])
    progress = result.stderr.decode()
    assert progress.startswith("\r[") and progress.endswith(" errors 0\n")


def test_loadtest_json_summary_and_cleanup(endpoint: Endpoint) -> None:
    """--json prints one JSON object; the editors' documents are nullified afterwards."""
    result = mobwrite("loadtest", endpoint.url, "--editors", "2", "--duration", "0.5",
                      "--json", "--seed", "7")
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["mode"] == "editors" and figures["errors"] == 0
    assert result.stderr == b""


@pytest.fixture
def silent_server() -> Iterator[FakeServer]:
    server = FakeServer(None)
    yield server
    server.close()


@pytest.mark.parametrize("command", ["download", "upload", "nullify", "sync", "watch",
                                     "loadtest"])
def test_unreachable_server(command: str, tmp_path: Path) -> None:
    """Every tool fails with status 4 and one line when nothing listens."""
    url = f"telnet://127.0.0.1:{closed_port()}"
    extra = {"loadtest": [], "sync": ["doc", str(tmp_path / "file")]}.get(command, ["doc"])
    result = mobwrite(command, url, *extra)
    assert result.returncode == 4
    assert "cannot reach" in one_line_error(result)


def test_unreachable_http_server() -> None:
    """An HTTP URL with nothing behind it is status 4 too."""
    result = mobwrite("download", f"http://127.0.0.1:{closed_port()}/", "doc")
    assert result.returncode == 4
    assert "cannot reach" in one_line_error(result)


def test_silent_server_times_out(silent_server: FakeServer) -> None:
    """A server that never answers is given up on after --timeout (status 4)."""
    result = mobwrite("download", "--timeout", "0.5", silent_server.url, "doc")
    assert result.returncode == 4
    assert "did not answer within 0.5 s" in one_line_error(result)


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/", "telnet://", "telnet://host:99999",
                                 "http://[::1/", "127.0.0.1:3017", "telnet://h:1/path"])
def test_bad_url(url: str) -> None:
    """A URL that is not telnet://HOST:PORT or http(s)://… is status 3."""
    result = mobwrite("download", url, "doc")
    assert result.returncode == 3
    assert "bad server URL" in one_line_error(result)


@pytest.mark.parametrize("answer", [b"garbage", b"F:1:other\nR:0:x\n", b"<html>\n"])
def test_malformed_response(answer: bytes) -> None:
    """Garbage, or no answer for the document, is a protocol failure (status 5)."""
    server = FakeServer(answer)
    try:
        result = mobwrite("download", server.url, "doc")
    finally:
        server.close()
    assert result.returncode == 5
    one_line_error(result)


def test_usage_error() -> None:
    """Missing arguments are a usage error (status 2) with argparse's message."""
    result = mobwrite("download")
    assert result.returncode == 2
    assert b"usage: mobwrite download" in result.stderr


def test_console_script_is_declared() -> None:
    """setup.cfg installs a ``mobwrite`` command running the same main."""
    setup = (ROOT / "setup.cfg").read_text()
    assert "mobwrite = mobwrite.tools.main:main" in setup


@pytest.mark.parametrize(("args", "answer", "shape"), [
    (["upload", "--force"], b"F:1:doc\nD:0:=5\n", "u:{user}\nf:0:doc\nR:0:caf%C3%A9\n\n"),
    (["nullify"], b"", "u:{user}\nn:doc\n\n"),
    (["download"], b"F:1:doc\nR:0:caf%C3%A9\n", "u:{user}\nf:0:doc\nd:0:=1\n\n"),
])
def test_request_shapes_of_the_original_tools(args: list[str], answer: bytes, shape: str) -> None:
    """upload --force and nullify send the original tools' requests; download's read is safe."""
    server = FakeServer(answer)
    try:
        result = mobwrite(*args, server.url, "doc", stdin="café".encode())
    finally:
        server.close()
    assert result.returncode == 0, result.stderr
    [sent] = server.requests
    user = sent.split(b"\n")[0][2:].decode()
    assert sent.decode() == shape.format(user=user)
    assert user and user[0].isalpha()
    if args == ["download"]:
        assert result.stdout.decode() == "café"
