"""Journal steps: stored as text and read back exactly; undo actions restore the before-image."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmdelegation.tree import ACL, URI, NodeRecord, Status, Value
from dmdelegation.tree.journal import (
    AddStep,
    DeleteStep,
    JournalFormatError,
    JournalStep,
    ReplaceACLStep,
    ReplaceStep,
    UndoAction,
    UndoKind,
    covering_add,
    decode_step,
    encode_step,
    undo_actions,
)

from .strategies import LEAF_VALUES

URIS = st.lists(st.sampled_from(["A", "B", "c d", "x/y", "Ü"]), max_size=4).map(
    lambda names: URI(tuple(names))
)
ACLS = st.sampled_from(["", "Get=*", "Add=a+b&Replace=a", "Delete=x&Exec=*"]).map(ACL.parse)
RECORDS = st.builds(NodeRecord, uri=URIS, value=LEAF_VALUES | st.just(Value.interior()), acl=ACLS)
STEPS: st.SearchStrategy[JournalStep] = st.one_of(
    st.builds(AddStep, uri=URIS),
    st.builds(ReplaceStep, uri=URIS, before=LEAF_VALUES),
    st.builds(ReplaceACLStep, uri=URIS, before=ACLS, after=st.none() | ACLS),
    st.builds(DeleteStep, uri=URIS, before=st.lists(RECORDS, max_size=4).map(tuple)),
)


@settings(max_examples=200, deadline=None)
@given(STEPS)
def test_a_step_reads_back_exactly(step: JournalStep) -> None:
    assert decode_step(encode_step(step)) == step


@pytest.mark.parametrize(
    "text",
    [
        "",
        "[]",
        '{"kind": "add"}',
        '{"kind": "explode", "uri": "./A"}',
        '{"kind": "add", "uri": "A"}',
        '{"kind": "replace", "uri": "./A", "before": {"format": "int", "data": "s3cret"}}',
        '{"kind": "replace", "uri": "./A", "before": {"format": "bin", "data": "!!s3cret"}}',
        '{"kind": "replace_acl", "uri": "./A", "before": "Get="}',
        '{"kind": "delete", "uri": "./A", "before": [{"uri": "./A"}]}',
    ],
)
def test_a_damaged_step_is_refused_without_quoting_it(text: str) -> None:
    with pytest.raises(JournalFormatError) as caught:
        decode_step(text)
    assert "s3cret" not in str(caught.value)


def test_undo_of_add_is_a_delete_that_tolerates_absence() -> None:
    uri = URI.parse("./A")
    assert undo_actions(AddStep(uri)) == (
        UndoAction(UndoKind.DELETE, uri, tolerated=Status.NOT_FOUND),
    )


def test_undo_of_replace_puts_back_the_old_value_and_acl() -> None:
    uri = URI.parse("./A")
    assert undo_actions(ReplaceStep(uri, Value.integer(3))) == (
        UndoAction(UndoKind.REPLACE, uri, value=Value.integer(3)),
    )
    assert undo_actions(ReplaceACLStep(uri, ACL())) == (
        UndoAction(UndoKind.REPLACE_ACL, uri, acl=ACL()),
    )


def test_undo_of_delete_adds_parents_first_then_sets_acls_children_first() -> None:
    top, leaf = URI.parse("./A"), URI.parse("./A/leaf")
    step = DeleteStep(
        top,
        (
            NodeRecord(top, Value.interior(), ACL.parse("Get=a")),
            NodeRecord(leaf, Value.text("v"), ACL()),
        ),
    )
    assert [(a.kind, a.uri) for a in undo_actions(step)] == [
        (UndoKind.ADD, top),
        (UndoKind.ADD, leaf),
        (UndoKind.REPLACE_ACL, leaf),
        (UndoKind.REPLACE_ACL, top),
    ]
    assert all(
        a.tolerated is Status.ALREADY_EXISTS for a in undo_actions(step) if a.kind is UndoKind.ADD
    )


def test_a_step_repr_shows_no_value() -> None:
    step = ReplaceStep(URI.parse("./DMAcc/1/AppAuth/1/AAuthSecret"), Value.text("s3cret"))
    assert "s3cret" not in repr(step)
    assert "s3cret" in encode_step(step)  # stored, for the rollback, in the journal store only


def _u(text: str) -> URI:
    return URI.parse(text)


ADD_X = AddStep(_u("./X"))
GET_STAR = ACL.parse("Get=*")


@pytest.mark.parametrize(
    ("steps", "start"),
    [
        ([], None),
        ([ADD_X], None),  # one step: nothing to save
        ([ADD_X, AddStep(_u("./X/a")), AddStep(_u("./X/a/b"))], 0),
        ([AddStep(_u("./P")), ADD_X, AddStep(_u("./X/a"))], 1),
        ([ADD_X, ReplaceStep(_u("./X/a"), Value.integer(1))], 0),
        ([ADD_X, ReplaceACLStep(_u("./X/a"), GET_STAR)], 0),
        ([ADD_X, DeleteStep(_u("./X"), ())], 0),
        ([ADD_X, DeleteStep(_u("./X/a"), ()), AddStep(_u("./X/a"))], 0),
        # the ACL of the added node itself was changed: its Delete would be checked differently
        ([ADD_X, AddStep(_u("./X/a")), ReplaceACLStep(_u("./X"), GET_STAR)], None),
        ([ADD_X, ReplaceACLStep(_u("./X"), GET_STAR), AddStep(_u("./X/a"))], None),
        # ... but a later Add below it can still cover what follows it
        (
            [
                ADD_X,
                ReplaceACLStep(_u("./X"), GET_STAR),
                AddStep(_u("./X/a")),
                AddStep(_u("./X/a/b")),
            ],
            2,
        ),
        # a step outside the added node stops the run
        ([ADD_X, AddStep(_u("./Y")), AddStep(_u("./X/a"))], None),
        ([ADD_X, AddStep(_u("./X/a")), AddStep(_u("./Y"))], None),
        ([ADD_X, ReplaceACLStep(_u("."), GET_STAR)], None),
        # an ancestor added earlier covers more
        (
            [
                AddStep(_u("./DMAcc")),
                AddStep(_u("./DMAcc/2")),
                AddStep(_u("./DMAcc/2/AppID")),
                ReplaceACLStep(_u("./DMAcc/2"), GET_STAR),
            ],
            0,
        ),
        ([AddStep(_u("./DMAcc/2")), AddStep(_u("./DMAcc/2x"))], None),  # a name, not a parent
        ([ReplaceStep(_u("./X"), Value.integer(1)), AddStep(_u("./X/a"))], None),
    ],
)
def test_an_add_covers_the_steps_below_it_that_follow(
    steps: list[JournalStep], start: int | None
) -> None:
    assert covering_add(steps) == start
