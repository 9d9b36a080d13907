"""The editor's History view in real Chromium against the real daemon (docs/browser-client.md).

The slider shows the text at each revision with its change marked; a
restore from the view reaches another live page and merges with what that
page had typed and not yet sent; a page and the API writing at the same
moment both keep their text; a token without the right gets a clear
message in the panel, and a read-only one a disabled Restore button.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from browser import Tab
from http_client import Reply, fetch
from playwright.sync_api import Browser, BrowserContext, Route, WebSocketRoute
from test_browser import TEXT, editor, no_script_errors
from test_browser_access import Site

from benchmarks.daemon import Daemon


def api(daemon: Daemon, method: str, path: str, body: object = None,
        token: str | None = None) -> Any:
    """One API call on *daemon*'s gateway; its JSON answer (asserting success)."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    reply: Reply = fetch(f"http://127.0.0.1:{daemon.ports['gateway']}/api/v1/{path}",
                         None if body is None else json.dumps(body).encode(), method=method,
                         headers=headers)
    assert reply.status == 200, reply.body
    return json.loads(reply.body)


def open_history(tab: Tab) -> None:
    tab.page.click("#history-open")
    tab.wait("() => !document.getElementById('history').hidden && "
             "document.getElementById('history-text').dataset.revision !== undefined || "
             "document.getElementById('history-message').classList.contains('error')")


def shown(tab: Tab) -> dict[str, Any]:
    """What the panel shows: the revision, its text (without removed parts), the marks, the label."""
    return tab.page.evaluate("""() => {
        const text = document.getElementById('history-text');
        const nodes = [...text.childNodes];
        return {
            revision: Number(text.dataset.revision),
            text: nodes.filter((node) => node.localName !== 'del').map((node) => node.textContent).join(''),
            inserted: [...text.querySelectorAll('ins')].map((node) => node.textContent),
            deleted: [...text.querySelectorAll('del')].map((node) => node.textContent),
            meta: document.getElementById('history-meta').textContent,
            slider: [Number(document.getElementById('history-slider').min),
                     Number(document.getElementById('history-slider').max)],
        };
    }""")


def wait_for_revision(tab: Tab, number: int, text: str | None = None) -> dict[str, Any]:
    """What the panel shows once it shows revision *number* (with *text*, if given)."""
    tab.wait("""([number, text]) => {
        const shown = document.getElementById('history-text');
        return shown.dataset.revision === String(number) && (text === null || [...shown.childNodes]
            .filter((node) => node.localName !== 'del').map((node) => node.textContent).join('') === text);
    }""", [number, text])
    return shown(tab)


def message(tab: Tab) -> str:
    return tab.page.locator("#history-message").inner_text()


def test_the_slider_shows_the_text_at_each_revision(
        daemon: Daemon, context: BrowserContext, name: str) -> None:
    """Three API revisions, then typing in the page: the slider spans them, follows
    the new one, and each position shows its text with what changed marked."""
    api(daemon, "PUT", f"documents/{name}", {"text": "one\ntwo\n"})
    api(daemon, "PUT", f"documents/{name}", {"text": "one\ntwo\nthree\n"})
    api(daemon, "PUT", f"documents/{name}", {"text": "one\n2\nthree\n"})
    tab = Tab(context, editor(daemon, "editor.html", name))
    tab.wait_for_value(TEXT, "one\n2\nthree\n")
    open_history(tab)
    head = wait_for_revision(tab, 3)
    assert (head["text"], head["inserted"], head["deleted"]) == ("one\n2\nthree\n", ["2"], ["two"])
    assert head["slider"] == [0, 3]
    assert head["meta"].startswith("Revision 3 by api, ") and "(the current text)" in head["meta"]
    assert tab.page.locator("#history-restore").is_disabled()
    # The person types; the panel follows the new revision (it was at the head).
    tab.type_at(TEXT, 0, "zero\n")
    typed = wait_for_revision(tab, 4, "zero\none\n2\nthree\n")
    # The keystrokes fold into one revision; where the diff puts the insertion
    # ("zero\n" before "one", or "zer" and "\no" around its "o") is its choice.
    assert len("".join(typed["inserted"])) == len("zero\n") and typed["deleted"] == []
    user = tab.page.evaluate("() => mobwrite.syncUsername")
    assert typed["meta"].startswith(f"Revision 4 by {user}, ")
    # Back with the keyboard, as a person moves a slider.
    tab.page.focus("#history-slider")
    tab.page.keyboard.press("ArrowLeft")
    tab.page.keyboard.press("ArrowLeft")
    second = wait_for_revision(tab, 2)
    assert (second["text"], second["inserted"], second["deleted"]) == (
        "one\ntwo\nthree\n", ["three\n"], [])
    tab.page.keyboard.press("Home")
    base = wait_for_revision(tab, 0)
    assert (base["text"], base["inserted"], base["deleted"]) == ("", [], [])
    tab.page.keyboard.press("ArrowRight")
    first = wait_for_revision(tab, 1)
    assert (first["text"], first["inserted"]) == ("one\ntwo\n", ["one\ntwo\n"])
    assert not tab.page.locator("#history-restore").is_disabled()
    # The page's own text was never touched by looking.
    assert tab.value(TEXT) == "zero\none\n2\nthree\n"
    no_script_errors(tab)


