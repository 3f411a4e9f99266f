"""The effects of a transition, kept importable here: they live in `dmdelegation.core.effects`,
below both the engine and the store, whose audit trail reads them."""

from dmdelegation.core.effects import (
    CancelOutbox,
    ChangeClient,
    Duty,
    Effect,
    Finish,
    Perform,
    Register,
    Request,
    Respond,
    Send,
    TreeChange,
    Unregister,
)

__all__ = [
    "CancelOutbox",
    "ChangeClient",
    "Duty",
    "Effect",
    "Finish",
    "Perform",
    "Register",
    "Request",
    "Respond",
    "Send",
    "TreeChange",
    "Unregister",
]
