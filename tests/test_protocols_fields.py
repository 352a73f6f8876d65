"""The field helpers every adapter shares (recorder/recorder/protocols/_fields.py): one policy per fault."""

from __future__ import annotations

import pytest

from recorder.closing import CloseCode, ProtocolError
from recorder.events import Dtmf, Ignored
from recorder.protocols._codecs import ALAW, MULAW, codec_for
from recorder.protocols._fields import (
    MAX_DIGITS,
    base64_payload,
    echoed,
    json_object,
    key_press,
    required_str,
    sub_object,
    whole_number,
)


def code_of(call: object) -> CloseCode:
    assert callable(call)
    with pytest.raises(ProtocolError) as raised:
        call()
    return raised.value.code


@pytest.mark.parametrize("text", ["NaN", '{"a": Infinity}', '{"a": -Infinity}', "[" * 100_000, "{", "[1]", '"x"'])
def test_what_is_not_a_json_object_is_1007(text: str) -> None:
    assert code_of(lambda: json_object(text, "Test")) == CloseCode.INVALID_PAYLOAD


def test_binary_on_a_json_stream_is_1003() -> None:
    assert code_of(lambda: json_object(b"{}", "Test")) == CloseCode.UNSUPPORTED_DATA


@pytest.mark.parametrize(("value", "expected"), [(0, 0), ("40", 40), (10**MAX_DIGITS - 1, 10**MAX_DIGITS - 1)])
def test_whole_numbers_as_numbers_or_strings(value: object, expected: int) -> None:
    assert whole_number(value, "n") == expected


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (None, CloseCode.PROTOCOL_ERROR),
        ("", CloseCode.PROTOCOL_ERROR),
        (-1, CloseCode.INVALID_PAYLOAD),
        (True, CloseCode.INVALID_PAYLOAD),
        (1.0, CloseCode.INVALID_PAYLOAD),
        (float("inf"), CloseCode.INVALID_PAYLOAD),
        ("1e3", CloseCode.INVALID_PAYLOAD),
        ("\u00b2", CloseCode.INVALID_PAYLOAD),
        ("9" * (MAX_DIGITS + 1), CloseCode.INVALID_PAYLOAD),
        (10**MAX_DIGITS, CloseCode.INVALID_PAYLOAD),
        ([1], CloseCode.INVALID_PAYLOAD),
    ],
)
def test_what_is_not_a_whole_number(value: object, code: CloseCode) -> None:
    assert code_of(lambda: whole_number(value, "n")) == code


def test_a_missing_required_field_is_1002_and_a_mistyped_one_1007() -> None:
    assert code_of(lambda: required_str({}, "callSid", "start")) == CloseCode.PROTOCOL_ERROR
    assert code_of(lambda: required_str({"callSid": 5}, "callSid", "start")) == CloseCode.INVALID_PAYLOAD
    assert code_of(lambda: sub_object({}, "media", "media")) == CloseCode.PROTOCOL_ERROR
    assert code_of(lambda: sub_object({"media": []}, "media", "media")) == CloseCode.INVALID_PAYLOAD
    assert code_of(lambda: base64_payload(None, "payload")) == CloseCode.PROTOCOL_ERROR
    assert code_of(lambda: base64_payload(5, "payload")) == CloseCode.INVALID_PAYLOAD


def test_a_key_press_without_a_digit_is_ignored_and_a_long_one_clipped() -> None:
    assert key_press(None) == [Ignored("dtmf without a digit")]
    assert key_press("") == [Ignored("dtmf without a digit")]
    assert key_press("123456789", 40) == [Dtmf("12345678", 40)]


def test_echoed_parameters_are_not_required() -> None:
    assert echoed(None) == (None, "", "")
    assert echoed({"token": 5, "from": "+1" * 100, "to": ["x"]}) == (None, "+1" * 32, "['x']")


def test_codecs_by_table_refuse_what_the_table_lacks() -> None:
    table = {("pcmu", 8000): MULAW, ("pcma", 8000): ALAW}
    assert codec_for(table, "PCMA", 8000) is ALAW
    assert code_of(lambda: codec_for(table, "G722", 16000)) == CloseCode.UNSUPPORTED_DATA
    assert code_of(lambda: codec_for(table, ["PCMU"], 8000)) == CloseCode.INVALID_PAYLOAD
