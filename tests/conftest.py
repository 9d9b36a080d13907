"""Fixtures shared by the test modules."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser import launch
from playwright.sync_api import Browser, BrowserContext, sync_playwright
from servers import Endpoint
from wsgiserver import SERVERS, WsgiServer

from benchmarks.daemon import Daemon
from benchmarks.postgres import PostgresServer
from mobwrite.storage.sqlite import Database


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    """An opened database in the test's own data directory."""
    opened = Database(tmp_path / "data")
    opened.open()
    yield opened
    opened.close()


@pytest.fixture(scope="session")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """One real daemon for the tests that only need a running server."""
    running = Daemon(tmp_path_factory.mktemp("daemon")).start()
    yield running
    running.stop()


@pytest.fixture
def fresh_daemon(tmp_path: Path) -> Iterator[Daemon]:
    """A daemon of the test's own, stopped afterwards."""
    running = Daemon(tmp_path)
    yield running
    if running.process is not None:
        running.stop()


@pytest.fixture(params=["tcp", "http"])
def endpoint(request: pytest.FixtureRequest, daemon: Daemon) -> Endpoint:
    """The real daemon over TCP and over its HTTP gateway."""
    return Endpoint(request.param, daemon.ports["tcp" if request.param == "tcp" else "gateway"])


@pytest.fixture(scope="session", params=("built-in",) + SERVERS)
def gateway_port(request: pytest.FixtureRequest, daemon: Daemon,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """Each HTTP gateway to the session daemon: its own, and the WSGI one under each server."""
    if request.param == "built-in":
        yield daemon.ports["gateway"]
        return
    server = WsgiServer(tmp_path_factory.mktemp(f"wsgi-{request.param}"), request.param,
                        MOBWRITE_DAEMON=f"127.0.0.1:{daemon.ports['tcp']}").start()
    yield server.port
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium for every page test of a module."""
    with sync_playwright() as playwright:
        running = launch(playwright)
        yield running
        running.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser profile per test (each page gets its own user id anyway)."""
    fresh = browser.new_context()
    yield fresh
    fresh.close()


@pytest.fixture
def name() -> str:
    """A document name no other test uses."""
    return "doc" + secrets.token_hex(4)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole session, removed afterwards."""
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A new empty database of the session's PostgreSQL server, for one test."""
    return postgres_server.new_database()


@pytest.fixture(scope="session")
def postgres_daemon(postgres_server: PostgresServer,
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """One real daemon keeping its documents in the session's PostgreSQL, with the
    original's 2 s TIMEOUT_TELNET (the conformance case "Empty" waits for the server
    to close a silent connection)."""
    running = Daemon(tmp_path_factory.mktemp("pgdaemon"), "--database",
                     postgres_server.new_database(), "--timeout-telnet", "2").start()
    yield running
    running.stop()
