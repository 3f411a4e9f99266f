"""Messages as they may be shown: in logs, traces and the message log, never a credential."""

from __future__ import annotations

import attrs

from dmdelegation.protocol.dmacc import SECRET_MASK
from dmdelegation.protocol.messages import BootstrapConfirmed, Message


def redacted(message: Message) -> Message:
    """``message`` with every ``AAuthSecret`` and ``AAuthData`` replaced by a mask."""
    if not isinstance(message, BootstrapConfirmed) or message.dmacc is None:
        return message
    auths = tuple(
        attrs.evolve(
            auth,
            secret=None if auth.secret is None else SECRET_MASK,
            data=None if auth.data is None else b"",
        )
        for auth in message.dmacc.app_auths
    )
    return attrs.evolve(message, dmacc=attrs.evolve(message.dmacc, app_auths=auths))


def shown(message: Message) -> str:
    """The redacted document as text."""
    return redacted(message).encode().decode("utf-8")
