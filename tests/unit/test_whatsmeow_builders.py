"""Every API.md send kind built into neonize's own protobuf classes, offline.

The media builders upload before they build; the upload is the only network step, so it is
replaced by one that answers a real `UploadResponse` proto. Everything else is neonize's code
(PIL thumbnails, ffprobe durations, sticker conversion, Go-built reactions and polls).
"""

from __future__ import annotations

import hashlib
import io
import subprocess
from pathlib import Path
from typing import Any

import pytest
from neonize.aioze.client import NewAClient
from neonize.proto.Neonize_pb2 import GroupInfo, GroupParticipant, UploadResponse
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message
from neonize.utils.enum import MediaType
from neonize.utils.jid import build_jid
from PIL import Image

from wagate.engines.base import OutgoingMedia, OutgoingMessage, PermanentEngineError
from wagate.engines.whatsmeow.builders import Quote, build_message, mention_everyone

TO = "5511987654321@s.whatsapp.net"


class Uploads:
    def __init__(self) -> None:
        self.calls: list[tuple[bytes, Any]] = []

    async def __call__(self, binary: bytes, media_type: Any = None) -> Any:
        assert isinstance(binary, bytes)  # never a path or a URL
        self.calls.append((binary, media_type))
        return UploadResponse(
            url="https://mmg.whatsapp.net/v/t62/abc",
            DirectPath="/v/t62/abc",
            MediaKey=b"k" * 32,
            FileEncSHA256=b"e" * 32,
            FileSHA256=hashlib.sha256(binary).digest(),
            FileLength=len(binary),
        )


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("media")
    png = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(png, format="PNG")
    gif = io.BytesIO()
    Image.new("RGB", (32, 32), (0, 0, 255)).save(gif, format="GIF")
    made: dict[str, bytes] = {
        "png": png.getvalue(),
        "gif": gif.getvalue(),
        "pdf": b"%PDF-1.4\n%%EOF\n",
    }
    for name, args in {
        "mp4": [
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=64x64:rate=10:duration=2",
            "-pix_fmt",
            "yuv420p",
        ],
        "ogg": ["-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-c:a", "libopus"],
    }.items():
        path = Path(folder) / f"clip.{name}"
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *args, str(path)], check=True)
        made[name] = path.read_bytes()
    return made


@pytest.fixture
def client(tmp_path: Path) -> tuple[Any, Uploads]:
    neonize_client = NewAClient(str(tmp_path / "store.sqlite3"), uuid=f"builders-{tmp_path.name}")
    uploads = Uploads()
    neonize_client.upload = uploads
    return neonize_client, uploads


def outgoing(kind: str, body: dict[str, Any], **extra: Any) -> OutgoingMessage:
    return OutgoingMessage(kind=kind, to_jid=TO, body=body, correlation_id="c1", **extra)


def check_proto(built: Any) -> None:
    assert isinstance(built, Message)
    assert Message.FromString(built.SerializeToString()) == built  # complete, encodable


async def test_text_plain_mentions_and_reply(client: tuple[Any, Uploads]) -> None:
    neonize_client, _ = client
    plain = await build_message(neonize_client, outgoing("text", {"text": "hello"}), None)
    check_proto(plain)
    assert plain.conversation == "hello"

    mentioned = await build_message(
        neonize_client,
        outgoing("text", {"text": "hi @5511911112222"}, mentions=("+55 11 91111-2222",)),
        None,
    )
    check_proto(mentioned)
    assert mentioned.extendedTextMessage.text == "hi @5511911112222"
    assert list(mentioned.extendedTextMessage.contextInfo.mentionedJID) == [
        "5511911112222@s.whatsapp.net"
    ]

    unknown = await build_message(
        neonize_client, outgoing("text", {"text": "re"}, reply_to="3EB0AAA"), None
    )
    context = unknown.extendedTextMessage.contextInfo
    assert context.stanzaID == "3EB0AAA" and context.participant == TO

    quoted = Message(conversation="the original")
    known = await build_message(
        neonize_client,
        outgoing("text", {"text": "re"}, reply_to="3EB0BBB"),
        Quote("3EB0BBB", "5511000000001@s.whatsapp.net", quoted),
    )
    context = known.extendedTextMessage.contextInfo
    assert context.participant == "5511000000001@s.whatsapp.net"
    assert context.quotedMessage.conversation == "the original"


