"""neonize's HistorySync, hand-built, as the gateway's HistoryBatch parts: conversations,
both directions, groups, kinds without their media, stubs skipped, LID chats under their
phone number, push names, parts cut to a size, media described to be fetched later, and the
parts across the host's wire."""

from __future__ import annotations

from datetime import UTC, datetime

from neonize.proto.Neonize_pb2 import HistorySync as HistorySyncEv
from neonize.proto.waCommon.WACommon_pb2 import MessageKey
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import (
    ContextInfo,
    DocumentMessage,
    ExtendedTextMessage,
    ImageMessage,
    Message,
)
from neonize.proto.waHistorySync.WAWebProtobufsHistorySync_pb2 import (
    Conversation,
    HistorySync,
    HistorySyncMsg,
    Pushname,
)
from neonize.proto.waWeb.WAWebProtobufsWeb_pb2 import WebMessageInfo

from wagate.engines.base import HistoryBatch
from wagate.engines.whatsmeow import protocol
from wagate.engines.whatsmeow.history import history_batches

OWN = "5511900000000@s.whatsapp.net"
ALICE = "4915112345678@s.whatsapp.net"
GROUP = "120363000000000000@g.us"
T0 = 1_790_000_000


def info(
    message_id: str, chat: str, content: Message, at: int, from_me: bool = False, **more: str
) -> HistorySyncMsg:
    key = MessageKey(remoteJID=chat, fromMe=from_me, ID=message_id, participant=more.get("p"))
    return HistorySyncMsg(
        message=WebMessageInfo(
            key=key, message=content, messageTimestamp=at, pushName=more.get("push_name")
        )
    )


def text(value: str) -> Message:
    return Message(conversation=value)


def sync(*conversations: Conversation, progress: int | None = 100) -> HistorySync:
    names = [Pushname(ID=ALICE, pushname="Alice")]
    return HistorySync(
        syncType=HistorySync.INITIAL_BOOTSTRAP,
        conversations=list(conversations),
        pushnames=names,
        progress=progress,
    )


async def test_conversations_both_ways_groups_and_kinds() -> None:
    reply = Message(
        extendedTextMessage=ExtendedTextMessage(
            text="yes", contextInfo=ContextInfo(stanzaID="A1", participant=ALICE)
        )
    )
    image = Message(
        imageMessage=ImageMessage(caption="the view", mimetype="image/jpeg", fileLength=2048)
    )
    direct = Conversation(
        ID="123456789@lid",
        pnJID=ALICE,
        unreadCount=1,
        messages=[
            info("A2", ALICE, reply, T0 + 60, from_me=True),
            info("A1", ALICE, text("coming?"), T0, push_name="Alice"),
            info("A3", ALICE, image, T0 + 120),
            info("STUB", ALICE, Message(), T0 + 180),  # a stub: no user content
        ],
    )
    group = Conversation(
        ID=GROUP,
        name="Friends",
        messages=[info("G1", GROUP, text("hi all"), T0, p=ALICE)],
    )
    status = Conversation(ID="status@broadcast", messages=[info("S1", "x", text("s"), T0)])
    event = HistorySyncEv(Data=sync(direct, group, status))
    [batch] = await history_batches(event.Data, OWN)
    assert batch.final and batch.progress == 100
    assert batch.push_names == {ALICE: "Alice"}
    first, second = batch.chats
    assert (first.jid, first.unread, second.jid, second.name) == (ALICE, 1, GROUP, "Friends")
    assert second.unread is None
    assert [m.message_id for m in first.messages] == ["A1", "A2", "A3"]  # oldest first
    received, sent, picture = first.messages
    assert (received.sender, received.from_me, received.push_name) == (ALICE, False, "Alice")
    assert received.timestamp == datetime.fromtimestamp(T0, UTC)
    assert (sent.sender, sent.from_me, sent.text, sent.reply_to) == (OWN, True, "yes", "A1")
    assert (picture.kind, picture.caption, picture.media) == ("image", "the view", None)
    # Its media is described, to be fetched later: the handle is the message itself, which is
    # what neonize's download takes.
    pending = picture.pending_media
    assert pending is not None
    assert (pending.mimetype, pending.filename, pending.size) == ("image/jpeg", None, 2048)
    assert Message.FromString(pending.handle) == image
    assert received.pending_media is None and sent.pending_media is None
    [in_group] = second.messages
    assert (in_group.chat, in_group.sender, in_group.text) == (GROUP, ALICE, "hi all")


async def test_parts_are_cut_to_size_and_cross_the_wire() -> None:
    long = Conversation(
        ID=ALICE,
        unreadCount=2,
        messages=[info(f"M{n}", ALICE, text(f"m{n}"), T0 + n) for n in range(7)],
    )
    document = Message(
        documentMessage=DocumentMessage(mimetype="application/pdf", fileName="a.pdf")
    )
    other = Conversation(
        ID=GROUP,
        messages=[info("G1", GROUP, text("g"), T0, p=ALICE), info("G2", GROUP, document, T0)],
    )
    batches = await history_batches(sync(long, other, progress=40), OWN, size=3)
    assert [sum(len(c.messages) for c in b.chats) for b in batches] == [3, 3, 3]
    pending = batches[-1].chats[-1].messages[-1].pending_media
    assert pending is not None and (pending.filename, pending.size) == ("a.pdf", None)
    assert [c.jid for b in batches for c in b.chats] == [ALICE, ALICE, ALICE, GROUP]
    assert [c.unread for b in batches for c in b.chats] == [2, None, None, None]
    assert not any(b.final for b in batches)  # progress 40: more parts will come
    assert batches[0].push_names and not batches[1].push_names
    for batch in batches:
        frame = protocol.encode({"event": protocol.event_to_wire(batch)})
        wire = protocol.decode(frame[protocol.HEADER.size :])
        back = protocol.event_from_wire(wire["event"])
        assert isinstance(back, HistoryBatch) and back == batch
    # Without a progress, no part claims to be the last.
    [batch] = await history_batches(sync(other, progress=None), OWN)
    assert batch.progress is None and not batch.final
