"""Properties of pybroker's STOMP frame parser, on generated and mutated frames.

- encoding then parsing gives the frame back, for every version and every way of cutting the byte
  stream into reads (TCP may split anywhere, heart-beats may sit between frames);
- a frame is accepted exactly when it fits in the maximum frame size;
- bytes mutated anyhow never make the parser raise anything but its own FrameError.
"""

from __future__ import annotations

import contextlib
import itertools
import os

from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

from harness.broker.stomp.frames import V1_0, V1_1, V1_2, Frame, FrameError, FrameParser, FrameTooLarge, encode_frame

# 150 examples each keeps the unit run quick; AMQH_FRAME_EXAMPLES=5000 searches harder.
EXAMPLES = int(os.environ.get("AMQH_FRAME_EXAMPLES", "150"))
PROPERTY_SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
UNESCAPED_COMMANDS = ("CONNECT", "STOMP", "CONNECTED")
COMMANDS = st.sampled_from(
    ["SEND", "MESSAGE", "SUBSCRIBE", "ACK", "NACK", "RECEIPT", "ERROR", "BEGIN"]
) | st.from_regex(r"\A[A-Z][A-Z_]{0,15}\Z")

# What a header may hold in each version so that it survives the trip: 1.0 has no escaping (no line
# breaks, and no colon in a name) and a broker may trim its values as ActiveMQ does; 1.1 escapes LF,
# colon and backslash but not CR.
_ANY = st.characters(blacklist_categories=("Cs",))
_NO_LINE_BREAKS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n")
_JAVA_TRIMMED = "".join(chr(c) for c in range(0x21))  # what Java's String.trim() removes
_UNTRIMMED_1_0 = st.text(_NO_LINE_BREAKS).filter(lambda v: v == v.strip(_JAVA_TRIMMED))
HEADER_TEXT = {
    V1_0: (
        st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n:"), min_size=1),
        _UNTRIMMED_1_0,
    ),
    V1_1: (
        st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r"), min_size=1),
        st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r")),
    ),
    V1_2: (st.text(_ANY, min_size=1), st.text(_ANY)),
}


@st.composite
def frames(draw: st.DrawFn, version: str) -> Frame:
    command = draw(COMMANDS)
    names, values = HEADER_TEXT[version]
    headers = draw(st.dictionaries(names.filter(lambda n: n != "content-length"), values, max_size=6))
    return Frame(command, headers, draw(st.binary(max_size=300)))


@st.composite
def streams(draw: st.DrawFn) -> tuple[str, list[Frame], bytes]:
    """Several frames of one version, encoded back to back with heart-beat EOLs between some."""
    version = draw(st.sampled_from([V1_0, V1_1, V1_2]))
    sent = draw(st.lists(frames(version), min_size=1, max_size=5))
    data = b""
    for frame in sent:
        data += draw(st.sampled_from([b"", b"\n", b"\r\n", b"\n\n\r\n"])) + encode_frame(frame, version)
    return version, sent, data


def cut(data: bytes, points: list[int]) -> list[bytes]:
    edges = sorted({0, len(data), *(p % (len(data) + 1) for p in points)})
    return [data[a:b] for a, b in itertools.pairwise(edges)]


def parse_in_pieces(parser: FrameParser, pieces: list[bytes]) -> list[Frame]:
    parsed: list[Frame] = []
    for piece in pieces:
        parsed.extend(parser.feed(piece))
    return parsed


def without_length(frame: Frame) -> Frame:
    return Frame(frame.command, {k: v for k, v in frame.headers.items() if k != "content-length"}, frame.body)


@PROPERTY_SETTINGS
@given(stream=streams(), points=st.lists(st.integers(min_value=0), max_size=12))
def test_frames_come_back_whole_however_the_stream_is_cut(
    stream: tuple[str, list[Frame], bytes], points: list[int]
) -> None:
    version, sent, data = stream
    parsed = parse_in_pieces(FrameParser(version, max_frame_size=1 << 20), cut(data, points))
    assert [without_length(f) for f in parsed] == sent, f"STOMP {version}, stream {data!r} cut at {sorted(points)}"
    for frame in parsed:
        if frame.body:
            assert frame.headers["content-length"] == str(len(frame.body)), "a body must carry its exact length"


@PROPERTY_SETTINGS
@given(
    command=st.sampled_from(UNESCAPED_COMMANDS),
    headers=st.dictionaries(
        st.text(st.characters(whitelist_categories=("L", "N"), whitelist_characters="-."), min_size=1).filter(
            lambda n: n != "content-length"
        ),
        st.text(st.characters(whitelist_categories=("L", "N", "P"), blacklist_characters=":\\")),
        max_size=6,
    ),
    version=st.sampled_from([V1_0, V1_1, V1_2]),
)
def test_connect_frames_round_trip_unescaped(command: str, headers: dict[str, str], version: str) -> None:
    encoded = encode_frame(Frame(command, headers), version)
    assert FrameParser(version).feed(encoded) == [Frame(command, headers)]


