"""twistd dropin: ``twistd -n dmdelegation``. Everything lives in dmdelegation.daemon.tap."""

from twisted.application.service import ServiceMaker

dmdelegation = ServiceMaker(
    "dmdelegation",
    "dmdelegation.daemon.tap",
    "OMA DM Server Delegation Protocol 1.3 server (DMS-1 and DMS-2)",
    "dmdelegation",
)
