"""The DevInfo management object (``./DevInfo``): DevId, Man, Mod, DmV, Lang."""

from __future__ import annotations

from attrs import frozen

from dmdelegation.tree.subtree import RelativePath, Subtree, require, require_text
from dmdelegation.tree.uri import URI
from dmdelegation.tree.value import Format, Value

DEVINFO_ROOT = URI(("DevInfo",))
_LEAVES = ("DevId", "Man", "Mod", "DmV", "Lang")


@frozen
class DevInfo:
    dev_id: str
    man: str
    mod: str
    dm_v: str = "1.3"
    lang: str = "en-US"


def devinfo_nodes(info: DevInfo) -> list[tuple[RelativePath, Value]]:
    """The nodes of ``./DevInfo``, parents first; ``()`` is ``./DevInfo`` itself."""
    values = (info.dev_id, info.man, info.mod, info.dm_v, info.lang)
    return [((), Value.interior())] + [
        ((name,), Value.text(value)) for name, value in zip(_LEAVES, values, strict=True)
    ]


def read_devinfo(nodes: Subtree) -> DevInfo:
    require(nodes, (), Format.NODE)
    dev_id, man, mod, dm_v, lang = (require_text(nodes, (name,)) for name in _LEAVES)
    return DevInfo(dev_id=dev_id, man=man, mod=mod, dm_v=dm_v, lang=lang)
