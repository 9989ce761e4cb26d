"""The engine actions, declared once (spec.py says what a declaration gives).

Every catalogue module is imported here, so `ACTIONS` is complete for anyone who imports this
package. A new area of actions is one module here and one line below.
"""

from wagate.engines.actions import account, calls, contacts, edits, groups, messaging
from wagate.engines.actions.account import SEND_PRESENCE, PresenceRequest
from wagate.engines.actions.calls import REJECT_CALL
from wagate.engines.actions.contacts import CHECK_NUMBERS, CheckNumbersRequest
from wagate.engines.actions.edits import (
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
)
from wagate.engines.actions.messaging import (
    CHAT_PRESENCE,
    FETCH_MEDIA,
    MARK_READ,
    SEND,
    ChatPresenceRequest,
    FetchedMedia,
    FetchMediaRequest,
    ReadRequest,
)
from wagate.engines.actions.spec import ACTIONS, Action, ActionTable, declare, handle

__all__ = [
    "ACTIONS",
    "CHAT_PRESENCE",
    "CHECK_NUMBERS",
    "EDIT_MESSAGE",
    "FETCH_MEDIA",
    "FORWARD_MESSAGE",
    "MARK_READ",
    "PIN_MESSAGE",
    "REACT",
    "REJECT_CALL",
    "REVOKE_MESSAGE",
    "SEND",
    "SEND_PRESENCE",
    "VOTE",
    "Action",
    "ActionTable",
    "ChatPresenceRequest",
    "CheckNumbersRequest",
    "EditRequest",
    "FetchMediaRequest",
    "FetchedMedia",
    "ForwardRequest",
    "PinRequest",
    "PresenceRequest",
    "ReactRequest",
    "ReadRequest",
    "RevokeRequest",
    "VoteRequest",
    "account",
    "calls",
    "contacts",
    "declare",
    "edits",
    "groups",
    "handle",
    "messaging",
]
