"""Every malformed message is refused with a reason that names the element at fault."""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

import pytest
from lxml import etree

from dmdelegation.protocol import MESSAGE_TYPES, Message, ProtocolError, decode
from dmdelegation.protocol.examples import EXAMPLES

# Required children of the DMAcc element and of its repeated interior nodes (docs/wire.md).
DMACC_REQUIRED = {
    "DMAcc": ("AppID", "ServerID", "AppAddr", "AppAuth"),
    "AppAddr": ("Addr", "AddrType"),
    "Port": ("PortNbr",),
    "AppAuth": ("AAuthLevel", "AAuthType"),
}
BOOLEANS = {"isDelegationFull", "isAknowledged", "isClientBootstapped"}
INTEGERS = {"reasonCode", "PortNbr"}


def _tree(root_name: str) -> etree._Element:
    return etree.fromstring(EXAMPLES[root_name].encode())


def _refusal(root: etree._Element) -> ProtocolError:
    with pytest.raises(ProtocolError) as caught:
        decode(etree.tostring(root))
    assert 400 <= caught.value.status < 500
    return caught.value


def _required_paths() -> Iterator[tuple[str, str]]:
    """(message root, xpath of a required child) for every required child of every message."""
    for cls in MESSAGE_TYPES:
        for f in cls.FIELDS:
            if not f.optional:
                yield cls.ROOT, f.xml
        if cls.ROOT == "BOOTSTRAP_CONFIRMED":
            for parent, children in DMACC_REQUIRED.items():
                for child in children:
                    yield cls.ROOT, f"//{parent}/{child}"


@pytest.mark.parametrize(("root_name", "path"), list(_required_paths()))
def test_missing_required_child_is_refused_naming_it(root_name: str, path: str) -> None:
    root = _tree(root_name)
    victims = cast(list[etree._Element], root.xpath(path))
    assert victims, f"the example {root_name} has no {path}"
    for victim in victims:  # repeated nodes: remove every instance
        parent = victim.getparent()
        assert parent is not None
        parent.remove(victim)
    error = _refusal(root)
    assert path.rsplit("/", 1)[-1] in error.reason


@pytest.mark.parametrize("root_name", [c.ROOT for c in MESSAGE_TYPES])
@pytest.mark.parametrize("first", [True, False])
def test_unknown_child_is_refused_naming_it(root_name: str, first: bool) -> None:
    root = _tree(root_name)
    intruder = etree.Element("surpriseElement")
    intruder.text = "x"
    root.insert(0 if first else len(root), intruder)
    error = _refusal(root)
    assert "surpriseElement" in error.reason
    assert error.element == "surpriseElement"


@pytest.mark.parametrize("parent", sorted(DMACC_REQUIRED))
def test_unknown_child_inside_dmacc_is_refused_naming_it(parent: str) -> None:
    root = _tree("BOOTSTRAP_CONFIRMED")
    element = next(root.iter(parent))
    etree.SubElement(element, "surpriseElement").text = "x"
    error = _refusal(root)
    assert "surpriseElement" in error.reason


@pytest.mark.parametrize("cls", [c for c in MESSAGE_TYPES if c.STATUS], ids=lambda c: c.ROOT)
@pytest.mark.parametrize("wrong", ["", "OTHER", "failure", "DEL_TERM_REQ ", "PREPARED"])
def test_wrong_status_for_the_root_is_refused(cls: type[Message], wrong: str) -> None:
    if wrong == cls.STATUS:
        wrong = "FAILURE" if cls.STATUS != "FAILURE" else "CONFIRMED"
    root = _tree(cls.ROOT)
    status = root.find("status")
    assert status is not None
    status.text = wrong
    error = _refusal(root)
    assert "'status'" in error.reason


def test_same_status_different_roots_are_not_confused() -> None:
    """FAILURE is the status of two messages: the root decides which one it is."""
    failure = decode(EXAMPLES["DELEGATION_FAILURE"].encode())
    revocation = decode(EXAMPLES["REVOCATION_FAILURE"].encode())
    assert type(failure).__name__ == "DelegationFailure"
    assert type(revocation).__name__ == "RevocationFailure"


def _elements_named(names: set[str]) -> Iterator[tuple[str, str]]:
    for name, example in EXAMPLES.items():
        for element in etree.fromstring(example.encode()).iter():
            if element.tag in names:
                yield name, element.tag


@pytest.mark.parametrize(("root_name", "tag"), sorted(set(_elements_named(BOOLEANS))))
@pytest.mark.parametrize("value", ["yes", "1", "0", "True", "FALSE", ""])
def test_non_boolean_is_refused_naming_the_element(root_name: str, tag: str, value: str) -> None:
    root = _tree(root_name)
    element = next(root.iter(tag))
    element.text = value
    error = _refusal(root)
    assert f"'{tag}'" in error.reason


@pytest.mark.parametrize(("root_name", "tag"), sorted(set(_elements_named(INTEGERS))))
@pytest.mark.parametrize("value", ["abc", "2.5", "", "0x10", "99999999999999999999", "1e2"])
def test_non_integer_is_refused_naming_the_element(root_name: str, tag: str, value: str) -> None:
    root = _tree(root_name)
    element = next(root.iter(tag))
    element.text = value
    error = _refusal(root)
    assert f"'{tag}'" in error.reason


