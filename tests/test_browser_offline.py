"""The editor pages when the daemon goes away, and undo (issue 14), in real headless Chromium.

A page keeps its sync state in localStorage and its files in a service
worker: text typed while the daemon is down survives closing the browser
and reaches the daemon when it is back.  Undo takes back only the
person's own typing, whatever arrived from others meanwhile.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from browser import Tab, launch_profile
from playwright.sync_api import Browser, BrowserContext, Dialog
from servers import Endpoint
from test_browser import editor, no_script_errors, server_text

from benchmarks.daemon import Daemon, tcp_exchange
from mobwrite.client.session import ClientSession
from mobwrite.storage.sqlite import DATABASE_NAME

TEXT = "#text"
SAVED = """text => Object.keys(localStorage).some(key => key.startsWith('mobwrite.session.')
    && JSON.stringify(JSON.parse(localStorage.getItem(key))).includes(text))"""


def same_ports(stopped: Daemon, *options: str) -> Daemon:
    """A new daemon on *stopped*'s data directory and ports."""
    return Daemon(stopped.workdir, *options, *[
        option for port in ("tcp", "gateway", "editor")
        for option in (f"--{port}", f"tcp:{stopped.ports[port]}:interface=127.0.0.1")]).start()


def badge(tab: Tab) -> str:
    return tab.page.locator("#state").inner_text()


def wait_for_badge(tab: Tab, pattern: str) -> None:
    """Block until the state badge's text matches the regular expression *pattern*
    (an offline badge is redrawn four times a second)."""
    tab.wait("pattern => new RegExp(pattern).test(document.getElementById('state').textContent)",
             pattern)


def test_text_typed_offline_survives_closing_the_browser_and_reaches_the_restarted_daemon(
        tmp_path: Path, browser: Browser, name: str) -> None:
    """Daemon stopped, text typed, tab closed (after a warning), browser closed; the
    page opens from the service worker with the text kept, and delivers it once
    the daemon is back."""
    first = Daemon(tmp_path).start()
    profile = tmp_path / "profile"
    context = launch_profile(browser, profile)
    try:
        tab = Tab(context, editor(first, "editor.html", name))
        tab.type_at(TEXT, 0, "before")
        tab.wait_for_state("synced")
        # The service worker has kept the site's files once it is active.
        assert tab.page.evaluate("() => navigator.serviceWorker.ready.then(() => true)")
    finally:
        first.stop()
    tab.type_at(TEXT, len("before"), " and during")
    tab.wait_for_state("offline")
    tab.wait(SAVED, "before and during")
    no_script_errors(tab)
    # Closing the tab with edits that cannot leave asks first.
    asked: list[str] = []

    def answer(dialog: Dialog) -> None:
        asked.append(dialog.type)
        dialog.accept()

    tab.page.on("dialog", answer)
    with tab.page.expect_event("close"):
        tab.page.close(run_before_unload=True)
    assert asked == ["beforeunload"]
    context.close()

    context = launch_profile(browser, profile)
    try:
        reopened = Tab(context, editor(first, "editor.html", name))
        assert reopened.value(TEXT) == "before and during"
        reopened.wait_for_state("offline")
        wait_for_badge(reopened, "^Offline — edits kept, retrying")
        second = same_ports(first)
        try:
            reopened.wait_for_state("synced")
            assert server_text(second, name) == "before and during"
        finally:
            second.stop()
        no_script_errors(reopened)
    finally:
        context.close()


def test_retry_now_sends_at_once_when_the_daemon_is_back(
        tmp_path: Path, context: BrowserContext, name: str) -> None:
    """The offline badge says the edits are kept and when the next try is; "Retry now" tries at once."""
    first = Daemon(tmp_path).start()
    try:
        tab = Tab(context, editor(first, "editor.html", name))
        tab.type_at(TEXT, 0, "kept")
        tab.wait_for_state("synced")
    finally:
        first.stop()
    # Tries a minute apart from now on, and no socket (whose own reconnection would
    # bring the page back by itself): only the button can bring the page back in time.
    tab.page.evaluate("() => Object.assign(mobwrite, "
                      "{minSyncInterval: 60000, maxRetryInterval: 60000, websocket: false})")
    tab.type_at(TEXT, len("kept"), " offline")
    tab.wait("() => mobwrite.retryIn > 30000")
    wait_for_badge(tab, r"^Offline — edits kept, retrying in \d+ s$")
    second = same_ports(first)
    try:
        tab.page.click("#retry")
        tab.wait_for_state("synced")
        assert tab.page.locator("#retry").is_hidden()
        assert server_text(second, name) == "kept offline"
    finally:
        second.stop()
    no_script_errors(tab)


@pytest.mark.parametrize(("page", "field", "document"), [
    ("editor.html", "#text", "{name}"), ("form.html", "#text", "{name}_text")])
