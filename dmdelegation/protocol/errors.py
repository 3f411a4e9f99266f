"""The one exception a refused document raises, and the one an unsendable message raises."""

from __future__ import annotations


class ProtocolError(ValueError):
    """A received body was refused.

    ``status`` is the DM Representation Protocol status code to answer with (400-class; the
    delegation resource uses it as the HTTP status too), ``reason`` says precisely why, and
    ``element`` names the offending element when there is one. Nothing in a reason repeats
    the content of a credential: schema messages name elements and facets, and the codec never
    quotes the value of a secret element.
    """

    def __init__(self, reason: str, status: int = 400, element: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.element = element

    def __repr__(self) -> str:
        return f"ProtocolError({self.reason!r}, status={self.status})"


class EncodeError(ValueError):
    """A message object could not be written as a valid document (a field is out of range)."""