def test_a_long_history_is_listed_a_page_at_a_time(
        daemon: Daemon, context: BrowserContext, name: str) -> None:
    """150 revisions: opening lists the newest 100; moving to the oldest ones
    fetches the page around them, which labels them."""
    for number in range(150):
        api(daemon, "POST", f"documents/{name}/append", {"text": f"{number} "})
    tab = Tab(context, editor(daemon, "editor.html", name))
    tab.wait_for_state("synced")
    open_history(tab)
    assert wait_for_revision(tab, 150)["slider"] == [0, 150]
    listings = [url for method, url in tab.requests if "/revisions?" in url]
    assert listings[0].endswith("/revisions?order=newest&limit=100")
    tab.page.keyboard.press("Home")
    assert wait_for_revision(tab, 0)["text"] == ""
    tab.page.keyboard.press("ArrowRight")
    first = wait_for_revision(tab, 1, "0 ")
    assert first["meta"].startswith("Revision 1 by api, ") and first["inserted"] == ["0 "]
    pages = [url for method, url in tab.requests if "/revisions?" in url and "start=" in url]
    assert pages == [listings[0] + "&start=51"]
    no_script_errors(tab)


class HeldSocket:
    """Holds what a page sends over its WebSocket while ``holding``: its typing
    stays unsent (the server hears nothing), while what the server sends
    still reaches the page."""

    def __init__(self, context: BrowserContext) -> None:
        self.holding = False
        self.held: list[str | bytes] = []
        self.servers: list[WebSocketRoute] = []
        context.route_web_socket(re.compile(r"/ws(\?|$)"), self._route)

    def _route(self, page_side: WebSocketRoute) -> None:
        server = page_side.connect_to_server()
        self.servers.append(server)
        page_side.on_message(lambda data: self._from_page(server, data))

    def _from_page(self, server: WebSocketRoute, data: str | bytes) -> None:
        if self.holding:
            self.held.append(data)
        else:
            server.send(data)

    def release(self) -> None:
        self.holding = False
        server = self.servers[-1]
        for data in self.held:
            server.send(data)
        self.held.clear()


@pytest.fixture
def held_context(browser: Browser) -> Iterator[tuple[BrowserContext, HeldSocket]]:
    """A second browser profile whose page's socket can be held."""
    fresh = browser.new_context()
    yield fresh, HeldSocket(fresh)
    fresh.close()


def no_polling(route: Route) -> None:
    """While the socket is held, the page must not get its typing out by polling either."""
    route.abort()


