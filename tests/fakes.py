"""A fake TCP server for the client's error paths: it records requests and answers as told."""

from __future__ import annotations

import http.server
import socket
import threading


class FakeServer:
    """Accepts connections on 127.0.0.1, records each request, sends *answer* (or nothing)."""

    def __init__(self, answer: bytes | None, connections: int = 1) -> None:
        self.answer = answer
        self.requests: list[bytes] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.released = threading.Event()
        self.thread = threading.Thread(target=self._serve, args=(connections,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"telnet://127.0.0.1:{self.port}"

    def _serve(self, connections: int) -> None:
        for _ in range(connections):
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return  # close() shut the listener down
            with connection:
                received = b""
                while not received.endswith(b"\n\n"):
                    chunk = connection.recv(65536)
                    if not chunk:
                        break
                    received += chunk
                self.requests.append(received)
                if self.answer is None:
                    # Silent: hold the connection until the test is done with it.
                    self.released.wait(30)
                else:
                    connection.sendall(self.answer)

    def close(self) -> None:
        self.released.set()
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes a pending accept
        except OSError:
            pass
        self.thread.join(30)
        self.listener.close()


def closed_port() -> int:
    """A loopback port that was just bound and released, so nothing listens on it."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        return int(listener.getsockname()[1])


class FailingGateway:
    """An HTTP server on 127.0.0.1 that answers every request with status 500."""

    def __init__(self) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_error(500, "Broken on purpose")

            def log_message(self, format: str, *args: object) -> None:
                pass  # keep test output clean

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(30)
