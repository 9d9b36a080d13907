"""The editor pages in real headless Chromium against the real daemon."""

from __future__ import annotations

import secrets
import urllib.parse
from pathlib import Path

import pytest
from browser import WAIT_MS, Tab
from http_client import post_q
from playwright.sync_api import Browser, BrowserContext

from benchmarks.daemon import Daemon

TEXT = "#text"


def editor(daemon: Daemon, page: str, name: str) -> str:
    return f"http://127.0.0.1:{daemon.ports['editor']}/{page}?doc={name}"


def no_script_errors(*tabs: Tab) -> None:
    assert [error for tab in tabs for error in tab.errors] == []


def server_text(daemon: Daemon, name: str) -> str:
    """The document's text as the server holds it, read by a newcomer over the gateway."""
    user = "reader" + secrets.token_hex(2)
    answer = post_q(daemon.ports["gateway"], f"u:{user}\nF:0:{name}\nr:1:\n\n".encode())
    lines = answer.body.decode().split("\n")
    assert lines[0] == f"F:1:{name}", answer.body
    letter, _, payload = lines[1].partition(":0:")
    if payload in ("", "=0"):
        return ""
    assert letter == "d" and payload.startswith("+"), answer.body
    return urllib.parse.unquote(payload[1:], errors="strict")


def test_two_pages_converge(daemon: Daemon, context: BrowserContext, name: str) -> None:
    """Typing in both editors at once ends with the same text, holding both edits."""
    one, two = Tab(context, editor(daemon, "editor.html", name)), Tab(
        context, editor(daemon, "editor.html", name))
    one.type_at(TEXT, 0, "the middle")
    two.wait_for_value(TEXT, "the middle")
    # Both type at once, without waiting for each other, at either end. The
    # first page's typing leaves key by key, so its first letters may already
    # be on the second page: its end is found there, not counted beforehand.
    one.type_at(TEXT, 0, "Hello from one: ")
    two.type_at_end(TEXT, " and greetings from two.")
    merged = "Hello from one: the middle and greetings from two."
    one.wait_for_value(TEXT, merged)
    two.wait_for_value(TEXT, merged)
    assert server_text(daemon, name) == merged
    no_script_errors(one, two)


def test_the_cursor_stays_put_while_remote_edits_arrive(
        daemon: Daemon, context: BrowserContext, name: str) -> None:
    """Typing in the middle of a line while the other page edits before and after it."""
    local, remote = Tab(context, editor(daemon, "editor.html", name)), Tab(
        context, editor(daemon, "editor.html", name))
    remote.type_at(TEXT, 0, "first line\nsecond line\nthird line")
    local.wait_for_value(TEXT, "first line\nsecond line\nthird line")
    middle = len("first line\nsecond ")
    local.type_at(TEXT, middle, "X")
    remote.wait_for_value(TEXT, "first line\nsecond Xline\nthird line")
    remote.type_at(TEXT, 0, "REMOTE ")
    remote.type_at(TEXT, len(remote.value(TEXT)), " END")
    local.wait_for_value(TEXT, "REMOTE first line\nsecond Xline\nthird line END")
    # The remote insertion before the cursor moved it along with the text.
    cursor = len("REMOTE first line\nsecond X")
    assert local.selection(TEXT) == [cursor, cursor]
    local.page.keyboard.type("Y")
    final = "REMOTE first line\nsecond XYline\nthird line END"
    local.wait_for_value(TEXT, final)
    remote.wait_for_value(TEXT, final)
    assert local.selection(TEXT) == [cursor + 1, cursor + 1]
    no_script_errors(local, remote)


FORM_VALUES = """() => {
    const form = document.getElementById('demo');
    return {
        text: form.text.value, password: form.password.value, counter: form.counter.value,
        agree: form.agree.checked, color: form.color.value, size: form.size.value,
        toppings: [...form.toppings.selectedOptions].map(option => option.value),
        notes: form.notes.value,
    };
}"""


def test_every_form_element_syncs(daemon: Daemon, context: BrowserContext, name: str) -> None:
    """Text, password, hidden, checkbox, radio, select-one, select-multiple and textarea follow the other page."""
    one, two = Tab(context, editor(daemon, "form.html", name)), Tab(
        context, editor(daemon, "form.html", name))
    one.page.fill("#text", "Ada Lovelace")
    one.page.fill("#password", "s3cret")
    one.page.click("#counter-increment")
    one.page.click("#counter-increment")
    one.page.check("#agree")
    one.page.check("#color_green")
    one.page.select_option("#size", "m")
    one.page.select_option("#toppings", ["olives", "chili"])
    one.page.fill("#notes", "Ring twice.\nThen wait.")
    expected = {"text": "Ada Lovelace", "password": "s3cret", "counter": "2", "agree": True,
                "color": "green", "size": "m", "toppings": ["olives", "chili"],
                "notes": "Ring twice.\nThen wait."}
    two.wait(f"expected => JSON.stringify(({FORM_VALUES})()) === JSON.stringify(expected)",
             expected)
    # And back: the second page changes the choices, the first follows.
    two.page.uncheck("#agree")
    two.page.check("#color_blue")
    two.page.select_option("#toppings", ["cheese"])
    expected.update(agree=False, color="blue", toppings=["cheese"])
    one.wait(f"expected => JSON.stringify(({FORM_VALUES})()) === JSON.stringify(expected)",
             expected)
    no_script_errors(one, two)


