"""`dmdelegation tree show DEVICE [URI]` and `dmdelegation tree provision FILE`."""

from __future__ import annotations

from pathlib import Path

import pytest

from dmdelegation.cli import main
from dmdelegation.client import create_account
from dmdelegation.client.store import STORE_ENV
from dmdelegation.client.testing import fired

from .helpers import DEVICE, DMS2_ACCOUNT, DMS2_SECRET, Client, open_client
from .test_provisioning import GOOD


def test_show_prints_every_node_with_values_and_acls(
    client: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    fired(create_account(client.session(), client.journal(), DMS2_ACCOUNT))
    assert main(["tree", "show", "--store", str(client.path), DEVICE]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == len(client.records())
    assert out[0].startswith(". [node]  ACL: Add=dms1.operator.example&")
    assert './DevInfo/Man [chr] = "Acme"  ACL: (inherited)' in out
    assert "./DMAcc/2/AppAddr/1/Port/1/PortNbr [int] = 8443  ACL: (inherited)" in out
    assert "./DMAcc/2/AppAuth/1/AAuthSecret [chr] = ********  ACL: (inherited)" in out
    assert "./DMAcc/2/AppAuth/1/AAuthData [bin] = ********  ACL: (inherited)" in out
    account = next(line for line in out if line.startswith("./DMAcc/2 "))
    assert "&Get=dms1.operator.example+dms2.example.net&" in account
    assert DMS2_SECRET not in "\n".join(out)


def test_show_a_subtree(client: Client, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tree", "show", "--store", str(client.path), DEVICE, "./Vendor/Operator"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "./Vendor/Operator [node]  ACL: Get=dms1.operator.example+dms2.example.net"
        "&Replace=dms1.operator.example",
        './Vendor/Operator/Apn [chr] = "internet"  ACL: (inherited)',
    ]


def test_the_store_may_come_from_the_environment(
    client: Client, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(STORE_ENV, str(client.path))
    assert main(["tree", "show", DEVICE, "./DevInfo/DevId"]) == 0
    assert capsys.readouterr().out == f'./DevInfo/DevId [chr] = "{DEVICE}"  ACL: (inherited)\n'


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([DEVICE, "./Nope"], "no node ./Nope on IMEI:490154203237518"),
        (["IMEI:0"], "no managed client with DevId 'IMEI:0'"),
        ([DEVICE, "Vendor"], "'Vendor': 'Vendor' does not start with './'"),
    ],
)
def test_show_refusals(
    client: Client, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["tree", "show", "--store", str(client.path), *args]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"dmdelegation tree show: {message}\n"


def test_show_never_creates_a_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "none.sqlite3"
    assert main(["tree", "show", "--store", str(store), DEVICE]) == 1
    assert f"no client store at {store}" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_show_refuses_a_file_that_is_not_a_client_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other.txt"
    other.write_text("not a database at all, " * 100)
    assert main(["tree", "show", "--store", str(other), DEVICE]) == 1
    assert f"{other} is not a client store" in capsys.readouterr().err
    assert other.read_text() == "not a database at all, " * 100


def test_provision_then_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    device_file = tmp_path / "device.toml"
    device_file.write_text(GOOD, encoding="utf-8")
    store = tmp_path / "clients.sqlite3"
    assert main(["tree", "provision", "--store", str(store), str(device_file)]) == 0
    assert capsys.readouterr().out == f"provisioned {DEVICE} in {store}\n"
    assert main(["tree", "provision", "--store", str(store), str(device_file)]) == 1
    assert "exists already" in capsys.readouterr().err
    client = open_client(store)
    try:
        assert client.trees.device_ids() == [DEVICE]
    finally:
        client.close()


def test_a_bad_provisioning_file_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    device_file = tmp_path / "device.toml"
    device_file.write_text(GOOD.replace('Man = "Acme"', "Man = 1"), encoding="utf-8")
    store = tmp_path / "clients.sqlite3"
    assert main(["tree", "provision", "--store", str(store), str(device_file)]) == 1
    err = capsys.readouterr().err
    assert err == "dmdelegation tree provision: [devinfo].Man: a string is required\n"
    assert not store.exists()


def test_tree_alone_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tree"]) == 2
    assert "show" in capsys.readouterr().out
