"""The simulated device's side of each command a server sends: Get, Add, Replace and Delete
(with ``?prop=ACL`` for ACLs) carried out against its tree with the tree layer's rules
(`dmdelegation.tree.commands`: OMA DM ACLs enforced as the server of the session), Atomic
all or nothing (507 with 216 and 215 for its parts when one fails, or 406 when the device is
told it cannot), Alert answered 200, anything else 406.

A target in ``refuse`` is answered 500 with nothing changed (the faults of the tests).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from dmdelegation.dm import message as sm
from dmdelegation.dm.values import item_for, value_of
from dmdelegation.tree import commands
from dmdelegation.tree.acl import ACL, ACLError
from dmdelegation.tree.results import Result
from dmdelegation.tree.status import Status
from dmdelegation.tree.storage import TreeStorage
from dmdelegation.tree.uri import URI, URIError
from dmdelegation.tree.value import Value


class _Rollback(Exception):
    pass


def status_for(reply: sm.Message, command: sm.Command, code: int) -> sm.Status:
    """The device's Status of a command of ``reply``, numbered when its message is built."""
    target = command.items[0].target if command.items else None
    return sm.Status(
        cmd_id="",
        msg_ref=reply.header.msg_id,
        cmd_ref=command.cmd_id,
        cmd=command.name,
        code=code,
        target_ref=target,
    )


def execute(
    tree: TreeStorage,
    reply: sm.Message,
    command: sm.Command,
    server_id: str,
    *,
    atomic: bool,
    refuse: Collection[str],
) -> list[Any]:
    """The Status (and Results of a Get) of one command of ``reply``, carried out for
    ``server_id``; ``atomic`` whether the device carries out Atomic."""
    if command.name == "Alert":
        return [status_for(reply, command, 200)]
    if command.name == "Atomic":
        if not atomic:
            return [status_for(reply, command, 406)]
        return _atomic(tree, reply, command, server_id, refuse)
    if command.name not in ("Get", "Add", "Replace", "Delete") or len(command.items) != 1:
        return [status_for(reply, command, 406)]
    code, results = _run(tree, command, server_id, refuse)
    out: list[Any] = [status_for(reply, command, code)]
    if results is not None:
        out.append(
            sm.Results(
                cmd_id="", msg_ref=reply.header.msg_id, cmd_ref=command.cmd_id, items=(results,)
            )
        )
    return out


def _atomic(
    tree: TreeStorage,
    reply: sm.Message,
    command: sm.Command,
    server_id: str,
    refuse: Collection[str],
) -> list[Any]:
    codes: list[int] = []
    try:
        with tree.atomic():
            for child in command.children:
                if child.name == "Get":
                    codes.append(406)
                    raise _Rollback
                code, _ = _run(tree, child, server_id, refuse)
                codes.append(code)
                if code >= 300:
                    raise _Rollback
    except _Rollback:
        parts = [216 if c < 300 else c for c in codes]
        parts += [215] * (len(command.children) - len(codes))
        return [status_for(reply, command, 507)] + [
            status_for(reply, c, code) for c, code in zip(command.children, parts, strict=True)
        ]
    return [status_for(reply, command, 200)] + [
        status_for(reply, c, code) for c, code in zip(command.children, codes, strict=True)
    ]


def _run(
    tree: TreeStorage, command: sm.Command, server_id: str, refuse: Collection[str]
) -> tuple[int, sm.Item | None]:
    item = command.items[0]
    target = item.target or ""
    if target in refuse:
        return 500, None
    acl = target.endswith(sm.ACL_SUFFIX)
    try:
        uri = URI.parse(target.removesuffix(sm.ACL_SUFFIX))
    except URIError:
        return 404, None
    if command.name == "Get":
        if acl:
            got = commands.get_acl(tree, server_id, uri)
            if got.status is not Status.OK or got.acl is None:
                return int(got.status), None
            return 200, sm.Item(source=target, meta=sm.Meta(format="chr"), data=got.acl.render())
        node = commands.get(tree, server_id, uri)
        if node.status is not Status.OK or node.node is None:
            return int(node.status), None
        if node.node.value.is_interior:
            return 200, sm.Item(
                source=target, meta=sm.Meta(format="node"), data="/".join(node.node.children)
            )
        sent = item_for(uri, node.node.value)
        return 200, sm.Item(source=target, meta=sent.meta, data=sent.data)
    if command.name == "Delete":
        return int(commands.delete(tree, server_id, uri).status), None
    if acl:
        if command.name != "Replace":
            return 405, None
        try:
            text = item.data.decode() if isinstance(item.data, bytes) else (item.data or "")
            return int(commands.replace_acl(tree, server_id, uri, ACL.parse(text)).status), None
        except (ACLError, UnicodeDecodeError):
            return 400, None
    try:
        if command.name == "Add" and item.meta is not None and item.meta.format == "node":
            if item.data is None:  # an interior Add must carry <Data/>
                return 400, None
            value = Value.interior()
        else:
            value, _ = value_of(item)
    except ValueError:
        return 400, None
    run: Callable[..., Result] = commands.add if command.name == "Add" else commands.replace
    return int(run(tree, server_id, uri, value).status), None
