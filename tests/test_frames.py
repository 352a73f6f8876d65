"""recorder.websocket.frames against golden bytes, one class per RFC 6455 section (websockets' tests/test_frames.py
is the model). The frame builder here XORs in Python, independently of the parser's C unmasking."""

from __future__ import annotations

import struct

import pytest

from recorder.closing import CloseCode, ProtocolError
from recorder.websocket.frames import CONTROL_BUDGET, Close, Parser, Ping, close_frame, frame

KEY = b"\x37\xfa\x21\x3d"  # RFC 6455 section 5.7's masking key


def masked(opcode: int, payload: bytes = b"", fin: bool = True, key: bytes = KEY) -> bytes:
    length = len(payload)
    first = (0x80 if fin else 0) | opcode
    if length < 126:
        header = bytes((first, 0x80 | length))
    elif length < 65536:
        header = bytes((first, 0x80 | 126)) + struct.pack("!H", length)
    else:
        header = bytes((first, 0x80 | 127)) + struct.pack("!Q", length)
    return header + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def parse(data: bytes, max_text: int = 1024, max_binary: int = 4096) -> list[object]:
    parser = Parser(max_text, max_binary)
    parser.feed(data)
    events = []
    while (event := parser.next()) is not None:
        events.append(event)
    return events


def refused(data: bytes, **limits: int) -> ProtocolError:
    with pytest.raises(ProtocolError) as raised:
        parse(data, **limits)
    return raised.value


class TestBaseFraming:  # section 5.2
    def test_websockets_golden_text_frame(self) -> None:
        assert parse(b"\x81\x84\x00\xff\x00\xff\x53\x8f\x61\x92") == ["Spam"]

    def test_rfc_example_masked_hello(self) -> None:  # section 5.7
        assert parse(b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58") == ["Hello"]

    def test_16_and_64_bit_lengths(self) -> None:
        assert parse(masked(0x2, b"\x01" * 256)) == [b"\x01" * 256]
        assert masked(0x2, b"\x01" * 256)[:4] == b"\x82\xfe\x01\x00"
        big = b"\x02" * 65536
        assert parse(masked(0x2, big), max_binary=65536) == [big]

    def test_bytes_fed_one_at_a_time_give_the_same_messages(self) -> None:
        data = masked(0x1, b"one") + masked(0x2, b"\x00" * 300) + masked(0x9, b"p")
        parser, events = Parser(1024, 4096), []
        for byte in data:
            parser.feed(bytes([byte]))
            while (event := parser.next()) is not None:
                events.append(event)
        assert events == ["one", b"\x00" * 300, Ping(b"p")]

    def test_reserved_bits_without_an_extension(self) -> None:
        for rsv in (0x40, 0x20, 0x10):
            error = refused(bytes((0x82 | rsv, 0x80)) + KEY)
            assert (error.code, error.reason) == (
                CloseCode.PROTOCOL_ERROR,
                "reserved bits set without a negotiated extension",
            )

    @pytest.mark.parametrize("opcode", [0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF])
    def test_reserved_opcodes(self, opcode: int) -> None:
        error = refused(masked(opcode, b"x"))
        assert (error.code, error.reason) == (CloseCode.PROTOCOL_ERROR, f"unexpected opcode {opcode}")

    def test_an_oversized_message_is_refused_from_its_header_alone(self) -> None:
        header_only = masked(0x2, b"\x00" * 5000)[:8]  # no payload yet
        assert refused(header_only).code == CloseCode.MESSAGE_TOO_BIG
        text = refused(masked(0x1, b"x" * 1025)[:8])
        assert (text.code, text.reason) == (CloseCode.MESSAGE_TOO_BIG, "text message over 1024 bytes")

    def test_an_incomplete_frame_waits(self) -> None:
        parser = Parser(1024, 4096)
        frame_bytes = masked(0x2, b"abcdef")
        parser.feed(frame_bytes[:-1])
        assert parser.next() is None
        parser.feed(frame_bytes[-1:])
        assert parser.next() == b"abcdef"

    def test_frames_across_reads_in_any_split(self) -> None:
        # Whole frames are parsed from the read's own bytes, a split one from a buffer of what is left: every
        # way of cutting the stream in two gives the same messages, and the caller's buffers are never kept.
        data = masked(0x2, b"\x01" * 200) + masked(0x1, b"two") + masked(0x2, b"\x03" * 130)
        for cut in range(len(data) + 1):
            parser, events = Parser(1024, 4096), []
            for piece in (bytearray(data[:cut]), bytearray(data[cut:])):
                parser.feed(piece)  # type: ignore[arg-type]
                piece[:] = b"\xff" * len(piece)  # the caller reuses its buffer
                while (event := parser.next()) is not None:
                    events.append(event)
            assert events == [b"\x01" * 200, "two", b"\x03" * 130], cut


class TestMasking:  # section 5.3, and 5.1: a server MUST close on an unmasked client frame
    def test_an_unmasked_client_frame(self) -> None:
        error = refused(b"\x82\x03abc")
        assert (error.code, error.reason) == (
            CloseCode.PROTOCOL_ERROR,
            "client frames must be masked (RFC 6455 section 5.1)",
        )

    def test_any_key_unmasks(self) -> None:
        assert parse(masked(0x2, bytes(range(200)), key=b"\xff\x00\xaa\x55")) == [bytes(range(200))]

    def test_server_frames_are_unmasked(self) -> None:  # section 5.7's unmasked "Hello"
        assert frame(0x1, b"Hello") == b"\x81\x05\x48\x65\x6c\x6c\x6f"
        assert frame(0x2, b"\x00" * 256)[:4] == b"\x82\x7e\x01\x00"
        assert frame(0x2, b"\x00" * 65536)[:10] == b"\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00"


class TestFragmentation:  # section 5.4
    def test_fragments_are_reassembled(self) -> None:
        data = masked(0x1, b"Hel", fin=False) + masked(0x0, b"lo")
        assert parse(data) == ["Hello"]

    def test_control_frames_may_interleave_a_fragmented_message(self) -> None:
        data = masked(0x2, b"ab", fin=False) + masked(0x9, b"ping") + masked(0x0, b"cd")
        assert parse(data) == [Ping(b"ping"), b"abcd"]

    def test_a_new_message_inside_a_fragmented_one(self) -> None:
        error = refused(masked(0x1, b"a", fin=False) + masked(0x1, b"b"))
        assert error.reason == "a new message began before the previous one finished"

    def test_a_continuation_with_nothing_to_continue(self) -> None:
        assert refused(masked(0x0, b"x")).reason == "unexpected opcode 0"

    def test_the_limit_counts_every_fragment(self) -> None:
        data = masked(0x2, b"\x00" * 3000, fin=False) + masked(0x0, b"\x00" * 1100)
        assert refused(data).code == CloseCode.MESSAGE_TOO_BIG

    def test_a_text_message_split_inside_a_character(self) -> None:
        snowman = "\u2603".encode()
        assert parse(masked(0x1, snowman[:1], fin=False) + masked(0x0, snowman[1:])) == ["\u2603"]


class TestControlFrames:  # section 5.5
    def test_ping_payload_comes_out_for_the_pong(self) -> None:  # 5.5.2
        assert parse(masked(0x9, b"Hello")) == [Ping(b"Hello")]

    def test_pongs_are_consumed(self) -> None:  # 5.5.3: unsolicited pongs need no answer
        assert parse(masked(0xA, b"x") + masked(0x2, b"audio")) == [b"audio"]

    def test_a_control_frame_over_125_bytes(self) -> None:
        assert refused(masked(0x9, b"p" * 126)).reason == "control frames must be final and at most 125 bytes"

    def test_a_fragmented_control_frame(self) -> None:
        assert refused(masked(0x9, b"p", fin=False)).code == CloseCode.PROTOCOL_ERROR


class TestClose:  # section 5.5.1, and 7.4's status codes (Autobahn 7.3, 7.5, 7.7, 7.9)
    def test_empty_close(self) -> None:
        assert parse(masked(0x8)) == [Close(None, "")]

    def test_code_and_reason(self) -> None:
        assert parse(masked(0x8, struct.pack("!H", 1000) + b"bye")) == [Close(1000, "bye")]

    def test_a_one_byte_payload(self) -> None:
        error = refused(masked(0x8, b"\x03"))
        assert (error.code, error.reason) == (CloseCode.PROTOCOL_ERROR, "a close frame's status code needs 2 bytes")

    @pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535])
    def test_codes_a_peer_may_not_send(self, code: int) -> None:
        error = refused(masked(0x8, struct.pack("!H", code)))
        assert error.code == CloseCode.PROTOCOL_ERROR
        assert error.reason == f"close code {code} is not one a peer may send (RFC 6455 section 7.4)"

    @pytest.mark.parametrize(
        "code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999]
    )
    def test_codes_a_peer_may_send(self, code: int) -> None:
        assert parse(masked(0x8, struct.pack("!H", code))) == [Close(code, "")]

    def test_a_reason_that_is_not_utf8(self) -> None:
        error = refused(masked(0x8, struct.pack("!H", 1000) + b"\xce\xba\xe1\xbd"))
        assert (error.code, error.reason) == (CloseCode.INVALID_PAYLOAD, "close reason is not valid UTF-8")

    def test_our_close_frame_carries_the_code_then_the_reason(self) -> None:
        assert close_frame(1002, "bad") == b"\x88\x05\x03\xeabad"

    def test_our_close_reason_is_cut_to_fit_on_a_character_boundary(self) -> None:
        built = close_frame(1000, "\u00e9" * 100)  # 200 bytes of UTF-8
        assert built[:2] == b"\x88\x7c"  # 124 bytes: a character dropped rather than split at 125
        assert built[4:].decode() == "\u00e9" * 61


