"""What the simulated network does with the changes to messages after the send: edits,
revokes, forwards, reactions, pins and poll votes of the instance (each an outbox row of its
own kind), and the same changes made by a simulated contact (the events WhatsApp would send).

The messages they name are looked up where the simulated network keeps them: the outbox
(what the instance sent) and the inbox (what the contacts sent it), both in the database, so
a restarted gateway or another node finds them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from wagate.db import utcnow
from wagate.engines.actions import (
    EDIT_MESSAGE,
    FORWARD_MESSAGE,
    PIN_MESSAGE,
    REACT,
    REVOKE_MESSAGE,
    VOTE,
    EditRequest,
    ForwardRequest,
    PinRequest,
    ReactRequest,
    RevokeRequest,
    VoteRequest,
    handle,
)
from wagate.engines.actions.edits import EDIT_WINDOW, EDITABLE_KINDS
from wagate.engines.actions.spec import Handler
from wagate.engines.base import (
    InboundMessage,
    MessageEdited,
    MessageRevoked,
    PermanentEngineError,
    PollVote,
    SendResult,
)
from wagate.engines.simulator.repository import messages
from wagate.models import SimulatorInbox

if TYPE_CHECKING:
    from wagate.engines.simulator.engine import SimulatorClient

CAPTIONED = frozenset(EDITABLE_KINDS) - {"text"}


@dataclass(frozen=True, slots=True)
class Found:
    """A message the simulated network knows: sent by the instance (`from_me`) or received."""

    message_id: str
    chat: str
    sender: str
    from_me: bool
    kind: str
    body: dict[str, Any]
    at: datetime


def not_found(chat: str, message_id: str) -> PermanentEngineError:
    return PermanentEngineError(
        f"no message '{message_id}' in chat {chat}", code="message_not_found"
    )


def poll_of(found: Found) -> dict[str, Any]:
    """The question, options and selectable count of a poll, sent or received."""
    if found.kind != "poll":
        raise PermanentEngineError(f"message '{found.message_id}' is not a poll", code="not_a_poll")
    poll = found.body.get("poll", found.body)
    return {
        "options": list(poll.get("options") or []),
        "selectable_count": int(poll.get("selectable_count") or 1),
    }


def check_vote(found: Found, options: list[str]) -> None:
    poll = poll_of(found)
    unknown = [option for option in options if option not in poll["options"]]
    if unknown:
        raise PermanentEngineError(
            f"not an option of the poll: {', '.join(unknown)}", code="poll_option_unknown"
        )
    if len(set(options)) > poll["selectable_count"]:
        raise PermanentEngineError(
            f"the poll takes at most {poll['selectable_count']} option(s)",
            code="poll_option_unknown",
        )


class SimulatedEdits:
    """The handlers of one simulator client, and its contacts' side."""

    def __init__(self, client: SimulatorClient) -> None:
        self.client = client

    # --- lookups -----------------------------------------------------------------------------

    async def find(self, chat: str, message_id: str) -> Found:
        instance_id = self.client.instance.id
        async with self.client.engine.db.session() as session:
            sent = await messages.sent(session, instance_id, chat, message_id)
            if sent is not None:
                me = self.client.jid or ""
                return Found(message_id, chat, me, True, sent.kind, dict(sent.body), sent.sent_at)
            got = await messages.received(session, instance_id, chat, message_id)
        if got is None:
            raise not_found(chat, message_id)
        return Found(message_id, chat, got.sender, False, got.kind, dict(got.body), got.received_at)

    async def record(self, to: str, kind: str, body: dict[str, Any]) -> SendResult:
        """One more outbox row: what the network got from the instance."""
        from wagate.engines.simulator.network import new_message_id

        message_id, sent_at = new_message_id(), utcnow()
        await self.client.engine.record_sent(
            {
                "instance_id": self.client.instance.id,
                "message_id": message_id,
                "to": to,
                "kind": kind,
                "body": body,
                "node": self.client.engine.settings.node_id,
                "sent_at": sent_at,
            }
        )
        return SendResult(message_id, sent_at)

    # --- the instance's actions --------------------------------------------------------------

    async def edit(self, request: EditRequest) -> SendResult:
        self.client.require_connected()
        found = await self.find(request.chat, request.message_id)
        if not found.from_me:
            raise PermanentEngineError("only the sender can edit a message", code="not_editable")
        if found.kind not in EDITABLE_KINDS:
            raise PermanentEngineError(f"a {found.kind} message cannot be edited", "not_editable")
        if utcnow() - found.at > EDIT_WINDOW:
            raise PermanentEngineError(
                "WhatsApp's edit window (15 minutes) has passed", code="edit_window_passed"
            )
        field = "caption" if found.kind in CAPTIONED else "text"
        body = {"message_id": request.message_id, field: request.text}
        return await self.record(request.chat, "edit", body)

    async def revoke(self, request: RevokeRequest) -> SendResult:
        self.client.require_connected()
        found = await self.find(request.chat, request.message_id)
        if not found.from_me and not request.chat.endswith("@g.us"):
            raise PermanentEngineError(
                "only the sender can delete a message for everyone", code="not_editable"
            )
        body: dict[str, Any] = {"message_id": request.message_id}
        if not found.from_me:
            body["sender"] = found.sender
        return await self.record(request.chat, "revoke", body)

    async def forward(self, request: ForwardRequest) -> SendResult:
        from wagate.engines.simulator.network import on_whatsapp

        self.client.require_connected()
        user, _, server = request.to.partition("@")
        if server == "s.whatsapp.net" and not on_whatsapp(user):
            raise PermanentEngineError("the recipient is not on WhatsApp", code="not_on_whatsapp")
        found = await self.find(request.chat, request.message_id)
        body = {
            "message_id": request.message_id,
            "chat": request.chat,
            "kind": found.kind,
            "content": found.body,
        }
        return await self.record(request.to, "forward", body)

    async def react(self, request: ReactRequest) -> SendResult:
        self.client.require_connected()
        await self.find(request.chat, request.message_id)
        body = {"message_id": request.message_id, "emoji": request.emoji}
        return await self.record(request.chat, "reaction", body)

    async def pin(self, request: PinRequest) -> SendResult:
        self.client.require_connected()
        await self.find(request.chat, request.message_id)
        body: dict[str, Any] = {"message_id": request.message_id, "pin": request.pin}
        if request.pin:
            body["duration_s"] = request.duration_s
        return await self.record(request.chat, "pin", body)

    async def vote(self, request: VoteRequest) -> SendResult:
        self.client.require_connected()
        found = await self.find(request.chat, request.message_id)
        check_vote(found, request.options)
        body = {"message_id": request.message_id, "options": list(request.options)}
        return await self.record(request.chat, "vote", body)

    # --- the contacts' side ------------------------------------------------------------------

    async def received(self, message: InboundMessage) -> None:
        """A contact's message reached the instance: kept, so that it can be named later."""
        body: dict[str, Any] = {
            key: value
            for key, value in (
                ("text", message.text),
                ("caption", message.caption),
                ("location", message.location),
                ("contacts", message.contacts),
                ("reaction", message.reaction),
                ("poll", message.poll),
            )
            if value is not None
        }
        async with self.client.engine.db.transaction() as session:
            await messages.keep_received(
                session,
                SimulatorInbox(
                    instance_id=self.client.instance.id,
                    message_id=message.message_id,
                    chat=message.chat,
                    sender=message.sender,
                    kind=message.kind,
                    body=body,
                    received_at=message.timestamp,
                ),
            )

    async def contact_message(self, sender: str, chat: str, message_id: str) -> Found:
        found = await self.find(chat, message_id)
        if found.from_me or found.sender != sender:
            raise not_found(chat, message_id)
        return found

    async def contact_edits(self, sender: str, chat: str, message_id: str, text: str) -> None:
        found = await self.contact_message(sender, chat, message_id)
        if found.kind not in EDITABLE_KINDS:
            raise PermanentEngineError(f"a {found.kind} message cannot be edited", "not_editable")
        if utcnow() - found.at > EDIT_WINDOW:
            raise PermanentEngineError(
                "WhatsApp's edit window (15 minutes) has passed", code="edit_window_passed"
            )
        self.client.require_connected()
        self.client.sink(MessageEdited(message_id, chat, sender, False, text, utcnow()))

    async def contact_revokes(self, sender: str, chat: str, message_id: str) -> None:
        await self.contact_message(sender, chat, message_id)
        self.client.require_connected()
        self.client.sink(MessageRevoked(message_id, chat, sender, False, utcnow()))

    async def contact_votes(
        self, voter: str, chat: str, message_id: str, options: list[str]
    ) -> None:
        found = await self.find(chat, message_id)
        check_vote(found, options)
        self.client.require_connected()
        self.client.sink(PollVote(message_id, chat, voter, False, list(options), utcnow()))


def edits_handlers(client: SimulatorClient) -> list[tuple[str, Handler]]:
    edits = client.edits
    return [
        handle(EDIT_MESSAGE, edits.edit),
        handle(REVOKE_MESSAGE, edits.revoke),
        handle(FORWARD_MESSAGE, edits.forward),
        handle(REACT, edits.react),
        handle(PIN_MESSAGE, edits.pin),
        handle(VOTE, edits.vote),
    ]
