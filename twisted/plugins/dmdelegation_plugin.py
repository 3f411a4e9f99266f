"""twistd dropin: ``twistd -n dmdelegation``. Everything lives in dmdelegation.tap."""

from twisted.application.service import ServiceMaker

dmdelegation = ServiceMaker(
    "dmdelegation",
    "dmdelegation.tap",
    "OMA DM Server Delegation Protocol 1.3 server (DMS-1 and DMS-2)",
    "dmdelegation",
)