async def test_image_from_bytes(client: tuple[Any, Uploads], media: dict[str, bytes]) -> None:
    neonize_client, uploads = client
    message = outgoing(
        "image",
        {"caption": "look"},
        media=OutgoingMedia(media["png"], "image/png"),
        reply_to="Q1",
        mentions=("5511911112222",),
    )
    built = await build_message(neonize_client, message, None)
    check_proto(built)
    image = built.imageMessage
    assert uploads.calls[0][0] == media["png"]
    assert image.caption == "look" and image.mimetype == "image/png"
    assert image.fileLength == len(media["png"]) and image.mediaKey == b"k" * 32
    assert image.fileSHA256 == hashlib.sha256(media["png"]).digest()
    assert image.JPEGThumbnail.startswith(b"\xff\xd8")  # a JPEG thumbnail made by neonize
    assert image.contextInfo.stanzaID == "Q1"
    assert "5511911112222@s.whatsapp.net" in image.contextInfo.mentionedJID


async def test_video_and_gif_playback(client: tuple[Any, Uploads], media: dict[str, bytes]) -> None:
    neonize_client, uploads = client
    message = outgoing(
        "video", {"caption": "clip", "gif": True}, media=OutgoingMedia(media["mp4"], "video/mp4")
    )
    built = await build_message(neonize_client, message, None)
    check_proto(built)
    video = built.videoMessage
    assert video.mimetype == "video/mp4" and video.caption == "clip"
    assert video.gifPlayback and video.seconds == 2
    assert video.JPEGThumbnail and uploads.calls[0][0] == media["mp4"]


async def test_voice_note_and_audio(client: tuple[Any, Uploads], media: dict[str, bytes]) -> None:
    neonize_client, _ = client
    voice = await build_message(
        neonize_client,
        outgoing("audio", {"ptt": True}, media=OutgoingMedia(media["ogg"], "audio/ogg")),
        None,
    )
    check_proto(voice)
    assert voice.audioMessage.PTT and voice.audioMessage.seconds == 2
    assert voice.audioMessage.mimetype == "audio/ogg; codecs=opus"
    plain = await build_message(
        neonize_client,
        outgoing("audio", {}, media=OutgoingMedia(media["ogg"], "audio/ogg")),
        None,
    )
    assert not plain.audioMessage.PTT


@pytest.mark.parametrize(
    ("kind", "sample", "mimetype", "field"),
    [
        ("image", "png", "image/png", "imageMessage"),
        ("video", "mp4", "video/mp4", "videoMessage"),
        ("audio", "ogg", "audio/ogg", "audioMessage"),
    ],
)
async def test_view_once(
    client: tuple[Any, Uploads],
    media: dict[str, bytes],
    kind: str,
    sample: str,
    mimetype: str,
    field: str,
) -> None:
    neonize_client, _ = client
    file = OutgoingMedia(media[sample], mimetype)
    once = await build_message(
        neonize_client, outgoing(kind, {"view_once": True}, media=file, reply_to="Q1"), None
    )
    check_proto(once)
    assert once.HasField(field)  # the media message itself, not a wrapper
    assert getattr(once, field).viewOnce is True
    assert getattr(once, field).contextInfo.stanzaID == "Q1"
    plain = await build_message(neonize_client, outgoing(kind, {}, media=file), None)
    assert getattr(plain, field).viewOnce is False


async def test_document(client: tuple[Any, Uploads], media: dict[str, bytes]) -> None:
    neonize_client, uploads = client
    message = outgoing(
        "document",
        {"filename": "report.pdf", "caption": "Q3"},
        media=OutgoingMedia(media["pdf"], "application/pdf"),
    )
    built = await build_message(neonize_client, message, None)
    check_proto(built)
    document = built.documentMessage
    assert document.fileName == "report.pdf" and document.title == "report.pdf"
    assert document.mimetype == "application/pdf" and document.caption == "Q3"
    assert uploads.calls[0][1] == MediaType.MediaDocument


async def test_sticker_converted_to_webp(
    client: tuple[Any, Uploads], media: dict[str, bytes]
) -> None:
    neonize_client, uploads = client
    built = await build_message(
        neonize_client,
        outgoing("sticker", {}, media=OutgoingMedia(media["png"], "image/png")),
        None,
    )
    check_proto(built)
    assert built.stickerMessage.mimetype == "image/webp"
    uploaded = uploads.calls[0][0]
    assert uploaded[:4] == b"RIFF" and uploaded[8:12] == b"WEBP"


