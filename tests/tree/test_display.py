"""The operator's view of a tree: every format readable, credentials always masked."""

from __future__ import annotations

from dmdelegation.tree import ACL, URI, NodeRecord, Value
from dmdelegation.tree.display import display_lines
from dmdelegation.tree.secrets import MASK


def test_lines_show_format_value_and_acl() -> None:
    lines = display_lines(
        [
            NodeRecord(URI.parse("."), Value.interior(), ACL.parse("Get=*")),
            NodeRecord(URI.parse("./t"), Value.text('a "q"')),
            NodeRecord(URI.parse("./i"), Value.integer(42)),
            NodeRecord(URI.parse("./b"), Value.boolean(False)),
            NodeRecord(URI.parse("./x"), Value.binary(b"\x00\x01")),
        ]
    )
    assert lines == [
        ". [node]  ACL: Get=*",
        './t [chr] = "a \\"q\\""  ACL: (inherited)',
        "./i [int] = 42  ACL: (inherited)",
        "./b [bool] = false  ACL: (inherited)",
        "./x [bin] = b64:AAE=  ACL: (inherited)",
    ]


def test_credentials_are_masked_whatever_their_format_or_length() -> None:
    lines = display_lines(
        [
            NodeRecord(URI.parse("./DMAcc/1/AppAuth/1/AAuthSecret"), Value.text("s3cret")),
            NodeRecord(URI.parse("./DMAcc/1/AppAuth/1/AAuthData"), Value.binary(b"s3cret")),
            NodeRecord(URI.parse("./Elsewhere/AAuthSecret"), Value.text("x")),
        ]
    )
    assert all(line.split(" = ")[1].startswith(MASK + "  ") for line in lines)
    assert not any("s3cret" in line or "czNjcmV0" in line for line in lines)
