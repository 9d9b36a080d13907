"""The thirty conformance conversations of the original MobWrite, in our form.

Each case is a list of (request, response) exchanges.  ``{R}`` stands for a
fresh string of digits per run.  Responses are written as they travel over
TCP: output lines each ending in LF, no blank line after them.  When the
original ``server.xml`` sits beside the checkout, ``original_cases`` reads
it so that the suite checks the file itself too.
"""

from __future__ import annotations

import re
import secrets
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

ORIGINAL_FILE = (
    Path(__file__).resolve().parent.parent.parent / "shared" / "conformance" / "server.xml"
)


@dataclass(frozen=True)
class Case:
    """One conversation: a name, what it checks and its exchanges."""

    name: str
    checks: str
    exchanges: list[tuple[str, str]]

    def instantiate(self) -> list[tuple[bytes, bytes]]:
        """The exchanges as bytes, with a fresh random string for ``{R}``."""
        token = str(secrets.randbelow(10**12))
        return [
            (request.replace("{R}", token).encode(), response.replace("{R}", token).encode())
            for request, response in self.exchanges
        ]


CASES = [
    Case(
        'Empty',
        'No bytes at all: no answer, and the server closes the connection itself.',
        [
            ('',
             ''),
        ],
    ),
    Case(
        'Ignore bad commands',
        'Unknown letters and lines without a colon second are skipped; nothing to run, nothing to say.',
        [
            ('u:user{R}\nf:0:unittest{R}\nx:foo\nUNKNOWN COMMAND\n\n',
             ''),
        ],
    ),
    Case(
        'Good raw text',
        'A forced raw creates the document; a later raw of the same text acknowledging version 0 rolls back and gets a no-op delta.',
        [
            ('U:user{R}\nf:0:unittest{R}\nR:0:Hello world\n\n',
             'u:user{R}\nF:0:unittest{R}\nD:0:=11\n'),
            ('U:user{R}\nf:0:unittest{R}\nr:0:Hello world\n\n',
             'u:user{R}\nF:0:unittest{R}\nd:0:=11\n'),
        ],
    ),
    Case(
        'Bad raw text',
        "A lowercase raw of other text leaves the master alone; the reply turns the client's text into the master.",
        [
            ('u:user{R}\nF:0:unittest{R}\nR:0:Hello world\n\n',
             'F:0:unittest{R}\nD:0:=11\n'),
            ('u:user{R}\nF:0:unittest{R}\nr:0:x\n\n',
             'F:0:unittest{R}\nd:0:-1\t+Hello world\n'),
        ],
    ),
    Case(
        'Raw text on a null file',
        "A lowercase raw on a missing document creates it; F echoes the raw's version.",
        [
            ('u:user{R}\nf:0:unittest{R}\nr:1:Hello world\n\n',
             'F:1:unittest{R}\nd:0:=11\n'),
        ],
    ),
    Case(
        'Good delta on null file',
        'A delta fitting the empty shadow of a new view creates the document.',
        [
            ('U:user{R}\nF:0:unittest{R}\nd:0:+Hello world\n\n',
             'u:user{R}\nF:1:unittest{R}\nd:0:=11\n'),
        ],
    ),
    Case(
        'Bad delta on null file',
        'A delta not fitting the empty shadow is refused and the document stays null: r:0: with no text.',
        [
            ('u:user{R}\nf:0:unittest{R}\nd:0:-1\n\n',
             'F:1:unittest{R}\nr:0:\n'),
        ],
    ),
    Case(
        'Good delta',
        'A raw then a delta in one request run in order and share one reply block.',
        [
            ('u:user{R}\nF:0:unittest{R}\nR:0:Hello world\nd:0:-5\t+Goodbye\t=6\n\n',
             'F:1:unittest{R}\nd:0:=13\n'),
        ],
    ),
    Case(
        'Bad delta',
        'A delta whose lengths miss the text is consumed but refused; the reply is the whole text, R:0.',
        [
            ('u:user{R}\nf:0:unittest{R}\nR:0:Hello world\nd:0:-5\t+Goodbye\t=5\n\n',
             'F:1:unittest{R}\nR:0:Hello world\n'),
        ],
    ),
    Case(
        'Delta nullified file',
        'After a nullify a newcomer gets r:0:, while a client whose shadow still holds the text brings the document back.',
        [
            ('u:user{R}a\nf:0:unittest{R}\nr:1:Hello world\n\n',
             'F:1:unittest{R}\nd:0:=11\n'),
            ('u:user{R}b\nf:0:unittest{R}\nr:1:Hello world\n\n',
             'F:1:unittest{R}\nd:0:=11\n'),
            ('u:user{R}a\nN:unittest{R}\n\n',
             ''),
            ('u:user{R}c\nf:0:unittest{R}\nd:0:=11\n\n',
             'F:1:unittest{R}\nr:0:\n'),
            ('u:user{R}b\nf:1:unittest{R}\nd:1:=11\n\n',
             'F:2:unittest{R}\nd:1:=11\n'),
        ],
    ),
    Case(
        'Force Delta nullified file',
        'As above with D: the null reply stays lowercase r and the resurrecting reply is a lowercase d.',
        [
            ('u:user{R}a\nf:0:unittest{R}\nr:1:Hello world\n\n',
             'F:1:unittest{R}\nd:0:=11\n'),
            ('u:user{R}b\nf:0:unittest{R}\nr:1:Hello world\n\n',
             'F:1:unittest{R}\nd:0:=11\n'),
            ('u:user{R}a\nN:unittest{R}\n\n',
             ''),
            ('u:user{R}c\nf:0:unittest{R}\nD:0:=11\n\n',
             'F:1:unittest{R}\nr:0:\n'),
            ('u:user{R}b\nf:1:unittest{R}\nD:1:=11\n\n',
             'F:2:unittest{R}\nd:1:=11\n'),
        ],
    ),
    Case(
        'Raw text with all normal chars',
        'The 83 characters that need no escape cross in a raw reply unchanged.',
        [
            ("u:user{R}\nf:0:unittest{R}\nR:0:A-Z a-z 0-9 - _ . ! ~ * ' ( ) ; / ? : @ & = + $ , #\nd:0:-1\n\n",
             "F:1:unittest{R}\nR:0:A-Z a-z 0-9 - _ . ! ~ * ' ( ) ; / ? : @ & = + $ , #\n"),
        ],
    ),
    Case(
        'Delta with all normal chars',
        "The same 83 characters cross unchanged inside a reply delta's insertion.",
        [
            ("u:user{R}\nf:0:unittest{R}\nR:0:\nd:0:+A-Z a-z 0-9 - _ . ! ~ * ' ( ) ; / ? : @ & = + $ , #\nr:1:x\n\n",
             "F:1:unittest{R}\nd:0:-1\t+A-Z a-z 0-9 - _ . ! ~ * ' ( ) ; / ? : @ & = + $ , #\n"),
        ],
    ),
    Case(
        'Raw text with special chars',
        'NUL, percent and LF travel escaped as %00, %25 and %0A in raw text.',
        [
            ('u:user{R}\nf:0:unittest{R}\nR:0:a%00b%25c%0Ad\nd:0:-1\n\n',
             'F:1:unittest{R}\nR:0:a%00b%25c%0Ad\n'),
        ],
    ),
    Case(
        'Delta with special chars',
        'NUL, percent and LF travel escaped inside delta insertions.',
        [
            ('u:user{R}\nf:0:unittest{R}\nR:0:\nd:0:+a%00b%25c%0Ad\nr:1:x\n\n',
             'F:1:unittest{R}\nd:0:-1\t+a%00b%25c%0Ad\n'),
        ],
    ),
    Case(
        'Raw text with Unicode',
        'U+3046 travels as its three UTF-8 bytes, escaped, in raw text both ways.',
        [
            ('u:user{R}\nf:0:unittest{R}\nR:0:a%E3%81%86b\nd:0:-1\n\n',
             'F:1:unittest{R}\nR:0:a%E3%81%86b\n'),
        ],
    ),
    Case(
        'Delta with Unicode',
        'U+3046 travels escaped inside delta insertions both ways.',
        [
            ('u:user{R}\nf:0:unittest{R}\nR:0:\nd:0:+a%E3%81%86b\nr:1:x\n\n',
             'F:1:unittest{R}\nd:0:-1\t+a%E3%81%86b\n'),
        ],
    ),
    Case(
        'Raw text with malformed linefeed',
        'A CR in a forced raw is stored as LF, and the reply tells the client so.',
        [
            ('u:user{R}\nf:0:unittest{R}\nR:0:a%0Db\n\n',
             'F:0:unittest{R}\nD:0:=1\t-1\t+%0A\t=1\n'),
        ],
    ),
    Case(
        'Delta with malformed linefeed',
        'A CR LF inserted by a delta is stored as LF; the reply deletes the CR.',
        [
            ('u:user{R}\nf:0:unittest{R}\nR:0:ab\nd:0:=1\t+%0D%0A\t=1\n\n',
             'F:1:unittest{R}\nd:0:=1\t-1\t=2\n'),
        ],
    ),
    Case(
        'Simple collaboration',
        "Two users interleaved in one request: each block has its u and F lines, and user a learns b's change.",
        [
            ('F:0:unittest{R}\nU:user{R}a\nR:0:Hello world\nU:user{R}b\nR:0:Hello world\nd:0:-5\t+Goodbye\t=6\nU:user{R}a\nd:0:=11\n\n',
             'u:user{R}a\nF:0:unittest{R}\nD:0:=11\nu:user{R}b\nF:1:unittest{R}\nd:0:=13\nu:user{R}a\nF:1:unittest{R}\nd:0:-5\t+Goodbye\t=6\n'),
        ],
    ),
    Case(
        'Simple merge',
        'Edits to different words merge; the later editor hears of the earlier edit.',
        [
            ('f:0:unittest{R}\nu:user{R}a\nR:0:Hello world\n\n',
             'F:0:unittest{R}\nD:0:=11\n'),
            ('f:0:unittest{R}\nU:user{R}b\nR:0:Hello world\nd:0:-5\t+Goodbye\t=6\n\n',
             'u:user{R}b\nF:1:unittest{R}\nd:0:=13\n'),
            ('f:1:unittest{R}\nU:user{R}a\nd:0:=9\t-2\t+m\n\n',
             'u:user{R}a\nF:1:unittest{R}\nd:1:-5\t+Goodbye\t=5\n'),
        ],
    ),
    Case(
        'Conflicting merge',
        'Two edits of one word: the first to arrive wins and the other client is corrected.',
        [
            ('f:0:unittest{R}\nU:user{R}a\nR:0:Hello world\n\n',
             'u:user{R}a\nF:0:unittest{R}\nD:0:=11\n'),
            ('f:0:unittest{R}\nU:user{R}b\nR:0:Hello world\nd:0:-5\t+Goodbye\t=6\n\n',
             'u:user{R}b\nF:1:unittest{R}\nd:0:=13\n'),
            ('f:1:unittest{R}\nU:user{R}a\nd:0:-5\t+My\t=6\n\n',
             'u:user{R}a\nF:1:unittest{R}\nd:1:-2\t+Goodbye\t=6\n'),
        ],
    ),
    Case(
        'Text merge',
        'An insertion at each end both survive: bc becomes abcd.',
        [
            ('f:0:unittest{R}\nU:user{R}a\nR:0:bc\n\n',
             'u:user{R}a\nF:0:unittest{R}\nD:0:=2\n'),
            ('f:0:unittest{R}\nU:user{R}b\nR:0:bc\nd:0:+a\t=2\n\n',
             'u:user{R}b\nF:1:unittest{R}\nd:0:=3\n'),
            ('f:1:unittest{R}\nU:user{R}a\nd:0:=2\t+d\n\n',
             'u:user{R}a\nF:1:unittest{R}\nd:1:+a\t=3\n'),
        ],
    ),
    Case(
        'Numeric merge',
        "With D the last writer's whole value replaces the master: 23 becomes 234.",
        [
            ('f:0:unittest{R}\nU:user{R}a\nR:0:23\n\n',
             'u:user{R}a\nF:0:unittest{R}\nD:0:=2\n'),
            ('f:0:unittest{R}\nU:user{R}b\nR:0:23\nD:0:+1\t=2\n\n',
             'u:user{R}b\nF:1:unittest{R}\nD:0:=3\n'),
            ('f:1:unittest{R}\nU:user{R}a\nD:0:=2\t+4\n\n',
             'u:user{R}a\nF:1:unittest{R}\nD:1:=3\n'),
        ],
    ),
    Case(
        'Complete Buffer',
        'Three fragments sent 2, 3, 1 with escapes split between them; only the last is answered.',
        [
            ('b:testbuffer1 3 2 3Aunittest{R}%0AR%3\n\n',
             ''),
            ('b:testbuffer1 3 3 A0%3AHello world%0A\n\n',
             ''),
            ('b:testbuffer1 3 1 U%3Auser{R}%0Af%3A0%\n\n',
             'u:user{R}\nF:0:unittest{R}\nD:0:=11\n'),
        ],
    ),
    Case(
        'Incomplete Buffer',
        'Two of three fragments: no answer.',
        [
            ('b:testbuffer2 3 2 f%3A0%3Aunittest{R}%0A\nb:testbuffer2 3 3 R%3A0%3AHello world%0A\n\n',
             ''),
        ],
    ),
    Case(
        'Nested Buffer',
        'A buffer whose fragments are buffer lines, doubly escaped, runs when both are complete.',
        [
            ('b:testbuffer3 3 2 b%3Atestbuffer4 3 2 f%253A0%253Aunittest{R}%250A%0A\nb:testbuffer3 3 1 b%3Atestbuffer4 3 3 R%253A0%253AHello world%250A%0A\nb:testbuffer3 3 3 b%3Atestbuffer4 3 1 U%253Auser{R}%250A%0A\n\n',
             'u:user{R}\nF:0:unittest{R}\nD:0:=11\n'),
        ],
    ),
    Case(
        'Invalid Buffers',
        'Fragments with index 0, index past the size, or size 0 are skipped; a one-slot buffer runs at once.',
        [
            ('b:testbuffer5 0 0 u%3Auser{R}%0Af%3A0%3Aunittest{R}a%0AR%3A0%3AHello world%0A\nb:testbuffer6 0 1 u%3Auser{R}%0Af%3A0%3Aunittest{R}b%0AR%3A0%3AHello world%0A\nb:testbuffer7 1 2 u%3Auser{R}%0Af%3A0%3Aunittest{R}c%0AR%3A0%3AHello world%0A\nb:testbuffer8 1 1 u%3Auser{R}%0Af%3A0%3Aunittest{R}d%0AR%3A0%3AHello world%0A\n\n',
             'F:0:unittest{R}d\nD:0:=11\n'),
        ],
    ),
    Case(
        'Duplicate packet',
        'A resent delta already consumed is skipped and the same server edit is repeated.',
        [
            ('u:user{R}\nf:0:unittest{R}\nR:0:Hello world\n\n',
             'F:0:unittest{R}\nD:0:=11\n'),
            ('u:user{R}\nf:1:unittest{R}\nd:0:-5\t+Goodbye\t=6\n\n',
             'F:1:unittest{R}\nd:1:=13\n'),
            ('u:user{R}\nf:1:unittest{R}\nd:0:-5\t+Goodbye\t=6\n\n',
             'F:1:unittest{R}\nd:1:=13\n'),
        ],
    ),
    Case(
        'Lost return packet',
        'The client acknowledges the old m again: the server restores its backup shadow and resends the lost edit.',
        [
            ('u:user{R}a\nf:0:unittest{R}\nR:0:Hello world\n\n',
             'F:0:unittest{R}\nD:0:=11\n'),
            ('u:user{R}b\nf:0:unittest{R}\nR:0:Goodbye world\n\n',
             'F:0:unittest{R}\nD:0:=13\n'),
            ('u:user{R}a\nf:1:unittest{R}\nd:0:=11\n\n',
             'F:1:unittest{R}\nd:1:-5\t+Goodbye\t=6\n'),
            ('u:user{R}a\nf:1:unittest{R}\nd:0:=11\nd:1:=11\n\n',
             'F:2:unittest{R}\nd:1:-5\t+Goodbye\t=6\n'),
        ],
    ),
]


def _harness_text(text: str | None) -> str:
    """Apply the original harness's trimming to a QUESTION or ANSWER."""
    text = re.sub(r"^[ \t]*\n", "", text or "", count=1)
    return re.sub(r"[ \t]+$", "", text).replace("[RANDOM]", "{R}")


def original_cases(path: Path = ORIGINAL_FILE) -> list[Case]:
    """Read the original XML file, with responses in our TCP form."""
    root = ElementTree.parse(path).getroot()
    cases = []
    for test in root.iter("TEST"):
        turns = [child for child in test if child.tag in ("QUESTION", "ANSWER")]
        exchanges = []
        for question, answer in zip(turns[::2], turns[1::2], strict=False):
            response = _harness_text(answer.text)
            exchanges.append((_harness_text(question.text), response.removesuffix("\n")))
        cases.append(Case(test.get("NAME", "?"), "", exchanges))
    return cases
