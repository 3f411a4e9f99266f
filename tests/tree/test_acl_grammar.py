"""The ACL grammar: well-formed text round-trips, every malformed text is refused with its fault."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmdelegation.tree import ACL, ACLError, Command

SERVER = st.text(
    alphabet=st.characters(
        codec="utf-8",
        exclude_categories=("Cc", "Cs", "Zs", "Zl", "Zp"),
        exclude_characters="&+=*\x85\xa0\u1680\u180e",
    ),
    min_size=1,
    max_size=12,
).filter(lambda s: not any(c.isspace() for c in s))


@st.composite
def acls(draw: st.DrawFn) -> ACL:
    commands = draw(st.lists(st.sampled_from(list(Command)), unique=True, max_size=5))
    entries = []
    for command in commands:
        servers = draw(
            st.lists(st.one_of(st.just("*"), SERVER), unique=True, min_size=1, max_size=4)
        )
        entries.append((command, tuple(servers)))
    return ACL(tuple(entries))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Get=*",
        "Add=srvA+srvB&Get=*&Replace=srvA",
        "Replace=b&Get=a",  # order as written is kept
        "Exec=dms1.operator.example&Delete=dms2.example.net+*",
        "Get=серверА",
    ],
)
def test_render_gives_back_the_parsed_text(text: str) -> None:
    assert ACL.parse(text).render() == text


@settings(max_examples=200, deadline=None)
@given(acls())
def test_parse_of_render_is_the_same_acl(acl: ACL) -> None:
    assert ACL.parse(acl.render()) == acl


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ("=srv", "empty command name"),
        ("Get=a&=b", "empty command name"),
        ("Fetch=srv", "unknown command 'Fetch'"),
        ("get=srv", "unknown command 'get'"),
        ("Get", "has no '='"),
        ("Get=", "Get has no server"),
        ("Get==a", "'=' misused"),
        ("Get=a=b", "'=' misused"),
        ("Get=a&&Replace=b", "empty entry"),
        ("&Get=a", "empty entry"),
        ("Get=a&", "empty entry"),
        ("&", "empty entry"),
        ("Get=a++b", "'+' misused"),
        ("Get=+a", "'+' misused"),
        ("Get=a+", "'+' misused"),
        ("Get=a&Replace", "has no '='"),
        ("Get =a", "white space at offset 3"),
        ("Get=a b", "white space at offset 5"),
        (" Get=a", "white space at offset 0"),
        ("Get=a\t", "white space at offset 5"),
        ("Get=a\n", "white space at offset 5"),
        ("Get=a&Get=b", "command Get appears twice"),
        ("Get=a+a", "a server appears twice for Get"),
        ("Get=a*b", "'*' must stand alone"),
        ("Get=**", "'*' must stand alone"),
        ("Get=a\x00b", "control character"),
    ],
)
def test_malformed_acl_is_refused_with_its_fault(text: str, fault: str) -> None:
    with pytest.raises(ACLError) as caught:
        ACL.parse(text)
    assert isinstance(caught.value, ValueError)
    assert fault in caught.value.reason
    assert fault in str(caught.value)


def test_an_acl_cannot_be_built_malformed_either() -> None:
    with pytest.raises(ACLError, match="no server"):
        ACL(((Command.GET, ()),))
    with pytest.raises(ACLError, match="appears twice"):
        ACL(((Command.GET, ("a",)), (Command.GET, ("b",))))
    with pytest.raises(ACLError, match="unknown command"):
        ACL.of({"Fetch": ["a"]})


def test_allows_by_name_and_by_wildcard() -> None:
    acl = ACL.parse("Add=srvA+srvB&Get=*&Replace=srvA")
    assert acl.allows("Add", "srvB")
    assert acl.allows(Command.REPLACE, "srvA")
    assert not acl.allows("Replace", "srvB")
    assert acl.allows("Get", "anyone.at.all")
    assert not acl.allows("Delete", "srvA")
    assert not acl.allows("Exec", "srvA")


def test_server_names_are_compared_exactly() -> None:
    acl = ACL.parse("Get=srvA")
    assert not acl.allows("Get", "srva")
    assert not acl.allows("Get", "srvA ")
    assert not acl.allows("Get", "*")  # '*' as a caller is no special server


def test_an_empty_acl_grants_nothing_by_itself() -> None:
    assert ACL.parse("").is_empty
    assert not any(ACL.parse("").allows(command, "srvA") for command in Command)


def test_allows_refuses_an_unknown_command() -> None:
    with pytest.raises(ValueError, match="unknown command 'Fetch'"):
        ACL.parse("Get=*").allows("Fetch", "srvA")


def test_granting_adds_the_server_and_keeps_everyone_else() -> None:
    acl = ACL.parse("Get=srvA&Replace=*")
    granted = acl.granting("srvB", [Command.GET, Command.REPLACE, Command.DELETE])
    assert granted.render() == "Get=srvA+srvB&Replace=*&Delete=srvB"
    assert granted.granting("srvB", [Command.GET]) == granted


def test_without_drops_emptied_commands_and_keeps_the_wildcard() -> None:
    acl = ACL.parse("Add=srvB&Get=srvA+srvB&Replace=*+srvB")
    assert acl.without("srvB").render() == "Get=srvA&Replace=*"
    assert ACL.parse("Get=srvB&Delete=srvB").without("srvB").is_empty
    assert acl.without("nobody") == acl


@settings(max_examples=100, deadline=None)
@given(acls(), SERVER, st.lists(st.sampled_from(list(Command)), unique=True))
def test_granting_then_without_leaves_no_mention(
    acl: ACL, server: str, commands: list[Command]
) -> None:
    granted = acl.granting(server, commands)
    assert all(granted.allows(command, server) for command in commands)
    assert not granted.without(server).mentions(server)
