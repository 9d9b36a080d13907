"""How long the messages a WebSocket server sends are, measured as the bytes arrive.

Twisted's WebSocket client holds each message until its last frame, so a
client bounds them below it: ``MessageMeter`` reads the server's bytes
(the HTTP answer to the handshake, then frames, RFC 6455 5.2) and adds up
the lengths the frame headers announce, keeping nothing but the header
being read.  A frame that announces more than the limit trips it before
its payload arrives.  An answer other than ``101`` is followed by a body,
which counts as one message.
"""

from __future__ import annotations

from mobwrite.client.relay import DEFAULT_MAX_REPLY_BYTES

# The default bound: the same as on an answer over TCP or HTTP.
MAX_MESSAGE_BYTES = DEFAULT_MAX_REPLY_BYTES

_END_OF_HEAD = b"\r\n\r\n"


def _header_size(header: bytes) -> int:
    """How long the frame header that *header* begins is (two bytes until that is known)."""
    if len(header) < 2:
        return 2
    size = 2 + {126: 2, 127: 8}.get(header[1] & 0x7F, 0)
    return size + (4 if header[1] & 0x80 else 0)


class MessageMeter:
    """Measures the messages in what a WebSocket server sends, against *limit* bytes."""

    def __init__(self, limit: int = MAX_MESSAGE_BYTES) -> None:
        self.limit = limit
        # The handshake's answer read so far, until it has ended (bounded like a message).
        self.head: bytes | None = b""
        self.upgraded = False
        # The part of a frame header read so far, and the payload still to come.
        self.header = b""
        self.payload_left = 0
        # The payload announced so far of the message being sent.
        self.message = 0
        self.over = False

    def feed(self, data: bytes) -> bool:
        """Read the next bytes; False once a message is, or is announced to be, over the limit."""
        if self.over:
            return False
        if self.head is not None:
            seen = self.head + data
            end = seen.find(_END_OF_HEAD)
            if end < 0:
                self.head = seen
                self.over = len(seen) > self.limit
                return not self.over
            self.upgraded = seen.startswith(b"HTTP/1.1 101")
            self.head = None
            data = seen[end + len(_END_OF_HEAD):]
        if self.upgraded:
            self._frames(data)
        else:
            self.message += len(data)
            self.over = self.message > self.limit
        return not self.over

    def _frames(self, data: bytes) -> None:
        at = 0
        while not self.over:
            if self.payload_left and at < len(data):
                taken = min(self.payload_left, len(data) - at)
                self.payload_left -= taken
                at += taken
            elif not self.payload_left and len(self.header) == _header_size(self.header):
                self._frame_begins()
            elif at < len(data):
                chunk = data[at:at + _header_size(self.header) - len(self.header)]
                self.header += chunk
                at += len(chunk)
            else:
                return

    def _frame_begins(self) -> None:
        header, self.header = self.header, b""
        length = header[1] & 0x7F
        if length >= 126:
            length = int.from_bytes(header[2:4 if length == 126 else 10], "big")
        self.payload_left = length
        if header[0] & 0x0F >= 8:
            return  # a ping, pong or close: no part of a message
        self.message += length
        self.over = self.message > self.limit
        if header[0] & 0x80:
            self.message = 0
