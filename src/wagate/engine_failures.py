"""What an engine can answer instead of a result, and the API error each one becomes.

Engines raise these; the API turns any of them into its error body in one place
(`errors.install_error_handlers`), so a route calls an engine without an `except` of its own.
A failure's `code` is the API error code; its HTTP status comes from `STATUS`, declared here
once per code. A new failure an engine can give (say `not_group_admin`) is one entry in
`STATUS` and, where callers need to tell it apart, one subclass.
"""

from __future__ import annotations

# The HTTP status of each engine failure code. A code missing here answers 502: the engine
# failed in a way the API has no better word for.
STATUS: dict[str, int] = {
    "engine_error": 502,
    "instance_not_connected": 409,
    "not_pairing": 409,
    "not_on_whatsapp": 422,
    "not_supported": 501,
    "not_group_admin": 403,
    "group_not_found": 404,
    "invite_not_found": 404,
    "message_not_found": 404,
    "edit_window_passed": 409,
    "not_editable": 422,
    "not_a_poll": 422,
    "poll_option_unknown": 422,
    "lid_not_found": 404,
    "call_not_found": 404,
    "contact_blocked": 409,
    "pin_limit": 409,
    # A history message's media WhatsApp no longer has (its servers keep media for a while).
    "media_unavailable": 410,
    # WhatsApp limits the number (too many messages too fast), or flags it as sending spam:
    # the send policy's circuit breaker pauses the instance's sending on either.
    "rate_limited": 429,
    "spam_suspected": 403,
}
DEFAULT_STATUS = 502
# WhatsApp's answers to a number it limits or suspects of spam: a send that gets one opens the
# instance's circuit breaker (wagate.policy) instead of failing.
BREAKER_CODES = frozenset({"rate_limited", "spam_suspected"})


def status_of(code: str) -> int:
    return STATUS.get(code, DEFAULT_STATUS)


class EngineFailure(Exception):
    """Base of every failure an engine reports for an action."""

    code = "engine_error"

    @property
    def status(self) -> int:
        return status_of(self.code)


class TransientEngineError(EngineFailure):
    """Worth trying again later: disconnected, timeout, server error."""


class PermanentEngineError(EngineFailure):
    """Trying again gives the same answer: not on WhatsApp, media rejected, not allowed."""

    def __init__(self, message: str, code: str = "engine_error") -> None:
        super().__init__(message)
        self.code = code


class NotConnectedError(TransientEngineError):
    code = "instance_not_connected"


class NotPairingError(EngineFailure):
    code = "not_pairing"