def test_jsonp_pages_sync_with_fetch_pages(daemon: Daemon, context: BrowserContext, name: str) -> None:
    """A page on JSONP GETs (split into buffers) and a page on fetch POSTs share a text."""
    jsonp, fetching = Tab(context, editor(daemon, "editor.html", name)), Tab(
        context, editor(daemon, "editor.html", name))
    jsonp.page.evaluate(
        "() => { mobwrite.jsonp = true; mobwrite.websocket = false; mobwrite.get_maxchars = 200; }")
    jsonp.requests.clear()
    long_line = "A line long enough to need several script requests. " * 6
    jsonp.type_at(TEXT, 0, long_line)
    fetching.wait_for_value(TEXT, long_line)
    fetching.type_at(TEXT, 0, "From fetch: ")
    jsonp.wait_for_value(TEXT, "From fetch: " + long_line)
    gateway = f"http://127.0.0.1:{daemon.ports['gateway']}/?p="
    to_gateway = [(method, url) for method, url in jsonp.requests
                  if f":{daemon.ports['gateway']}/" in url]
    assert to_gateway and all(method == "GET" and url.startswith(gateway)
                              for method, url in to_gateway)
    assert any(url.startswith(gateway + "b%3A") for _, url in to_gateway)
    no_script_errors(jsonp, fetching)


def test_emoji_survive(daemon: Daemon, context: BrowserContext, name: str) -> None:
    """Characters outside the BMP travel both ways and reach the server intact."""
    one, two = Tab(context, editor(daemon, "editor.html", name)), Tab(
        context, editor(daemon, "editor.html", name))
    one.type_at(TEXT, 0, "Smile 😀, thumbs 👍🏽, family 👨‍👩‍👧.")
    two.wait_for_value(TEXT, "Smile 😀, thumbs 👍🏽, family 👨‍👩‍👧.")
    two.type_at(TEXT, len("Smile 😀"), " 🎉")
    final = "Smile 😀 🎉, thumbs 👍🏽, family 👨‍👩‍👧."
    one.wait_for_value(TEXT, final)
    assert server_text(daemon, name) == final
    no_script_errors(one, two)


def test_a_page_reconnects_after_the_daemon_restarts(
        tmp_path: Path, browser: Browser, context: BrowserContext, name: str) -> None:
    """Edits made while the daemon is down reach the new daemon on the same ports."""
    first = Daemon(tmp_path / "first")
    (tmp_path / "first").mkdir()
    first.start()
    tab = Tab(context, editor(first, "editor.html", name))
    # Only one page may bring the text back to the empty new daemon. A page
    # closed in the same profile leaves its saved session, which the next page
    # there carries on (docs/browser-offline.md): the witness gets its own.
    elsewhere = browser.new_context()
    try:
        tab.type_at(TEXT, 0, "before")
        witness = Tab(elsewhere, editor(first, "editor.html", name))
        witness.wait_for_value(TEXT, "before")
    finally:
        elsewhere.close()
        first.stop()
    tab.type_at(TEXT, len("before"), " and during")
    tab.wait_for_state("offline")
    (tmp_path / "second").mkdir()
    second = Daemon(tmp_path / "second", *[
        option for port in ("tcp", "gateway", "editor")
        for option in (f"--{port}", f"tcp:{first.ports[port]}:interface=127.0.0.1")]).start()
    try:
        assert second.ports == first.ports
        # The new daemon started empty; the page brings the whole text back.
        newcomer = Tab(context, editor(second, "editor.html", name))
        newcomer.wait_for_value(TEXT, "before and during")
        tab.wait_for_state("synced")
        assert server_text(second, name) == "before and during"
        no_script_errors(tab, witness, newcomer)
    finally:
        second.stop()


@pytest.mark.parametrize("page", ["editor.html", "index.html"])
def test_a_page_without_its_diff_library_says_what_is_missing(
        daemon: Daemon, context: BrowserContext, name: str, page: str) -> None:
    """With vendor/diff-match-patch.mjs missing (a package built without npm), the page says so."""
    tab = context.new_page()
    tab.set_default_timeout(WAIT_MS)
    tab.route("**/vendor/diff-match-patch.mjs",
              lambda route: route.fulfill(status=404, body="No such resource."))
    tab.goto(editor(daemon, page, name))
    notice = tab.locator("#load-error [role=alert]")
    notice.wait_for()
    message = notice.text_content() or ""
    assert "the server has no vendor/diff-match-patch.mjs" in message
    assert '"make dist"' in message and "docs/packaging.md" in message
    assert tab.locator("#state").is_hidden() or page == "index.html"
    assert tab.locator("main:visible").count() == 1
