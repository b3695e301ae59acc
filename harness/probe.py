"""Node probes: does a node accept a STOMP client right now (is it acting as master)?"""

from __future__ import annotations

import contextlib
import socket
import time


def stomp_accepts(
    host: str, port: int, timeout: float = 0.5, login: str | None = None, passcode: str | None = None
) -> bool:
    """True when the node answers a STOMP CONNECT with CONNECTED within ``timeout`` seconds.

    A slave has no connector open (connection refused); a paused node accepts the TCP connection
    in the kernel but never answers, which counts as not accepting. ``login``/``passcode`` are sent
    when the broker requires authentication (CONNECT is not escaped, so they go as they are).
    """
    deadline = time.monotonic() + timeout
    credentials = ""
    if login is not None:
        credentials += f"login:{login}\n"
    if passcode is not None:
        credentials += f"passcode:{passcode}\n"
    connect = f"CONNECT\naccept-version:1.0,1.1,1.2\nhost:localhost\nheart-beat:0,0\n{credentials}\n\x00"
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(connect.encode("utf-8"))
            reply = b""
            while b"\x00" not in reply:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                sock.settimeout(left)
                chunk = sock.recv(4096)
                if not chunk:
                    return False
                reply += chunk
            accepted = reply.lstrip(b"\r\n").startswith(b"CONNECTED")
            if accepted:
                with contextlib.suppress(OSError):
                    sock.sendall(b"DISCONNECT\n\n\x00")
            return accepted
    except OSError:
        return False
