"""All tables, on one metadata so that Alembic sees them together."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Mapped, mapped_column

from wagate.db import Base, UtcDateTime, utcnow
from wagate.message_status import MessageStatus

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class KeyValue(Base):
    """Small gateway-wide facts (the generated admin token's hash)."""

    __tablename__ = "key_values"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Instance(Base):
    __tablename__ = "instances"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    engine: Mapped[str] = mapped_column(String(32))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="disconnected")
    # What the user asked for last: "connected" (connect/restart) or "stopped"; decides
    # whether the instance is reconnected when a node starts or takes it over.
    desired_state: Mapped[str] = mapped_column(String(16), default="stopped")
    jid: Mapped[str | None] = mapped_column(String(128))
    # The exact device it linked as ("5511...:7@s.whatsapp.net"): several instances may link
    # the same number, and only this tells their devices apart in a shared device store.
    device_jid: Mapped[str | None] = mapped_column(String(128))
    phone: Mapped[str | None] = mapped_column(String(32))
    last_error: Mapped[str | None] = mapped_column(Text)
    # The QR code on screen while pairing, so that any node can serve GET /qr.
    qr_code: Mapped[str | None] = mapped_column(Text)
    qr_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    connected_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_event_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    node: Mapped[str | None] = mapped_column(String(128))
    # The fencing token of the lease under which `node` holds the instance (cluster mode):
    # writes of a holder whose token is older are refused.
    fencing_token: Mapped[int | None] = mapped_column(BigInteger)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    webhook: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    # The instance list filtered by status, paged by id (GET /v1/instances?status=).
    __table_args__ = (Index("ix_instances_status_id", "status", "id"),)


class SimulatorDevice(Base):
    """The simulated phone linked to a simulator instance (survives gateway restarts)."""

    __tablename__ = "simulator_devices"
    instance_id: Mapped[int] = mapped_column(
        ForeignKey("instances.id", ondelete="CASCADE"), primary_key=True
    )
    jid: Mapped[str] = mapped_column(String(128))
    phone: Mapped[str] = mapped_column(String(32))
    linked_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class SimulatorOutbox(Base):
    """What the simulated WhatsApp network received from a simulator instance."""

    __tablename__ = "simulator_outbox"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    instance_id: Mapped[int] = mapped_column(
        ForeignKey("instances.id", ondelete="CASCADE"), index=True
    )
    message_id: Mapped[str] = mapped_column(String(64), unique=True)
    to: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    node: Mapped[str | None] = mapped_column(String(128))
    sent_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class SimulatorInbox(Base):
    """What the simulated contacts sent to a simulator instance: what it may reply to, react
    to, forward or vote in, and what a contact may later edit or revoke."""

    __tablename__ = "simulator_inbox"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    instance_id: Mapped[int] = mapped_column(
        ForeignKey("instances.id", ondelete="CASCADE"), index=True
    )
    message_id: Mapped[str] = mapped_column(String(64), unique=True)
    chat: Mapped[str] = mapped_column(String(128))
    sender: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class SimulatorConnection(Base):
    """One live simulator connection: lets tests prove no instance is connected twice."""

    __tablename__ = "simulator_connections"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    instance_id: Mapped[int] = mapped_column(
        ForeignKey("instances.id", ondelete="CASCADE"), index=True
    )
    node: Mapped[str] = mapped_column(String(128))
    connected_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    disconnected_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class SimulatorAccount(Base):
    """A simulator instance's own WhatsApp account: profile and privacy (the phone keeps them
    across devices and restarts)."""

    __tablename__ = "simulator_accounts"
    instance_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("instances.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str | None] = mapped_column(String(128))
    about: Mapped[str | None] = mapped_column(String(256))
    picture_id: Mapped[str | None] = mapped_column(String(64))
    privacy: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class SimulatorContact(Base):
    """Someone a simulator instance has met on the simulated network, as WhatsApp shows them:
    their own name, about, picture and LID."""

    __tablename__ = "simulator_contacts"
    instance_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("instances.id", ondelete="CASCADE"), primary_key=True
    )
    jid: Mapped[str] = mapped_column(String(128), primary_key=True)
    lid: Mapped[str] = mapped_column(String(128), index=True)
    push_name: Mapped[str | None] = mapped_column(String(128))
    about: Mapped[str | None] = mapped_column(String(256))
    picture_id: Mapped[str | None] = mapped_column(String(64))
    business_name: Mapped[str | None] = mapped_column(String(128))


class SimulatorBlock(Base):
    """A contact a simulator instance blocked."""

    __tablename__ = "simulator_blocks"
    instance_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("instances.id", ondelete="CASCADE"), primary_key=True
    )
    contact: Mapped[str] = mapped_column(String(128), primary_key=True)
    blocked_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class SimulatorChat(Base):
    """A chat's settings as a simulator instance's devices share them."""

    __tablename__ = "simulator_chats"
    instance_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("instances.id", ondelete="CASCADE"), primary_key=True
    )
    chat: Mapped[str] = mapped_column(String(128), primary_key=True)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    muted_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    disappearing_s: Mapped[int] = mapped_column(Integer, default=0)


