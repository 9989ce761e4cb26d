"""Actions on messages already sent or received: edit, revoke, forward, react, pin, vote.

A message is named by its chat and WhatsApp message id. `sender` is its author where the
chat alone does not say (a group member's message); None means the engine works it out
(this account's own message, or the other side of a 1:1 chat).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from wagate.engines.actions.spec import Action, declare
from wagate.engines.base import SendResult

# WhatsApp lets the sender edit a message for this long after sending it.
EDIT_WINDOW = timedelta(minutes=15)
# How long a pin lasts: WhatsApp offers 24 hours, 7 days and 30 days.
PIN_DURATIONS_S = (86_400, 604_800, 2_592_000)
# The kinds whose text (or caption) can be edited.
EDITABLE_KINDS = ("text", "image", "video", "document")


@dataclass(frozen=True, slots=True)
class EditRequest:
    chat: str
    message_id: str
    text: str
    kind: str = "text"  # the edited message's kind: a media kind edits its caption


@dataclass(frozen=True, slots=True)
class RevokeRequest:
    chat: str
    message_id: str
    sender: str | None = None  # a group member's message (admins may revoke it)


@dataclass(frozen=True, slots=True)
class ForwardRequest:
    chat: str
    message_id: str
    to: str


@dataclass(frozen=True, slots=True)
class ReactRequest:
    chat: str
    message_id: str
    emoji: str  # "" takes the reaction back
    sender: str | None = None


@dataclass(frozen=True, slots=True)
class PinRequest:
    chat: str
    message_id: str
    pin: bool
    duration_s: int = PIN_DURATIONS_S[1]
    sender: str | None = None


@dataclass(frozen=True, slots=True)
class VoteRequest:
    chat: str
    message_id: str  # the poll
    options: list[str] = field(default_factory=list)  # [] takes the vote back
    sender: str | None = None


EDIT_MESSAGE: Action[EditRequest, SendResult] = declare(
    "edit_message",
    EditRequest,
    SendResult,
    "Change the text or caption of a message this account sent.",
    failures=("message_not_found", "edit_window_passed", "not_editable"),
)
REVOKE_MESSAGE: Action[RevokeRequest, SendResult] = declare(
    "revoke_message",
    RevokeRequest,
    SendResult,
    "Delete a message for everyone in the chat.",
    failures=("message_not_found",),
)
FORWARD_MESSAGE: Action[ForwardRequest, SendResult] = declare(
    "forward_message",
    ForwardRequest,
    SendResult,
    "Forward a message of one chat to another, marked as forwarded.",
    failures=("message_not_found", "not_on_whatsapp"),
)
REACT: Action[ReactRequest, SendResult] = declare(
    "react",
    ReactRequest,
    SendResult,
    "React to a message with an emoji, or take the reaction back.",
    failures=("message_not_found",),
)
PIN_MESSAGE: Action[PinRequest, SendResult] = declare(
    "pin_message",
    PinRequest,
    SendResult,
    "Pin a message in its chat for a while, or unpin it.",
    failures=("message_not_found",),
)
VOTE: Action[VoteRequest, SendResult] = declare(
    "vote",
    VoteRequest,
    SendResult,
    "Vote in a poll: the options chosen replace an earlier vote.",
    failures=("message_not_found", "not_a_poll", "poll_option_unknown"),
)