def test_restore_from_the_history_view_reaches_another_page_and_keeps_its_unsent_typing(
        daemon: Daemon, context: BrowserContext,
        held_context: tuple[BrowserContext, HeldSocket], name: str) -> None:
    """Page B types while its socket is held; page A restores revision 1 from its
    History view; B then sends its typing: both pages end with the restored text
    plus B's typing, and the history shows the restore by A's page."""
    first = "Title\n\nFirst paragraph.\n"
    api(daemon, "PUT", f"documents/{name}", {"text": first})
    api(daemon, "PUT", f"documents/{name}", {"text": first + "Second paragraph.\n"})
    b_context, socket = held_context
    a = Tab(context, editor(daemon, "editor.html", name))
    b = Tab(b_context, editor(daemon, "editor.html", name))
    for tab in (a, b):
        tab.wait_for_value(TEXT, first + "Second paragraph.\n")
        tab.wait("() => mobwrite.transport === 'live' && mobwrite.state === 'synced'")
    socket.holding = True
    b_context.route(re.compile(rf":{daemon.ports['gateway']}/$"), no_polling)
    b.type_at(TEXT, 0, "Hello ")
    b.wait("() => mobwrite.unsent")
    open_history(a)
    wait_for_revision(a, 2)
    a.page.focus("#history-slider")
    a.page.keyboard.press("ArrowLeft")
    wait_for_revision(a, 1)
    a.page.click("#history-restore")
    a.wait("() => /^Restored revision 1 as revision 3\\./"
           ".test(document.getElementById('history-message').textContent)")
    a.wait_for_value(TEXT, first)
    assert api(daemon, "GET", f"documents/{name}")["text"] == first
    # B's typing is still only on B's page.
    assert b.value(TEXT).startswith("Hello Title")
    socket.release()
    merged = "Hello " + first
    b.wait_for_value(TEXT, merged)
    a.wait_for_value(TEXT, merged)
    assert api(daemon, "GET", f"documents/{name}")["text"] == merged
    kinds = [(r["number"], r["kind"]) for r in
             api(daemon, "GET", f"documents/{name}/revisions")["revisions"]]
    assert kinds == [(4, "edit"), (3, "restore"), (2, "edit"), (1, "edit")]
    no_script_errors(a, b)


def test_a_page_and_the_api_writing_at_the_same_moment_both_keep_their_text(
        daemon: Daemon, held_context: tuple[BrowserContext, HeldSocket], name: str) -> None:
    """The page types (held, so the server has not heard it) while the API merges a
    change from the revision the page last saw: the page's typing and the API's
    change are both in the text, on the page and on the server."""
    base = api(daemon, "PUT", f"documents/{name}", {"text": "alpha\nbeta\ngamma\n"})["revision"]
    b_context, socket = held_context
    tab = Tab(b_context, editor(daemon, "editor.html", name))
    tab.wait_for_value(TEXT, "alpha\nbeta\ngamma\n")
    tab.wait("() => mobwrite.transport === 'live' && mobwrite.state === 'synced'")
    socket.holding = True
    b_context.route(re.compile(rf":{daemon.ports['gateway']}/$"), no_polling)
    tab.type_at(TEXT, len("alpha\nbeta\ngamma\n"), "typed in the page\n")
    tab.wait("() => mobwrite.unsent")
    merged = api(daemon, "PUT", f"documents/{name}",
                 {"text": "ALPHA\nbeta\ngamma\n", "base_revision": base})
    assert merged["text"] == "ALPHA\nbeta\ngamma\n"
    socket.release()
    both = "ALPHA\nbeta\ngamma\ntyped in the page\n"
    tab.wait_for_value(TEXT, both)
    tab.wait("() => !mobwrite.unsent && mobwrite.state === 'synced'")
    assert api(daemon, "GET", f"documents/{name}")["text"] == both
    no_script_errors(tab)


