"""Telnyx's TeXML and Plivo's XML answer documents with golden values, and their settings."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from webhook.answers import VOICEMAIL_PROMPT, CallFacts, plivo_xml, telnyx_texml
from webhook.settings import Settings, SettingsError

SECRET = "s" * 40
CALL = CallFacts(call_id="v3:T02llQx", caller="+13122010094", callee="+13122123456")


def test_telnyx_texml_golden_takes_a_message_without_forward_to() -> None:
    document = telnyx_texml(
        CALL,
        recorder_url="wss://rec.example",
        token="T.K.N",
        codec="PCMU",
        greeting="Recorded & kept.",
        forward_to="",
        max_seconds=600,
    )
    assert document == (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Say>Recorded &amp; kept.</Say>'
        '<Start><Stream url="wss://rec.example/ws/telnyx/T.K.N" track="both_tracks" codec="PCMU" /></Start>'
        f'<Say>{VOICEMAIL_PROMPT}</Say><Pause length="600" /></Response>'
    )


def test_telnyx_texml_dials_forward_to_with_the_codec_asked_for() -> None:
    document = telnyx_texml(
        CALL, recorder_url="wss://r", token="T", codec="PCMA", greeting="", forward_to="+15550100003", max_seconds=60
    )
    root = ET.fromstring(document)
    assert [child.tag for child in root] == ["Start", "Dial"]
    assert root.find("./Start/Stream").attrib == {  # type: ignore[union-attr]
        "url": "wss://r/ws/telnyx/T",
        "track": "both_tracks",
        "codec": "PCMA",
    }
    assert root.find("Dial").attrib == {"timeLimit": "60"}  # type: ignore[union-attr]
    assert root.find("Dial").text == "+15550100003"  # type: ignore[union-attr]


def test_plivo_xml_golden_takes_a_message_without_forward_to() -> None:
    document = plivo_xml(
        CALL, recorder_url="wss://rec.example", token="T.K.N", greeting="Recorded.", forward_to="", max_seconds=600
    )
    assert document == (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Speak>Recorded.</Speak>'
        '<Stream bidirectional="false" audioTrack="both" contentType="audio/x-mulaw;rate=8000" streamTimeout="600"'
        ' extraHeaders="from=13122010094,to=13122123456">wss://rec.example/ws/plivo/T.K.N</Stream>'
        f'<Speak>{VOICEMAIL_PROMPT}</Speak><Wait length="600" /></Response>'
    )


def test_plivo_xml_streams_before_it_dials_so_the_call_stays_up_while_recorded() -> None:
    root = ET.fromstring(
        plivo_xml(CALL, recorder_url="wss://r", token="T", greeting="", forward_to="+15550100003", max_seconds=60)
    )
    assert [child.tag for child in root] == ["Stream", "Dial"]
    assert "keepCallAlive" not in root.find("Stream").attrib  # type: ignore[union-attr]
    assert root.find("./Dial/Number").text == "+15550100003"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"TELNYX_CODEC": "OPUS"}, "TELNYX_CODEC"),
        ({"TELNYX_PUBLIC_KEY": "not base64!"}, "TELNYX_PUBLIC_KEY"),
        ({"TELNYX_PUBLIC_KEY": "AAAA"}, "TELNYX_PUBLIC_KEY"),
        ({"ALLOW_UNSIGNED": "voxology,skype"}, "ALLOW_UNSIGNED"),
        ({"MAX_CALL_SECONDS": "\u00b2"}, "MAX_CALL_SECONDS"),  # a digit to str.isdigit(), not to int()
    ],
)
def test_new_settings_are_validated(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        Settings.from_env({"RECORDER_SECRET": SECRET, **env})


def test_new_settings_defaults_and_signing() -> None:
    settings = Settings.from_env({"RECORDER_SECRET": SECRET, "ALLOW_UNSIGNED": " voxology , twilio"})
    assert (settings.telnyx_codec, settings.allow_unsigned, settings.signing) == (
        "PCMU",
        frozenset({"voxology", "twilio"}),
        False,
    )
    assert Settings.from_env({"RECORDER_SECRET": SECRET, "PLIVO_AUTH_TOKEN": "x"}).signing