async def test_location_and_contacts(client: tuple[Any, Uploads]) -> None:
    neonize_client, _ = client
    location = await build_message(
        neonize_client,
        outgoing("location", {"latitude": -6.2, "longitude": 106.8, "name": "Monas"}),
        None,
    )
    check_proto(location)
    assert location.locationMessage.degreesLatitude == pytest.approx(-6.2)
    assert location.locationMessage.name == "Monas" and not location.locationMessage.address

    one = {
        "name": "Alice; A",
        "phone": "+1 415 555 0100",
        "organization": "Acme",
        "email": "a@x.io",
    }
    single = await build_message(neonize_client, outgoing("contact", {"contacts": [one]}), None)
    check_proto(single)
    card = single.contactMessage.vcard
    assert single.contactMessage.displayName == "Alice; A"
    assert (
        "waid=14155550100:+14155550100" in card and "ORG:Acme" in card and "FN:Alice\\; A" in card
    )

    prebuilt = {"name": "Dee", "phone": "5511", "vcard": "BEGIN:VCARD\r\nFN:Dee\r\nEND:VCARD"}
    given = await build_message(neonize_client, outgoing("contact", {"contacts": [prebuilt]}), None)
    assert given.contactMessage.vcard == prebuilt["vcard"]  # the gateway's own card is kept

    two = [one, {"name": "Bob", "phone": "5511900000000"}]
    many = await build_message(neonize_client, outgoing("contact", {"contacts": two}), None)
    check_proto(many)
    assert [c.displayName for c in many.contactsArrayMessage.contacts] == ["Alice; A", "Bob"]


async def test_reaction_and_poll_built_by_neonize(client: tuple[Any, Uploads]) -> None:
    neonize_client, _ = client
    reaction = await build_message(
        neonize_client,
        outgoing("reaction", {"message_id": "3EB0CCC", "emoji": "👍"}),
        Quote("3EB0CCC", TO),
    )
    check_proto(reaction)
    assert reaction.reactionMessage.key.ID == "3EB0CCC"
    assert reaction.reactionMessage.key.remoteJID == TO
    assert reaction.reactionMessage.text == "👍" and not reaction.reactionMessage.key.fromMe

    poll = await build_message(
        neonize_client,
        outgoing(
            "poll",
            {"question": "Lunch?", "options": ["Pizza", "Sushi", "Tacos"], "selectable_count": 2},
        ),
        None,
    )
    check_proto(poll)
    fields = [f.name for f, _ in poll.ListFields()]
    created = getattr(poll, next(name for name in fields if name.startswith("pollCreation")))
    assert created.name == "Lunch?"
    assert [o.optionName for o in created.options] == ["Pizza", "Sushi", "Tacos"]
    assert created.selectableOptionsCount == 2


async def test_media_kind_without_media_is_permanent(client: tuple[Any, Uploads]) -> None:
    neonize_client, _ = client
    with pytest.raises(PermanentEngineError):
        await build_message(neonize_client, outgoing("image", {"caption": "x"}), None)


async def test_mention_everyone_of_a_group(client: tuple[Any, Uploads]) -> None:
    neonize_client, _ = client
    group = "120363012345678901@g.us"
    info = GroupInfo(
        JID=build_jid("120363012345678901", "g.us"),
        Participants=[
            GroupParticipant(JID=build_jid("5511911112222")),
            GroupParticipant(JID=build_jid("123456789012345", "lid")),
        ],
    )
    message = OutgoingMessage(
        "text", group, {"text": "all"}, "c1", mentions=("5511911112222",), mention_everyone=True
    )
    everyone = mention_everyone(message, info)
    assert everyone.mentions == (
        "5511911112222",
        "5511911112222@s.whatsapp.net",
        "123456789012345@lid",
    )
    assert not everyone.mention_everyone
    built = await build_message(neonize_client, everyone, None)
    check_proto(built)
    assert list(built.extendedTextMessage.contextInfo.mentionedJID) == [
        "5511911112222@s.whatsapp.net",
        "123456789012345@lid",
    ]
