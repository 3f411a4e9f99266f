"""dmdelegation: the OMA DM Server Delegation Protocol 1.3 for Twisted."""

__version__ = "0.1.0"
