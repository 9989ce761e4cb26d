"""Writes of the history store. Callers hand in a connection or session and commit.

A message is kept once, keyed by (instance, message_id, chat): an inbound that arrives twice,
the echo of a message wagate sent itself and a receipt all land on the same row. Rows are
written in batches (the inbound handler and the sender group-commit them), and each batch
updates the chats it touched in one more statement.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, case, delete, exists, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql.dml import Insert

from wagate.db import Executor, any_of, dialect_of, utcnow
from wagate.engines.base import InboundMessage
from wagate.models import Chat, ChatMessage, Contact, PendingMessageChange
from wagate.repository.bulk import insert_many, update_many

CHAT_MESSAGES = cast(Table, ChatMessage.__table__)
CHATS = cast(Table, Chat.__table__)
CONTACTS = cast(Table, Contact.__table__)
PENDING = cast(Table, PendingMessageChange.__table__)

RECEIVED = "received"
SENT = "sent"
# The statuses of a message of one's own, in the only order a receipt may move them.
STATUS_ORDER = (SENT, "delivered", "read", "played")
SUMMARY_CHARS = 120  # of the last message's text in the chat list


def later_status(kept: str, recorded: str | None) -> str:
    """What the history shows of one of its messages: its kept status, or its send record's
    (wagate's own sends: their delivered and read receipts are kept on the record alone, see
    `advance_status`) when that one is further on."""
    if recorded not in STATUS_ORDER or kept not in STATUS_ORDER:
        return kept
    return max(kept, recorded, key=STATUS_ORDER.index)


def chat_kind(jid: str) -> str:
    return "group" if jid.endswith("@g.us") else "direct"


def _insert(executor: Executor) -> Any:
    return sqlite_insert if dialect_of(executor).name == "sqlite" else pg_insert


@dataclass(frozen=True, slots=True)
class OwnSend:
    """A message wagate sent, as the sender records it."""

    instance_id: int
    chat: str
    message_id: str
    kind: str
    body: dict[str, Any]
    timestamp: datetime
    correlation_id: str
    media: dict[str, Any] | None = None  # mimetype, size, filename of what was sent


EXTRA_FIELDS = ("location", "contacts", "poll")


def inbound_row(instance_id: int, message: InboundMessage) -> dict[str, Any]:
    extra = {name: getattr(message, name) for name in EXTRA_FIELDS if getattr(message, name)}
    if message.view_once:
        extra["view_once"] = True
    media = None
    if message.media is not None:
        media = {
            "mimetype": message.media.mimetype,
            "size": len(message.media.data),
            "filename": message.media.filename,
        }
    return _row(
        instance_id=instance_id,
        chat=message.chat,
        message_id=message.message_id,
        sender=message.sender,
        from_me=message.from_me,
        kind=message.kind,
        text=message.text,
        caption=message.caption,
        timestamp=message.timestamp,
        status=SENT if message.from_me else RECEIVED,
        reply_to=message.reply_to,
        media=media,
        extra=extra or None,
        correlation_id=None,
    )


BODY_TEXT = ("text", "caption")
NOT_EXTRA = {"text", "caption", "reply_to", "mentions", "media", "url", "base64", "mimetype"}


def sent_row(send: OwnSend) -> dict[str, Any]:
    body = send.body
    extra = {key: value for key, value in body.items() if key not in NOT_EXTRA}
    return _row(
        instance_id=send.instance_id,
        chat=send.chat,
        message_id=send.message_id,
        sender=None,
        from_me=True,
        kind=send.kind,
        text=body.get("text"),
        caption=body.get("caption"),
        timestamp=send.timestamp,
        status=SENT,
        reply_to=body.get("reply_to"),
        media=send.media,
        extra=extra or None,
        correlation_id=send.correlation_id,
    )


def _row(**values: Any) -> dict[str, Any]:
    values.update(edited_text=None, edited_at=None, revoked_at=None, reactions=None, media_key=None)
    return values


KEY = ("instance_id", "message_id", "chat")


def _key(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(row[name] for name in KEY)


async def _known_ids(executor: Executor, rows: Sequence[dict[str, Any]]) -> set[tuple[int, str]]:
    """(instance, message_id) of these rows already kept, whatever chat they were kept under."""
    found = await executor.execute(
        select(CHAT_MESSAGES.c.instance_id, CHAT_MESSAGES.c.message_id).where(
            any_of(CHAT_MESSAGES.c.instance_id, {row["instance_id"] for row in rows}),
            any_of(CHAT_MESSAGES.c.message_id, {row["message_id"] for row in rows}),
        )
    )
    return {(instance_id, message_id) for instance_id, message_id in found.all()}


async def write_inbound(
    executor: Executor, rows: Sequence[dict[str, Any]], push_names: dict[tuple[int, str], str]
) -> int:
    """Keep what arrived (`inbound_row`s) and the senders' push names; returns how many rows
    are new. A message of one's own (sent from the phone, or the echo of wagate's own send)
    whose id is kept already is not written again, even under another form of its chat."""
    return len(await write_new(executor, rows, push_names))


async def write_new(
    executor: Executor, rows: Sequence[dict[str, Any]], push_names: dict[tuple[int, str], str]
) -> list[dict[str, Any]]:
    """`write_inbound`, returning the rows that are new."""
    unique = list({_key(row): row for row in rows}.values())
    own = [row for row in unique if row["from_me"]]
    if own:
        known = await _known_ids(executor, own)
        unique = [
            row
            for row in unique
            if not (row["from_me"] and (row["instance_id"], row["message_id"]) in known)
        ]
    new: list[dict[str, Any]] = []
    if unique:
        inserted = set(
            await insert_many(executor, CHAT_MESSAGES, unique, conflict=_keep_first, returning=KEY)
        )
        new = [row for row in unique if _key(row) in inserted]
        await _touch_chats(executor, new, push_names)
        await apply_pending(executor, new)
    if push_names:
        await _save_contacts(executor, push_names)
    return new


CHAT_STATE = ("archived", "pinned", "muted_until")  # what the chat settings write
OWN = "me"  # who reacted, in `reactions`, for a reaction sent by this account


async def write_sent(executor: Executor, sends: Sequence[OwnSend]) -> None:
    """Keep wagate's own sends, linked to their send records by correlation_id. An echo that
    was kept first (it raced the send's record) gets the link. A reaction is kept on the
    message it names, as the reactions received are."""
    for send in sends:
        if send.kind == "reaction" and send.body.get("message_id"):
            target, emoji = str(send.body["message_id"]), str(send.body.get("emoji") or "")
            await add_reaction(executor, send.instance_id, target, OWN, emoji)
    messages = [send for send in sends if send.kind != "reaction"]
    rows = list({_key(row): row for row in map(sent_row, messages)}.values())
    if not rows:
        return
    await insert_many(executor, CHAT_MESSAGES, rows, conflict=_link_send)
    await _touch_chats(executor, rows, {})
    await apply_pending(executor, rows)


def _keep_first(insert: Any) -> Any:
    return insert.on_conflict_do_nothing()


def _link_send(insert: Any) -> Any:
    """A message kept already (its echo came first) gets the send's correlation id."""
    return insert.on_conflict_do_update(
        index_elements=list(KEY), set_={"correlation_id": insert.excluded.correlation_id}
    )


def summary(row: dict[str, Any]) -> dict[str, Any]:
    """What the chat list shows of a chat's last message."""
    text = row.get("text") or row.get("caption")
    return {
        "message_id": row["message_id"],
        "kind": row["kind"],
        "from_me": row["from_me"],
        "text": text[:SUMMARY_CHARS] if text else None,
        "timestamp": row["timestamp"].isoformat(),
    }


def chat_updates(
    rows: Sequence[dict[str, Any]], push_names: dict[tuple[int, str], str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The chats' new values from the messages just kept: (chats whose unread count grows,
    chats whose count restarts). A message of one's own in a chat means it was read there:
    the count restarts from the messages received after it."""
    by_chat: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for row in rows:
        by_chat.setdefault((row["instance_id"], row["chat"]), []).append(row)
    grow: list[dict[str, Any]] = []
    restart: list[dict[str, Any]] = []
    for (instance_id, jid), items in by_chat.items():
        items.sort(key=lambda item: item["timestamp"])
        last = items[-1]
        own = [index for index, item in enumerate(items) if item["from_me"]]
        after = items[own[-1] + 1 :] if own else items
        kind = chat_kind(jid)
        values = {
            "instance_id": instance_id,
            "jid": jid,
            "name": push_names.get((instance_id, jid)) if kind == "direct" else None,
            "kind": kind,
            "unread": sum(1 for item in after if not item["from_me"]),
            "last_activity_at": last["timestamp"],
            "last_message_at": last["timestamp"],
            "last_message": summary(last),
            "archived": False,
            "pinned": False,
        }
        (restart if own else grow).append(values)
    return grow, restart


async def _touch_chats(
    executor: Executor, rows: Sequence[dict[str, Any]], push_names: dict[tuple[int, str], str]
) -> None:
    grow, restart = chat_updates(rows, push_names)
    for values, restarts in ((grow, False), (restart, True)):
        if values:
            await executor.execute(_chat_upsert(_insert(executor)(CHATS), restarts), values)


def _chat_upsert(insert: Insert, restarts: bool) -> Any:
    new = cast(Any, insert).excluded
    table = CHATS.c
    newer = or_(table.last_message_at.is_(None), new.last_message_at >= table.last_message_at)
    return cast(Any, insert).on_conflict_do_update(
        index_elements=["instance_id", "jid"],
        set_={
            "last_activity_at": case((newer, new.last_activity_at), else_=table.last_activity_at),
            "last_message_at": case((newer, new.last_message_at), else_=table.last_message_at),
            "last_message": case((newer, new.last_message), else_=table.last_message),
            "name": func.coalesce(new.name, table.name),
            "unread": new.unread if restarts else table.unread + new.unread,
        },
    )


async def _save_contacts(executor: Executor, push_names: dict[tuple[int, str], str]) -> None:
    now = utcnow()
    values = [
        {"instance_id": instance_id, "jid": jid, "push_name": name, "updated_at": now}
        for (instance_id, jid), name in push_names.items()
    ]
    insert = _insert(executor)(CONTACTS)
    await executor.execute(
        insert.on_conflict_do_update(
            index_elements=["instance_id", "jid"],
            set_={"push_name": insert.excluded.push_name, "updated_at": insert.excluded.updated_at},
        ),
        values,
    )


# --- what later events change of a kept message ----------------------------------------------


# A status's place in STATUS_ORDER, in SQL (-1 for received: no receipt applies to it).
def _rank(status: Any) -> Any:
    return case({status: rank for rank, status in enumerate(STATUS_ORDER)}, value=status, else_=-1)


def _moves_forward(value: Callable[[str], Any]) -> Any:
    """A receipt changes a kept message's status only to a later one (not a received one's)."""
    current = _rank(CHAT_MESSAGES.c.status)
    return and_(current >= 0, _rank(value("status")) > current)


async def advance_status(executor: Executor, receipts: Sequence[tuple[int, str, str]]) -> None:
    """Receipts as (instance, message_id, status: delivered | read | played): each moves its
    message forward only (a late delivered after a read changes nothing), in one statement."""
    latest: dict[tuple[int, str], str] = {}
    for instance_id, message_id, status in receipts:
        if status not in STATUS_ORDER:
            continue
        before = latest.get((instance_id, message_id))
        latest[(instance_id, message_id)] = later_status(before, status) if before else status
    await update_many(
        executor,
        CHAT_MESSAGES,
        ["instance_id", "message_id"],
        [{"instance_id": i, "message_id": m, "status": s} for (i, m), s in latest.items()],
        where=_moves_forward,
    )


def _message(instance_id: int, message_id: str) -> Any:
    return and_(
        CHAT_MESSAGES.c.instance_id == instance_id, CHAT_MESSAGES.c.message_id == message_id
    )


async def mark_edited(
    executor: Executor, instance_id: int, message_id: str, text: str, at: datetime
) -> bool:
    """The message now reads `text` (the original stays in `text`/`caption`). Whether it is
    kept here; one not kept yet gets the edit when it lands (`apply_pending`)."""
    result = await executor.execute(
        _EDIT.where(_message(instance_id, message_id)), {"t": text, "at": at}
    )
    if cast(Any, result).rowcount:
        return True
    if not await _kept(executor, instance_id, message_id):  # not there yet, or never will be
        await _pend(executor, instance_id, message_id, {"edited_text": text, "edited_at": at})
    return False


async def mark_revoked(executor: Executor, instance_id: int, message_id: str, at: datetime) -> bool:
    """Deleted for everyone: its words and its media go (as on the phones), the row stays as
    a marker. One not kept yet is revoked when it lands (`apply_pending`)."""
    result = await executor.execute(_REVOKE.where(_message(instance_id, message_id)), {"at": at})
    if cast(Any, result).rowcount:
        return True
    await _pend(executor, instance_id, message_id, {"revoked_at": at})
    return False


# What an edit and a revoke write, whether they find the row at once or when it lands. A revoke
# drops the media reference: the object goes with the last row that refers to it.
_EDIT = (
    update(CHAT_MESSAGES)
    .where(CHAT_MESSAGES.c.revoked_at.is_(None))
    .values(edited_text=bindparam("t"), edited_at=bindparam("at"))
)
_REVOKE = update(CHAT_MESSAGES).values(
    revoked_at=bindparam("at"),
    text=None,
    caption=None,
    edited_text=None,
    media=None,
    media_key=None,
)


async def _kept(executor: Executor, instance_id: int, message_id: str) -> bool:
    found = await executor.execute(select(exists().where(_message(instance_id, message_id))))
    return bool(found.scalar())


async def _pend(
    executor: Executor, instance_id: int, message_id: str, change: dict[str, Any]
) -> None:
    """Remember a change of a message not kept yet (a revoke stays over a later edit)."""
    values = {"instance_id": instance_id, "message_id": message_id, "created_at": utcnow()}
    insert = _insert(executor)(PENDING).values(**values, **change)
    await executor.execute(
        insert.on_conflict_do_update(index_elements=["instance_id", "message_id"], set_=change)
    )
    # The row may have been committed since the update missed it (PostgreSQL writers run
    # side by side), after its own writer looked for changes: applied here then.
    await apply_pending(executor, [{"instance_id": instance_id, "message_id": message_id}])


async def apply_pending(executor: Executor, rows: Sequence[dict[str, Any]]) -> None:
    """The edits and revokes that arrived before these rows were kept (the batched write of a
    send or a received message raced them), applied now and forgotten."""
    if not rows:
        return
    table = PENDING.c
    found = (
        await executor.execute(
            select(
                table.instance_id,
                table.message_id,
                table.edited_text,
                table.edited_at,
                table.revoked_at,
            ).where(
                any_of(table.instance_id, {row["instance_id"] for row in rows}),
                any_of(table.message_id, {row["message_id"] for row in rows}),
            )
        )
    ).all()
    wanted = {(row["instance_id"], row["message_id"]) for row in rows}
    for instance_id, message_id, text, edited_at, revoked_at in found:
        if (instance_id, message_id) not in wanted:
            continue
        where = _message(instance_id, message_id)
        if revoked_at is not None:
            done = await executor.execute(_REVOKE.where(where), {"at": revoked_at})
        else:
            done = await executor.execute(_EDIT.where(where), {"t": text, "at": edited_at})
        if cast(Any, done).rowcount:  # else still waiting for its message
            await executor.execute(
                delete(PENDING).where(
                    table.instance_id == instance_id, table.message_id == message_id
                )
            )


async def forget_pending(executor: Executor, before: datetime) -> int:
    """Drop the changes whose message never came (an edit of a message older than the
    history); returns how many."""
    result = await executor.execute(delete(PENDING).where(PENDING.c.created_at < before))
    return int(cast(Any, result).rowcount or 0)


async def add_reaction(
    executor: Executor, instance_id: int, message_id: str, sender: str, emoji: str
) -> bool:
    """`sender` reacted with `emoji` (an empty one takes the reaction back)."""
    found = await executor.execute(
        select(CHAT_MESSAGES.c.id, CHAT_MESSAGES.c.reactions).where(
            _message(instance_id, message_id)
        )
    )
    rows = found.all()
    for pk, current in rows:
        reactions = dict(current or {})
        if emoji:
            reactions[sender] = emoji
        else:
            reactions.pop(sender, None)
        await executor.execute(
            update(CHAT_MESSAGES)
            .where(CHAT_MESSAGES.c.id == pk)
            .values(reactions=reactions or None)
        )
    return bool(rows)


def media_reference(
    key: str | None, mimetype: str, size: int | None, filename: str | None, url: str
) -> dict[str, Any]:
    """What the history shows of a message's media: its object in the media store (`key`;
    null while a history message's media is not fetched, or when it could not be), what it
    is, and the gateway's route that serves it (`url`)."""
    return {"key": key, "mimetype": mimetype, "size": size, "filename": filename, "url": url}


async def set_media(
    executor: Executor, instance_id: int, message_id: str, reference: dict[str, Any]
) -> bool:
    """Where the media store keeps the message's media (its id/key, mimetype, size). The key
    (None: the media could not be fetched) keeps the object in the store while the row lasts.
    A revoked message gets none."""
    result = await executor.execute(
        update(CHAT_MESSAGES)
        .where(_message(instance_id, message_id), CHAT_MESSAGES.c.revoked_at.is_(None))
        .values(media=reference, media_key=reference.get("key"))
    )
    return bool(cast(Any, result).rowcount)


async def set_chat_state(
    executor: Executor, instance_id: int, jid: str, state: dict[str, Any]
) -> None:
    """Set a chat's `archived`, `pinned` or `muted_until` (the keys given), creating the chat
    when no message made it yet."""
    allowed: dict[str, Any] = {key: state[key] for key in CHAT_STATE if key in state}
    values: dict[str, Any] = {
        "instance_id": instance_id,
        "jid": jid,
        "kind": chat_kind(jid),
        "unread": 0,
        "last_activity_at": utcnow(),
        "archived": False,
        "pinned": False,
        **allowed,
    }
    insert = _insert(executor)(CHATS).values(values)
    if not allowed:
        await executor.execute(insert.on_conflict_do_nothing())
        return
    await executor.execute(
        insert.on_conflict_do_update(index_elements=["instance_id", "jid"], set_=allowed)
    )


async def mark_chat_read(executor: Executor, instance_id: int, jid: str) -> None:
    """The chat was read (its messages up to the newest): nothing in it is unread."""
    await executor.execute(
        update(CHATS)
        .where(CHATS.c.instance_id == instance_id, CHATS.c.jid == jid, CHATS.c.unread != 0)
        .values(unread=0)
    )
