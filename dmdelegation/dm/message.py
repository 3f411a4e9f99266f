"""The SyncML DM 1.2 message as a typed value: the header, the body's Status, Results and
commands in their order, and Final. Both codecs (XML, WBXML) read and write it.

Only what OMA DM 1.2 uses is modelled; an unknown command keeps its name, so that the session
can answer it 406 instead of the whole message being refused.
"""

from __future__ import annotations

from attrs import field, frozen

VER_DTD = "1.2"
VER_PROTO = "DM/1.2"

# Alert codes (DM Protocol, "Alert Types").
ALERT_SERVER_INITIATED = "1200"
ALERT_CLIENT_INITIATED = "1201"
ALERT_NEXT_MESSAGE = "1222"
ALERT_SESSION_ABORT = "1223"

SYNCHDR = "SyncHdr"


def _hidden(value: object) -> str:
    """A repr that never shows a value (items carry credentials; nonces and digests too)."""
    return "None" if value is None else f"<{type(value).__name__}>"


ACL_SUFFIX = "?prop=ACL"


@frozen
class Meta:
    """``<Meta>`` (MetInf): what a DM session reads and writes of it."""

    format: str | None = None
    type: str | None = None
    max_msg_size: int | None = None
    next_nonce: bytes | None = field(default=None, repr=_hidden)


@frozen
class Item:
    target: str | None = None
    source: str | None = None
    meta: Meta | None = None
    data: str | bytes | None = field(default=None, repr=_hidden)  # bytes: WBXML opaque data


@frozen
class Cred:
    """``<Cred>``: the credential of the sender of the message (for MD5 digest and basic)."""

    type: str
    data: str = field(repr=_hidden)
    format: str | None = "b64"


@frozen
class Chal:
    """``<Chal>`` of a Status: the authentication the receiver asks for, and its next nonce."""

    type: str
    next_nonce: bytes = field(repr=_hidden)
    format: str = "b64"


@frozen
class Status:
    cmd_id: str
    msg_ref: str
    cmd_ref: str
    cmd: str
    code: int
    target_ref: str | None = None
    source_ref: str | None = None
    chal: Chal | None = None


@frozen
class Results:
    cmd_id: str
    msg_ref: str
    cmd_ref: str
    items: tuple[Item, ...] = ()


@frozen
class Command:
    """Alert, Add, Replace, Get, Delete, Exec, Copy; Atomic and Sequence hold ``children``.
    ``data`` is the Alert's code."""

    name: str
    cmd_id: str
    items: tuple[Item, ...] = ()
    data: str | None = None
    meta: Meta | None = None
    children: tuple[Command, ...] = ()


BodyElement = Status | Results | Command


@frozen
class Header:
    session_id: str
    msg_id: str
    target: str  # LocURI of the receiver
    source: str  # LocURI of the sender
    ver_dtd: str = VER_DTD
    ver_proto: str = VER_PROTO
    cred: Cred | None = None
    max_msg_size: int | None = None
    resp_uri: str | None = None


@frozen
class Message:
    header: Header
    body: tuple[BodyElement, ...] = ()
    final: bool = True

    @property
    def statuses(self) -> tuple[Status, ...]:
        return tuple(e for e in self.body if isinstance(e, Status))

    @property
    def results(self) -> tuple[Results, ...]:
        return tuple(e for e in self.body if isinstance(e, Results))

    @property
    def commands(self) -> tuple[Command, ...]:
        return tuple(e for e in self.body if isinstance(e, Command))


class MalformedMessage(ValueError):
    """Not a SyncML DM message this server can read; ``status`` is the SyncML status for it."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.status = status
