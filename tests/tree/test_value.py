"""Node formats and values: each format holds only its kind of data, and a repr shows no data."""

from __future__ import annotations

import pytest

from dmdelegation.tree import Format, Value, ValueFormatError
from dmdelegation.tree.value import INT_MAX


@pytest.mark.parametrize(
    ("format", "data"),
    [
        (Format.CHR, "text"),
        (Format.CHR, ""),
        (Format.INT, 0),
        (Format.INT, INT_MAX),
        (Format.BOOL, False),
        (Format.BIN, b"\x00\xff"),
        (Format.NODE, None),
    ],
)
def test_valid_values(format: Format, data: object) -> None:
    assert Value(format, data).data == data  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("format", "data"),
    [
        (Format.CHR, b"bytes"),
        (Format.CHR, "nul\x00"),
        (Format.INT, -1),
        (Format.INT, INT_MAX + 1),
        (Format.INT, True),
        (Format.INT, "1"),
        (Format.BOOL, 1),
        (Format.BIN, "text"),
        (Format.NODE, ""),
    ],
)
def test_invalid_values_are_refused(format: Format, data: object) -> None:
    with pytest.raises(ValueFormatError, match=f"not a valid {format.value} value"):
        Value(format, data)  # type: ignore[arg-type]


def test_repr_and_errors_never_show_the_data() -> None:
    assert repr(Value.text("hunter2")) == "Value(chr)"
    assert "hunter2" not in repr([Value.text("hunter2")])
    with pytest.raises(ValueFormatError) as caught:
        Value(Format.INT, "hunter2")
    assert "hunter2" not in str(caught.value)


def test_typed_accessors() -> None:
    assert Value.integer(5).as_int() == 5
    assert Value.boolean(True).as_bool() is True
    assert Value.binary(b"x").as_bytes() == b"x"
    assert Value.text("x").as_text() == "x"
    with pytest.raises(ValueFormatError):
        Value.boolean(True).as_int()
    assert Value.interior().is_interior
    assert not Value.text("").is_interior
