"""The SyncML codecs: XML and WBXML give back the message they were given, and refuse what a
DM session never reads (bounded like the delegation interface's parser)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmdelegation.dm import message as sm
from dmdelegation.dm import wbxml, xml_codec

_text = (
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\x00"),
        min_size=1,
        max_size=20,
    )
    .map(str.strip)
    .filter(bool)
)
_id = st.integers(min_value=1, max_value=999).map(str)
_meta = st.builds(
    sm.Meta,
    format=st.sampled_from([None, "chr", "int", "node", "b64"]),
    type=st.sampled_from([None, "text/plain"]),
    max_msg_size=st.none() | st.integers(0, 10**6),
    next_nonce=st.none() | st.binary(min_size=1, max_size=16),
)
_item = st.builds(
    sm.Item,
    target=st.none() | _text,
    source=st.none() | _text,
    meta=st.none() | _meta,
    data=st.none() | st.binary(max_size=16),
)
_leaf = st.builds(
    sm.Command,
    name=st.sampled_from(["Add", "Replace", "Get", "Delete"]),
    cmd_id=_id,
    items=st.lists(_item, max_size=3).map(tuple),
)
_command = _leaf | st.builds(
    sm.Command, name=st.just("Atomic"), cmd_id=_id, children=st.lists(_leaf, max_size=3).map(tuple)
)
_status = st.builds(
    sm.Status,
    cmd_id=_id,
    msg_ref=_id,
    cmd_ref=_id,
    cmd=st.sampled_from(["SyncHdr", "Add", "Get"]),
    code=st.integers(100, 599),
    chal=st.none()
    | st.builds(
        sm.Chal, type=st.just("syncml:auth-md5"), next_nonce=st.binary(min_size=1, max_size=16)
    ),
)
_results = st.builds(
    sm.Results, cmd_id=_id, msg_ref=_id, cmd_ref=_id, items=st.lists(_item, max_size=2).map(tuple)
)
_messages = st.builds(
    sm.Message,
    header=st.builds(
        sm.Header,
        session_id=_id,
        msg_id=_id,
        target=_text,
        source=_text,
        cred=st.none() | st.builds(sm.Cred, type=st.just("syncml:auth-md5"), data=_text),
        max_msg_size=st.none() | st.integers(1, 10**6),
    ),
    body=st.lists(_status | _results | _command, max_size=6).map(tuple),
    final=st.booleans(),
)


@settings(max_examples=150, deadline=None)
@given(_messages)
def test_wbxml_round_trip(message: sm.Message) -> None:
    assert wbxml.decode(wbxml.encode(message), 1 << 20) == message


def _as_xml_reads(message: sm.Message) -> sm.Message:
    """XML carries binary data as base64 text: what the XML codec reads back."""
    import base64

    from attrs import evolve

    def item(i: sm.Item) -> sm.Item:
        if isinstance(i.data, bytes):
            return evolve(i, data=base64.b64encode(i.data).decode())
        return i

    def command(c: sm.Command) -> sm.Command:
        return evolve(
            c, items=tuple(item(i) for i in c.items), children=tuple(command(x) for x in c.children)
        )

    body: list[sm.BodyElement] = []
    for e in message.body:
        if isinstance(e, sm.Command):
            body.append(command(e))
        elif isinstance(e, sm.Results):
            body.append(evolve(e, items=tuple(item(i) for i in e.items)))
        else:
            body.append(e)
    return evolve(message, body=tuple(body))


@settings(max_examples=150, deadline=None)
@given(_messages)
def test_xml_round_trip(message: sm.Message) -> None:
    assert xml_codec.decode(xml_codec.encode(message), 1 << 20) == _as_xml_reads(message)


MESSAGE = sm.Message(
    sm.Header(session_id="1", msg_id="1", target="http://s/dm", source="IMEI:1"),
    (sm.Command(name="Alert", cmd_id="1", data="1201"),),
)


def test_interior_add_carries_empty_data() -> None:
    from dmdelegation.dm.values import item_for
    from dmdelegation.tree import URI, Value

    message = sm.Message(
        MESSAGE.header,
        (sm.Command("Add", "2", items=(item_for(URI.parse("./A"), Value.interior()),)),),
    )
    assert b"<Data></Data>" in xml_codec.encode(message) or b"<Data/>" in xml_codec.encode(message)
    (add,) = wbxml.decode(wbxml.encode(message), 4096).commands
    assert add.items[0].data == ""


def test_wbxml_public_id_as_string_is_read() -> None:
    data = wbxml.encode(MESSAGE)
    table = wbxml.PUBLIC_ID_TEXT + b"\x00"
    # version, publicid 0 + index 0, charset, string table
    head = bytes([0x02, 0x00, 0x00, 0x6A, len(table)]) + table
    assert wbxml.decode(head + data[5:], 4096) == MESSAGE


@pytest.mark.parametrize(
    ("mutate", "status"),
    [
        (lambda d: d[:3] + bytes([0x04]) + d[4:], 415),  # another character set
        (lambda d: d[:1] + bytes([0x81, 0x03]) + d[3:], 415),  # another document type
        (lambda d: d[:5] + bytes([0xC5]) + d[6:], 400),  # a tag with attributes
        (lambda d: d[:5] + bytes([0x43]) + d[6:], 400),  # a processing instruction
        (lambda d: d[:5] + bytes([0x04, 0x00]) + d[5:], 400),  # a literal tag
        (lambda d: d[:5] + bytes([0x00, 0x07]) + d[5:], 400),  # an unknown code page
        (lambda d: d + b"\x01", 400),  # bytes after the root
        (lambda d: d[:-1], 400),  # cut short
        (lambda d: d[:4] + bytes([0xFF, 0xFF, 0xFF, 0xFF, 0x7F]) + d[5:], 400),  # huge table
    ],
)
def test_wbxml_refusals(mutate: object, status: int) -> None:
    data = mutate(wbxml.encode(MESSAGE))  # type: ignore[operator]
    with pytest.raises(sm.MalformedMessage) as caught:
        wbxml.decode(data, 4096)
    assert caught.value.status == status


def test_wbxml_nesting_is_bounded() -> None:
    # SyncML > SyncBody > Atomic > Atomic ... well past the limit, never built
    deep = bytes([0x02, 0xA4, 0x01, 0x6A, 0x00, 0x6D, 0x6B]) + bytes([0x48]) * 50
    with pytest.raises(sm.MalformedMessage, match="deeper"):
        wbxml.decode(deep + b"\x01" * 52, 1 << 16)


def test_wbxml_size_is_checked_first() -> None:
    with pytest.raises(sm.MalformedMessage) as caught:
        wbxml.decode(b"\x00" * 5000, 4096)
    assert caught.value.status == 413


def test_xml_nesting_is_bounded() -> None:
    body = b"<SyncML>" + b"<Meta>" * 40 + b"</Meta>" * 40 + b"</SyncML>"
    with pytest.raises(sm.MalformedMessage, match="deeper"):
        xml_codec.decode(body, 1 << 16)


def test_xml_attributes_are_refused() -> None:
    data = xml_codec.encode(MESSAGE).replace(b"<Final/>", b'<Final x="1"/>')
    with pytest.raises(sm.MalformedMessage, match="attributes"):
        xml_codec.decode(data, 4096)


def test_xml_other_encoding_is_415() -> None:
    data = xml_codec.encode(MESSAGE).decode().encode("utf-16")
    with pytest.raises(sm.MalformedMessage) as caught:
        xml_codec.decode(data, 4096)
    assert caught.value.status == 415


def test_reprs_never_show_values_or_credentials() -> None:
    item = sm.Item(target="./DMAcc/2/AppAuth/1/AAuthSecret", data="s3cret-value")
    chal = sm.Chal(type="syncml:auth-md5", next_nonce=b"nonce-bytes")
    cred = sm.Cred(type="syncml:auth-md5", data="digest-text")
    shown = repr((item, chal, cred, sm.Meta(next_nonce=b"nonce-bytes")))
    assert "s3cret-value" not in shown
    assert "nonce-bytes" not in shown
    assert "digest-text" not in shown
    assert "AAuthSecret" in shown  # the target is not a secret


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.data())
def test_any_bytes_are_a_message_or_a_refusal(noise: bytes, data: st.DataObject) -> None:
    """Random bytes, and valid messages with random bytes changed: never another exception."""
    valid = wbxml.encode(MESSAGE)
    at = data.draw(st.integers(0, len(valid)))
    for candidate, codec in (
        (noise, wbxml),
        (valid[:at] + noise[:8] + valid[at + len(noise[:8]) :], wbxml),
        (noise, xml_codec),
        (xml_codec.encode(MESSAGE)[:at] + noise[:8], xml_codec),
    ):
        outcome: object
        try:
            outcome = codec.decode(candidate, 4096)
        except sm.MalformedMessage as e:
            outcome = e.status
        assert isinstance(outcome, sm.Message) or outcome in (400, 413, 415)
