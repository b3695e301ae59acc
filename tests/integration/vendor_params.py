"""Both vendors as test parameters: activemq skipped where Debian's activemq is not installed."""

from __future__ import annotations

from pathlib import Path

import pytest

HAS_ACTIVEMQ = Path("/usr/share/activemq/bin/activemq.jar").exists()

BOTH_VENDORS = [
    "pybroker",
    pytest.param("activemq", marks=pytest.mark.skipif(not HAS_ACTIVEMQ, reason="needs Debian's activemq")),
]
