"""The ``mobwrite`` command: argument parsing, dispatch and exit statuses.

Exit statuses: 0 success; 2 usage error; 3 bad server URL; 4 server
unreachable or silent; 5 protocol failure (malformed answer, HTTP error,
no answer for a document); 6 document does not exist; 7 local file
problem; 8 a load test saw errors; 9 the server refused a change that
would make a document longer than its MAX_CHARS; 10 the store to dump or
load into cannot be used; 11 the server is out of room for a change (its
MAX_MEMORY or MAX_STORED); 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mobwrite import __version__
from mobwrite.client.blocking import DEFAULT_TIMEOUT, BlockingClient
from mobwrite.client.errors import ClientError
from mobwrite.tools import moving
from mobwrite.tools.files import LocalFileError, write_atomically
from mobwrite.tools.history import add_commands as add_history_commands
from mobwrite.tools.tokens import add_commands as add_token_commands

LOADTEST_FAILED = 8
INTERRUPTED = 130
MAX_DURATION = 3600.0
MAX_EDITORS = 1000
MAX_RATE = 1000.0
TOKEN_VARIABLE = "MOBWRITE_TOKEN"


class UsageError(ClientError):
    """Arguments that parse but do not make sense together."""

    exit_code = 2


def _bounded(kind: Callable[[str], Any], low: float, high: float) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not between {low:g} and {high:g}")
        return value
    return parse


def _write(text: str) -> None:
    sys.stdout.buffer.write(text.encode("utf-8"))
    sys.stdout.buffer.flush()


def client(args: argparse.Namespace) -> BlockingClient:
    """The client the arguments describe."""
    return BlockingClient(args.url, args.timeout, args.token or os.environ.get(TOKEN_VARIABLE))


def _file_in(directory: Path, name: str) -> Path:
    """Where ``--output-dir`` puts document *name*: a file named after it."""
    if name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise LocalFileError(f"document {name!r} cannot be a file name; download it alone")
    return directory / name


def download(args: argparse.Namespace) -> int:
    if args.output_dir is not None and not args.output_dir.is_dir():
        raise LocalFileError(f"--output-dir {args.output_dir} is not a directory")
    with client(args) as session:
        texts = session.download_many(args.docs)
    if args.output_dir is not None:
        for name in args.docs:
            write_atomically(_file_in(args.output_dir, name), texts[name])
        return 0
    if len(args.docs) == 1:
        _write(texts[args.docs[0]])
        return 0
    # Several texts: a header before each, as head(1) and tail(1) print files.
    for number, name in enumerate(args.docs):
        header = f"==> {name} <==\n"
        previous = texts[args.docs[number - 1]] if number else ""
        gap = "" if not number else "\n" if previous.endswith("\n") else "\n\n"
        _write(gap + header + texts[name])
    return 0


def upload(args: argparse.Namespace) -> int:
    try:
        text = sys.stdin.buffer.read().decode("utf-8")
    except UnicodeDecodeError as error:
        raise LocalFileError(f"standard input is not UTF-8 text (byte {error.start})") from None
    with client(args) as session:
        session.upload(args.doc, text, force=args.force)
    return 0


def raw(args: argparse.Namespace) -> int:
    from mobwrite.tools.raw import converse, send_stdin

    with client(args) as session:
        if sys.stdin.isatty():
            converse(session, args.url)
        else:
            send_stdin(session)
    return 0


def nullify(args: argparse.Namespace) -> int:
    with client(args) as session:
        session.nullify(*args.docs)
    return 0


def sync(args: argparse.Namespace) -> int:
    from mobwrite.tools.filesync import sync_file

    with client(args) as session:
        sync_file(session, args.doc, args.file, args.initial)
    return 0


def watch(args: argparse.Namespace) -> int:
    from mobwrite.tools.watch import show, tell
    from mobwrite.tools.watch import watch as follow

    if args.min_interval > args.max_interval:
        raise UsageError("--min-interval must not exceed --max-interval")
    if args.presence and not args.url.startswith(("ws://", "wss://")):
        raise UsageError("--presence needs a ws:// or wss:// server URL")
    with client(args) as session:
        try:
            follow(session, args.doc, show(args.output),
                   args.count, args.duration, args.min_interval, args.max_interval,
                   tell if args.presence else None)
        except KeyboardInterrupt:
            pass  # Ctrl-C is how an unbounded watch is meant to end.
    return 0


def loadtest(args: argparse.Namespace) -> int:
    from twisted.internet import task

    from mobwrite.client.txclient import IClientReactor
    from mobwrite.client.urls import parse_url
    from mobwrite.tools.loadtest import load_test, print_summary

    if args.token or os.environ.get(TOKEN_VARIABLE):
        raise UsageError("loadtest sends no access tokens; load-test a daemon without "
                         "AUTH_SECRET_FILE")
    parse_url(args.url)  # a bad URL fails before the reactor starts
    progress = args.progress or sys.stderr.isatty()
    outcome: list[dict[str, Any]] = []
    raised: list[BaseException] = []

    async def run(reactor: IClientReactor) -> None:
        # Whatever the test raises is raised again once the reactor has
        # stopped, so that main() reports it like any other command's error.
        try:
            outcome.append(await load_test(
                reactor, args.url, args.editors, args.documents, args.rate, args.duration,
                args.original, args.timeout, progress, args.keep, args.seed))
        except BaseException as error:
            raised.append(error)

    try:
        task.react(run)
    except SystemExit:
        pass  # react exits when run() is over; the command's status is decided here
    if raised:
        raise raised[0]
    if not outcome:
        raise KeyboardInterrupt  # the reactor stopped on SIGINT before the test ended
    print_summary(outcome[0], args.json)
    return LOADTEST_FAILED if outcome[0]["errors"] else 0


def parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("url", metavar="URL",
                        help="server: telnet://HOST:PORT (raw TCP), http(s)://HOST:PORT/ (gateway) "
                        "or ws(s)://HOST:PORT/ws (the gateway's WebSocket)")
    common.add_argument("--timeout", type=_bounded(float, 0.1, 600), default=DEFAULT_TIMEOUT,
                        metavar="SECONDS", help="give up on an exchange after this long "
                        f"(default {DEFAULT_TIMEOUT:g})")
    common.add_argument("--token", metavar="TOKEN",
                        help="access token for a gateway with access control "
                             f"(default: ${TOKEN_VARIABLE}; see docs/security.md)")
    top = argparse.ArgumentParser(
        prog="mobwrite", description="Read, write, sync and load-test MobWrite documents.",
        epilog="Exit statuses: 0 ok, 2 usage, 3 bad URL, 4 unreachable, 5 protocol failure, "
               "6 no such document, 7 local file problem, 8 load test errors, "
               "9 document too long for the server, 10 unusable store, "
               "11 server out of room, 130 interrupted.")
    top.add_argument("--version", action="version", version=f"mobwrite {__version__}")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    command = commands.add_parser("download", parents=[common],
                                  help="print documents (never creates a missing one)")
    command.add_argument("docs", nargs="+", metavar="DOC")
    command.add_argument("--output-dir", type=Path, metavar="DIR",
                         help="write each document to DIR/DOC instead of printing; printed, "
                              "several documents each get a '==> DOC <==' header line")
    command.set_defaults(run=download)

    command = commands.add_parser(
        "raw", parents=[common], help="send a raw protocol request, print the answer",
        description="Send the request on standard input (a blank line is added if it lacks "
                    "one) and print the server's answer.  When standard input is a terminal, "
                    "prompt for requests instead: type command lines, send each request "
                    "with an empty line, quit with Ctrl-D.")
    command.set_defaults(run=raw)

    command = commands.add_parser("upload", parents=[common],
                                  help="make standard input the content of a document")
    command.add_argument("doc", metavar="DOC")
    command.add_argument("--force", action="store_true",
                         help="overwrite with a raw text instead of merging an edit")
    command.set_defaults(run=upload)

    command = commands.add_parser("nullify", parents=[common], help="delete documents")
    command.add_argument("docs", nargs="+", metavar="DOC")
    command.set_defaults(run=nullify)

    command = commands.add_parser(
        "sync", parents=[common], help="two-way sync of a local file with a document",
        description="Sync FILE with DOC once; state is kept in .FILE.mobwrite beside it.")
    command.add_argument("doc", metavar="DOC")
    command.add_argument("file", metavar="FILE", type=Path)
    command.add_argument("--initial", choices=("local", "remote"),
                         help="on the first run, which side wins if both have different text")
    command.set_defaults(run=sync)

    command = commands.add_parser("watch", parents=[common],
                                  help="follow a document, showing each new version")
    command.add_argument("doc", metavar="DOC")
    command.add_argument("--output", type=Path, metavar="FILE",
                         help="replace FILE atomically with each version instead of printing")
    command.add_argument("--count", type=_bounded(int, 1, 10**9), metavar="N",
                         help="stop after N versions (the first included)")
    command.add_argument("--duration", type=_bounded(float, 0, 10**9), metavar="SECONDS",
                         help="stop after this long")
    command.add_argument("--min-interval", type=_bounded(float, 0.01, 3600), default=1.0,
                         metavar="SECONDS", help="shortest poll interval (default 1)")
    command.add_argument("--max-interval", type=_bounded(float, 0.01, 3600), default=10.0,
                         metavar="SECONDS",
                         help="longest poll interval (default 10); on ws:// URLs, which "
                         "push each change, the longest wait between syncs")
    command.add_argument("--presence", action="store_true",
                         help="(ws:// only) also say on stderr who arrives on the document, "
                         "renames and leaves")
    command.set_defaults(run=watch)

    command = commands.add_parser(
        "loadtest", parents=[common], help="simulated editors; prints syncs/s and latency",
        description="Run simulated editors for a bounded time and summarise syncs/s, "
                    "p50/p95/p99 latency and errors.")
    command.add_argument("--editors", type=_bounded(int, 1, MAX_EDITORS), default=5, metavar="N",
                         help="simulated editors (original mode: most requests in flight)")
    command.add_argument("--documents", type=_bounded(int, 1, MAX_EDITORS), default=1,
                         metavar="N", help="documents the editors share (default 1)")
    command.add_argument("--rate", type=_bounded(float, 0.01, MAX_RATE), default=2.0,
                         metavar="HZ", help="syncs per second per editor "
                         "(original mode: requests per second in all); default 2")
    command.add_argument("--duration", type=_bounded(float, 0.1, MAX_DURATION), default=10.0,
                         metavar="SECONDS", help="how long to run (default 10)")
    command.add_argument("--original", action="store_true",
                         help="send the original load tester's request shapes")
    command.add_argument("--progress", action="store_true",
                         help="draw the progress bar even when stderr is not a terminal")
    command.add_argument("--json", action="store_true", help="print the summary as JSON")
    command.add_argument("--keep", action="store_true",
                         help="keep the test documents instead of nullifying them")
    command.add_argument("--seed", type=int, help="seed the random edits")
    command.set_defaults(run=loadtest)

    command = commands.add_parser(
        "dump", help="write every document and view of a store to a dump file",
        description="Dump a running daemon's store through its gateway (only from the "
                    "same machine), or a PostgreSQL database directly; consistent, "
                    "without stopping anything.")
    command.add_argument("source", metavar="SOURCE",
                         help="the daemon's gateway, http://127.0.0.1:8017/, "
                              "or postgresql://USER@HOST/DATABASE")
    command.add_argument("--output", "-o", type=Path, metavar="FILE",
                         help="write FILE (atomically) instead of standard output")
    command.add_argument("--timeout", type=_bounded(float, 0.1, 3600), default=60.0,
                         metavar="SECONDS", help="give up after this long (default 60)")
    command.set_defaults(run=lambda args: moving.dump(args.source, args.output, args.timeout))

    command = commands.add_parser(
        "load", help="put a dump file into an empty store",
        description="Load a dump into an empty store: a data directory (with no daemon "
                    "running on it) or a PostgreSQL database.")
    command.add_argument("file", metavar="FILE", type=Path)
    where = command.add_mutually_exclusive_group(required=True)
    where.add_argument("--data-dir", type=Path, metavar="DIR",
                       help="the embedded store's data directory (created if missing)")
    where.add_argument("--database", metavar="URL", help="postgresql://USER@HOST/DATABASE")
    command.set_defaults(run=lambda args: moving.load(args.file, args.data_dir, args.database))

    add_history_commands(commands, common, TOKEN_VARIABLE)
    add_token_commands(commands)
    return top


def main(argv: list[str] | None = None) -> int:
    """Run the ``mobwrite`` command; return its exit status."""
    args = parser().parse_args(argv)
    try:
        return int(args.run(args))
    except ClientError as error:
        print(f"mobwrite {args.command}: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print(f"mobwrite {args.command}: interrupted", file=sys.stderr)
        return INTERRUPTED