class SimulatorGroup(Base):
    """A group of the simulated WhatsApp network, shared by every simulator instance."""

    __tablename__ = "simulator_groups"
    jid: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject: Mapped[str] = mapped_column(String(128))
    description: Mapped[str | None] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    announce: Mapped[bool] = mapped_column(Boolean, default=False)
    locked: Mapped[bool] = mapped_column(Boolean, default=False)
    join_approval: Mapped[bool] = mapped_column(Boolean, default=False)
    ephemeral_s: Mapped[int] = mapped_column(Integer, default=0)
    # A digest of the picture's bytes, None without one: the network only shows whether and
    # when it changed.
    picture: Mapped[str | None] = mapped_column(String(64))
    invite_code: Mapped[str] = mapped_column(String(32), unique=True)


class SimulatorGroupMember(Base):
    """A participant of a simulated group, with its role (member, admin, superadmin)."""

    __tablename__ = "simulator_group_members"
    group_jid: Mapped[str] = mapped_column(
        ForeignKey("simulator_groups.jid", ondelete="CASCADE"), primary_key=True
    )
    jid: Mapped[str] = mapped_column(String(128), primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(16), default="member")
    # Kept to order the participants as they joined (and to pick the next admin).
    joined_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class SimulatorGroupRequest(Base):
    """A pending request to join a simulated group that needs an admin's approval."""

    __tablename__ = "simulator_group_requests"
    group_jid: Mapped[str] = mapped_column(
        ForeignKey("simulator_groups.jid", ondelete="CASCADE"), primary_key=True
    )
    jid: Mapped[str] = mapped_column(String(128), primary_key=True)
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class SimulatorGroupNotice(Base):
    """A group event for a simulator instance connected to another node of the cluster: that
    node hands it to the instance's client (WhatsApp notifies every member wherever it is)."""

    __tablename__ = "simulator_group_notices"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    node: Mapped[str] = mapped_column(String(128), index=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    event: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Message(Base):
    """One outbound send, sync or async: the record behind GET /messages/{correlation_id}."""

    __tablename__ = "messages"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    correlation_id: Mapped[str] = mapped_column(String(64), unique=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    to: Mapped[str] = mapped_column(String(128))
    to_jid: Mapped[str] = mapped_column(String(128))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default=MessageStatus.QUEUED.value)
    message_id: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    dead_lettered: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # After the send: the text or caption it was edited to, when it was revoked ("everyone",
    # or "me": deleted on this device only), and where it was forwarded ([{to, message_id,
    # at}]). Forgotten with the body when retention blanks it.
    edited_text: Mapped[str | None] = mapped_column(Text)
    edited_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_for: Mapped[str | None] = mapped_column(String(16))
    forwards: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    # While the instance's send policy holds it (still `queued`): until when, and the rule
    # (wagate.policy.rules). Cleared when it is sent.
    held_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    held_by: Mapped[str | None] = mapped_column(String(32))

    __table_args__ = (
        Index("ix_messages_instance_status_id", "instance_id", "status", "id"),
        # Partial (migration 0013), as the next: a status change writes an entry into every
        # index whose condition the new row meets. A message has no WhatsApp id until it is
        # sent (its insert and its claim), and is not a dead letter four times in its life.
        Index(
            "ix_messages_message_id",
            "message_id",
            sqlite_where=sql_text("message_id IS NOT NULL"),
            postgresql_where=sql_text("message_id IS NOT NULL"),
        ),
        Index(
            "ix_messages_dead_lettered",
            "id",
            sqlite_where=sql_text("dead_lettered IS 1"),
            postgresql_where=sql_text("dead_lettered IS true"),
        ),
    )


class OutgoingMedia(Base):
    """Media bytes of a queued send, so that any node's worker can send it."""

    __tablename__ = "outgoing_media"
    message_pk: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True
    )
    mimetype: Mapped[str] = mapped_column(String(128))
    filename: Mapped[str | None] = mapped_column(String(255))
    data: Mapped[bytes] = mapped_column(LargeBinary)


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)

    __table_args__ = (UniqueConstraint("instance_id", "key", name="uq_idempotency_instance_key"),)


class ReceivedMedia(Base):
    """A received media message: what it is and where its bytes are in the media store (by
    content key), kept for WAGATE_MEDIA_RETENTION_S."""

    __tablename__ = "received_media"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    message_id: Mapped[str] = mapped_column(String(128))
    mimetype: Mapped[str] = mapped_column(String(128))
    filename: Mapped[str | None] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    media_key: Mapped[str] = mapped_column(String(64), index=True)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)

    __table_args__ = (
        UniqueConstraint("instance_id", "message_id", name="uq_received_media_instance_message"),
    )


