"""Provisioning a managed client from a small TOML file; every fault named, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from dmdelegation.client import ClientTreeStore, ProvisioningError, load_provision
from dmdelegation.tree import ACL, URI, Value
from dmdelegation.tree.dmacc import read_dmacc

GOOD = """
[devinfo]
DevId = "IMEI:490154203237518"
Man = "Acme"
Mod = "Phone 3"

[owner]
ServerID = "dms1.operator.example"
Name = "Operator DM"
AAuthPref = "HTTP-DIGEST"
NoAutoInitialSession = false

[[owner.AppAddr]]
Addr = "https://dms1.operator.example/dm"
Ports = [443, 8443]

[[owner.AppAuth]]
AAuthLevel = "SRVCRED"
AAuthType = "HTTP-DIGEST"
AAuthName = "dms1"
AAuthSecret = "s3cret-in-file"
AAuthData = "AAEC"

[nodes]
"./Vendor/Enterprise" = {}
"./Vendor/Enterprise/Policy" = "strict"
"./Vendor/Enterprise/Level" = 3
"./Vendor/Enterprise/On" = true
"./Vendor/Enterprise/Blob" = {bin = "AAEC"}

[acl]
"./Vendor" = "Get=*&Replace=dms1.operator.example"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "device.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_device_file_becomes_a_tree(tmp_path: Path) -> None:
    store = ClientTreeStore(tmp_path / "c.sqlite3")
    device = store.provision(load_provision(write(tmp_path, GOOD)))
    assert device == "IMEI:490154203237518"
    records = {str(r.uri): r for r in store.records(device)}
    assert records["./DevInfo/Man"].value == Value.text("Acme")
    assert records["./DevInfo/DmV"].value == Value.text("1.3")
    assert records["./Vendor/Enterprise/Level"].value == Value.integer(3)
    assert records["./Vendor/Enterprise/On"].value == Value.boolean(True)
    assert records["./Vendor/Enterprise/Blob"].value == Value.binary(b"\x00\x01\x02")
    assert records["./Vendor"].acl == ACL.parse("Get=*&Replace=dms1.operator.example")
    owner = read_dmacc(
        {r.uri.segments[2:]: r.value for r in store.records(device, URI.parse("./DMAcc/1"))}
    )
    assert owner.account.app_addrs[0].ports == (443, 8443)
    assert owner.account.app_auths[0].data == b"\x00\x01\x02"
    assert owner.no_auto_initial_session is False
    store.close()


@pytest.mark.parametrize(
    ("change", "fault"),
    [
        (("[devinfo]", "[device]"), "unknown key 'device'"),
        (('DevId = "IMEI:490154203237518"\n', ""), "DevId: a string is required"),
        (('DevId = "IMEI:490154203237518"', 'DevId = ""'), "DevId: must not be empty"),
        (('Man = "Acme"', "Man = 3"), "Man: a string is required"),
        (('ServerID = "dms1.operator.example"', "Server = 1"), "unknown key 'Server'"),
        (("NoAutoInitialSession = false", 'NoAutoInitialSession = "no"'), "true or false"),
        (("Ports = [443, 8443]", "Ports = [443, 70000]"), "Ports: a list of port numbers"),
        (('AAuthLevel = "SRVCRED"', 'AAuthLevel = "ROOT"'), "not a known AuthLevel"),
        (('AAuthData = "AAEC"', 'AAuthData = "s3cret-in-file!"'), "AAuthData: not base64"),
        (('AAuthSecret = "s3cret-in-file"', "AAuthSecret = 5"), "AAuthSecret: a string"),
        (('"./Vendor/Enterprise" = {}', '"Vendor/Enterprise" = {}'), "does not start with './'"),
        (
            ('"./Vendor/Enterprise/Level" = 3', '"./Vendor/Enterprise/Level" = -3'),
            "not a valid int",
        ),
        (('"./Vendor/Enterprise/On" = true', '"./DevInfo/Man" = "x"'), "exists already"),
        (('"./Vendor/Enterprise/On" = true', '"./Vendor/Enterprise/Policy/x" = 1'), "is a leaf"),
        (('"./Vendor" = "Get=*', '"./Vendor" = "Get=*&'), "malformed ACL"),
        (('"./Vendor" = "Get=*', '"./Nowhere" = "Get=*'), "./Nowhere: no such node"),
        (('"./Vendor" = "Get=*&Replace=dms1.operator.example"', '"." = ""'), "root ACL"),
        (("[nodes]", "[nodes"), "not TOML"),
    ],
)
def test_a_faulty_file_is_refused_by_key_and_nothing_is_written(
    tmp_path: Path, change: tuple[str, str], fault: str
) -> None:
    assert change[0] in GOOD
    path = write(tmp_path, GOOD.replace(change[0], change[1]))
    with pytest.raises(ProvisioningError, match=fault) as caught:
        load_provision(path)
    assert "s3cret-in-file" not in str(caught.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ProvisioningError, match=r"missing\.toml"):
        load_provision(tmp_path / "missing.toml")
