"""``dmdelegation tree``: the managed DM Client trees of the embedded store, for operators.

    dmdelegation tree show [--store PATH] DEVICE [URI]   # values (secrets masked) and ACLs
    dmdelegation tree show --config FILE DEVICE [URI]    # the same, from the running daemon
    dmdelegation tree provision [--store PATH] FILE      # a new device from a provisioning file

The store is ``--store``, else ``$DMDELEGATION_CLIENT_STORE``, else
``dmdelegation-clients.sqlite3`` in the working directory. ``show`` never creates or changes it.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from typing import Any
from urllib.parse import quote

from dmdelegation.client.provisioning import ProvisioningError, load_provision
from dmdelegation.client.store import (
    DEFAULT_STORE,
    STORE_ENV,
    ClientTreeStore,
    DeviceTreeError,
    UnknownDevice,
    default_store_path,
)
from dmdelegation.commands.operate import AdminError, _common, client_for
from dmdelegation.tree.display import display_lines
from dmdelegation.tree.uri import URI, URIError

STORE_HELP = f"the client store (default: ${STORE_ENV}, else {DEFAULT_STORE})"


def _fail(command: str, reason: str) -> int:
    print(f"dmdelegation tree {command}: {reason}", file=sys.stderr)
    return 1


def _show_from_daemon(args: argparse.Namespace) -> int:
    """The tree as the running daemon holds it (its admin API), for ``--config``/``--admin``."""
    query = f"/tree?device={quote(args.device, safe='')}&uri={quote(args.uri, safe='')}"
    try:
        found = client_for(args).call("GET", query)
    except AdminError as e:
        prefix = f"refused ({e.status}): " if e.status else ""
        return _fail("show", f"{prefix}{e.reason}")
    for line in found["lines"]:
        print(line)
    return 0


def show(args: argparse.Namespace) -> int:
    if args.config is not None or args.admin is not None:
        if args.store is not None:
            return _fail("show", "--store reads a store file; --config and --admin ask a daemon")
        return _show_from_daemon(args)
    path = args.store or default_store_path()
    try:
        uri = URI.parse(args.uri)
    except URIError as e:
        return _fail("show", f"{args.uri!r}: {e}")
    if not os.path.isfile(path):
        return _fail("show", f"no client store at {path}")
    try:
        store = ClientTreeStore(path, read_only=True)
    except sqlite3.Error as e:
        return _fail("show", f"{path} is not a client store ({e})")
    try:
        records = store.records(args.device, uri)
    except UnknownDevice as e:
        return _fail("show", str(e))
    except sqlite3.Error as e:
        return _fail("show", f"{path} is not a client store ({e})")
    finally:
        store.close()
    if not records:
        return _fail("show", f"no node {uri} on {args.device}")
    for line in display_lines(records):
        print(line)
    return 0


def provision(args: argparse.Namespace) -> int:
    path = args.store or default_store_path()
    try:
        device = load_provision(args.file)
    except ProvisioningError as e:
        return _fail("provision", str(e))
    store = ClientTreeStore(path)
    try:
        device_id = store.provision(device)
    except DeviceTreeError as e:
        return _fail("provision", str(e))
    finally:
        store.close()
    print(f"provisioned {device_id} in {path}")
    return 0


def register(groups: argparse._SubParsersAction[Any]) -> None:
    parser = groups.add_parser("tree", help="managed DM Client trees (embedded store)")
    parser.set_defaults(run=lambda args: (parser.print_help(), 2)[1])
    actions = parser.add_subparsers(dest="action", metavar="ACTION")

    show_parser = actions.add_parser(
        "show", help="print a device's tree: values (secrets masked) and ACLs"
    )
    show_parser.add_argument("--store", metavar="PATH", help=STORE_HELP)
    show_parser.add_argument("device", metavar="DEVICE", help="the device's DevId")
    show_parser.add_argument("uri", metavar="URI", nargs="?", default=".", help="default: .")
    _common(show_parser)
    show_parser.set_defaults(run=show)

    provision_parser = actions.add_parser(
        "provision", help="add a device to the store from a provisioning file (TOML)"
    )
    provision_parser.add_argument("--store", metavar="PATH", help=STORE_HELP)
    provision_parser.add_argument("file", metavar="FILE")
    provision_parser.set_defaults(run=provision)
