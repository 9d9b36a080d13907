"""``mobwrite raw``: send protocol requests by hand and see the answers.

What ``telnet HOST 3017`` was for, without needing telnet or nc, and over
the HTTP gateway as well as raw TCP.
"""

from __future__ import annotations

import sys

from mobwrite.client.blocking import BlockingClient
from mobwrite.client.errors import ClientError

HINT = ("Type a request, one command per line (such as u:alice, F:0:notes, r:1:Hello);\n"
        "an empty line sends it.  Ctrl-D quits.\n")


def terminated(text: str) -> bytes:
    """*text* as one request: its lines, ended by a blank line."""
    lines = text.replace("\r\n", "\n").split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    return ("\n".join(lines) + "\n\n").encode("utf-8")


def shown(answer: bytes) -> str:
    """The answer as printed: its lines, without the blank line that ends it."""
    return answer.decode("utf-8", "replace").rstrip("\n") + "\n" if answer.strip() else ""


def send_stdin(client: BlockingClient) -> None:
    """Send standard input as one request and print the answer."""
    try:
        text = sys.stdin.buffer.read().decode("utf-8")
    except UnicodeDecodeError as error:
        raise ClientError(f"standard input is not UTF-8 text (byte {error.start})") from None
    sys.stdout.write(shown(client.exchange(terminated(text))))


def converse(client: BlockingClient, url: str) -> None:
    """Prompt for requests until end of input, printing each answer."""
    sys.stderr.write(f"Sending to {url}, one connection a request.\n{HINT}")
    while True:
        lines = _read_request()
        if lines is None:
            return
        if not lines:
            continue
        try:
            answer = shown(client.exchange(terminated("\n".join(lines))))
        except ClientError as error:
            sys.stderr.write(f"{error}\n")
            continue
        sys.stdout.write(answer or "(empty answer)\n")
        sys.stdout.flush()


def _read_request() -> list[str] | None:
    """Lines typed up to an empty one; None at end of input with nothing typed."""
    lines: list[str] = []
    while True:
        try:
            line = input("... " if lines else "> ")
        except EOFError:
            sys.stderr.write("\n")
            return lines or None
        if not line.strip():
            return lines
        lines.append(line)
