"""The device side of the lab bootstrap contract (docs/dm-sessions.md, "The bootstrap
exchange"), for the tests: the simulator has no bootstrap of its own."""

from __future__ import annotations

import treq

from dmdelegation.dm import message as sm
from dmdelegation.dm import xml_codec
from dmdelegation.dm.values import value_of
from dmdelegation.lab.device.simulator import SimulatedDevice
from dmdelegation.tree import ACL, URI
from dmdelegation.tree.storage import StoredNode


def first_message(device: SimulatedDevice, url: str, source: str | None = None) -> bytes:
    info = device.devinfo
    items = tuple(
        sm.Item(target=f"./DevInfo/{name}", meta=sm.Meta(format="chr"), data=value)
        for name, value in (("DevId", info.dev_id), ("Man", info.man), ("Mod", info.mod))
    )
    return xml_codec.encode(
        sm.Message(
            sm.Header(session_id="B1", msg_id="1", target=url, source=source or info.dev_id),
            (
                sm.Command(name="Alert", cmd_id="1", data=sm.ALERT_CLIENT_INITIATED),
                sm.Command(name="Replace", cmd_id="2", items=items),
            ),
        )
    )


async def post_xml(url: str, body: bytes) -> sm.Message:
    headers: dict[bytes | str, bytes | str] = {"Content-Type": xml_codec.CONTENT_TYPE}
    response = await treq.post(url, data=body, headers=headers, persistent=False)
    assert response.code == 200
    return xml_codec.decode(await response.content(), 1 << 20)


async def device_bootstrap(device: SimulatedDevice, url: str) -> sm.Message:
    """The device side of the lab bootstrap contract: message 1, the Adds carried out into the
    device's tree (a bootstrap is not subject to ACLs), message 2 with a Status per Add."""
    reply = await post_xml(url, first_message(device, url))
    statuses: list[sm.BodyElement] = [
        sm.Status(cmd_id="1", msg_ref="1", cmd_ref="0", cmd=sm.SYNCHDR, code=200)
    ]
    for number, command in enumerate(reply.commands, start=2):
        assert command.name == "Add"
        (item,) = command.items
        value, _ = value_of(item)
        device.tree.insert(URI.parse(item.target or ""), StoredNode(value, ACL.parse("")))
        statuses.append(
            sm.Status(cmd_id=str(number), msg_ref="1", cmd_ref=command.cmd_id, cmd="Add", code=200)
        )
    header = sm.Header(session_id="B1", msg_id="2", target=url, source=device.device_id)
    await post_xml(url, xml_codec.encode(sm.Message(header, tuple(statuses))))
    return reply
