"""The device's side of the lab bootstrap exchange (the Bootstrap Server URL approach of the
Server Delegation Protocol: the device reaches the URL its ``./BootConfig`` holds).

The exchange, two messages each way, SyncML DM 1.2 in XML:

1. The device posts to the BootstrapURL: ``SyncHdr`` (``VerDTD`` 1.2, ``VerProto`` DM/1.2, a
   ``SessionID``, ``MsgID`` 1, ``Target`` the BootstrapURL, ``Source`` the DevId, no ``Cred``),
   Alert 1201, a Replace of the ``./DevInfo`` leaves, Final.
2. The server answers: Status 200 for the ``SyncHdr``, statuses, Add commands creating
   ``./DMAcc/<name>`` (an interior node with ``<Data/>``) and its leaves, Final.
3. The device applies the Adds as a bootstrap (no ACL check; the new nodes inherit their ACL) and
   posts a Status for the ``SyncHdr`` and one per Add, Final.
4. The server answers a Status and Final: the exchange is over.

An HTTP answer other than 200 (401, 404 ...) or a ``SyncHdr`` status other than 200 ends it
(`BootstrapFailed`). A target outside ``./DMAcc`` is refused (405) and any command but Add
(and Alert) is answered 406. The URL counts as bootstrapped only if every Add succeeded.
"""

from __future__ import annotations

import secrets
from typing import Any

from attrs import frozen

from dmdelegation.dm import message as sm
from dmdelegation.dm import xml_codec
from dmdelegation.dm.values import value_of
from dmdelegation.tree.acl import ACL
from dmdelegation.tree.bootconfig import BOOTCONFIG_ROOT, BOOTSTRAP_URL
from dmdelegation.tree.devinfo import DevInfo
from dmdelegation.tree.dmacc import DMACC_ROOT
from dmdelegation.tree.storage import StoredNode, TreeStorage
from dmdelegation.tree.uri import URI, URIError
from dmdelegation.tree.value import Format, Value, ValueFormatError

MAX_ANSWER = 1 << 20


class BootstrapFailed(Exception):
    """The exchange ended before the accounts were added; the message says why (no secret)."""


@frozen
class Bootstrapped:
    url: str
    added: int  # nodes added
    refused: int  # Adds that failed

    @property
    def complete(self) -> bool:
        return self.refused == 0


def bootstrap_urls(tree: TreeStorage) -> list[str]:
    """The BootstrapURL of every ``./BootConfig/<X>``, in the order of the entries' names."""
    if tree.node(BOOTCONFIG_ROOT) is None:
        return []
    urls = []
    for name in tree.children(BOOTCONFIG_ROOT):
        node = tree.node(BOOTCONFIG_ROOT.child(name, BOOTSTRAP_URL))
        if node is not None and node.value.format is Format.CHR and node.value.as_text():
            urls.append(node.value.as_text())
    return urls


def _devinfo_replace(devinfo: DevInfo) -> sm.Command:
    leaves = (
        ("DevId", devinfo.dev_id),
        ("Man", devinfo.man),
        ("Mod", devinfo.mod),
        ("DmV", devinfo.dm_v),
        ("Lang", devinfo.lang),
    )
    return sm.Command(
        name="Replace",
        cmd_id="2",
        items=tuple(
            sm.Item(source=f"./DevInfo/{name}", meta=sm.Meta(format="chr"), data=value)
            for name, value in leaves
        ),
    )


def apply_add(tree: TreeStorage, item: sm.Item) -> int:
    """Add one node as a bootstrap does (no ACL check); the status code."""
    try:
        uri = URI.parse(item.target or "")
    except URIError:
        return 404
    if uri.depth < 2 or uri.segments[0] != DMACC_ROOT.segments[0]:
        return 405  # a bootstrap only creates accounts
    try:
        if item.meta is not None and item.meta.format == "node":
            if item.data is None:  # an interior Add carries <Data/>
                return 400
            value = Value.interior()
        else:
            value, _ = value_of(item)
    except (ValueError, ValueFormatError):
        return 400
    if tree.node(uri) is not None:
        return 418
    parent = uri.parent
    above = None if parent is None else tree.node(parent)
    if above is None:
        return 404
    if not above.value.is_interior:
        return 405
    tree.insert(uri, StoredNode(value, ACL()))
    return 200


async def bootstrap(tree: TreeStorage, devinfo: DevInfo, url: str, http: Any) -> Bootstrapped:
    """Run the exchange with the bootstrap server at ``url`` (``http`` a treq client)."""
    session_id = f"{secrets.randbelow(0x10000):04X}"

    async def post(message: sm.Message) -> sm.Message:
        headers = {"Content-Type": xml_codec.CONTENT_TYPE}
        try:
            response = await http.post(url, data=xml_codec.encode(message), headers=headers)
            body: bytes = await response.content()
        except Exception as e:  # the connection: refused, reset, timed out
            raise BootstrapFailed(f"{url}: {e.__class__.__name__}") from None
        if response.code != 200:
            raise BootstrapFailed(f"{url}: HTTP {response.code}")
        try:
            reply: sm.Message = xml_codec.decode(body, MAX_ANSWER)
        except (ValueError, sm.MalformedMessage) as e:
            raise BootstrapFailed(f"{url}: an unreadable answer ({e})") from None
        header = next((s for s in reply.statuses if s.cmd == sm.SYNCHDR), None)
        if header is None or header.code != 200:
            code = "none" if header is None else header.code
            raise BootstrapFailed(f"{url}: SyncHdr status {code}")
        return reply

    def header(msg_id: str) -> sm.Header:
        return sm.Header(session_id=session_id, msg_id=msg_id, target=url, source=devinfo.dev_id)

    first = sm.Message(
        header("1"),
        (
            sm.Command(name="Alert", cmd_id="1", data=sm.ALERT_CLIENT_INITIATED),
            _devinfo_replace(devinfo),
        ),
        final=True,
    )
    reply = await post(first)
    statuses: list[sm.BodyElement] = [
        sm.Status(cmd_id="1", msg_ref=reply.header.msg_id, cmd_ref="0", cmd=sm.SYNCHDR, code=200)
    ]
    added = refused = 0
    with tree.atomic():
        for command in reply.commands:
            if command.name == "Alert":
                code = 200
            elif command.name != "Add" or not command.items:
                code = 406
            else:
                codes = [apply_add(tree, item) for item in command.items]
                code = max(codes)
                added += sum(1 for c in codes if c == 200)
            if code != 200:
                refused += 1
            statuses.append(
                sm.Status(
                    cmd_id=str(len(statuses) + 1),
                    msg_ref=reply.header.msg_id,
                    cmd_ref=command.cmd_id,
                    cmd=command.name,
                    code=code,
                    target_ref=command.items[0].target if command.items else None,
                )
            )
    await post(sm.Message(header("2"), tuple(statuses), final=True))
    return Bootstrapped(url, added, refused)
