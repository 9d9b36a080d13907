"""The editor page under access control, in real Chromium (docs/security.md, "Browser pages").

A page takes its token from the URL fragment; a read-only page receives
others' edits and cannot change the document; a page whose token the
gateway refuses says so and keeps what was typed; a token with the share
right yields a read-only link that works.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from browser import Tab
from playwright.sync_api import BrowserContext
from protected import ProtectedSite
from test_browser import TEXT, no_script_errors
from test_browser_offline import wait_for_badge

from mobwrite.client.errors import NullDocument


class Site(ProtectedSite):
    """A daemon with access control on, and tokens for its editor page."""

    def editor_token(self, name: str, **options: object) -> str:
        """A token for the editor's two documents, *name* and its title."""
        return self.token(**{"documents": [name, f"{name}_title"], **options})

    def editor(self, name: str, token: str | None) -> str:
        fragment = f"#token={token}" if token else ""
        return f"http://127.0.0.1:{self.daemon.ports['editor']}/editor.html?doc={name}{fragment}"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    running = Site(tmp_path_factory.mktemp("browseraccess"))
    yield running
    running.daemon.stop()


def is_read_only(tab: Tab) -> bool:
    return bool(tab.page.evaluate(
        "() => document.querySelector('#text').readOnly && "
        "document.querySelector('#title').readOnly && "
        "!document.getElementById('read-only').hidden"))


def test_a_read_only_page_receives_edits_and_cannot_change_the_document(
        site: Site, context: BrowserContext, name: str) -> None:
    """The writer's typing reaches the read-only page, whose fields are read-only;
    an edit forced into it through the page reaches the server, is dropped there,
    and the page is brought back to the master's text."""
    writer = Tab(context, site.editor(name, site.editor_token(name)))
    reader = Tab(context, site.editor(name, site.editor_token(name, read_only=True)))
    assert not is_read_only(writer)
    assert is_read_only(reader)
    for tab in (writer, reader):
        assert tab.page.locator("#share-link").is_hidden()
    writer.type_at(TEXT, 0, "written by the writer")
    reader.wait_for_value(TEXT, "written by the writer")
    reader.wait_for_state("synced")
    # Forced past readOnly, as a script on the page could.
    reader.page.evaluate("""() => {
        const text = document.querySelector('#text');
        text.value = 'pwned';
        text.dispatchEvent(new Event('input'));
        mobwrite.syncNow();
    }""")
    site.daemon.wait_for_log(rf"an edit of '{name}' by '[^']+' was dropped: read-only token")
    reader.wait_for_value(TEXT, "written by the writer")
    reader.wait_for_state("synced")
    assert site.text(name) == "written by the writer"
    assert writer.value(TEXT) == "written by the writer"
    no_script_errors(writer, reader)


def test_a_page_without_a_token_or_with_an_expired_one_is_denied_and_keeps_its_typing(
        site: Site, context: BrowserContext, name: str) -> None:
    """The badge says denied with the gateway's reason, no retry is scheduled,
    typing stays on the page; a good token in the fragment then sends it."""
    expired = site.editor_token(name, lifetime=1.0, now=time.time() - 60)
    for token, reason in ((None, "a token is required"), (expired, "the token has expired")):
        tab = Tab(context, site.editor(name, token))
        tab.wait_for_state("denied")
        wait_for_badge(tab, f"^Denied — {reason}")
        assert tab.page.evaluate("() => mobwrite.retryIn") is None
        assert tab.page.locator("#retry").is_hidden()
        no_script_errors(tab)
    tab.type_at(TEXT, 0, "typed while denied")
    wait_for_badge(tab, r"^Denied — the token has expired.*\(your edits are kept here\)$")
    assert tab.page.evaluate("() => mobwrite.state") == "denied"
    assert tab.value(TEXT) == "typed while denied"
    with pytest.raises(NullDocument):
        site.text(name)
    tab.page.evaluate("token => { location.hash = 'token=' + token; }", site.editor_token(name))
    tab.wait_for_state("synced")
    assert site.text(name) == "typed while denied"
    no_script_errors(tab)


def test_copy_read_only_link_yields_a_working_read_only_link(
        site: Site, context: BrowserContext, name: str) -> None:
    """A token with the share right shows the button; its link, shown and copied,
    opens a read-only page that follows the writer."""
    origin = f"http://127.0.0.1:{site.daemon.ports['editor']}"
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=origin)
    writer = Tab(context, site.editor(name, site.editor_token(name, share=True)))
    writer.type_at(TEXT, 0, "shared text")
    writer.wait_for_state("synced")
    writer.page.click("#share-link")
    writer.wait("() => document.querySelector('#share-url').value !== ''")
    link = writer.value("#share-url")
    assert link.startswith(f"{origin}/editor.html?doc={name}#token=")
    assert writer.page.locator("#share-note").text_content() == "Read-only link (copied)"
    assert writer.page.evaluate("() => navigator.clipboard.readText()") == link
    reader = Tab(context, link)
    assert is_read_only(reader)
    assert reader.page.locator("#share-link").is_hidden()
    reader.wait_for_value(TEXT, "shared text")
    writer.type_at(TEXT, len("shared text"), ", and more")
    reader.wait_for_value(TEXT, "shared text, and more")
    no_script_errors(writer, reader)


def test_a_jsonp_page_sends_its_token_as_a_field_and_syncs(
        site: Site, context: BrowserContext, name: str) -> None:
    """JSONP cannot send a header: the token goes in a token field of each GET."""
    token = site.editor_token(name)
    writer = Tab(context, site.editor(name, token))
    jsonp = Tab(context, site.editor(name, token))
    jsonp.page.evaluate("() => { mobwrite.jsonp = true; mobwrite.websocket = false; }")
    jsonp.requests.clear()
    jsonp.type_at(TEXT, 0, "by JSONP")
    writer.wait_for_value(TEXT, "by JSONP")
    assert site.text(name) == "by JSONP"
    gateway = f"http://127.0.0.1:{site.daemon.ports['gateway']}/?token={token}&p="
    to_gateway = [(method, url) for method, url in jsonp.requests
                  if f":{site.daemon.ports['gateway']}/" in url]
    assert to_gateway and all(method == "GET" and url.startswith(gateway)
                              for method, url in to_gateway)
    no_script_errors(writer, jsonp)
