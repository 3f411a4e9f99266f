"""The DM management tree model: URIs, node values, ACLs and rights, the DM command rules,
the DevInfo / DMAcc / Bootstrap Config management objects and the undo journal's steps.

Nothing here does I/O. Public entry points::

    from dmdelegation.tree import ACL
    acl = ACL.parse("Add=srvA+srvB&Get=*&Replace=srvA")   # ACLError (a ValueError) names a fault
    acl.render()                                          # the text back
    acl.allows("Get", "srvC")                             # True
"""

from dmdelegation.tree.acl import ACL, ALL_COMMANDS, ACLError, Command
from dmdelegation.tree.bootconfig import BOOTCONFIG_ROOT, BootConfigEntry
from dmdelegation.tree.devinfo import DEVINFO_ROOT, DevInfo
from dmdelegation.tree.dmacc import DMACC_ROOT, DMAccEntry
from dmdelegation.tree.results import ACLResult, GetResult, NodeView, Result
from dmdelegation.tree.status import Status
from dmdelegation.tree.storage import NodeRecord, StoredNode
from dmdelegation.tree.subtree import ManagementObjectError
from dmdelegation.tree.uri import ROOT, URI, URIError
from dmdelegation.tree.value import Format, Value, ValueFormatError

__all__ = [
    "ACL",
    "ALL_COMMANDS",
    "BOOTCONFIG_ROOT",
    "DEVINFO_ROOT",
    "DMACC_ROOT",
    "ROOT",
    "URI",
    "ACLError",
    "ACLResult",
    "BootConfigEntry",
    "Command",
    "DMAccEntry",
    "DevInfo",
    "Format",
    "GetResult",
    "ManagementObjectError",
    "NodeRecord",
    "NodeView",
    "Result",
    "Status",
    "StoredNode",
    "URIError",
    "Value",
    "ValueFormatError",
]
