"""STOMP codec: parsing (incremental, per-version escaping, content-length, limits) and encoding."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.broker.stomp.frames import (
    V1_0,
    V1_1,
    V1_2,
    Frame,
    FrameError,
    FrameParser,
    FrameTooLarge,
    encode_frame,
    escape_header,
    unescape_header,
)


def parse_all(data: bytes, version: str = V1_2, max_frame_size: int = 1 << 20) -> list[Frame]:
    return FrameParser(version, max_frame_size).feed(data)


def test_simple_frame() -> None:
    [frame] = parse_all(b"SEND\ndestination:/queue/a\nreceipt:r1\n\nhello\x00")
    assert frame.command == "SEND"
    assert frame.headers == {"destination": "/queue/a", "receipt": "r1"}
    assert frame.body == b"hello"


def test_frame_without_headers_or_body() -> None:
    [frame] = parse_all(b"DISCONNECT\n\n\x00")
    assert frame == Frame("DISCONNECT", {}, b"")


def test_byte_by_byte_feed_gives_same_frames() -> None:
    data = (
        b"\n\nCONNECT\naccept-version:1.2\n\n\x00\n"
        b"SEND\ndestination:/queue/a\ncontent-length:3\n\na\x00b\x00\r\n"
        b"ACK\nid:x\n\n\x00"
        b"SEND\r\nk:v\r\n\r\nx\x00"
    )
    parser = FrameParser(V1_2)
    frames: list[Frame] = []
    for i in range(len(data)):
        frames += parser.feed(data[i : i + 1])
    assert [f.command for f in frames] == ["CONNECT", "SEND", "ACK", "SEND"]
    assert frames[3].headers == {"k": "v"}
    assert frames[1].body == b"a\x00b"
    assert frames == parse_all(data)


def test_content_length_allows_nul_in_binary_body() -> None:
    body = bytes(range(256)) * 4
    data = b"SEND\ndestination:/queue/a\ncontent-length:%d\n\n" % len(body) + body + b"\x00"
    [frame] = parse_all(data)
    assert frame.body == body


def test_content_length_not_followed_by_nul_is_an_error() -> None:
    with pytest.raises(FrameError, match="content-length bytes were read and there was no trailing null byte"):
        parse_all(b"SEND\ncontent-length:2\n\nabc\x00")


def test_invalid_content_length() -> None:
    with pytest.raises(FrameError, match="Specified content-length is not a valid integer: 'abc'"):
        parse_all(b"SEND\ncontent-length:abc\n\n\x00")
    with pytest.raises(FrameError, match="Specified content-length is not a valid integer: '-1'"):
        parse_all(b"SEND\ncontent-length:-1\n\n\x00")


def test_heartbeat_eols_between_frames_are_skipped() -> None:
    parser = FrameParser(V1_2)
    assert parser.feed(b"\n\r\n\n") == []
    [frame] = parser.feed(b"\r\nSEND\ndestination:/q\n\nx\x00\n\n")
    assert frame.body == b"x"


def test_crlf_line_endings() -> None:
    [frame] = parse_all(b"SEND\r\ndestination:/queue/a\r\nfoo:bar\r\n\r\nbody\x00")
    assert frame.headers == {"destination": "/queue/a", "foo": "bar"}
    assert frame.body == b"body"


def test_repeated_header_first_wins() -> None:
    [frame] = parse_all(b"SEND\nfoo:1\nfoo:2\n\n\x00")
    assert frame.headers["foo"] == "1"


def test_value_may_contain_colon_in_1_0() -> None:
    [frame] = parse_all(b"SEND\nmessage-id:ID:a:b\n\n\x00", V1_0)
    assert frame.headers["message-id"] == "ID:a:b"


@pytest.mark.parametrize(
    ("version", "raw", "value"),
    [
        (V1_1, r"a\cb\nc\\d", "a:b\nc\\d"),
        (V1_2, r"a\cb\nc\\d\re", "a:b\nc\\d\re"),
        (V1_0, r"a\cb", r"a\cb"),  # no escaping in 1.0
    ],
)
def test_unescaping_per_version(version: str, raw: str, value: str) -> None:
    [frame] = parse_all(f"SEND\nk:{raw}\n\n\x00".encode(), version)
    assert frame.headers["k"] == value


def test_carriage_return_escape_is_undefined_in_1_1() -> None:
    with pytest.raises(FrameError, match="undefined escape"):
        parse_all(b"SEND\nk:a\\rb\n\n\x00", V1_1)


def test_undefined_escape_is_fatal() -> None:
    with pytest.raises(FrameError, match="undefined escape"):
        parse_all(b"SEND\nk:a\\tb\n\n\x00", V1_2)


def test_connect_headers_are_never_unescaped() -> None:
    [frame] = parse_all(b"CONNECT\npasscode:a\\cb\n\n\x00", V1_2)
    assert frame.headers["passcode"] == "a\\cb"


def test_malformed_header_line() -> None:
    with pytest.raises(FrameError, match=r"Unable to parse header line \[nocolon\]"):
        parse_all(b"SEND\nnocolon\n\n\x00")


def test_pull_lets_the_version_change_between_frames() -> None:
    parser = FrameParser(V1_0)
    parser.append(b"CONNECT\naccept-version:1.2\n\n\x00SEND\nk:a\\cb\n\n\x00")
    connect = parser.pull()
    assert connect is not None and connect.command == "CONNECT"
    parser.version = V1_2  # what the connection does once CONNECTED is sent
    send = parser.pull()
    assert send is not None and send.headers["k"] == "a:b"
    assert parser.pull() is None


def test_mid_frame_tells_a_partial_frame_from_heart_beats() -> None:
    parser = FrameParser(V1_2)
    assert parser.feed(b"\n\r\n") == [] and not parser.mid_frame
    parser.feed(b"SEND\ndestination:/queue/a\n")
    assert parser.mid_frame
    parser.feed(b"\nbody\x00")
    assert not parser.mid_frame


def test_limits_have_activemqs_messages() -> None:
    with pytest.raises(FrameError, match="The maximum command length was exceeded"):
        FrameParser(V1_2).feed(b"S" * 2000)
    with pytest.raises(FrameError, match=r"The maximum header length was exceeded \(10240 bytes\)"):
        parse_all(b"SEND\nh:" + b"x" * 11_000 + b"\n\n\x00")
    many = b"".join(b"h%d:v\n" % i for i in range(1001))
    with pytest.raises(FrameError, match=r"The maximum number of headers was exceeded \(1000\)"):
        parse_all(b"SEND\n" + many + b"\n\x00")
    with pytest.raises(FrameTooLarge, match=r"The maximum frame size was exceeded \(wireFormat.maxFrameSize=100"):
        FrameParser(V1_2, max_frame_size=100).feed(b"SEND\n\n" + b"x" * 200)


def test_oversize_body_without_content_length_is_refused_early() -> None:
    parser = FrameParser(V1_2, max_frame_size=100)
    parser.feed(b"SEND\n\n" + b"x" * 50)
    with pytest.raises(FrameTooLarge):
        parser.feed(b"x" * 100)


def test_oversize_content_length_is_refused_before_the_body_arrives() -> None:
    parser = FrameParser(V1_2, max_frame_size=100)
    with pytest.raises(FrameTooLarge):
        parser.feed(b"SEND\ncontent-length:1000\n\n")


def test_oversize_headers_are_refused() -> None:
    parser = FrameParser(V1_2, max_frame_size=100)
    with pytest.raises(FrameTooLarge):
        parser.feed(b"SEND\nh:" + b"x" * 200)


def test_frame_exactly_at_the_limit_is_accepted() -> None:
    head = b"SEND\n\n"
    parser = FrameParser(V1_2, max_frame_size=len(head) + 10)
    [frame] = parser.feed(head + b"y" * 10 + b"\x00")
    assert frame.body == b"y" * 10


def test_encode_adds_exact_content_length_and_escapes() -> None:
    frame = Frame("MESSAGE", {"message-id": "ID:x-1", "content-length": "999", "k": "a\nb"}, b"a\x00b")
    data = encode_frame(frame, V1_2)
    assert data == b"MESSAGE\nmessage-id:ID\\cx-1\nk:a\\nb\ncontent-length:3\n\na\x00b\x00"


def test_encode_connected_is_not_escaped() -> None:
    data = encode_frame(Frame("CONNECTED", {"session": "ID:a:b"}), V1_2)
    assert data == b"CONNECTED\nsession:ID:a:b\n\n\x00"


def test_encode_1_0_flattens_newlines() -> None:
    assert escape_header("a\nb:c", V1_0) == "a b:c"


header_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)


@given(
    version=st.sampled_from([V1_1, V1_2]),
    headers=st.dictionaries(header_text.filter(bool), header_text, max_size=5),
    body=st.binary(max_size=64),
)
def test_round_trip(version: str, headers: dict[str, str], body: bytes) -> None:
    headers.pop("content-length", None)
    if version == V1_1:
        # 1.1 cannot escape CR, and a CR before LF is read as a CRLF line ending.
        headers = {k.replace("\r", ""): v.replace("\r", "") for k, v in headers.items() if k.replace("\r", "")}
    frame = Frame("SEND", headers, body)
    [parsed] = parse_all(encode_frame(frame, version), version)
    assert parsed.command == "SEND"
    parsed.headers.pop("content-length", None)
    assert parsed.headers == headers
    assert parsed.body == body


@given(version=st.sampled_from([V1_1, V1_2]), text=header_text)
def test_escape_unescape_inverse(version: str, text: str) -> None:
    if version == V1_1:
        text = text.replace("\r", "")
    assert unescape_header(escape_header(text, version), version) == text
