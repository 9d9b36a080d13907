"""The editor page on the daemon's WebSocket, in real Chromium (docs/websocket.md).

A page syncs over the socket while it is open and hears at once when
someone else changed its document; it polls when the socket is refused or
gone, and says which it is on in the state badge.
"""

from __future__ import annotations

from pathlib import Path

from browser import Tab
from playwright.sync_api import BrowserContext
from test_browser import TEXT, editor, no_script_errors, server_text
from test_browser_offline import same_ports, wait_for_badge

from benchmarks.daemon import Daemon

# Polls a minute apart: an edit seen within seconds came by push.
SLOW = {"minSyncInterval": 100, "syncInterval": 60000, "maxSyncInterval": 60000,
        "liveSyncInterval": 60000}
PUSHED_WITHIN_MS = 5000


def wait_for_transport(tab: Tab, transport: str) -> None:
    tab.wait("transport => mobwrite.transport === transport && "
             "document.getElementById('state').dataset.transport === transport", transport)


def test_an_edit_is_pushed_to_the_other_page_between_polls_a_minute_apart(
        daemon: Daemon, context: BrowserContext, name: str) -> None:
    """With polls a minute apart, the other page shows an edit within seconds,
    without a single HTTP request: the notice came over its socket."""
    one, two = Tab(context, editor(daemon, "editor.html", name)), Tab(
        context, editor(daemon, "editor.html", name))
    for tab in (one, two):
        wait_for_transport(tab, "live")
        tab.wait_for_state("synced")
        tab.page.evaluate("settings => Object.assign(mobwrite, settings)", SLOW)
    wait_for_badge(two, "^Live — synced$")
    # Let any poll already due go by: the next one is a minute away.
    two.page.evaluate("() => mobwrite.syncNow()")
    two.requests.clear()
    one.type_at(TEXT, 0, "pushed")
    two.page.wait_for_function(
        "text => document.querySelector('#text').value === text", arg="pushed",
        timeout=PUSHED_WITHIN_MS)
    assert [url for _, url in two.requests if f":{daemon.ports['gateway']}/" in url] == []
    # And back, the same way.
    two.type_at(TEXT, len("pushed"), " back")
    one.page.wait_for_function(
        "text => document.querySelector('#text').value === text", arg="pushed back",
        timeout=PUSHED_WITHIN_MS)
    no_script_errors(one, two)


def test_a_refused_socket_falls_back_to_polling(
        fresh_daemon: Daemon, context: BrowserContext, name: str) -> None:
    """A daemon that lets no page of this origin open a socket: the pages poll, sync, and say so."""
    fresh_daemon.options += ["--websocket-origins", "https://docs.example.org"]
    fresh_daemon.start()
    one, two = Tab(context, editor(fresh_daemon, "editor.html", name)), Tab(
        context, editor(fresh_daemon, "editor.html", name))
    fresh_daemon.wait_for_log("refused a WebSocket from a page of")
    one.type_at(TEXT, 0, "by polling")
    two.wait_for_value(TEXT, "by polling")
    for tab in (one, two):
        tab.wait_for_state("synced")
        assert tab.page.evaluate("() => mobwrite.transport") == "polling"
        wait_for_badge(tab, "^Polling — synced$")
    assert server_text(fresh_daemon, name) == "by polling"
    no_script_errors(one, two)


def test_text_typed_while_the_daemon_is_down_reaches_the_other_page_after_a_restart(
        tmp_path: Path, context: BrowserContext, name: str) -> None:
    """Daemon stopped: both pages turn offline, typing goes on; restarted: the
    text typed meanwhile reaches the other page and both are live again."""
    first = Daemon(tmp_path).start()
    try:
        one, two = Tab(context, editor(first, "editor.html", name)), Tab(
            context, editor(first, "editor.html", name))
        one.type_at(TEXT, 0, "before.")
        two.wait_for_value(TEXT, "before.")
        for tab in (one, two):
            wait_for_transport(tab, "live")
    finally:
        first.stop()
    for tab in (one, two):
        tab.wait_for_state("offline")
        wait_for_transport(tab, "polling")
    one.type_at(TEXT, len("before."), " During.")
    assert one.value(TEXT) == "before. During."
    second = same_ports(first)
    try:
        two.wait_for_value(TEXT, "before. During.")
        for tab in (one, two):
            wait_for_transport(tab, "live")
            tab.wait_for_state("synced")
        assert server_text(second, name) == "before. During."
    finally:
        second.stop()
    no_script_errors(one, two)
