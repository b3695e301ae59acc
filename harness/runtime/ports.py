"""Free TCP ports on loopback, chosen at run time so that parallel runs do not collide.

Ports come from below the kernel's ephemeral range, which outgoing connections (a broker's JDBC
connections, the workload's clients) draw from: an ephemeral port chosen for a broker could be taken
by one of them before the broker binds it. Each port handed out is claimed machine-wide with a file
under the state directory naming its owner (pid and start time), so that two harness processes
(xdist workers, parallel runs) never pick the same port; a dead owner's claims are taken over.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import socket
from pathlib import Path

from harness.runtime.processes import OwnedProcess
from harness.runtime.run_record import state_dir

# Below the ephemeral range: low enough to stay clear of it, high enough to miss well-known services.
LOWEST_PORT = 20000


def _ephemeral_low(path: Path = Path("/proc/sys/net/ipv4/ip_local_port_range")) -> int:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


class PortClaims:
    """Machine-wide claims on ports: one file per port holding the owner's pid and start time."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or state_dir() / "ports"
        self.directory.mkdir(parents=True, exist_ok=True)
        me = OwnedProcess.of(os.getpid(), "harness run")
        self._me = f"{me.pid} {me.start}" if me is not None else str(os.getpid())

    def claim(self, port: int) -> bool:
        """True if the port is now this process's (it was free, or its owner is gone)."""
        with (self.directory / "lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            path = self.directory / str(port)
            with contextlib.suppress(FileNotFoundError):
                owner = path.read_text().split()
                if len(owner) == 2 and OwnedProcess(int(owner[0]), owner[1], 0, "").is_running():
                    return False  # a live harness process has it (this one included)
            path.write_text(self._me)
            return True


class PortAllocator:
    """Hands out ports nobody listens on and no other harness process has claimed."""

    def __init__(self, host: str = "127.0.0.1", claims: PortClaims | None = None) -> None:
        self.host = host
        self._given: set[int] = set()
        self._claims = claims
        self._random = random.Random()
        self._high = _ephemeral_low() - 1

    def allocate(self) -> int:
        if self._claims is None:
            self._claims = PortClaims()
        if self._high > LOWEST_PORT:
            for _ in range(200):
                port = self._random.randint(LOWEST_PORT, self._high)
                if port not in self._given and not port_in_use(self.host, port) and self._claims.claim(port):
                    self._given.add(port)
                    return port
        return self._kernel_port()

    def _kernel_port(self) -> int:
        """A port the kernel reports free (ephemeral): where no range below it is available."""
        for _ in range(100):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                probe.bind((self.host, 0))
                port = int(probe.getsockname()[1])
            if port not in self._given and self._claims is not None and self._claims.claim(port):
                self._given.add(port)
                return port
        raise RuntimeError(f"no free TCP port found on {self.host} after 100 tries")


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False
