"""DMAcc, Bootstrap Config and DevInfo: builders write the layout, readers give the value back."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmdelegation.protocol.dmacc import AddrType, AppAddr, AppAuth, AuthLevel, AuthType, DMAcc
from dmdelegation.tree import BootConfigEntry, DevInfo, ManagementObjectError, Value
from dmdelegation.tree.bootconfig import bootconfig_nodes, read_bootconfig
from dmdelegation.tree.devinfo import devinfo_nodes, read_devinfo
from dmdelegation.tree.dmacc import DMAccEntry, dmacc_nodes, read_dmacc
from dmdelegation.tree.subtree import RelativePath, Subtree

from .strategies import TEXT, dmaccs

ACCOUNT = DMAcc(
    server_id="dms2.example.net",
    app_addrs=(AppAddr("https://dms2.example.net:8443/dm", AddrType.URI, (8443, 443)),),
    app_auths=(
        AppAuth(AuthLevel.SERVER, AuthType.HTTP_DIGEST, "dms2", "s3cret", b"\x00\x01"),
        AppAuth(AuthLevel.CLIENT, AuthType.HTTP_DIGEST),
    ),
    name="Example enterprise DM",
    pref_con_ref="",
    aauth_pref=AuthType.HTTP_DIGEST,
)


def as_subtree(nodes: list[tuple[RelativePath, Value]]) -> dict[RelativePath, Value]:
    subtree = dict(nodes)
    assert len(subtree) == len(nodes), "a builder wrote a node twice"
    return subtree


def test_dmacc_layout() -> None:
    nodes = as_subtree(dmacc_nodes(ACCOUNT, no_auto_initial_session=True))
    assert nodes[()] == Value.interior()
    assert nodes[("AppID",)] == Value.text("w7")
    assert nodes[("ServerID",)] == Value.text("dms2.example.net")
    assert nodes[("PrefConRef",)] == Value.text("")
    assert nodes[("AppAddr", "1", "Addr")] == Value.text("https://dms2.example.net:8443/dm")
    assert nodes[("AppAddr", "1", "AddrType")] == Value.text("URI")
    assert nodes[("AppAddr", "1", "Port", "2", "PortNbr")] == Value.integer(443)
    assert nodes[("AAuthPref",)] == Value.text("HTTP-DIGEST")
    assert nodes[("AppAuth", "1", "AAuthLevel")] == Value.text("SRVCRED")
    assert nodes[("AppAuth", "1", "AAuthSecret")] == Value.text("s3cret")
    assert nodes[("AppAuth", "1", "AAuthData")] == Value.binary(b"\x00\x01")
    assert ("AppAuth", "2", "AAuthName") not in nodes
    assert nodes[("NoAutoInitialSession",)] == Value.boolean(True)
    order = list(dict(dmacc_nodes(ACCOUNT)))
    assert all(path[:-1] in order[: order.index(path)] for path in order if path)


@settings(max_examples=150, deadline=None)
@given(dmaccs(), st.none() | st.booleans())
def test_dmacc_round_trip(account: DMAcc, no_auto: bool | None) -> None:
    nodes = as_subtree(dmacc_nodes(account, no_auto_initial_session=no_auto))
    assert read_dmacc(nodes) == DMAccEntry(account, no_auto)


def test_dmacc_reader_orders_instances_by_number() -> None:
    addrs = tuple(AppAddr(f"https://a{i}") for i in range(12))
    account = DMAcc("s", addrs, ())
    assert read_dmacc(as_subtree(dmacc_nodes(account))).account.app_addrs == addrs


def _without(nodes: Subtree, path: RelativePath) -> dict[RelativePath, Value]:
    return {p: v for p, v in nodes.items() if p != path}


@pytest.mark.parametrize(
    ("change", "fault"),
    [
        (lambda n: _without(n, ("ServerID",)), "missing node ServerID"),
        (lambda n: {**n, ("AppID",): Value.text("w5")}, "AppID is not w7"),
        (lambda n: {**n, ("ServerID",): Value.integer(1)}, "ServerID is int, not chr"),
        (lambda n: {**n, ("AppAddr", "1", "AddrType"): Value.text("X25")}, "not a known AddrType"),
        (lambda n: {**n, ("AppAuth", "1", "AAuthData"): Value.text("x")}, "AAuthData is chr"),
        (lambda n: {**n, ("NoAutoInitialSession",): Value.text("1")}, "NoAutoInitialSession"),
        (lambda n: _without(n, ("AppAddr", "1", "Port", "1", "PortNbr")), "missing node"),
    ],
)
def test_dmacc_reader_names_the_faulty_node(change, fault: str) -> None:  # type: ignore[no-untyped-def]
    nodes = change(as_subtree(dmacc_nodes(ACCOUNT, no_auto_initial_session=False)))
    with pytest.raises(ManagementObjectError, match=fault) as caught:
        read_dmacc(nodes)
    assert "s3cret" not in str(caught.value)


def test_a_secret_in_the_wrong_format_is_not_quoted() -> None:
    nodes = as_subtree(dmacc_nodes(ACCOUNT))
    nodes[("AppAuth", "1", "AAuthLevel")] = Value.text("s3cret")
    with pytest.raises(ManagementObjectError) as caught:
        read_dmacc(nodes)
    assert "s3cret" not in str(caught.value)


@settings(max_examples=50, deadline=None)
@given(st.builds(BootConfigEntry, server_id=TEXT, bootstrap_url=TEXT))
def test_bootconfig_round_trip(entry: BootConfigEntry) -> None:
    nodes = as_subtree(bootconfig_nodes(entry))
    assert set(nodes) == {(), ("ServerID",), ("BootstrapURL",)}
    assert read_bootconfig(nodes) == entry


@settings(max_examples=50, deadline=None)
@given(st.builds(DevInfo, dev_id=TEXT, man=TEXT, mod=TEXT, dm_v=TEXT, lang=TEXT))
def test_devinfo_round_trip(info: DevInfo) -> None:
    nodes = as_subtree(devinfo_nodes(info))
    assert set(nodes) == {(), ("DevId",), ("Man",), ("Mod",), ("DmV",), ("Lang",)}
    assert read_devinfo(nodes) == info


def test_devinfo_reader_refuses_a_missing_leaf() -> None:
    nodes = as_subtree(devinfo_nodes(DevInfo("IMEI:1", "Acme", "P3")))
    del nodes[("Mod",)]
    with pytest.raises(ManagementObjectError, match="missing node Mod"):
        read_devinfo(nodes)