@pytest.mark.parametrize(
    ("tag", "value"),
    [
        ("reasonCode", "42"),
        ("reasonCode", "600"),
        ("sessionId", "short"),
        ("sessionId", "has space in the identifier"),
        ("DMTreeURI", "Vendor/Enterprise"),
        ("DMTreeURI", "./Vendor/"),
        ("DMTreeURI", ".//Vendor"),
        ("serverId", " padded"),
        ("serverId", ""),
        ("deviceId", "x" * 256),
        ("delegationMethod", "Telepathy"),
    ],
)
def test_values_outside_the_vocabulary_are_refused(tag: str, value: str) -> None:
    root = _tree("DELEGATION_REQ")
    if root.find(tag) is None:
        root = _tree("DELEGATION_RESP")
    element = root.find(tag)
    assert element is not None
    element.text = value
    error = _refusal(root)
    assert f"'{tag}'" in error.reason


def test_children_out_of_order_are_refused() -> None:
    root = _tree("DELEGATION_CONFIRMED")
    session = root.find("sessionId")
    assert session is not None
    root.remove(session)
    root.insert(0, session)
    assert "sessionId" in _refusal(root).reason or "reasonCode" in _refusal(root).reason


def test_unknown_root_is_refused_naming_it() -> None:
    with pytest.raises(ProtocolError) as caught:
        decode(b"<DELEGATION_REQUEST><x/></DELEGATION_REQUEST>")
    assert "DELEGATION_REQUEST" in caught.value.reason
    assert caught.value.status == 400


def test_namespaced_root_is_refused() -> None:
    doc = (
        EXAMPLES["DELEGATION_CONFIRMED"]
        .encode()
        .replace(b"<DELEGATION_CONFIRMED>", b'<DELEGATION_CONFIRMED xmlns="urn:x">')
    )
    with pytest.raises(ProtocolError):
        decode(doc)


def test_attributes_and_text_between_children_are_refused() -> None:
    base = EXAMPLES["DELEGATION_CONFIRMED"].encode()
    with pytest.raises(ProtocolError, match="attribute"):
        decode(base.replace(b"<reasonCode>", b'<reasonCode unit="x">'))
    with pytest.raises(ProtocolError, match="DELEGATION_CONFIRMED"):
        decode(base.replace(b"</reasonCode>", b"</reasonCode>stray text"))


@pytest.mark.parametrize(
    "body",
    [b"", b"   ", b"not xml", b"<DELEGATION_REQ>", b"<a></b>", b"\xff\xfe\x00"],
)
def test_not_well_formed_is_refused(body: bytes) -> None:
    with pytest.raises(ProtocolError) as caught:
        decode(body)
    assert caught.value.status in (400, 415)


def test_undeclared_entity_reference_is_refused() -> None:
    doc = EXAMPLES["DELEGATION_REQ"].encode().replace(b">Acme<", b">&acme;<")
    with pytest.raises(ProtocolError, match="acme"):
        decode(doc)


def test_character_references_are_plain_characters() -> None:
    doc = EXAMPLES["DELEGATION_REQ"].encode().replace(b">Acme<", b">&#65;cme &amp; &#x263A;<")
    m = decode(doc)
    assert m.device_man == "Acme & \u263a"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("declaration", "status"),
    [
        (b'<?xml version="1.0" encoding="ISO-8859-1"?>', 415),
        (b'<?xml version="1.0" encoding="UTF-16"?>', 415),
        (b"<?xml version='1.0' encoding='utf-8'?>", None),
        (b"<?xml version='1.0'?>", None),
    ],
)
def test_only_utf8_is_accepted(declaration: bytes, status: int | None) -> None:
    body = EXAMPLES["DELEGATION_CONFIRMED"].encode().split(b"\n", 1)[1]
    if status is None:
        assert decode(declaration + body) == EXAMPLES["DELEGATION_CONFIRMED"]
    else:
        with pytest.raises(ProtocolError) as caught:
            decode(declaration + body)
        assert caught.value.status == status


def test_utf16_documents_are_refused() -> None:
    body = EXAMPLES["DELEGATION_CONFIRMED"].encode().split(b"\n", 1)[1].decode()
    for encoding in ("utf-16", "utf-16-le", "utf-16-be", "utf-32"):
        with pytest.raises(ProtocolError) as caught:
            decode(body.encode(encoding))
        assert caught.value.status in (400, 415), encoding


@pytest.mark.parametrize("spelling", ["isClientBootstapped", "isClientBootstrapped"])
def test_not_bootstrapped_without_the_account_is_refused(spelling: str) -> None:
    root = _tree("BOOTSTRAP_CONFIRMED")
    dmacc = root.find("DMAcc")
    assert dmacc is not None
    root.remove(dmacc)
    flag = root.find("isClientBootstapped")
    assert flag is not None
    assert flag.text == "false"
    flag.tag = spelling
    refusal = _refusal(root)
    assert refusal.status == 400
    assert refusal.reason == (
        "BOOTSTRAP_CONFIRMED: isClientBootstapped is false but there is no DMAcc"
    )


def test_bootstrapped_or_silent_without_the_account_is_accepted() -> None:
    root = _tree("BOOTSTRAP_CONFIRMED")
    dmacc = root.find("DMAcc")
    assert dmacc is not None
    root.remove(dmacc)
    flag = root.find("isClientBootstapped")
    assert flag is not None
    flag.text = "true"
    assert decode(etree.tostring(root)).ROOT == "BOOTSTRAP_CONFIRMED"
    root.remove(flag)  # the Bootstrap Server URL approach: neither
    assert decode(etree.tostring(root)).ROOT == "BOOTSTRAP_CONFIRMED"
