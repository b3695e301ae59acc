"""Workload: producers and consumers of sequence-numbered messages through failover clients.

Every operation they perform is recorded in the history; draining and checking come after.
"""

from harness.workload.messages import decode_key, encode_body
from harness.workload.runner import Workload, WorkloadOptions

__all__ = ["Workload", "WorkloadOptions", "decode_key", "encode_body"]
