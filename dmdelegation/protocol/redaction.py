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


def logged(message: Message, body: bytes | None = None) -> str:
    """The document the message log keeps for ``message``, given ``body``, the bytes it was
    decoded from or encoded to (``None``: not at hand).

    A message with nothing to redact is kept as those bytes, which spares encoding it once
    more; unless they hold more than its elements (:func:`_elements_only`) or are not UTF-8.
    Anything else is the redacted message, encoded afresh (:func:`shown`).
    """
    if body is not None and _elements_only(body) and redacted(message) is message:
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return shown(message)


def _elements_only(body: bytes) -> bool:
    """Whether a well-formed document holds nothing but its declaration and elements: no
    comment or CDATA section (``<!``, which text and attribute values cannot hold unescaped),
    no processing instruction after the declaration. What a decoded message drops, the log
    does not keep either."""
    return b"<!" not in body and body.find(b"<?", 1) == -1
