"""URI rules: './' prefix, segments, escaping, limits."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmdelegation.tree import ROOT, URI, URIError
from dmdelegation.tree.uri import MAX_DEPTH, MAX_SEGMENT_LENGTH, MAX_URI_LENGTH

NAMES = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")),
    min_size=1,
    max_size=20,
).filter(lambda name: name not in (".", "..") and not any(0x7F <= ord(c) < 0xA0 for c in name))


@settings(max_examples=200, deadline=None)
@given(st.lists(NAMES, max_size=6))
def test_text_round_trips_for_any_names(names: list[str]) -> None:
    uri = URI(tuple(names))
    assert URI.parse(str(uri)) == uri
    assert str(URI.parse(str(uri))) == str(uri)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("a/b", "./a%2Fb"),
        ("100%", "./100%25"),
        ("why?", "./why%3F"),
        ("x#1", "./x%231"),
        ("two words", "./two%20words"),
        ("Ünïcode", "./Ünïcode"),
    ],
)
def test_reserved_characters_are_escaped(name: str, text: str) -> None:
    assert str(URI((name,))) == text
    assert URI.parse(text).segments == (name,)


def test_escapes_are_decoded_and_written_canonically() -> None:
    uri = URI.parse("./%41b/c%2fd")
    assert uri.segments == ("Ab", "c/d")
    assert str(uri) == "./Ab/c%2Fd"


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ("", "does not start with './'"),
        ("/a", "does not start with './'"),
        ("a/b", "does not start with './'"),
        ("..", "does not start with './'"),
        ("./", "empty segment"),
        ("./a//b", "empty segment"),
        ("./a/", "empty segment"),
        ("./.", "not a node name"),
        ("./a/..", "not a node name"),
        ("./a%2", "two hex digits"),
        ("./a%zz", "two hex digits"),
        ("./a?list=Struct", "must be escaped"),
        ("./a#b", "must be escaped"),
        ("./a b", "white space"),
        ("./a\tb", "white space"),
        ("./a%00b", "control character"),
        ("./a%FF", "not UTF-8"),
    ],
)
def test_malformed_uri_is_refused_with_its_fault(text: str, fault: str) -> None:
    with pytest.raises(URIError, match=fault):
        URI.parse(text)


def test_depth_is_limited() -> None:
    deepest = "./" + "/".join(["n"] * MAX_DEPTH)
    assert URI.parse(deepest).depth == MAX_DEPTH
    with pytest.raises(URIError, match="deeper than"):
        URI.parse(deepest + "/n")
    with pytest.raises(URIError, match="deeper than"):
        URI.parse(deepest).child("n")


def test_name_and_total_length_are_limited() -> None:
    URI(("x" * MAX_SEGMENT_LENGTH,))
    with pytest.raises(URIError, match="node name longer"):
        URI(("x" * (MAX_SEGMENT_LENGTH + 1),))
    with pytest.raises(URIError, match=f"longer than {MAX_URI_LENGTH}"):
        URI(tuple(["x" * 100] * 25))


def test_structure() -> None:
    uri = URI.parse("./DMAcc/1/AppAddr")
    assert uri.parent == URI.parse("./DMAcc/1")
    assert uri.name == "AppAddr"
    assert list(uri.ancestors()) == [URI.parse("./DMAcc/1"), URI.parse("./DMAcc"), ROOT]
    assert uri.is_within(URI.parse("./DMAcc"))
    assert uri.is_within(ROOT)
    assert uri.is_within(uri)
    assert not URI.parse("./DMAccount").is_within(URI.parse("./DMAcc"))
    assert ROOT.parent is None
    assert ROOT.is_root
    assert str(ROOT) == "."
    assert URI.parse(".") == ROOT
    assert URI.parse("./DMAcc").child("1", "AppAddr") == uri


@settings(max_examples=200, deadline=None)
@given(st.lists(NAMES, max_size=6), st.lists(NAMES, min_size=1, max_size=3))
def test_derived_uris_are_the_uris_their_names_make(base: list[str], more: list[str]) -> None:
    """`child`, `parent` and `ancestors` only check what is new, and give the same URIs (equal,
    same text, same hash) as building them from their names."""
    top = URI(tuple(base))
    below = top.child(*more)
    built = URI((*base, *more))
    assert below == built
    assert str(below) == str(built)
    assert hash(below) == hash(built)
    assert below.parent == URI((*base, *more[:-1]))
    assert str(below.parent) == str(URI((*base, *more[:-1])))
    chain = list(below.ancestors())
    assert chain == [
        URI(tuple([*base, *more][:end])) for end in range(len(base + more) - 1, -1, -1)
    ]
    assert [str(a) for a in chain] == [str(URI(a.segments)) for a in chain]


@pytest.mark.parametrize(
    ("names", "fault"),
    [
        (("",), "empty node name"),
        ((".",), "not a node name"),
        (("a", ".."), "not a node name"),
        (("a\x00",), "control character"),
        (("x" * (MAX_SEGMENT_LENGTH + 1),), "node name longer"),
    ],
)
def test_child_checks_the_new_names(names: tuple[str, ...], fault: str) -> None:
    with pytest.raises(URIError, match=fault):
        URI.parse("./A").child(*names)


def test_child_checks_the_total_length() -> None:
    base = URI(tuple(["x" * 100] * 20))
    with pytest.raises(URIError, match=f"longer than {MAX_URI_LENGTH}"):
        base.child(*(["y" * 100] * 5))


def test_a_refused_text_is_refused_every_time() -> None:
    for _ in range(2):
        with pytest.raises(URIError, match="empty segment"):
            URI.parse("./a//b")
