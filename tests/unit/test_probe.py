import socket
import threading

from harness.probe import stomp_accepts
from harness.runtime.ports import PortAllocator, port_in_use


def serve_once(reply: bytes | None) -> tuple[int, threading.Thread]:
    """A one-connection TCP server answering a STOMP CONNECT with ``reply`` (None: stay silent)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def run() -> None:
        conn, _ = server.accept()
        with conn, server:
            conn.recv(4096)
            if reply is not None:
                conn.sendall(reply)
                conn.recv(4096)
            else:
                threading.Event().wait(1.0)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return server.getsockname()[1], thread


def test_a_node_answering_connected_is_accepting():
    port, _ = serve_once(b"CONNECTED\nversion:1.2\n\n\x00")
    assert stomp_accepts("127.0.0.1", port)


def test_an_error_frame_is_not_accepting():
    port, _ = serve_once(b"ERROR\nmessage:no\n\n\x00")
    assert not stomp_accepts("127.0.0.1", port)


def test_a_silent_node_is_not_accepting_within_the_timeout():
    port, _ = serve_once(None)
    assert not stomp_accepts("127.0.0.1", port, timeout=0.2)


def test_a_closed_port_is_not_accepting():
    port = PortAllocator().allocate()
    assert not stomp_accepts("127.0.0.1", port)


def test_ports_are_never_handed_out_twice():
    ports = PortAllocator()
    given = [ports.allocate() for _ in range(20)]
    assert len(set(given)) == 20


def test_port_in_use_detects_a_listener():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        assert port_in_use("127.0.0.1", listener.getsockname()[1])


def test_the_probe_sends_credentials_when_given():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    seen: list[bytes] = []

    def run() -> None:
        conn, _ = server.accept()
        with conn, server:
            seen.append(conn.recv(4096))
            conn.sendall(b"CONNECTED\nversion:1.2\n\n\x00")
            conn.recv(4096)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert stomp_accepts("127.0.0.1", server.getsockname()[1], login="app", passcode="s3cret")
    thread.join(timeout=2)
    assert b"\nlogin:app\n" in seen[0] and b"\npasscode:s3cret\n" in seen[0]
