"""Actions on calls."""

from __future__ import annotations

from wagate.engines.actions.spec import Action, declare
from wagate.engines.base import IncomingCall

REJECT_CALL: Action[IncomingCall, None] = declare(
    "reject_call", IncomingCall, None, "Reject a ringing call.", ("call_not_found",)
)
