"""Hypothesis strategies for tree values shared by the tree and client tests."""

from __future__ import annotations

from hypothesis import strategies as st

from dmdelegation.protocol.dmacc import AddrType, AppAddr, AppAuth, AuthLevel, AuthType, DMAcc
from dmdelegation.tree import Value
from dmdelegation.tree.value import INT_MAX

TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=16)
SERVER_IDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789.-", min_size=1, max_size=16)

LEAF_VALUES = st.one_of(
    TEXT.map(Value.text),
    st.integers(0, INT_MAX).map(Value.integer),
    st.booleans().map(Value.boolean),
    st.binary(max_size=16).map(Value.binary),
)

APP_ADDRS = st.builds(
    AppAddr,
    addr=TEXT,
    addr_type=st.sampled_from(list(AddrType)),
    ports=st.lists(st.integers(1, 65535), max_size=3).map(tuple),
)
APP_AUTHS = st.builds(
    AppAuth,
    level=st.sampled_from(list(AuthLevel)),
    type=st.sampled_from(list(AuthType)),
    name=st.none() | TEXT,
    secret=st.none() | TEXT,
    data=st.none() | st.binary(max_size=16),
)


def dmaccs(server_ids: st.SearchStrategy[str] = SERVER_IDS) -> st.SearchStrategy[DMAcc]:
    return st.builds(
        DMAcc,
        server_id=server_ids,
        app_addrs=st.lists(APP_ADDRS, max_size=3).map(tuple),
        app_auths=st.lists(APP_AUTHS, max_size=3).map(tuple),
        name=st.none() | TEXT,
        pref_con_ref=st.none() | TEXT,
        aauth_pref=st.none() | st.sampled_from(list(AuthType)),
    )
