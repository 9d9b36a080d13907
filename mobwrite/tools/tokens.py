"""``mobwrite token``: make keys and mint access tokens (docs/security.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mobwrite.settings import SettingError, parse_duration
from mobwrite.tokens import KeyFileError, issue, new_key
from mobwrite.tools.files import LocalFileError

DEFAULT_LIFETIME = "1 day"


def duration(text: str) -> float:
    """A token lifetime in the settings file's form, such as ``7 days``."""
    try:
        seconds = parse_duration(text)
    except SettingError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    if not seconds > 0:
        raise argparse.ArgumentTypeError("a token must live more than 0 seconds")
    return seconds


def make_key(args: argparse.Namespace) -> int:
    try:
        key_id = new_key(args.secret_file)
    except (OSError, UnicodeDecodeError, KeyFileError) as error:
        raise LocalFileError(f"cannot add a key to {args.secret_file}: {error}") from None
    print(f"added key {key_id} to {args.secret_file}; it signs new tokens", file=sys.stderr)
    return 0


def create(args: argparse.Namespace) -> int:
    if not (args.doc or args.doc_prefix or args.admin):
        from mobwrite.tools.main import UsageError

        raise UsageError("name the documents with --doc NAME or --doc-prefix P")
    try:
        token = issue(args.secret_file, subject=args.subject, documents=args.doc,
                      prefixes=args.doc_prefix, read_only=args.read_only,
                      delete=args.delete, share=args.share, admin=args.admin,
                      lifetime=args.expires)
    except KeyFileError as error:
        raise LocalFileError(str(error)) from None
    print(token)
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    """The ``token`` command and its subcommands."""
    token = commands.add_parser("token", help="make keys and access tokens",
                                description="Access control keys and tokens (docs/security.md).")
    actions = token.add_subparsers(dest="action", required=True, metavar="ACTION")
    secret = argparse.ArgumentParser(add_help=False)
    secret.add_argument("--secret-file", type=Path, required=True, metavar="FILE",
                        help="the key file the daemon reads (AUTH_SECRET_FILE)")

    command = actions.add_parser(
        "new-key", parents=[secret], help="add a fresh key, which signs new tokens",
        description="Create FILE (owner-only) or add a fresh random key to it.  Older keys "
                    "keep verifying their tokens until their line is removed.")
    command.set_defaults(run=make_key)

    command = actions.add_parser(
        "create", parents=[secret], help="print a signed token",
        description="Print a token for the documents named, signed with the newest key.")
    command.add_argument("--doc", action="append", default=[], metavar="NAME",
                         help="a document the token covers (repeatable)")
    command.add_argument("--doc-prefix", action="append", default=[], metavar="P",
                         help="cover every document whose name starts with P (repeatable; "
                              "an empty P covers every document)")
    command.add_argument("--read-only", action="store_true",
                         help="read only: the holder's edits never reach the document")
    command.add_argument("--delete", action="store_true", help="allow deleting (nullify)")
    command.add_argument("--share", action="store_true",
                         help="allow making read-only links to the same documents")
    command.add_argument("--admin", action="store_true",
                         help="allow the operator pages, such as /status")
    command.add_argument("--expires", type=duration, default=duration(DEFAULT_LIFETIME),
                         metavar="DURATION",
                         help=f"lifetime, such as '1 seconds' or '7 days' (default {DEFAULT_LIFETIME})")
    command.add_argument("--subject", default="anonymous", metavar="WHO",
                         help="whom the token is for (shown in logs)")
    command.set_defaults(run=create)
