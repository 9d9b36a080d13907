"""``mobwrite history`` and ``mobwrite restore``: a document's revisions
through the HTTP API (docs/api.md, docs/history.md)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from mobwrite.client.api import ApiClient

PAGE = 1000


def _client(args: argparse.Namespace, variable: str) -> ApiClient:
    return ApiClient(args.url, args.timeout, args.token or os.environ.get(variable))


def history(args: argparse.Namespace, variable: str) -> int:
    """List the revisions (oldest first), or print the text at ``--at N``."""
    api = _client(args, variable)
    if args.at is not None:
        found = api.call("GET", api.document_path(args.doc, "revisions", str(args.at)))
        sys.stdout.buffer.write(found["text"].encode("utf-8", "surrogatepass"))
        sys.stdout.buffer.flush()
        return 0
    start = 0
    while True:
        page = api.call("GET", api.document_path(args.doc, "revisions") +
                        f"?order=oldest&limit={PAGE}&start={start}")
        for revision in page["revisions"]:
            print(_line(revision))
        if len(page["revisions"]) < PAGE:
            return 0
        start = page["revisions"][-1]["number"] + 1


def _line(revision: dict[str, Any]) -> str:
    """``number  time  who  kind  +inserted -deleted``."""
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(revision["time"]))
    return (f"{revision['number']:>6}  {when}  {revision['author']}  {revision['kind']}  "
            f"+{revision['inserted']} -{revision['deleted']}")


def restore(args: argparse.Namespace, variable: str) -> int:
    """Put revision N's text back as a new revision."""
    api = _client(args, variable)
    found = api.call("POST", api.document_path(args.doc, "revisions", str(args.number),
                                               "restore"))
    print(f"{args.doc}: revision {args.number} restored as revision {found['revision']}")
    return 0


def add_commands(commands: Any, common: argparse.ArgumentParser, variable: str) -> None:
    """Add ``history`` and ``restore`` to the subcommands *commands*."""
    command = commands.add_parser(
        "history", parents=[common], help="list a document's revisions (or print one)",
        description="List the revisions of DOC: number, time, who, kind and the size of "
                    "the change (+inserted -deleted UTF-16 units). URL is the gateway's "
                    "http(s)://HOST:PORT/.")
    command.add_argument("doc", metavar="DOC")
    command.add_argument("--at", type=int, metavar="N", help="print the text at revision N")
    command.set_defaults(run=lambda args: history(args, variable))
    command = commands.add_parser(
        "restore", parents=[common], help="put a revision's text back as a new revision")
    command.add_argument("doc", metavar="DOC")
    command.add_argument("number", type=int, metavar="N")
    command.set_defaults(run=lambda args: restore(args, variable))