def test_undo_takes_back_only_own_typing_after_a_remote_update(
        daemon: Daemon, context: BrowserContext, name: str, page: str, field: str,
        document: str) -> None:
    """Ctrl+Z removes what this page typed and keeps what the other page typed meanwhile; redo brings it back."""
    local, remote = Tab(context, editor(daemon, page, name)), Tab(context, editor(daemon, page, name))
    remote.type_at(field, 0, "shared")
    local.wait_for_value(field, "shared")
    local.type_at(field, len("shared"), " mine")
    remote.wait_for_value(field, "shared mine")
    remote.type_at(field, 0, "THEIRS ")
    local.wait_for_value(field, "THEIRS shared mine")
    local.page.keyboard.press("Control+z")
    assert local.value(field) == "THEIRS shared"
    remote.wait_for_value(field, "THEIRS shared")
    local.page.keyboard.press("Control+Shift+z")
    assert local.value(field) == "THEIRS shared mine"
    remote.wait_for_value(field, "THEIRS shared mine")
    assert server_text(daemon, document.format(name=name)) == "THEIRS shared mine"
    no_script_errors(local, remote)


def test_a_full_document_keeps_the_text_on_the_page_and_says_so(
        tmp_path: Path, context: BrowserContext, name: str) -> None:
    """Past MAX_CHARS the page shows "document full" with the limit, keeps the
    text, and shares it once it is short enough again."""
    daemon = Daemon(tmp_path, "--max-chars", "40").start()
    try:
        tab = Tab(context, editor(daemon, "editor.html", name))
        tab.type_at(TEXT, 0, "x" * 30)
        tab.wait_for_state("synced")
        # One paste: one edit, refused whole.
        tab.page.keyboard.insert_text("y" * 15)
        tab.wait_for_state("full")
        assert "full (limit 40 characters)" in badge(tab)
        assert tab.value(TEXT) == "x" * 30 + "y" * 15
        assert server_text(daemon, name) == "x" * 30
        for _ in range(10):
            tab.page.keyboard.press("Backspace")
        tab.wait_for_state("synced")
        assert server_text(daemon, name) == "x" * 30 + "y" * 5
        no_script_errors(tab)
    finally:
        daemon.stop()


def test_a_server_out_of_room_keeps_the_text_on_the_page_and_says_so(
        tmp_path: Path, context: BrowserContext, name: str) -> None:
    """With the disk quota (MAX_STORED) spent, the page says the server is out
    of room (not that the document is full), keeps the text, and shares it
    once the server has room again."""
    daemon = Daemon(tmp_path, "--max-stored", "1").start()
    try:
        tab = Tab(context, editor(daemon, "editor.html", name))
        tab.type_at(TEXT, 0, "kept here")
        tab.wait_for_state("no-room")
        assert badge(tab).startswith("The server is out of room")
        assert "full" not in badge(tab) and "limit" not in badge(tab)
        assert tab.value(TEXT) == "kept here"
        assert Endpoint("http", daemon.ports["gateway"]).text_of(name) is None
    finally:
        daemon.stop()
    daemon = same_ports(daemon)
    try:
        tab.page.evaluate("mobwrite.syncNow()")
        tab.wait_for_state("synced")
        assert server_text(daemon, name) == "kept here"
        no_script_errors(tab)
    finally:
        daemon.stop()


def test_a_page_whose_view_was_lost_keeps_what_others_wrote_meanwhile(
        tmp_path: Path, context: BrowserContext, name: str) -> None:
    """The daemon forgets the page's view; someone else writes; the person typed
    meanwhile. The page's typing lands on the other's text, the caret stays
    after it, and nothing the other wrote is deleted (docs/protocol.md §15.1)."""
    first = Daemon(tmp_path).start()
    try:
        tab = Tab(context, editor(first, "editor.html", name))
        tab.type_at(TEXT, 0, "one two")
        tab.wait_for_state("synced")
    finally:
        first.stop()
    # No syncing from now on but when the test asks (syncNow), and no socket.
    tab.page.evaluate("() => Object.assign(mobwrite, {minSyncInterval: 60000, "
                      "maxSyncInterval: 60000, maxRetryInterval: 60000, websocket: false})")
    tab.type_at(TEXT, 0, "zero ")
    tab.wait("() => mobwrite.retryIn > 30000")
    user = tab.page.evaluate("() => mobwrite.syncUsername")
    with sqlite3.connect(tmp_path / "data" / DATABASE_NAME) as database:
        assert database.execute("DELETE FROM views WHERE user = ?", (user,)).rowcount > 0
    database.close()
    second = same_ports(first)
    try:
        other = ClientSession("other001")
        document = other.share(name)
        other.apply_response(tcp_exchange(second.ports["tcp"], other.build_request()))
        assert document.text == "one two"
        document.text += " three 🎉"
        other.apply_response(tcp_exchange(second.ports["tcp"], other.build_request()))
        assert server_text(second, name) == "one two three 🎉"
        # The answer reseeds the lost view; the next request sends the typing alone.
        for _ in range(2):
            tab.page.evaluate("() => mobwrite.syncNow()")
        assert tab.value(TEXT) == "zero one two three 🎉"
        assert tab.selection(TEXT) == [5, 5]
        assert server_text(second, name) == "zero one two three 🎉"
        no_script_errors(tab)
    finally:
        second.stop()
