"""DM status codes (DM Representation Protocol, section "Response Status Codes") used as results."""

from __future__ import annotations

import enum


class Status(enum.IntEnum):
    """The outcome of one DM command on a managed client."""

    OK = 200
    ITEM_ADDED = 201
    NOT_FOUND = 404
    COMMAND_NOT_ALLOWED = 405
    ALREADY_EXISTS = 418
    PERMISSION_DENIED = 425
    COMMAND_FAILED = 500

    @property
    def is_success(self) -> bool:
        return self in (Status.OK, Status.ITEM_ADDED)
