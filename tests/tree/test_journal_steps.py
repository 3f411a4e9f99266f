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
    st.builds(ReplaceACLStep, uri=URIS, before=ACLS),
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
