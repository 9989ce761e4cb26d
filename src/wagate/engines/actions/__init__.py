"""The engine actions, declared once (spec.py says what a declaration gives).

Every catalogue module is imported here, so `ACTIONS` is complete for anyone who imports this
package. A new area of actions is one module here and one line below.
"""

from wagate.engines.actions import calls, contacts, groups, messaging
from wagate.engines.actions.calls import REJECT_CALL
from wagate.engines.actions.contacts import CHECK_NUMBERS, CheckNumbersRequest
from wagate.engines.actions.messaging import (
    CHAT_PRESENCE,
    MARK_READ,
    SEND,
    ChatPresenceRequest,
    ReadRequest,
)
from wagate.engines.actions.spec import ACTIONS, Action, ActionTable, declare, handle

__all__ = [
    "ACTIONS",
    "CHAT_PRESENCE",
    "CHECK_NUMBERS",
    "MARK_READ",
    "REJECT_CALL",
    "SEND",
    "Action",
    "ActionTable",
    "ChatPresenceRequest",
    "CheckNumbersRequest",
    "ReadRequest",
    "calls",
    "contacts",
    "declare",
    "groups",
    "handle",
    "messaging",
]