class MediaObject(Base):
    """One object of the media store (wagate.media_store), by content key. The rows that refer
    to it (received_media.media_key, chat_messages.media_key) are what keeps it: the sweep
    deletes an object no row has referred to for WAGATE_MEDIA_SWEEP_GRACE_S
    (wagate.media_store.refs)."""

    __tablename__ = "media_objects"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # Set each time a row is about to refer to it: the sweep leaves it alone for the grace.
    touched_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    # Set by the sweep while it deletes the object: no writer relies on it meanwhile.
    deleting_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class WebhookDelivery(Base):
    """One event on its way to one URL (the outbox row); attempts are recorded beside it."""

    __tablename__ = "webhook_deliveries"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(40), index=True)
    instance_id: Mapped[int | None] = mapped_column(
        ForeignKey("instances.id", ondelete="CASCADE"), index=True
    )
    event: Mapped[str] = mapped_column(String(32))
    url: Mapped[str] = mapped_column(Text)
    # "instance" or "global": which webhook's secret signs it (looked up at send time,
    # so a rotated secret applies to pending deliveries and no secret is copied here).
    target: Mapped[str] = mapped_column(String(16))
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # The latest try (migration 0017). webhook_attempts holds the tries that were not accepted:
    # the accepted one is on this row (a delivery's history is both, `history_of`).
    last_attempted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_duration_ms: Mapped[int | None] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Set by the worker that claimed the row, with its lease (`claimed_until`: the row falls
    # due again then, should the worker die); the outcome is written only while the token
    # still matches, so a node whose lease expired cannot overwrite what another node
    # recorded after it. The lease has a column of its own (migration 0015), which no index
    # holds: a claim changes no indexed column and PostgreSQL writes it in place.
    claim_token: Mapped[str | None] = mapped_column(String(32))
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    # Partial (migration 0013): only the pending rows, those a claim looks for. A query
    # meant to use it says `status = 'pending'` as a literal (`PENDING_ROWS` in its
    # repository): with a parameter the planner cannot prove a row is in the index.
    __table_args__ = (
        Index(
            "ix_webhook_deliveries_due",
            "next_attempt_at",
            sqlite_where=sql_text("status = 'pending'"),
            postgresql_where=sql_text("status = 'pending'"),
        ),
    )


class WebhookAttempt(Base):
    """A try of a delivery that is not on the delivery row: one not accepted, or an accepted
    one whose outcome another claim had already written (`repository.record_outcomes`)."""

    __tablename__ = "webhook_attempts"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    attempted_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer)


class Node(Base):
    """A gateway node of the cluster and its heartbeat."""

    __tablename__ = "nodes"
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    # Where the other nodes reach this one to forward lifecycle calls (WAGATE_INTERNAL_URL).
    address: Mapped[str | None] = mapped_column(String(255))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # Set when the node stops cleanly (or starts draining): it no longer counts as live.
    stopped_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class SinkDelivery(Base):
    """One event on its way to one broker transport (RabbitMQ, NATS): the outbox row of a
    durable sink, with its own delivery state per sink. No foreign key to the instance: the
    events of an instance deleted meanwhile (its last disconnection among them) still go out.
    """

    __tablename__ = "sink_deliveries"
    # Ascending in the order the events were written: the order of an instance's events on
    # the broker is the order of these ids.
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    sink: Mapped[str] = mapped_column(String(16))
    event_id: Mapped[str] = mapped_column(String(40), index=True)
    instance_id: Mapped[int] = mapped_column(BigId)
    instance: Mapped[str] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(32))
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # As on webhook_deliveries: the outcome lands only while the claim token still holds.
    claim_token: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (
        # The claim: an instance's first pending row (its head) and the rows behind it.
        Index("ix_sink_deliveries_instance", "sink", "instance_id", "status", "id"),
        Index("ix_sink_deliveries_due", "sink", "status", "next_attempt_at"),
        Index("ix_sink_deliveries_finished", "status", "created_at"),
    )


class InstanceSinkFilter(Base):
    """The events of one instance that one broker transport publishes (as a webhook's
    `events`); no row: every event the transport's own filter lets through."""

    __tablename__ = "instance_sink_filters"
    instance_id: Mapped[int] = mapped_column(
        ForeignKey("instances.id", ondelete="CASCADE"), primary_key=True
    )
    sink: Mapped[str] = mapped_column(String(16), primary_key=True)
    events: Mapped[list[str]] = mapped_column(JSON)


