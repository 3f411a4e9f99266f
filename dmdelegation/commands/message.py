"""``dmdelegation message``: validate message files, print examples, list names, show the XSD."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from lxml import etree

from dmdelegation.protocol import BY_ROOT, ProtocolError, decode
from dmdelegation.protocol.examples import EXAMPLES
from dmdelegation.protocol.schema import schema_source


def _validate(args: argparse.Namespace) -> int:
    bad = 0
    for path in args.files:
        try:
            with open(path, "rb") as f:
                data = f.read(args.max_size + 1)
        except OSError as e:
            print(f"{path}: cannot read: {e.strerror}")
            bad += 1
            continue
        try:
            message = decode(data, max_size=args.max_size)
        except ProtocolError as e:
            print(f"{path}: refused ({e.status}): {e.reason}")
            bad += 1
        else:
            print(f"{path}: OK {message.ROOT}")
    return 1 if bad else 0


def _example(args: argparse.Namespace) -> int:
    name = args.name.upper()
    if name not in EXAMPLES:
        print(f"unknown message {args.name!r}; one of: {', '.join(BY_ROOT)}", file=sys.stderr)
        return 2
    root = etree.fromstring(EXAMPLES[name].encode())
    etree.indent(root)
    text = etree.tostring(root, encoding="unicode")
    sys.stdout.write(f'<?xml version="1.0" encoding="UTF-8"?>\n{text}\n')
    return 0


def _list(args: argparse.Namespace) -> int:
    for name, cls in BY_ROOT.items():
        print(f"{name:30} {cls.__name__}")
    return 0


def _schema(args: argparse.Namespace) -> int:
    sys.stdout.write(schema_source().decode("utf-8"))
    return 0


def register(groups: argparse._SubParsersAction[Any]) -> None:
    parser = groups.add_parser("message", help="delegation protocol messages")
    commands = parser.add_subparsers(dest="command", metavar="SUBCOMMAND", required=True)

    validate = commands.add_parser(
        "validate", help="check files against the vocabulary: OK or the reason, per file"
    )
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.add_argument(
        "--max-size",
        type=int,
        default=64 * 1024,
        help="size limit in bytes, as the daemon applies it (default 65536)",
    )
    validate.set_defaults(run=_validate)

    example = commands.add_parser("example", help="print a valid example of a message")
    example.add_argument("name", metavar="NAME", help="root element, e.g. DELEGATION_REQ")
    example.set_defaults(run=_example)

    listing = commands.add_parser("list", help="list the message names")
    listing.set_defaults(run=_list)

    schema = commands.add_parser("schema", help="print the XSD of the vocabulary")
    schema.set_defaults(run=_schema)