@PROPERTY_SETTINGS
@given(frame=frames(V1_2), limit=st.integers(min_value=8, max_value=400), points=st.lists(st.integers(0), max_size=4))
def test_a_frame_is_accepted_exactly_when_it_fits_the_maximum_size(frame: Frame, limit: int, points: list[int]) -> None:
    encoded = encode_frame(frame, V1_2)
    size = len(encoded) - 1  # everything before the terminating NUL
    parser = FrameParser(V1_2, max_frame_size=limit)
    try:
        parsed = parse_in_pieces(parser, cut(encoded, points))
    except FrameTooLarge:
        assert size > limit, f"a {size}-byte frame was refused with a {limit}-byte limit"
        return
    assert size <= limit, f"a {size}-byte frame was accepted with a {limit}-byte limit"
    assert [without_length(f) for f in parsed] == [frame]


MUTATIONS = st.sampled_from(["flip", "insert", "delete", "truncate", "duplicate", "replace"])


@st.composite
def mutated_streams(draw: st.DrawFn) -> tuple[str, bytes]:
    version, _, data = draw(streams())
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        kind = draw(MUTATIONS)
        at = draw(st.integers(0, len(data)))
        if kind == "flip" and data:
            at = min(at, len(data) - 1)
            data = data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1 :]
        elif kind == "insert":
            noise = draw(st.binary(min_size=1, max_size=8) | st.sampled_from([b"\x00", b"\n", b":", b"\\", b"\r\n"]))
            data = data[:at] + noise + data[at:]
        elif kind == "delete":
            data = data[:at] + data[at + draw(st.integers(1, 16)) :]
        elif kind == "truncate":
            data = data[:at]
        elif kind == "duplicate":
            data = data[:at] + data[at : at + draw(st.integers(1, 64))] * 2 + data[at + 64 :]
        elif kind == "replace":
            data = data[:at] + draw(st.sampled_from([b"content-length:", b"content-length:-1\n", b"\\q", b"\xff\xfe"]))
            data += data[at:]
    return version, data


@PROPERTY_SETTINGS
@given(stream=mutated_streams(), points=st.lists(st.integers(0), max_size=8), limit=st.sampled_from([64, 1 << 20]))
def test_mutated_bytes_raise_nothing_but_frame_errors(stream: tuple[str, bytes], points: list[int], limit: int) -> None:
    version, data = stream
    parser = FrameParser(version, max_frame_size=limit)
    try:
        for frame in parse_in_pieces(parser, cut(data, points)):
            assert isinstance(frame.command, str) and isinstance(frame.body, bytes)
    except FrameError:
        pass  # the connection answers ERROR and closes: the only acceptable failure


@PROPERTY_SETTINGS
@given(data=st.binary(max_size=2000), version=st.sampled_from([V1_0, V1_1, V1_2]), points=st.lists(st.integers(0)))
def test_random_bytes_raise_nothing_but_frame_errors(data: bytes, version: str, points: list[int]) -> None:
    with contextlib.suppress(FrameError):  # refusing is fine; any other exception fails the property
        parse_in_pieces(FrameParser(version, max_frame_size=512), cut(data, points))


@PROPERTY_SETTINGS
@given(stream=streams(), at=st.integers(min_value=0))
def test_bytes_after_an_error_are_not_parsed_into_frames_silently(
    stream: tuple[str, list[Frame], bytes], at: int
) -> None:
    """Once a stream is cut short, the frames before the cut are all that come out: no frame is invented."""
    version, sent, data = stream
    at %= len(data) + 1
    parsed = FrameParser(version, max_frame_size=1 << 20).feed(data[:at])
    assert [without_length(f) for f in parsed] == sent[: len(parsed)], (
        "a prefix of the stream must give a prefix of the frames"
    )


def parser_error(stream: tuple[str, bytes], limit: int = 64) -> FrameError | None:
    version, data = stream
    try:
        FrameParser(version, max_frame_size=limit).feed(data)
    except FrameError as exc:
        return exc
    return None


def test_the_mutations_reach_the_parsers_error_paths() -> None:
    """The mutation property is only worth something if mutated streams do hit the parser's refusals."""
    too_large = find(mutated_streams(), lambda s: isinstance(parser_error(s), FrameTooLarge))
    malformed = find(mutated_streams(), lambda s: type(parser_error(s)) is FrameError)
    assert isinstance(parser_error(too_large), FrameTooLarge)
    assert type(parser_error(malformed)) is FrameError