class ChatMessage(Base):
    """One message of an instance's conversations, either way, kept once (the history store).

    The full-text index over `text` and `caption` is dialect-specific and lives in the
    migration (0007_store): a generated tsvector column with a GIN index on PostgreSQL, an FTS5
    table kept by triggers on SQLite."""

    __tablename__ = "chat_messages"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    chat: Mapped[str] = mapped_column(String(128))
    message_id: Mapped[str] = mapped_column(String(128))
    sender: Mapped[str | None] = mapped_column(String(128))
    from_me: Mapped[bool] = mapped_column(Boolean)
    kind: Mapped[str] = mapped_column(String(16))
    text: Mapped[str | None] = mapped_column(Text)
    caption: Mapped[str | None] = mapped_column(Text)
    timestamp: Mapped[datetime] = mapped_column(UtcDateTime)
    # received | sent | delivered | read | played: a receipt only moves it forward.
    status: Mapped[str] = mapped_column(String(16))
    edited_text: Mapped[str | None] = mapped_column(Text)
    edited_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    reply_to: Mapped[str | None] = mapped_column(String(128))
    reactions: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # sender -> emoji
    # A reference into the media store (id/key, mimetype, size, filename), never the bytes.
    media: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The media's object in the store (media["key"]), while the message keeps it: a column of
    # its own so that the media sweep counts it as a reference (wagate.media_store.refs).
    media_key: Mapped[str | None] = mapped_column(String(64))
    extra: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # location, contacts, poll
    correlation_id: Mapped[str | None] = mapped_column(String(64))  # wagate's own send

    __table_args__ = (
        # The key: message_id first, so that a receipt (which may name the chat differently,
        # a LID for a phone number) finds its row by (instance, message_id) on this index.
        UniqueConstraint("instance_id", "message_id", "chat", name="uq_chat_messages_key"),
        # A chat's pages, newest first, keyset on (timestamp, id).
        Index("ix_chat_messages_chat_time", "instance_id", "chat", "timestamp", "id"),
        # Retention and search order: an instance's messages by time.
        Index("ix_chat_messages_instance_time", "instance_id", "timestamp", "id"),
        # The media sweep's "is this object referred to": only the messages with media.
        Index(
            "ix_chat_messages_media_key",
            "media_key",
            sqlite_where=sql_text("media_key IS NOT NULL"),
            postgresql_where=sql_text("media_key IS NOT NULL"),
        ),
    )


class PendingMessageChange(Base):
    """An edit or revoke of a message not kept yet (it raced the batched write of the message):
    applied when the message's row lands (wagate.history.repository.store), dropped after a
    while when it never does (a message older than the history)."""

    __tablename__ = "pending_message_changes"
    instance_id: Mapped[int] = mapped_column(
        ForeignKey("instances.id", ondelete="CASCADE"), primary_key=True
    )
    message_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    edited_text: Mapped[str | None] = mapped_column(Text)
    edited_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)


class Chat(Base):
    """A conversation of an instance: its summary for the chat list and its state."""

    __tablename__ = "chats"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    jid: Mapped[str] = mapped_column(String(128))
    name: Mapped[str | None] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))  # direct | group
    unread: Mapped[int] = mapped_column(Integer, default=0)
    # The chat list's order: the last message's time once there is one, else the chat's
    # creation (a chat whose state was set before any message).
    last_activity_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_message_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_message: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # its summary
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    muted_until: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (
        UniqueConstraint("instance_id", "jid", name="uq_chats_instance_jid"),
        Index("ix_chats_activity", "instance_id", "last_activity_at", "id"),
    )


class Contact(Base):
    """A person an instance heard from, with the name they gave themselves (push name)."""

    __tablename__ = "contacts"
    instance_id: Mapped[int] = mapped_column(
        ForeignKey("instances.id", ondelete="CASCADE"), primary_key=True
    )
    jid: Mapped[str] = mapped_column(String(128), primary_key=True)
    push_name: Mapped[str | None] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class SendPolicy(Base):
    """An instance's send policy (what it changes of the defaults) and its circuit breaker:
    in the database, so that every node sees a pause and a failover keeps it."""

    __tablename__ = "send_policies"
    instance_id: Mapped[int] = mapped_column(
        ForeignKey("instances.id", ondelete="CASCADE"), primary_key=True
    )
    policy: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Day 1 of the warm-up: the first send after the number was linked (or a reset).
    warmup_started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    paused_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    paused_reason: Mapped[str | None] = mapped_column(String(64))
    # How many times the breaker opened in a row: the cool-down grows with it.
    trips: Mapped[int] = mapped_column(Integer, default=0)
    last_trip_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class SendCounter(Base):
    """One counter of the send policy in embedded mode (Redis keeps them in a cluster): the
    count of its current window; a count of an older window reads as zero."""

    __tablename__ = "send_counters"
    instance_id: Mapped[int] = mapped_column(
        ForeignKey("instances.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    window: Mapped[int] = mapped_column(BigInteger)
    count: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
