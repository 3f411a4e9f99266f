"""The body of an authenticated client message, as `DMSessionServer` takes it: the client's
verdict on our credentials (its SyncHdr Status, whose ``<Chal>`` carries its next nonce for
us), the Status and Results answering our commands (matched to their `Pending` by our MsgID
and CmdID; an operation the device refused 401 or 407 for our credentials is queued again,
`MAX_AUTH_RESENDS` times at most), and the device's own commands: Alert (1223 ends its
package), the Replace of its ``./DevInfo`` leaves, anything else answered 406.

Returns the statuses of the answer; the operations fully answered are settled here (their
callbacks may queue the next ones), those the device's package ended without are lost.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from twisted.logger import Logger

from dmdelegation.dm import message as sm
from dmdelegation.dm.devices import IDeviceList
from dmdelegation.dm.pending import Pending
from dmdelegation.dm.replies import MAX_SERVER_AUTH_FAILURES, header_status, status
from dmdelegation.dm.session import DMSession
from dmdelegation.protocol.dmacc import AuthLevel

log = Logger(namespace="dmdelegation.dm.server")

MAX_AUTH_RESENDS = MAX_SERVER_AUTH_FAILURES - 1
"""A command the device refused for our credentials (401, 407) is sent again this many times
at most; then the device's status is its answer."""

DevInfoSeen = Callable[[str, dict[str, str]], None]


async def take_body(
    session: DMSession,
    message: sm.Message,
    issued: sm.Chal,
    *,
    devices: IDeviceList,
    queues: dict[str, deque[Pending]],
    devinfo_seen: DevInfoSeen | None,
) -> list[sm.Status | sm.Command]:
    """The statuses answering ``message`` (the SyncHdr's first, with ``issued``), once its
    body was taken into ``session``."""
    header = message.header
    msg_ref = header.msg_id
    out: list[sm.Status | sm.Command] = [header_status(header, issued)]
    touched: list[Pending] = []
    for element in message.body:
        if isinstance(element, sm.Status):
            if element.cmd == sm.SYNCHDR:
                await server_auth_status(session, element, devices)
                continue
            pending = session.in_flight.get((element.msg_ref, element.cmd_ref))
            if pending is not None:
                pending.answer.statuses[element.cmd_ref] = element
                touched.append(pending)
        elif isinstance(element, sm.Results):
            pending = session.in_flight.get((element.msg_ref, element.cmd_ref))
            if pending is not None:
                pending.answer.results.append(element)
                touched.append(pending)
            out.append(status(msg_ref, element.cmd_id, "Results", 200))
        else:
            out.append(device_command(session, msg_ref, element, devinfo_seen))
    session.client_package_open = not message.final
    done = [p for p in session.pending() if p.complete]
    lost = [p for p in session.pending() if not p.complete] if message.final else []
    for key in [k for k, p in session.in_flight.items() if p in done or p in lost]:
        del session.in_flight[key]
    for pending in lost:
        pending.lose("the device's package ended without its answer")
    resend = [
        p
        for p in done
        if p.refused_for_credentials and p.auth_resends < MAX_AUTH_RESENDS and not p.abandoned
    ]
    if resend:
        send_again(session, resend, queues)
    for pending in done:  # their callbacks may queue the next operations
        if pending not in resend:
            pending.settle()
    return out


def send_again(
    session: DMSession, refused: list[Pending], queues: dict[str, deque[Pending]]
) -> None:
    """The device refused these commands for our credentials (its nonce for us changed, say):
    they go first in the queue, to be sent again with our credentials anew."""
    session.send_server_cred = True
    queue = queues.setdefault(session.device_id, deque())
    for pending in reversed(refused):
        pending.rewind()
        queue.appendleft(pending)
    log.info(
        "{device_id} refused {count} command(s) for our credentials: sending them again",
        device_id=session.device_id,
        count=len(refused),
    )


def device_command(
    session: DMSession, msg_ref: str, command: sm.Command, devinfo_seen: DevInfoSeen | None
) -> sm.Status:
    """The status of one of the device's own commands."""
    if command.name == "Alert":
        if command.data == sm.ALERT_SESSION_ABORT:
            session.client_package_open = False
        return status(msg_ref, command.cmd_id, "Alert", 200)
    # DevInfo's items name their node in <Source> (the OMA DM 1.2 representation's
    # example) or in <Target> (many clients): either is read.
    uris = [i.target or i.source or "" for i in command.items]
    if command.name == "Replace" and all(u.startswith("./DevInfo/") for u in uris):
        for uri, item in zip(uris, command.items, strict=True):
            if isinstance(item.data, str):
                session.devinfo[uri.rsplit("/", 1)[1]] = item.data
        dev_id = session.devinfo.get("DevId")
        code = 200 if dev_id in (None, session.device_id) else 400
        if code == 200 and devinfo_seen is not None:
            try:
                devinfo_seen(session.device_id, dict(session.devinfo))
            except Exception:  # kept for DELEGATION_REQ only: the session goes on
                log.failure("keeping the DevInfo of {device_id}", device_id=session.device_id)
        return status(msg_ref, command.cmd_id, "Replace", code)
    return status(msg_ref, command.cmd_id, command.name, 406)


async def server_auth_status(session: DMSession, verdict: sm.Status, devices: IDeviceList) -> None:
    """The client's verdict on our credentials; its challenge carries its next nonce."""
    if verdict.chal is not None:
        await devices.save_nonce(session.device_id, AuthLevel.SERVER, verdict.chal.next_nonce)
        device = devices.device(session.device_id)
        if device is not None:
            session.device = device
    if verdict.code in (200, 212):
        session.server_auth_failures = 0
        return
    session.server_auth_failures += 1
    session.send_server_cred = True
    log.warn(
        "{device_id} refused our credentials ({code})",
        device_id=session.device_id,
        code=verdict.code,
    )
