"""One process's message exchange as a sequence diagram (``dmdelegation trace SESSION``): text
for the terminal, SVG for a picture. Built from the message log, whose documents are already
redacted; only the root, time, direction and reasonCode of each message are shown. The DM
commands this server sent the device during the process (`DeviceCommand`: command, URI and the
device's status, never a value) are a third lifeline, "DM Client <DevId>", on the left, as in
the specification's figures.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Any
from xml.sax.saxutils import escape

from dmdelegation.store.interfaces import DeviceCommand, LogLine

_REASON = re.compile(r"<reasonCode>\s*(\d+)\s*</reasonCode>")


TO_DEVICE = "device"
"""The direction of an entry that is a DM command to the device."""


def device_lifeline(device_id: str) -> str:
    return f"DM Client {device_id}"


def entries(
    lines: Sequence[LogLine],
    us: str,
    peer: str,
    commands: Sequence[DeviceCommand] = (),
    device: str = "",
) -> list[dict[str, Any]]:
    """Each message: time, direction, from, to, message type and its reasonCode (or None); each
    of ``commands`` among them, after the message lines that preceded it: direction
    ``"device"``, to ``device``'s lifeline, the command as the message, its URI and status."""
    found: list[dict[str, Any]] = []
    pending = sorted(commands, key=lambda c: c.after)  # stable: in the order sent

    def place(before: int) -> None:
        while pending and pending[0].after <= before:
            c = pending.pop(0)
            found.append(
                {
                    "at": c.at,
                    "direction": TO_DEVICE,
                    "from": us,
                    "to": device_lifeline(device),
                    "message": c.command,
                    "uri": c.uri,
                    "status": c.status,
                }
            )

    for i, line in enumerate(lines):
        place(i)
        code = _REASON.search(line.document)
        outgoing = line.direction == "out"
        found.append(
            {
                "at": line.at,
                "direction": line.direction,
                "from": us if outgoing else peer,
                "to": peer if outgoing else us,
                "message": line.root,
                "status": int(code.group(1)) if code else None,
            }
        )
    place(len(lines) + max((c.after for c in pending), default=0))
    return found


def _clock(t: float | None) -> str:
    if t is None:
        return "--:--:--.---"
    return time.strftime("%H:%M:%S", time.gmtime(t)) + f".{int((t % 1) * 1000):03d}"


def _lifelines(us: str, peer: str, messages: Sequence[dict[str, Any]]) -> list[str]:
    """The device's lifeline first, if a DM command was sent to it, then ours, then the peer's."""
    device = next((m["to"] for m in messages if m["direction"] == TO_DEVICE), None)
    return [us, peer] if device is None else [str(device), us, peer]


def _label(m: dict[str, Any]) -> str:
    status = "" if m["status"] is None else f" ({m['status']})"
    uri = f" {m['uri']}" if m["direction"] == TO_DEVICE else ""
    return f"{m['message']}{uri}{status}"


def _span(lanes: int, m: dict[str, Any]) -> tuple[int, int]:
    """The lifelines (indices) an arrow goes from and to."""
    us = lanes - 2
    if m["direction"] == TO_DEVICE:
        return us, 0
    return (us, us + 1) if m["direction"] == "out" else (us + 1, us)


def _gaps(
    names: list[str], messages: Sequence[dict[str, Any]], least: int, per_label: int, extra: int
) -> list[int]:
    """The distance between each two neighbouring lifelines: ``least``, or more for the
    longest label drawn between them or the name of the left one."""
    gaps = []
    for i in range(len(names) - 1):
        labels = [_label(m) for m in messages if min(_span(len(names), m)) == i]
        longest = max((len(x) for x in (names[i], *labels)), default=0)
        gaps.append(max(least, per_label * longest + extra))
    return gaps


def text(us: str, peer: str, messages: Sequence[dict[str, Any]], title: str = "") -> str:
    """A lifeline for us and one for the peer (and one on the left for the device, if a DM
    command was sent to it); one arrow per message or command, with time and status."""
    names = _lifelines(us, peer, messages)
    at = [0]
    for gap in _gaps(names, messages, 40, 1, 6):
        at.append(at[-1] + gap)
    out = [title] if title else []
    header = "".join(
        f"{name:<{at[i + 1] - at[i]}}" if i + 1 < len(at) else name for i, name in enumerate(names)
    )
    out.append(f"{'':13}{header}")
    bars = "".join("|" if x in at else " " for x in range(at[-1] + 1))
    out.append(f"{'':13}{bars}")
    for m in messages:
        start, end = _span(len(names), m)
        left, right = at[min(start, end)], at[max(start, end)]
        width = right - left
        label = f" {_label(m)} "
        if start < end:
            arrow = "|" + label.ljust(width - 2, "-") + ">|"
        else:
            arrow = "|<" + label.rjust(width - 2, "-") + "|"
        line = bars[:left] + arrow + bars[right + 1 :]
        out.append(f"{_clock(m['at'])} {line.rstrip()}")
    out.append(f"{'':13}{bars}")
    return "\n".join(out) + "\n"


CHAR_WIDTH = 8  # px of one character at font-size 13 in a monospace font (7.8, rounded up)


def svg(
    us: str, peer: str, messages: Sequence[dict[str, Any]], title: str = "", reason: str = ""
) -> str:
    """The same diagram as an SVG document on a white background, as wide as its title and its
    lifelines; ``reason`` (why a process failed) is drawn under the last message, in red."""
    names = _lifelines(us, peer, messages)
    xs = [160]
    for gap in _gaps(names, messages, 400, CHAR_WIDTH, 40):
        xs.append(xs[-1] + gap)
    top, step = 70, 40
    height = top + step * (len(messages) + 1) + (step if reason else 0)
    longest = max(len(title), len(reason))
    width = max(720, xs[-1] + 160, 20 + CHAR_WIDTH * longest)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="monospace" font-size="13">',
        '<rect width="100%" height="100%" fill="white"/>',
        '<defs><marker id="a" markerWidth="10" markerHeight="7" refX="10" refY="3.5" '
        'orient="auto"><polygon points="0 0, 10 3.5, 0 7"/></marker></defs>',
        f'<text x="10" y="20">{escape(title)}</text>',
    ]
    for x, name in zip(xs, names, strict=True):
        parts.append(
            f'<text x="{x}" y="45" text-anchor="middle" font-weight="bold">{escape(name)}</text>'
        )
    for x in xs:
        parts.append(f'<line x1="{x}" y1="52" x2="{x}" y2="{height - 10}" stroke="gray"/>')
    for i, m in enumerate(messages):
        y = top + step * (i + 1)
        start, end = (xs[j] for j in _span(len(names), m))
        parts.append(f'<text x="10" y="{y}">{_clock(m["at"])}</text>')
        parts.append(
            f'<line x1="{start}" y1="{y}" x2="{end}" y2="{y}" stroke="black" marker-end="url(#a)"/>'
        )
        parts.append(
            f'<text x="{(start + end) // 2}" y="{y - 6}" text-anchor="middle">'
            f"{escape(_label(m))}</text>"
        )
    if reason:
        parts.append(f'<text x="10" y="{height - 15}" fill="#b00020">{escape(reason)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
