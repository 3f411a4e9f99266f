"""``decode``: untrusted bytes in, a typed message out, or one :class:`ProtocolError`."""

from __future__ import annotations

from dmdelegation.protocol import schema
from dmdelegation.protocol.errors import ProtocolError
from dmdelegation.protocol.messages import BY_ROOT, Message
from dmdelegation.protocol.parsing import DEFAULT_MAX_DEPTH, DEFAULT_MAX_SIZE, parse_untrusted


def decode(
    data: bytes,
    *,
    max_size: int = DEFAULT_MAX_SIZE,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> Message:
    """Parse, check against the schema and read one message; the root element picks the class."""
    root = parse_untrusted(data, max_size=max_size, max_depth=max_depth)
    tag = root.tag
    cls = BY_ROOT.get(tag) if isinstance(tag, str) else None
    if cls is None:
        shown = tag[:64] if isinstance(tag, str) else "?"
        raise ProtocolError(f"unknown message: root element '{shown}'", 400, shown)
    schema.check(root)
    return cls.from_element(root)


def encode(message: Message) -> bytes:
    """The same as ``message.encode()``."""
    return message.encode()
