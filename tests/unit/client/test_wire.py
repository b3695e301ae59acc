"""The client-side STOMP reader used by the conformance scenarios: strict, incremental, version-aware."""

from __future__ import annotations

import pytest

from harness.client.wire import FrameReader, WireViolation, encode, escape, unescape


def test_frames_split_anywhere_come_out_whole_with_heart_beats_counted() -> None:
    data = b"\nMESSAGE\ndestination:/queue/a\ncontent-length:3\n\na\x00b\x00\r\n\nRECEIPT\nreceipt-id:r\n\n\x00"
    for size in (1, 2, 7, len(data)):
        reader = FrameReader()
        frames = [f for i in range(0, len(data), size) for f in reader.feed(data[i : i + size])]
        assert [f.command for f in frames] == ["MESSAGE", "RECEIPT"]
        assert frames[0].body == b"a\x00b" and frames[1].headers == {"receipt-id": "r"}
        assert len(reader.heartbeats) == 3


def test_headers_are_unescaped_once_connected_names_a_version() -> None:
    reader = FrameReader()
    reader.feed(b"CONNECTED\nversion:1.2\n\n\x00")
    [message] = reader.feed(b"MESSAGE\nk\\cey:a\\nb\\\\c\\rd\n\n\x00")
    assert message.headers == {"k:ey": "a\nb\\c\rd"}


def test_stomp_1_0_headers_are_taken_literally() -> None:
    [message] = FrameReader().feed(b"MESSAGE\npath:C:\\temp\n\n\x00")
    assert message.headers == {"path": "C:\\temp"}


def test_repeated_headers_keep_the_first_and_every_line() -> None:
    [frame] = FrameReader().feed(b"MESSAGE\ncolour:red\ncolour:blue\n\n\x00")
    assert frame.headers == {"colour": "red"}
    assert frame.header_lines == (("colour", "red"), ("colour", "blue"))


@pytest.mark.parametrize(
    ("data", "complaint"),
    [
        (b"MESSAGE\nno colon\n\n\x00", "without a colon"),
        (b"MESSAGE\ncontent-length:2\n\nabc\x00", "no NUL after"),
        (b"MESSAGE\ncontent-length:x\n\n\x00", "not a number"),
        (b"CONNECTED\nversion:1.2\n\n\x00MESSAGE\nh:\\t\n\n\x00", "undefined escape"),
    ],
)
def test_a_broken_frame_from_the_broker_is_a_violation(data: bytes, complaint: str) -> None:
    with pytest.raises(WireViolation, match=complaint):
        FrameReader().feed(data)


def test_encode_escapes_except_on_connect() -> None:
    assert encode("SEND", {"a:b": "c\nd"}, b"x", "1.2") == b"SEND\na\\cb:c\\nd\n\nx\x00"
    assert encode("CONNECT", {"login": "a:b"}, version="1.2") == b"CONNECT\nlogin:a:b\n\n\x00"
    assert unescape(escape("x\\y:z\r\n", "1.2"), "1.2") == "x\\y:z\r\n"
