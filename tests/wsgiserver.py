"""Run the WSGI gateway under real WSGI servers on a loopback port chosen by the kernel."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from benchmarks.daemon import ROOT, Daemon

# How each server says where it listens, once it is ready.
_READY = {
    "gunicorn": r"Listening at: http://127\.0\.0\.1:(\d+)",
    "twisted": r"Site starting on (\d+)",
}
SERVERS = tuple(_READY)


class WsgiServer(Daemon):
    """gunicorn (with deploy/gunicorn.conf.py) or ``twist web --wsgi wsgi.application``."""

    def __init__(self, workdir: Path, kind: str, **environment: str) -> None:
        super().__init__(workdir)
        self.kind = kind
        self.settings = environment
        self.port = 0

    def command(self) -> list[str]:
        if self.kind == "gunicorn":
            return [sys.executable, "-m", "gunicorn",
                    "--config", str(ROOT / "deploy" / "gunicorn.conf.py"),
                    "--bind", "127.0.0.1:0", "--workers", "1", "--threads", "4"]
        return [sys.executable, "-m", "twisted", "--log-format", "text",
                "web", "--wsgi", "wsgi.application", "--listen", "tcp:0:interface=127.0.0.1"]

    def environment(self) -> dict[str, str]:
        return dict(super().environment(), **self.settings)

    def start(self, timeout: float = 30.0) -> WsgiServer:
        self.launch()
        line = self.wait_for_log(_READY[self.kind], timeout)
        match = re.search(_READY[self.kind], line)
        assert match is not None
        self.port = int(match[1])
        return self
