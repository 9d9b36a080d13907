"""Presence on the editor page in real Chromium: who is here, renames, departures,
and other people's carets drawn over the text (docs/websocket.md, "Presence")."""

from __future__ import annotations

from browser import Tab
from playwright.sync_api import BrowserContext
from test_browser import TEXT, editor, no_script_errors
from test_browser_live import wait_for_transport

from benchmarks.daemon import Daemon

# Within a second of the change, with slack for a machine shared by many tests.
SHOWN_WITHIN_MS = 5000
# The names listed in #presence, the page's own person ("(you)") left out.
OTHERS = """() => [...document.querySelectorAll('#presence li:not(.presence-self) .presence-name')]
    .map((item) => item.textContent)"""
# Where a character of the field is drawn, measured apart from the overlay: the
# width of the text before it in the field's font (the text is one unwrapped line).
CHARACTER_X = """offset => {
  const field = document.querySelector('#text');
  const style = getComputedStyle(field);
  const context = document.createElement('canvas').getContext('2d');
  context.font = `${style.fontStyle} ${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
  const box = field.getBoundingClientRect();
  return box.left + field.clientLeft + parseFloat(style.paddingLeft)
    + context.measureText(field.value.slice(0, offset)).width;
}"""
CARET = """() => {
  const caret = document.querySelector('.presence-caret');
  if (!caret) return null;
  const box = caret.getBoundingClientRect();
  const field = document.querySelector('#text').getBoundingClientRect();
  return { offset: Number(caret.dataset.offset), x: box.left + box.width / 2,
           top: box.top - field.top, name: caret.textContent, color: caret.style.backgroundColor };
}"""


def named(daemon: Daemon, context: BrowserContext, name: str, person: str) -> Tab:
    """An editor page on document *name*, live, whose person is called *person*."""
    tab = Tab(context, editor(daemon, "editor.html", name))
    wait_for_transport(tab, "live")
    rename(tab, person)
    return tab


def rename(tab: Tab, person: str) -> None:
    tab.page.fill("#presence-name", person)
    tab.page.dispatch_event("#presence-name", "change")


def wait_for_others(tab: Tab, names: list[str]) -> None:
    tab.page.wait_for_function(f"names => JSON.stringify(({OTHERS})()) === JSON.stringify(names)",
                               arg=names, timeout=SHOWN_WITHIN_MS)


def test_two_pages_see_each_others_names_and_renames(
        daemon: Daemon, context: BrowserContext, name: str) -> None:
    """Each page lists the other's person; a rename shows on the other page, and
    the name is kept for the next page of this browser."""
    ann = named(daemon, context, name, "Ann")
    bo = named(daemon, context, name, "Bo")
    wait_for_others(ann, ["Bo"])
    wait_for_others(bo, ["Ann"])
    rename(bo, "  Bobby  ")
    wait_for_others(ann, ["Bobby"])
    assert bo.value("#presence-name") == "Bobby"
    assert bo.page.evaluate("() => localStorage.getItem('mobwrite.presence.name')") == "Bobby"
    assert ann.page.text_content("#presence-note") == ""
    no_script_errors(ann, bo)


def test_a_closed_page_leaves_the_list(daemon: Daemon, context: BrowserContext, name: str) -> None:
    """Closing one page removes its person from the other's list, which then says no one is here."""
    ann = named(daemon, context, name, "Ann")
    bo = named(daemon, context, name, "Bo")
    wait_for_others(ann, ["Bo"])
    bo.page.close()
    wait_for_others(ann, [])
    assert ann.page.text_content("#presence-note") == "No one else is here."
    no_script_errors(ann)


def test_a_name_with_markup_shows_as_text(daemon: Daemon, context: BrowserContext, name: str) -> None:
    """A name holding <b> is listed as those characters, with no element made of it."""
    ann = named(daemon, context, name, "Ann")
    named(daemon, context, name, "<b>x</b>")
    wait_for_others(ann, ["<b>x</b>"])
    assert ann.page.locator("#presence b").count() == 0
    assert ann.page.locator(".presence-caret b, .presence-overlay b").count() == 0
    no_script_errors(ann)