class TestTextData:  # section 5.6 and 8.1
    def test_invalid_utf8(self) -> None:
        error = refused(masked(0x1, b"\xff\xfe"))
        assert (error.code, error.reason) == (CloseCode.INVALID_PAYLOAD, "text message is not valid UTF-8")

    def test_binary_is_passed_as_is(self) -> None:
        assert parse(masked(0x2, b"\xff\xfe")) == [b"\xff\xfe"]


class TestFloodBudget:  # the recorder's own limit (defects #1), documented in frames.py
    @pytest.mark.parametrize(
        ("start", "flood"),
        [
            (b"", masked(0xA, b"x")),
            (b"", masked(0x9, b"x")),
            (b"", masked(0x2, b"")),
            (masked(0x2, b"a", fin=False), masked(0x0, b"", fin=False)),
        ],
        ids=["pongs", "pings", "empty messages", "empty continuations"],
    )
    def test_too_many_frames_without_a_data_message(self, start: bytes, flood: bytes) -> None:
        error = refused(start + flood * (CONTROL_BUDGET + 1))
        assert error.code == CloseCode.POLICY_VIOLATION
        assert error.reason == f"over {CONTROL_BUDGET} control frames or empty fragments without a data message"

    def test_a_data_message_restores_the_budget(self) -> None:
        pongs = masked(0xA, b"x") * CONTROL_BUDGET
        assert parse((pongs + masked(0x2, b"a")) * 3) == [b"a"] * 3
