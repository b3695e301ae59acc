"""Vendors: how to lay out, launch and describe one broker node of a given implementation.

``pybroker`` is this project's broker; ``activemq`` is Apache ActiveMQ Classic from Debian's package.
"""

from harness.vendors.base import LaunchSpec, Vendor, VendorUnavailable, get_vendor, vendor_names

__all__ = ["LaunchSpec", "Vendor", "VendorUnavailable", "get_vendor", "vendor_names"]