def select(tab: Tab, start: int, end: int) -> None:
    tab.page.evaluate("""([start, end]) => { const field = document.querySelector('#text');
                                          field.focus(); field.setSelectionRange(start, end); }""",
                      [start, end])


def caret_at(tab: Tab, offset: int) -> dict[str, object]:
    """Wait until the other person's caret is drawn at *offset*; check it is drawn
    over that character, and return it."""
    tab.wait("offset => document.querySelector('.presence-caret')?.dataset.offset === String(offset)",
             offset)
    caret = tab.page.evaluate(CARET)
    assert abs(caret["x"] - tab.page.evaluate(CHARACTER_X, offset)) < 1.5
    return caret


def test_a_caret_is_drawn_on_its_character_and_stays_on_it_through_edits(
        daemon: Daemon, context: BrowserContext, name: str) -> None:
    """Bo's selection of "hello" is shaded over it on Ann's page; Bo's caret before
    "world" is drawn there, in Bo's colour, and
    stays before "world" while Ann types earlier in the line and while Cy's edit
    arrives, with no word from Bo in between."""
    ann = named(daemon, context, name, "Ann")
    bo = named(daemon, context, name, "Bo")
    ann.type_at(TEXT, 0, "hello world")
    bo.wait_for_value(TEXT, "hello world")
    wait_for_others(ann, ["Bo"])
    select(bo, 0, 5)
    caret_at(ann, 5)
    shade = ann.page.evaluate("""() => { const box = document.querySelector('.presence-selection')
                                          .getBoundingClientRect();
                                        return [box.left, box.right]; }""")
    assert abs(shade[0] - ann.page.evaluate(CHARACTER_X, 0)) < 1.5
    assert abs(shade[1] - ann.page.evaluate(CHARACTER_X, 5)) < 1.5
    select(bo, 6, 6)
    caret = caret_at(ann, 6)
    assert ann.page.locator(".presence-selection").count() == 0
    assert caret["name"] == "Bo"
    bo_color = bo.page.evaluate("() => localStorage.getItem('mobwrite.presence.color')")
    assert ann.page.evaluate("color => { const s = document.createElement('span');"
                             " s.style.background = color; return s.style.backgroundColor; }",
                             bo_color) == caret["color"]
    # From now on Bo's page says nothing of its caret: only the mapping can move it.
    bo.page.evaluate("() => { mobwrite.sendPresence = () => true; }")
    ann.type_at(TEXT, 0, "oh, ")
    # Still on the first line (a line is some 25 px high; sub-pixel rounding aside).
    assert abs(caret_at(ann, len("oh, hello "))["top"] - caret["top"]) < 1
    cy = named(daemon, context, name, "Cy")
    cy.wait_for_value(TEXT, "oh, hello world")
    cy.type_at(TEXT, 0, "well, ")
    ann.wait_for_value(TEXT, "well, oh, hello world")
    caret_at(ann, len("well, oh, hello "))
    # Bo's own page kept its caret before "world" too.
    bo.wait_for_value(TEXT, "well, oh, hello world")
    assert bo.selection(TEXT) == [16, 16]
    no_script_errors(ann, bo, cy)


def test_a_polling_page_says_presence_needs_the_live_connection(
        fresh_daemon: Daemon, context: BrowserContext, name: str) -> None:
    """With sockets refused, the page polls, lists no one else and says why."""
    fresh_daemon.options += ["--websocket-origins", "https://docs.example.org"]
    fresh_daemon.start()
    tab = Tab(context, editor(fresh_daemon, "editor.html", name))
    fresh_daemon.wait_for_log("refused a WebSocket from a page of")
    tab.wait_for_state("synced")
    tab.wait("() => document.getElementById('presence-note').dataset.state === 'polling'")
    assert "needs the live connection" in tab.page.text_content("#presence-note")
    assert tab.page.evaluate(OTHERS) == []
    no_script_errors(tab)
