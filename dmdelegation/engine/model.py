"""The engine's session model, kept importable here: it lives in `dmdelegation.core.model`,
below both the engine and the store, which needs it too."""

from dmdelegation.core.model import Delegation, Outcome, Process, Role, Session, overlaps

__all__ = ["Delegation", "Outcome", "Process", "Role", "Session", "overlaps"]