def test_many_changes_answered_around_the_pages_unsent_typing_keep_every_character_and_the_caret(
        daemon: Daemon, held_context: tuple[BrowserContext, HeldSocket], name: str) -> None:
    """The page types after its request left (held) in a text of repeated words,
    while the API rewrites much of it around the typing: the answer's delta and
    the typing start from one shadow and do not overlap, so the page makes both
    exactly (patching the delta in lost the typing) and the caret stays after it."""
    shadow = "echo echo echo india india alpha echo india alpha india india india"
    api(daemon, "PUT", f"documents/{name}", {"text": shadow})
    b_context, socket = held_context
    tab = Tab(b_context, editor(daemon, "editor.html", name))
    tab.wait_for_value(TEXT, shadow)
    tab.wait("() => mobwrite.transport === 'live' && mobwrite.state === 'synced'")
    socket.holding = True
    b_context.route(re.compile(rf":{daemon.ports['gateway']}/$"), no_polling)
    # A request (a poll) leaves and is held; a sync under way is let finish first.
    for _ in range(500):
        if any(re.search(rf"^F:\d+:{name}$", str(data), re.M) for data in socket.held):
            break
        tab.page.evaluate("() => { mobwrite.syncNow(); }")
        tab.page.wait_for_timeout(10)
    else:
        raise AssertionError("the page sent no request")
    tab.type_at(TEXT, len("echo echo echo india india alpha echo india "), "TYPED ")
    api(daemon, "PUT", f"documents/{name}", {"text": "echo echo india alpha india india alpha alpha"})
    socket.release()
    merged = "echo echo india alpha india TYPED india alpha alpha"
    tab.wait_for_value(TEXT, merged)
    caret = len("echo echo india alpha india TYPED ")
    assert tab.selection(TEXT) == [caret, caret]
    tab.wait("() => !mobwrite.unsent && mobwrite.state === 'synced'")
    assert api(daemon, "GET", f"documents/{name}")["text"] == merged
    no_script_errors(tab)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    running = Site(tmp_path_factory.mktemp("browserhistory"))
    yield running
    running.daemon.stop()


def test_a_token_without_the_right_is_told_so_in_the_panel(
        site: Site, context: BrowserContext, name: str) -> None:
    """A read-only page sees the history but its Restore button stays disabled,
    with a title saying why (the server would refuse it: 403); a page whose
    token does not cover the document is told it cannot see the history;
    nothing changes."""
    writer_token = site.editor_token(name)
    api(site.daemon, "PUT", f"documents/{name}", {"text": "first\n"}, writer_token)
    api(site.daemon, "PUT", f"documents/{name}", {"text": "second\n"}, writer_token)
    reader = Tab(context, site.editor(name, site.editor_token(name, read_only=True)))
    reader.wait_for_value(TEXT, "second\n")
    open_history(reader)
    assert wait_for_revision(reader, 2)["meta"].startswith("Revision 2 by tester, ")
    reader.page.focus("#history-slider")
    reader.page.keyboard.press("ArrowLeft")
    wait_for_revision(reader, 1)
    restore = reader.page.locator("#history-restore")
    assert restore.is_disabled()
    assert "read-only" in (restore.get_attribute("title") or "")
    assert not reader.page.locator("#history-message").evaluate(
        "line => line.classList.contains('error')")
    refused = fetch(f"http://127.0.0.1:{site.daemon.ports['gateway']}/api/v1/documents/"
                    f"{name}/revisions/1/restore", b"", method="POST",
                    headers={"Authorization": f"Bearer {site.editor_token(name, read_only=True)}"})
    assert refused.status == 403
    assert api(site.daemon, "GET", f"documents/{name}", token=writer_token)["revision"] == 2
    writer = Tab(context, site.editor(name, writer_token))
    writer.wait_for_value(TEXT, "second\n")
    open_history(writer)
    wait_for_revision(writer, 2)
    writer.page.focus("#history-slider")
    writer.page.keyboard.press("ArrowLeft")
    wait_for_revision(writer, 1)
    assert writer.page.locator("#history-restore").is_enabled()
    assert not writer.page.locator("#history-restore").get_attribute("title")
    stranger = Tab(context, site.editor(name, site.token(documents=[f"{name}-other"])))
    open_history(stranger)
    assert message(stranger) == (
        f"You cannot see this document's history: the token does not cover document '{name}'")
    assert stranger.page.locator("#history-slider").is_disabled()
    assert stranger.page.locator("#history-text").inner_text() == ""
    no_script_errors(reader, writer, stranger)


def test_export_downloads_the_text_with_the_page_token(
        site: Site, context: BrowserContext, name: str) -> None:
    """The Export link, on a page with a token, saves the current text as NAME.txt."""
    writer = Tab(context, site.editor(name, site.editor_token(name)))
    writer.type_at(TEXT, 0, "exported é\n")
    writer.wait_for_state("synced")
    open_history(writer)
    with writer.page.expect_download() as download:
        writer.page.click("#history-export")
    saved = download.value
    assert saved.suggested_filename == f"{name}.txt"
    with open(saved.path(), encoding="utf-8") as file:
        assert file.read() == "exported é\n"
    no_script_errors(writer)
