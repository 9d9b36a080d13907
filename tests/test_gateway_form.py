"""The gateway's framework-free rules: form decoding, answers, redirects, limits."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mobwrite.core import httpform
from mobwrite.core.httpform import Answer, FormError, Limits, Sync, decide, parse_form
from mobwrite.settings import Settings

LIMITS = Limits(body_bytes=1000, request_bytes=300, line_bytes=100)
EDITOR = "http://localhost:8000"


def gateway(method: str = "GET", query: bytes = b"", body: bytes = b"",
            path: bytes = b"/", content_type: str = "application/x-www-form-urlencoded",
            editor: str | None = EDITOR) -> Sync | Answer:
    return decide(method, path, query, body, content_type, LIMITS, lambda: editor)


def refused(decision: Sync | Answer, status: int) -> str:
    assert isinstance(decision, Answer)
    assert decision.status == status
    assert decision.content_type == httpform.PLAIN
    return decision.body.decode()


def test_form_decoding_turns_plus_into_space_and_escapes_into_bytes() -> None:
    """``+`` is a space, ``%2B`` a plus, and escapes give bytes even when they are not UTF-8."""
    assert parse_form(b"q=a+b%2Bc%0A%FF%e3%81%86&x") == {
        b"q": b"a b+c\n\xff\xe3\x81\x86", b"x": b""}


def test_form_decoding_happens_once() -> None:
    """A doubly encoded ``%2541`` stays ``%41`` for the engine to decode."""
    assert parse_form(b"q=%2541") == {b"q": b"%41"}


def test_the_first_field_of_a_name_wins() -> None:
    """Repeated names keep their first value."""
    assert parse_form(b"q=one&q=two&&p=three") == {b"q": b"one", b"p": b"three"}


@pytest.mark.parametrize("bad", [b"q=%", b"q=%4", b"q=%zz", b"q%G1=x"])
def test_a_bad_escape_is_refused(bad: bytes) -> None:
    """A ``%`` without two hex digits is an error that says how to write a percent sign."""
    with pytest.raises(FormError, match="%25"):
        parse_form(bad)


def test_bad_form_data_gets_a_400_saying_why() -> None:
    """The gateway answers 400 with the reason, by GET and POST alike."""
    assert "two hex digits" in refused(gateway(query=b"q=100%"), 400)
    assert "two hex digits" in refused(gateway("POST", body=b"q=%G0"), 400)


@given(st.binary(max_size=200))
def test_jsonp_escaping_round_trips(output: bytes) -> None:
    """What ``mobwrite.callback`` receives is the output itself, and the script has no line breaks or ``<``."""
    answer = httpform.jsonp(output)
    assert answer.startswith(b'mobwrite.callback("') and answer.endswith(b'");\n')
    literal = answer[len(b"mobwrite.callback("):-len(b");\n")]
    for forbidden in (b"\n", b"\r", b"<", "\u2028".encode(), "\u2029".encode()):
        assert forbidden not in literal
    decoded = json.loads(literal.decode("utf-8", "surrogateescape"), strict=False)
    assert decoded.encode("utf-8", "surrogateescape") == output


def test_jsonp_escapes_in_the_documented_way() -> None:
    """Backslash, quote, LF, CR, U+2028, U+2029 and ``<`` are escaped as docs/protocol.md §2.3 says."""
    output = 'F:1:a\nd:0:+\\"%3C\r<\u2028\u2029'.encode()
    assert httpform.jsonp(output) == (
        b'mobwrite.callback("F:1:a\\nd:0:+\\\\\\"%3C\\r\\u003c\\u2028\\u2029");\n')
    assert httpform.jsonp(b"") == b'mobwrite.callback("");\n'


def test_q_answers_plain_text_with_a_blank_line() -> None:
    """``q`` gives the output plus LF as UTF-8 plain text; empty output gives a lone LF."""
    answer = httpform.sync_answer("q", b"F:1:memo\nd:0:=8\n")
    assert (answer.status, answer.body) == (200, b"F:1:memo\nd:0:=8\n\n")
    assert dict(answer.header_items())["Content-Type"] == "text/plain; charset=utf-8"
    assert httpform.sync_answer("q", b"").body == b"\n"


def test_p_answers_javascript() -> None:
    """``p`` is served as JavaScript, which browsers run even with nosniff."""
    headers = dict(httpform.sync_answer("p", b"").header_items())
    assert headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_every_answer_is_uncacheable_and_open_to_other_origins() -> None:
    """Sync answers, refusals and redirects all carry no-store, nosniff and CORS."""
    for answer in (httpform.sync_answer("q", b""), httpform.refusal(400, "no"),
                   httpform.see_other("http://x:1/")):
        headers = dict(answer.header_items())
        assert headers["Cache-Control"] == "no-store"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Access-Control-Allow-Origin"] == "*"
        assert headers["Content-Length"] == str(len(answer.body))


@pytest.mark.parametrize("method", ["GET", "HEAD", "POST"])
def test_q_wins_over_p(method: str) -> None:
    """With both parameters, in the URL or in the body, ``q`` is used."""
    where = {"body": b"p=two&q=one"} if method == "POST" else {"query": b"p=two&q=one"}
    assert gateway(method, **where) == Sync("q", b"one")


def test_an_empty_q_is_a_request() -> None:
    """``q=`` is present and empty: the engine gets no bytes (unlike the original's parser)."""
    assert gateway("POST", body=b"q=") == Sync("q", b"")
    assert gateway(query=b"p=") == Sync("p", b"")


def test_post_reads_url_and_body() -> None:
    """A POST may carry the parameter in its URL; a body field beats the URL's."""
    assert gateway("POST", query=b"p=url") == Sync("p", b"url")
    assert gateway("POST", query=b"q=url", body=b"q=body") == Sync("q", b"body")


def test_get_ignores_a_body() -> None:
    """Only POST bodies are form data."""
    assert gateway("GET", query=b"p=x", body=b"q=y") == Sync("p", b"x")


def test_the_legacy_path_is_served_and_others_are_not() -> None:
    """``/scripts/q.py`` works as ``/`` does; any other path is 404."""
    assert gateway(path=b"/scripts/q.py", query=b"q=a") == Sync("q", b"a")
    assert "/scripts/q.py" in refused(gateway(path=b"/other", query=b"q=a"), 404)


def test_preflight_allows_cross_origin_posts() -> None:
    """OPTIONS answers 204 with the methods and the Content-Type header allowed."""
    answer = gateway("OPTIONS")
    assert isinstance(answer, Answer) and answer.status == 204 and answer.body == b""
    headers = dict(answer.header_items())
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in headers["Access-Control-Allow-Methods"]
    assert headers["Access-Control-Allow-Headers"] == "Content-Type, Authorization"
    assert "Content-Type" not in headers and "Content-Length" not in headers


def test_other_methods_get_405_with_allow() -> None:
    """PUT and friends are refused with the list of methods that work."""
    answer = gateway("PUT", query=b"q=a")
    assert "PUT" in refused(answer, 405)
    assert isinstance(answer, Answer) and answer.headers["Allow"] == "GET, HEAD, POST, OPTIONS"


def test_multipart_bodies_are_refused() -> None:
    """Only urlencoded forms are read; multipart gets 415 saying what to send."""
    body = refused(gateway("POST", body=b"--x\r\n", content_type="multipart/form-data; boundary=x"), 415)
    assert "application/x-www-form-urlencoded" in body


def test_a_body_over_the_cap_gets_413() -> None:
    """The body cap is checked before anything is decoded."""
    assert "1000 bytes" in refused(gateway("POST", body=b"q=" + b"a" * 999), 413)


def test_a_request_over_max_request_bytes_gets_413() -> None:
    """The decoded request obeys MAX_REQUEST_BYTES, however it was encoded."""
    lines = b"x:" + b"a" * 90 + b"\n"
    assert isinstance(gateway("POST", body=b"q=" + lines * 3), Sync)
    assert "MAX_REQUEST_BYTES" in refused(gateway("POST", body=b"q=" + lines * 4), 413)


@pytest.mark.parametrize("break_", [b"\n", b"\r", b"\r\n"])
def test_a_line_over_max_line_bytes_gets_413(break_: bytes) -> None:
    """Each line obeys MAX_LINE_BYTES, whatever line break ends it."""
    fits = b"x:" + b"a" * 98
    assert isinstance(gateway(query=b"q=" + (fits + break_) * 2), Sync)
    too_long = refused(gateway(query=b"q=" + (fits + b"a" + break_) * 2), 413)
    assert "MAX_LINE_BYTES" in too_long


def test_the_body_cap_fits_a_whole_request_however_encoded() -> None:
    """Every byte of a MAX_REQUEST_BYTES request may be form-encoded as %XX."""
    settings = Settings.defaults()
    limits = Limits.from_settings(settings)
    assert limits.body_bytes >= 3 * settings.max_request_bytes + len(b"q=")
    # A full raw upload of MAX_CHARS characters, 9 bytes each once percent-encoded.
    assert settings.max_request_bytes >= 9 * settings.max_chars


def test_a_bare_get_goes_to_the_start_page() -> None:
    """Neither q nor p, nor a query string: 303 to the editor's start page."""
    answer = gateway()
    assert isinstance(answer, Answer) and answer.status == 303
    assert answer.headers["Location"] == EDITOR + "/"


def test_a_bare_name_goes_to_its_editor_page() -> None:
    """``GET /?NAME`` answers 303 to the editor page of NAME."""
    answer = gateway(query=b"Shopping-list_2:v.1")
    assert isinstance(answer, Answer) and answer.status == 303
    assert answer.headers["Location"] == EDITOR + "/editor.html?doc=Shopping-list_2:v.1"


@pytest.mark.parametrize("query", [b"two%20words", b"a/b", b"x=1", "caf\u00e9".encode(),
                                   b"1abc", b"a--b", b"a" * 101])
def test_an_illegal_name_gets_400(query: bytes) -> None:
    """Names the editor page would refuse are refused here, with the rule spelled out."""
    assert "letters, digits and - _ : ." in refused(gateway(query=query), 400)


def test_a_post_without_a_parameter_gets_400() -> None:
    """A POST is never redirected; it must carry q or p."""
    assert "q or p" in refused(gateway("POST", body=b"x=1"), 400)


def test_without_an_editor_site_a_bare_get_is_404() -> None:
    """With no editor port to send people to, the gateway says so."""
    assert "no editor" in refused(gateway(editor=None), 404)


@pytest.mark.parametrize(("host", "url"), [
    ("example.org:8017", "http://example.org:8000"),
    ("example.org", "http://example.org:8000"),
    ("[::1]:8017", "http://[::1]:8000"),
    (None, "http://127.0.0.1:8000"),
    ("", "http://127.0.0.1:8000"),
    ("evil.org/path?x", "http://127.0.0.1:8000"),
    ("a b:1", "http://127.0.0.1:8000"),
])
def test_public_url_uses_the_host_header_name(host: str | None, url: str) -> None:
    """The other port's URL keeps the host name the client used, if it is a plain name."""
    assert httpform.public_url(host, "127.0.0.1", 8000, False) == url


def test_public_url_brackets_ipv6_and_follows_tls() -> None:
    """An IPv6 fallback address is bracketed; a secure request gets https."""
    assert httpform.public_url(None, "::1", 8000, True) == "https://[::1]:8000"


def test_raw_response_is_a_closing_http_answer() -> None:
    """The early 413 is a complete HTTP/1.1 answer that closes the connection."""
    raw = httpform.raw_response(httpform.too_large_body(LIMITS))
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0].startswith(b"HTTP/1.1 413 ")
    assert b"Connection: close" in lines
    assert f"Content-Length: {len(body)}".encode() in lines
    assert b"1000 bytes" in body
