"""What the operator's commands print of the admin API's answers: a session on one line, a
dry run's plan as the changes it would make."""

from __future__ import annotations

from typing import Any


def print_session(s: dict[str, Any]) -> None:
    outcome = s["outcome"] or f"open ({s['state']})"
    print(
        f"{s['session']}  {s['role']} {s['process']:22} {s['device']} {s['subtree']}  "
        f"peer {s['peer']}  {outcome}{'  ' + s['reason'] if s['reason'] else ''}"
    )


def print_plan(plan: dict[str, Any]) -> None:
    full = " (full)" if plan["full"] else ""
    print(
        f"dry run: delegating {plan['device']} {plan['subtree']}{full} to {plan['to']} "
        f"({plan['method']}) would change, and nothing was changed:"
    )
    changes = plan["changes"]
    for uri in changes["added"]:
        print(f"  + {uri}")
    for uri in changes["removed"]:
        print(f"  - {uri}")
    for uri in changes["values"]:
        print(f"  ~ {uri} (value)")
    for acl in changes["acl"]:
        print(f"  ACL {acl['uri']}")
        print(f"      before: {acl['before'] or '(inherited)'}")
        print(f"      after:  {acl['after'] or '(inherited)'}")
    for note in plan["notes"]:
        print(f"  note: {note}")
