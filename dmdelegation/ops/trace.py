"""One process's message exchange as a sequence diagram (``dmdelegation trace SESSION``): text
for the terminal, SVG for a picture. Built from the message log, whose documents are already
redacted; only the root, time, direction and reasonCode of each message are shown.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Any
from xml.sax.saxutils import escape

from dmdelegation.store.sessions import LogLine

_REASON = re.compile(r"<reasonCode>\s*(\d+)\s*</reasonCode>")


def entries(lines: Sequence[LogLine], us: str, peer: str) -> list[dict[str, Any]]:
    """Each message: time, direction, from, to, message type and its reasonCode (or None)."""
    found = []
    for line in lines:
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
    return found


def _clock(t: float | None) -> str:
    if t is None:
        return "--:--:--.---"
    return time.strftime("%H:%M:%S", time.gmtime(t)) + f".{int((t % 1) * 1000):03d}"


def text(us: str, peer: str, messages: Sequence[dict[str, Any]], title: str = "") -> str:
    """Two lifelines, ``us`` on the left; one arrow per message with time and status."""
    width = max(40, len(us) + 4, *(len(m["message"]) + 14 for m in messages))
    left, right = us, peer
    out = [title] if title else []
    out.append(f"{'':13}{left:<{width}}{right}")
    out.append(f"{'':13}|{'':{width - 1}}|")
    for m in messages:
        status = "" if m["status"] is None else f" ({m['status']})"
        label = f" {m['message']}{status} "
        if m["direction"] == "out":
            arrow = "|" + label.ljust(width - 2, "-") + ">|"
        else:
            arrow = "|<" + label.rjust(width - 2, "-") + "|"
        out.append(f"{_clock(m['at'])} {arrow}")
    out.append(f"{'':13}|{'':{width - 1}}|")
    return "\n".join(out) + "\n"


CHAR_WIDTH = 8  # px of one character at font-size 13 in a monospace font (7.8, rounded up)


def svg(
    us: str, peer: str, messages: Sequence[dict[str, Any]], title: str = "", reason: str = ""
) -> str:
    """The same diagram as an SVG document on a white background, as wide as its title;
    ``reason`` (why a process failed) is drawn under the last message, in red."""
    x1, x2, top, step = 160, 560, 70, 40
    height = top + step * (len(messages) + 1) + (step if reason else 0)
    longest = max(len(title), len(reason))
    width = max(720, 20 + CHAR_WIDTH * longest)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="monospace" font-size="13">',
        '<rect width="100%" height="100%" fill="white"/>',
        '<defs><marker id="a" markerWidth="10" markerHeight="7" refX="10" refY="3.5" '
        'orient="auto"><polygon points="0 0, 10 3.5, 0 7"/></marker></defs>',
        f'<text x="10" y="20">{escape(title)}</text>',
        f'<text x="{x1}" y="45" text-anchor="middle" font-weight="bold">{escape(us)}</text>',
        f'<text x="{x2}" y="45" text-anchor="middle" font-weight="bold">{escape(peer)}</text>',
        f'<line x1="{x1}" y1="52" x2="{x1}" y2="{height - 10}" stroke="gray"/>',
        f'<line x1="{x2}" y1="52" x2="{x2}" y2="{height - 10}" stroke="gray"/>',
    ]
    for i, m in enumerate(messages):
        y = top + step * (i + 1)
        start, end = (x1, x2) if m["direction"] == "out" else (x2, x1)
        status = "" if m["status"] is None else f" ({m['status']})"
        parts.append(f'<text x="10" y="{y}">{_clock(m["at"])}</text>')
        parts.append(
            f'<line x1="{start}" y1="{y}" x2="{end}" y2="{y}" stroke="black" marker-end="url(#a)"/>'
        )
        parts.append(
            f'<text x="{(x1 + x2) // 2}" y="{y - 6}" text-anchor="middle">'
            f"{escape(m['message'] + status)}</text>"
        )
    if reason:
        parts.append(f'<text x="10" y="{height - 15}" fill="#b00020">{escape(reason)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
